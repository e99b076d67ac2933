"""Stage 1: render the synthetic world into arrays the trainers memory-map.

Training scenes use seeds ``TRAIN_SEED_BASE + i``; evaluation uses ``EVAL_SEED_BASE + i``, a
range never used for training. Motion conditions come from the codec of the rendered clip via
the same extraction code as the app.
"""
from __future__ import annotations

import argparse
import json
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from vc_core.conditions.motion_vectors import extract_motion_maps
from vc_core.world import caption, render, sample_scene

TRAIN_SEED_BASE = 0
EVAL_SEED_BASE = 10_000_000


def make_clip(seed: int, size: int = 128, frames: int = 16) -> dict:
    """Everything training needs about one scene."""
    scene = sample_scene(np.random.default_rng(seed), size=size, frames=frames)
    clip = render(scene)
    return {
        "frames": clip.frames,
        "nearness": (clip.depth * 255).round().astype(np.uint8),
        "masks": clip.masks,
        "motion": extract_motion_maps(clip.frames).astype(np.float16),
        "caption": caption(scene),
    }


def _make(seed: int) -> dict:
    return make_clip(seed)


def build(out: Path, count: int, seed_base: int = TRAIN_SEED_BASE, workers: int = 2) -> None:
    out.mkdir(parents=True, exist_ok=True)
    seeds = list(range(seed_base, seed_base + count))
    start = time.time()
    arrays: dict[str, list] = {"frames": [], "nearness": [], "masks": [], "motion": []}
    captions = []
    with ProcessPoolExecutor(workers) as pool:
        for i, item in enumerate(pool.map(_make, seeds, chunksize=16)):
            for key in arrays:
                arrays[key].append(item[key])
            captions.append(item["caption"])
            if (i + 1) % 200 == 0:
                print(f"{i + 1}/{count} clips, {time.time() - start:.0f} s", flush=True)
    for key, values in arrays.items():
        np.save(out / f"{key}.npy", np.stack(values))
    (out / "captions.json").write_text(json.dumps({"seeds": seeds, "captions": captions}))
    print(f"wrote {count} clips to {out} in {time.time() - start:.0f} s")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--out", type=Path, default=Path("runs/world"))
    p.add_argument("--clips", type=int, default=1500)
    p.add_argument("--workers", type=int, default=2)
    args = p.parse_args()
    build(args.out, args.clips, workers=args.workers)


if __name__ == "__main__":
    main()
