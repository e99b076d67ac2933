"""Command line: generate videos without the UI, one or many (batch) per process.

    python -m vc_core.generate --task draw_motion --prompt "a red star" --preset pan_left --out outputs
    python -m vc_core.generate --task motion_transfer --video ref.mp4 --image look.png --seed 0 1 2
    python -m vc_core.generate --task compose --jobs jobs.jsonl      # one JSON object of options per line

Every option can appear in a jobs line under its long name with underscores (``"use_motion": true``);
a line's values replace the command line's. Each result is written as ``NAME_seedS.mp4`` (H.264),
``.gif``, ``.json`` (the parameters, as the app shows them) and condition previews. Models are
loaded once per process; requests are built by ``vc_core.tasks``, exactly as in the app.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

from vc_core import tasks
from vc_core.config import ModelSpec
from vc_core.pipeline import MODEL_NAMES, PRECISIONS, Pipeline, default_device, load_pipeline
from vc_core.sampling import SAMPLERS
from vc_core.weights import WeightError

TASKS = ("compose", "inpaint", "motion_transfer", "draw_motion")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m vc_core.generate", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--task", choices=TASKS, help="what to do (as the app's tabs)")
    p.add_argument("--prompt", default="")
    p.add_argument("--image", help="first frame / appearance picture")
    p.add_argument("--style", help="style image")
    p.add_argument("--video", help="reference video (compose, motion_transfer) or the video to inpaint")
    p.add_argument("--start", type=float, default=0.0, help="start in the video, seconds")
    p.add_argument("--sketch", help="compose: one sketch (a drawing; see --sketch-is-photo)")
    p.add_argument("--sketch-is-photo", action="store_true", help="compose: take the edges of the --sketch picture")
    p.add_argument("--use-depth", action="store_true", help="compose: the reference video's depth (needs MiDaS weights)")
    p.add_argument("--use-sketch", action="store_true", help="compose: the reference video's sketch sequence")
    p.add_argument("--use-motion", action="store_true", help="compose: the reference video's motion")
    p.add_argument("--mask", nargs="*", default=[], help="inpaint: painted mask image(s), white or opaque = regenerate")
    p.add_argument("--mask-preset", choices=list(tasks.MASK_PRESETS), help="inpaint: a preset mask instead")
    p.add_argument("--keep-motion", action="store_true", help="inpaint: keep the source's motion")
    p.add_argument("--keep-depth", action="store_true", help="inpaint: keep the source's depth")
    p.add_argument("--strokes", help="draw_motion: canvas JSON, or @file.json (see vc_core/tasks.py)")
    p.add_argument("--preset", choices=list(tasks.MOTION_PRESETS), help="draw_motion: a motion preset")
    p.add_argument("--frames", type=int, default=16)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--guidance", type=float, default=None, help=f"guidance scale (default: the model's; {ModelSpec.guide_scales()})")
    p.add_argument("--sampler", choices=SAMPLERS, default="dpmpp_2m")
    p.add_argument(
        "--condition-guidance", choices=["on", "off"], default=None,
        help="guidance also strengthens the spatial conditions (default: the model's; embedded on, official off)",
    )
    p.add_argument(
        "--keep-given", choices=["on", "off"], default=None,
        help="start exactly at the given image and keep unmasked pixels (default: the model's; embedded on, official off)",
    )
    p.add_argument(
        "--motion-hold", type=float, default=None,
        help="with an image and motion: hold the image carried along the motion for this share (0-1) of the diffusion time; given only "
        "one of them, a shorter first pass drafts the other (default: the model's; embedded 0.95, official 0)",
    )
    p.add_argument("--seed", type=int, nargs="+", default=[0], help="one video per seed")
    p.add_argument("--model", choices=MODEL_NAMES, default="embedded")
    p.add_argument("--weights", help="official weights folder (or $VC_WEIGHTS_DIR)")
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    p.add_argument(
        "--precision", choices=PRECISIONS, default="auto",
        help="sampling precision (auto: fp32 on CPU; on CUDA fp16 for the official model, fp32 for the small embedded one; bf16 is ~2x faster on a CPU with bf16 units for the official model)",
    )
    p.add_argument("--offload", action="store_true", help="keep the models in CPU memory, each on the GPU only while it runs")
    p.add_argument("--out", type=Path, default=Path("outputs"))
    p.add_argument("--name", help="file name stem (default: the task, or job<N> in a batch)")
    p.add_argument("--jobs", type=Path, help="JSON lines, one job's options per line")
    return p


def jobs(args: argparse.Namespace) -> list[dict]:
    """The command line's options, once or overridden by each line of --jobs."""
    base = vars(args) | {"jobs": None}
    if args.jobs is None:
        return [base]
    result = []
    for number, line in enumerate(args.jobs.read_text().splitlines(), 1):
        if not line.strip():
            continue
        job = json.loads(line)
        unknown = set(job) - set(base)
        if unknown:
            raise SystemExit(f"{args.jobs}:{number}: unknown option(s) {sorted(unknown)}")
        result.append(base | {"name": f"job{number}"} | job)
    return result


def prepare(pipe: Pipeline, tools: tasks.Toolbox, o: dict, settings: tasks.Settings) -> tasks.Prepared:
    if o["task"] == "compose":
        return tasks.compose_request(
            pipe, tools, o["prompt"], settings, image=o["image"], style=o["style"], sketch=o["sketch"],
            sketch_is_photo=o["sketch_is_photo"], video=o["video"], video_start_s=o["start"],
            use_depth=o["use_depth"], use_sketch=o["use_sketch"], use_motion=o["use_motion"],
        )
    if o["task"] == "inpaint":
        return tasks.inpaint_request(
            pipe, tools, o["prompt"], settings, video=o["video"], mask_layers=o["mask"], preset=o["mask_preset"],
            keep_motion=o["keep_motion"], keep_depth=o["keep_depth"], video_start_s=o["start"],
        )
    if o["task"] == "motion_transfer":
        return tasks.motion_transfer_request(
            pipe, tools, o["prompt"], settings, video=o["video"], image=o["image"], style=o["style"], video_start_s=o["start"]
        )
    strokes = o["strokes"]
    if strokes and strokes.startswith("@"):
        strokes = Path(strokes[1:]).read_text()
    return tasks.draw_motion_request(pipe, tools, o["prompt"], settings, image=o["image"], drawing=strokes, preset=o["preset"])


def progress_printer(label: str) -> Callable[[int, int], None]:
    def progress(step: int, total: int) -> None:
        print(f"\r{label}: step {step}/{total}", end="", file=sys.stderr, flush=True)

    return progress


def on_off(value: str | bool | None, option: str) -> bool | None:
    """"on"/"off" from the command line, a bool or null from a JSON job; None = the model's default."""
    if value is None or isinstance(value, bool):
        return value
    if value not in ("on", "off"):
        raise ValueError(f"{option} must be on or off, got {value!r}")
    return value == "on"


def run(o: dict, tools: tasks.Toolbox) -> list[Path]:
    """Generate one video per seed of job ``o``; returns the MP4 paths."""
    if o["task"] not in TASKS:
        raise ValueError(f"choose a task with --task: one of {', '.join(TASKS)}")
    pipe = load_pipeline(o["model"], o["weights"], o["device"], o["precision"], o["offload"])
    o["out"] = Path(o["out"])
    o["out"].mkdir(parents=True, exist_ok=True)
    written = []
    guided, keep_given = on_off(o["condition_guidance"], "condition_guidance"), on_off(o["keep_given"], "keep_given")
    for seed in [o["seed"]] if isinstance(o["seed"], int) else o["seed"]:
        settings = tasks.Settings(o["frames"], o["steps"], o["guidance"], o["sampler"], seed, guided, keep_given, o["motion_hold"])
        prepared = prepare(pipe, tools, o, settings)
        for warning in prepared.warnings:
            print(f"warning: {warning}", file=sys.stderr)
        stem = f"{o['name'] or o['task']}_seed{seed}"
        outcome = tasks.generate(pipe, prepared, progress_printer(stem))
        print(file=sys.stderr)
        saved = tasks.save_outcome(outcome, o["out"], stem=stem)
        summary = f"wrote {saved.mp4}"
        if outcome.adherence:
            summary += f" (motion adherence: {outcome.adherence['epe_px_per_frame']} px/frame error)"
        print(summary)
        written.append(saved.mp4)
    return written


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    tools = tasks.Toolbox(args.weights, device=args.device or default_device())
    failures = 0
    for o in jobs(args):
        try:
            run(o, tools)
        except (ValueError, WeightError, OSError) as exc:  # a bad job is reported; the batch goes on
            failures += 1
            print(f"error ({o['name'] or o['task']}): {exc}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
