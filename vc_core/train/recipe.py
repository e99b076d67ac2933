"""The whole training recipe as one command within a wall-clock budget.

    python -m vc_core.train.recipe --runs runs/fresh --minutes 120

Runs each stage's own command (world → autoencoder → towers → text-to-video → compose → export)
with a share of the budget; the compose stage gets whatever the earlier stages left. Progress is
kept in ``<runs>/recipe.json``: a rerun skips finished stages, resumes the interrupted one from
its checkpoint and counts the time already spent. SIGTERM to this command stops the running
stage at its next step with a checkpoint, so a budget can be spent over several sittings.
"""
from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

# Left for the compose stage's start-up (models, latents) and the export after it.
RESERVE_MINUTES = 2.0


@dataclass(frozen=True)
class Stage:
    name: str
    module: str
    args: tuple[str, ...]
    minutes: float | None  # its share of the budget; None: no time limit (world, export); inf: the rest


def stages(runs: Path, world: Path, out: Path) -> list[Stage]:
    common = ("--world", str(world))
    unbounded = ("--steps", "1000000")  # the minutes end these stages, not a step count
    # runs of 8 frames, not whole 16-frame clips: 1.5–1.7× the steps in the same minutes, and at
    # equal compute a better model on text colour, sketch, depth and consistency, a worse one on
    # the stroke path and the prompted colour inside an inpainting mask (model card)
    eight_frames = ("--frames", "8")
    # The autoencoder's and the towers' learning rates decay to zero over --steps or the minutes,
    # whichever ends first; the towers' step count fills their minutes on the fastest 2-core VM
    # measured (0.15 s/step; the shape twins made a step ~35 % dearer since), so a slower machine
    # decays within the minutes instead (model card). The autoencoder stops at 2 800 steps (about
    # 15 minutes there) but may take up to 30 on a slower machine: every later stage sees the
    # world through it, and 15 minutes without AVX-512 (787 steps, 21 dB) left a decoder that
    # loses the prompted colour of 2 objects in 3 (1 500 steps in 30 minutes: 23.4 dB, 1 in 8).
    return [
        Stage("world", "vc_core.train.data", ("--out", str(world)), None),
        Stage("autoencoder", "vc_core.train.autoencoder", (*common, "--steps", "2800", "--out", str(runs / "autoencoder")), 30),
        Stage("towers", "vc_core.train.towers", (*common, "--steps", "2600", "--out", str(runs / "towers")), 7),
        # zero terminal SNR from the first step, as the shipped model ended on: without it the
        # model reads layout and background from the noise's residue instead of the text; compose
        # continues on its start's schedule (docs/EMBEDDED_MODEL.md)
        Stage(
            "t2v", "vc_core.train.denoiser",
            ("--stage", "t2v", *common, *unbounded, "--runs", str(runs), "--noise-schedule", "linear_sd_zero_snr", *eight_frames), 8,
        ),
        # conditions pooled to 64² before the STC convs: 0.89 instead of 1.23 s/step, and a better
        # 2-hour model on motion, inpainting, sketch and depth; 30 % text-only samples, as the
        # shipped model's zero-SNR stages had
        Stage(
            "compose", "vc_core.train.denoiser",
            ("--stage", "compose", *common, *unbounded, "--runs", str(runs), "--stc-input-size", "64", "--text-focus", "0.3", *eight_frames),
            float("inf"),
        ),
        Stage("export", "vc_core.train.export", ("--runs", str(runs), "--out", str(out)), None),
    ]


def stage_minutes(stage: Stage, left: float, spent: float) -> float | None:
    """The stage's time limit given ``left`` minutes of the budget and ``spent`` on it in earlier
    sittings, or None for an unlimited stage."""
    if stage.minutes is None:
        return None
    return max(0.5, min(stage.minutes - spent, left - RESERVE_MINUTES))


def run_command(command: list[str]) -> tuple[int, bool]:
    """Run one stage; a SIGTERM meanwhile is passed on (the stage saves and exits). → (exit code, stopped)."""
    child, stopped = subprocess.Popen(command), []

    def stop(*_: object) -> None:
        stopped.append(True)
        child.terminate()

    previous_handler = signal.signal(signal.SIGTERM, stop)
    try:
        return child.wait(), bool(stopped)
    finally:
        signal.signal(signal.SIGTERM, previous_handler)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=Path, default=Path("runs/recipe"), help="folder for every stage's checkpoints")
    p.add_argument("--world", type=Path, help="rendered world (default: <runs>/world)")
    p.add_argument("--out", type=Path, help="exported model (default: <runs>/embedded; the app's is assets/embedded)")
    p.add_argument("--minutes", type=float, default=120, help="wall-clock budget of the whole recipe")
    args = p.parse_args()
    world, out = args.world or args.runs / "world", args.out or args.runs / "embedded"
    args.runs.mkdir(parents=True, exist_ok=True)
    log_path = args.runs / "recipe.json"
    log = json.loads(log_path.read_text()) if log_path.exists() else {"budget_minutes": args.minutes, "stages": {}}
    for stage in stages(args.runs, world, out):
        done = log["stages"].get(stage.name, {})
        if done.get("finished"):
            continue
        spent = sum(s["minutes"] for s in log["stages"].values())
        limit = stage_minutes(stage, args.minutes - spent, done.get("minutes", 0.0))
        command = [sys.executable, "-m", stage.module, *stage.args]
        if limit is not None:
            command += ["--minutes", f"{limit:.2f}"]
        print(f"[recipe] {stage.name}: {' '.join(command[1:])}", flush=True)
        start = time.time()
        returncode, stopped = run_command(command)
        minutes = done.get("minutes", 0.0) + (time.time() - start) / 60
        log["stages"][stage.name] = {"minutes": round(minutes, 2), "finished": returncode == 0 and not stopped}
        log_path.write_text(json.dumps(log, indent=1))
        if stopped:
            sys.exit(f"[recipe] stopped during {stage.name} after {minutes:.1f} minutes of it; rerun to resume")
        if returncode != 0:
            sys.exit(f"[recipe] stage {stage.name} failed (exit {returncode}); rerun to resume")
    total = sum(s["minutes"] for s in log["stages"].values())
    print(f"[recipe] done in {total:.1f} minutes (budget {args.minutes:g}); model in {out}", flush=True)


if __name__ == "__main__":
    main()
