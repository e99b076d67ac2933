"""What every training stage shares: the world arrays, time-bounded resumable loops, loss logs."""
from __future__ import annotations

import json
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np
import torch

from vc_core.config import OFFICIAL_NOISE_SCHEDULE
from vc_core.weights import read_checkpoint

# A denoiser stage's UNet config (JSON), beside its checkpoint: the export ships what was trained.
UNET_CONFIG_FILE = "unet.json"
# ... and the noise schedule it trained on ({"noise_schedule": name}); absent in older stages: linear_sd.
SCHEDULE_FILE = "schedule.json"
# The training record of a model the runs folder was unpacked from (``unpack``); export keeps it.
LINEAGE_FILE = "lineage.json"


def adamw(params: Iterable, lr: float, weight_decay: float) -> torch.optim.AdamW:
    """AdamW with the fused kernel: without it a CPU updates the 7.2 M-parameter UNet one tensor
    at a time, 54 ms a step against 13 ms fused (2-core CPU); same updates to float rounding."""
    return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, fused=True)


def stage_noise_schedule(folder: Path) -> str:
    """The noise schedule a denoiser stage trained on."""
    path = folder / SCHEDULE_FILE
    return json.loads(path.read_text())["noise_schedule"] if path.exists() else OFFICIAL_NOISE_SCHEDULE


@dataclass
class World:
    """Memory-mapped arrays written by ``vc_core.train.data``."""

    frames: np.ndarray  # (N, F, H, W, 3) uint8
    nearness: np.ndarray  # (N, F, H, W) uint8
    masks: np.ndarray  # (N, F, H, W) int8
    motion: np.ndarray  # (N, F, 2, H, W) float16
    captions: list[str]

    @classmethod
    def load(cls, folder: Path) -> "World":
        arrays = {k: np.load(folder / f"{k}.npy", mmap_mode="r") for k in ("frames", "nearness", "masks", "motion")}
        return cls(**arrays, captions=json.loads((folder / "captions.json").read_text())["captions"])

    def __len__(self) -> int:
        return len(self.frames)


def video_tensor(frames: np.ndarray | torch.Tensor) -> torch.Tensor:
    """(…, H, W, 3) uint8 → (…, 3, H, W) float in [-1, 1], on the device a tensor is on."""
    # a copy: the world's arrays are read-only memory maps, which torch.from_numpy warns about
    frames = frames if isinstance(frames, torch.Tensor) else torch.from_numpy(np.array(frames))
    return frames.movedim(-1, -3).float().div(127.5).sub(1)


class BatchStream:
    """``make(i)`` for the steps i = first, first + 1, … of a run, made ahead by ``workers``
    processes when ``workers`` > 0 (the data work then overlaps a GPU's steps), else on call.

    ``make`` must draw everything from ``i`` alone (a generator seeded by the step), so the
    batches are the same with or without workers and a resumed run continues the same stream.
    """

    def __init__(self, make: Callable[[int], dict], workers: int = 0, ahead: int = 2):
        self.make, self.workers, self.ahead = make, workers, ahead
        self.stream: Iterator[tuple[int, dict]] | None = None

    def __call__(self, i: int) -> dict:
        if not self.workers:
            return self.make(i)
        if self.stream is None:  # started at the first step asked for: a resumed run's
            loader = torch.utils.data.DataLoader(
                _Steps(self.make, i), batch_size=None, collate_fn=_as_is, num_workers=self.workers,
                prefetch_factor=self.ahead, pin_memory=torch.cuda.is_available(), worker_init_fn=_one_thread,
                multiprocessing_context="fork",  # the workers share the parent's memory-mapped world
                generator=torch.Generator(),  # its own: seeding workers from the global one would shift the noise
            )
            self.stream = iter(loader)
        made, batch = next(self.stream)
        if made != i:
            raise RuntimeError(f"batch stream out of step: asked for step {i}, made {made}")
        return batch


class _Steps(torch.utils.data.Dataset):
    def __init__(self, make: Callable[[int], dict], first: int):
        self.make, self.first = make, first

    def __len__(self) -> int:
        return 1 << 40

    def __getitem__(self, k: int) -> tuple[int, dict]:
        return self.first + k, self.make(self.first + k)


def _as_is(item):
    return item


def _one_thread(_: int) -> None:
    torch.set_num_threads(1)  # many workers beside the training process: no thread oversubscription


# A learning-rate multiplier from (step, progress): progress in [0, 1] is how much of the stage is
# done, by steps or by time, whichever is further.
RateSchedule = Callable[[int, float], float]


def warmup(steps: int) -> RateSchedule:
    """Linear warm-up over ``steps``, then the full rate."""
    return lambda i, progress: min(1.0, (i + 1) / steps)


def warmup_cosine(steps: int) -> RateSchedule:
    """Linear warm-up over ``steps``, then cosine decay to zero at the end of the stage."""
    return lambda i, progress: min(1.0, (i + 1) / steps) * 0.5 * (1 + np.cos(np.pi * min(progress, 1.0)))


def run_stage(
    name: str,
    folder: Path,
    modules: dict[str, torch.nn.Module],
    optimizer: torch.optim.Optimizer,
    step_fn: Callable[[int], dict[str, float]],
    max_steps: int,
    minutes: float,
    seed: int,
    rate: RateSchedule,
    every: int = 50,
) -> int:
    """Run ``step_fn`` until ``max_steps`` or ``minutes`` pass, checkpointing and logging.

    Before each step every optimizer group's rate is set to its rate at the call × ``rate``. The
    stage's progress is the further of steps and minutes: a schedule sized in steps for one
    machine still ends (decays) within the minutes on a slower one.
    Resumes from ``folder/ckpt.pt`` when present, ``minutes`` then being what this sitting adds to
    the seconds already spent; the RNG is reseeded with (seed, step) so a resumed run continues
    deterministically. SIGTERM ends the run after the current step, with a checkpoint, so
    stopping a run loses no work.
    """
    folder.mkdir(parents=True, exist_ok=True)
    ckpt_path, log_path = folder / "ckpt.pt", folder / "loss.jsonl"
    base_rates = [group["lr"] for group in optimizer.param_groups]  # before a checkpoint's decayed ones
    step, spent = 0, 0.0
    if ckpt_path.exists():
        state = read_checkpoint(ckpt_path, f"{name} checkpoint")
        for key, module in modules.items():
            module.load_state_dict(state[key])
        optimizer.load_state_dict(state["optimizer"])
        # a checkpoint saved before the field: its earlier sittings' time is unknown, so this
        # sitting's minutes alone (or the steps, if further) measure the progress
        step, spent = int(state["step"]), float(state.get("seconds", 0.0))
        print(f"[{name}] resumed at step {step}", flush=True)
    budget = spent + minutes * 60

    def seconds() -> float:
        return spent + time.time() - start

    def save() -> None:
        state = {k: m.state_dict() for k, m in modules.items()} | {"optimizer": optimizer.state_dict(), "step": step, "seconds": seconds()}
        torch.save(state, folder / "ckpt.tmp")
        (folder / "ckpt.tmp").replace(ckpt_path)

    start, running, window, stop = time.time(), {}, 0, []
    previous_handler = signal.signal(signal.SIGTERM, lambda *_: stop.append(True))
    with log_path.open("a") as log:

        def record() -> None:  # the mean losses of the steps since the last record
            entry = {"step": step, "elapsed_s": round(time.time() - start, 1)} | {k: v / window for k, v in running.items()}
            log.write(json.dumps(entry) + "\n")
            log.flush()
            print(f"[{name}] " + " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in entry.items()), flush=True)

        while step < max_steps and time.time() - start < minutes * 60 and not stop:
            progress = max(step / max_steps, seconds() / budget)
            for group, base in zip(optimizer.param_groups, base_rates):
                group["lr"] = float(base * rate(step, progress))
            torch.manual_seed(seed * 1_000_003 + step)
            losses = step_fn(step)
            step, window = step + 1, window + 1
            for k, v in losses.items():
                running[k] = running.get(k, 0.0) + v
            if step % every == 0:
                record()
                running, window = {}, 0
            if step % (every * 10) == 0:
                save()
        if window:  # the last steps and minutes count too (export reads them from the log)
            record()
    save()
    signal.signal(signal.SIGTERM, previous_handler)
    print(f"[{name}] stopped at step {step} after {time.time() - start:.0f} s", flush=True)
    return step
