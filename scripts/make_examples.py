"""Regenerate assets/examples/ (the app's example inputs) from the synthetic world, deterministically.

    python scripts/make_examples.py [--out assets/examples]

Scenes are picked by scanning seeds in order for a scene of the wanted kind, so the same files
come out every time. ``examples.json`` holds each file's caption (used as the example prompt) and,
for the appearance image, where its object is (the browser and API tests draw strokes from it).
"""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a plain script from anywhere
from vc_core.conditions import canny_edges, rectangle_mask
from vc_core.video_io import write_mp4
from vc_core.world import Scene, caption, render, sample_scene

SIZE = 128  # the embedded model's size: what it was trained on
FRAMES = 24  # at 4 fps a 16-frame clip is sampled one source frame per output frame
FPS = 4


def find_scene(first_seed: int, wanted: Callable[[Scene], bool], frames: int = FRAMES) -> tuple[int, Scene]:
    for seed in range(first_seed, first_seed + 10_000):
        scene = sample_scene(np.random.default_rng(seed), size=SIZE, frames=frames)
        if wanted(scene):
            return seed, scene
    raise RuntimeError("no scene of the wanted kind in 10 000 seeds")


def one_object(motion: str | None, min_dx: float = 0.0) -> Callable[[Scene], bool]:
    """One object on a calm background, with the given motion and horizontal travel."""

    def wanted(scene: Scene) -> bool:
        if len(scene.objects) != 1 or scene.camera is not None or scene.background in ("noise", "stripes"):
            return False
        obj = scene.objects[0]
        travel = abs(obj.positions[-1, 0] - obj.positions[0, 0])
        return (motion is None or obj.motion == motion) and travel >= min_dx

    return wanted


def panning(scene: Scene) -> bool:
    return scene.camera is not None and scene.background == "ground and sky" and len(scene.objects) == 1


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "assets" / "examples")
    out = p.parse_args().out
    out.mkdir(parents=True, exist_ok=True)
    meta: dict[str, dict] = {}

    for name, first_seed, wanted in (("moving_object", 20_000_000, one_object("straight", min_dx=SIZE / 3)), ("camera_pan", 20_100_000, panning)):
        seed, scene = find_scene(first_seed, wanted)
        write_mp4(render(scene).frames, out / f"{name}.mp4", fps=FPS)
        meta[f"{name}.mp4"] = {"seed": seed, "caption": caption(scene)}

    # the object on the left, so a stroke drawn from it to the right has room (tests do that)
    still = one_object("still")
    seed, scene = find_scene(20_200_000, lambda s: still(s) and s.objects[0].positions[0, 0] < 0.35 * SIZE, frames=1)
    first = render(scene).frames[0]
    Image.fromarray(first).save(out / "first_frame.png")
    obj = scene.objects[0]
    meta["first_frame.png"] = {
        "seed": seed,
        "caption": caption(scene),
        "object_xy": [round(float(v), 1) for v in obj.positions[0]],
        "object_radius": round(float(obj.sizes[0]), 1),
    }

    seed, scene = find_scene(20_300_000, lambda s: s.background in ("stripes", "noise"), frames=1)
    Image.fromarray(render(scene).frames[0]).save(out / "style.png")
    meta["style.png"] = {"seed": seed, "caption": caption(scene)}

    seed, scene = find_scene(20_400_000, one_object(None), frames=1)
    frame = torch.from_numpy(render(scene).frames[0]).permute(2, 0, 1)[None].float() / 255
    lines = canny_edges(frame)[0, 0].numpy()
    Image.fromarray(((1.0 - lines) * 255).astype(np.uint8)).save(out / "sketch.png")  # dark lines on white
    meta["sketch.png"] = {"seed": seed, "caption": caption(scene)}

    Image.fromarray(rectangle_mask((0.3, 0.3, 0.7, 0.7), SIZE).astype(np.uint8) * 255).save(out / "mask.png")
    meta["mask.png"] = {"caption": "white = regenerate: the centre box"}

    (out / "examples.json").write_text(json.dumps(meta, indent=2) + "\n")
    total = sum(f.stat().st_size for f in out.iterdir())
    print(f"wrote {len(list(out.iterdir()))} files, {total / 1024:.0f} KB, to {out}")


if __name__ == "__main__":
    main()
