"""End-to-end time of one generation per app tab, as a user waits for it.

    python benchmarks/tabs.py [--steps 20] [--frames 16] [--sampler dpmpp_2m] [--precision fp32]

Each row runs what the tab's button runs: conditions from the shipped example inputs
(``assets/examples``), generation with the embedded model, motion adherence where motion was
asked for, and the MP4 + GIF + previews written to a temporary folder. Model loading is not
counted (the app loads once per process). One warm-up generation first.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import machine, peak_rss_gb  # noqa: E402
from vc_core import tasks  # noqa: E402
from vc_core.pipeline import PRECISIONS, Pipeline, load_pipeline  # noqa: E402
from ui.examples import EXAMPLES_DIR  # noqa: E402  (paths only; no Gradio)
from ui.examples import example_path as example  # noqa: E402
from vc_core.sampling import SAMPLERS  # noqa: E402


def rightward_stroke() -> str:
    """The canvas JSON of one stroke across the example picture's object, as the browser sends it."""
    meta = json.loads((EXAMPLES_DIR / "examples.json").read_text())["first_frame.png"]
    x, y = meta["object_xy"]  # in the picture's pixels, so the canvas is the picture's size
    width, height = Image.open(EXAMPLES_DIR / "first_frame.png").size
    stroke = {"points": [[x, y], [x + width / 4, y]]}
    return json.dumps({"width": width, "height": height, "strokes": [stroke], "regions": []})


def tab_jobs(pipe: Pipeline, tools: tasks.Toolbox, s: tasks.Settings) -> dict[str, Callable[[], tasks.Prepared]]:
    return {
        "Compose: prompt + first frame + sketch + reference-clip motion": lambda: tasks.compose_request(
            pipe, tools, "a red circle moving right", s, image=example("first_frame.png"), sketch=example("sketch.png"),
            video=example("moving_object.mp4"), use_motion=True,
        ),
        "Video inpainting: centre box, source motion kept": lambda: tasks.inpaint_request(
            pipe, tools, "a purple circle", s, video=example("moving_object.mp4"), preset="centre box", keep_motion=True,
        ),
        "Motion transfer: camera pan clip on the example picture": lambda: tasks.motion_transfer_request(
            pipe, tools, "", s, video=example("camera_pan.mp4"), image=example("first_frame.png"),
        ),
        "Hand-drawn motion: one stroke on the example picture": lambda: tasks.draw_motion_request(
            pipe, tools, "", s, image=example("first_frame.png"), drawing=rightward_stroke(),
        ),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--frames", type=int, default=16)
    p.add_argument("--sampler", choices=SAMPLERS, default="dpmpp_2m")
    p.add_argument("--precision", choices=PRECISIONS, default="fp32")
    args = p.parse_args()
    torch.set_grad_enabled(False)
    pipe = load_pipeline("embedded", precision=args.precision)
    settings = tasks.Settings(frames=args.frames, steps=args.steps, sampler=args.sampler, seed=1)
    print(f"machine: {machine()}")
    print(f"embedded model, {args.frames} frames at {pipe.video_size}², {args.sampler} {args.steps} steps, {args.precision}")
    warm_up = next(iter(tab_jobs(pipe, tasks.Toolbox(), settings).values()))
    tasks.generate(pipe, warm_up())
    jobs = tab_jobs(pipe, tasks.Toolbox(), settings)  # a fresh condition cache: the rows pay for their conditions
    print("| tab | conditions | generation | files | total |")
    print("|---|---|---|---|---|")
    for name, make in jobs.items():
        start = time.perf_counter()
        prepared = make()
        conditions = time.perf_counter() - start
        outcome = tasks.generate(pipe, prepared)
        generation = time.perf_counter() - start - conditions
        with tempfile.TemporaryDirectory() as folder:
            tasks.save_outcome(outcome, folder)
        total = time.perf_counter() - start
        print(f"| {name} | {conditions:.2f} s | {generation:.2f} s | {total - conditions - generation:.2f} s | {total:.2f} s |")
    print(f"peak RSS {peak_rss_gb():.2f} GB")


if __name__ == "__main__":
    main()
