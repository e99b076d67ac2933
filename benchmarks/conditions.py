"""Time the condition pipeline on CPU (and GPU when present).

    python benchmarks/conditions.py [--weights DIR] [--preview motion.png]

Prints: reading + motion-vector extraction for a 10 s 1280×720 H.264 clip (goal ≤ 1 s), Canny
and mask per frame, and MiDaS / PiDiNet (+ sketch cleaner) per frame when their weights are in
``--weights`` or ``$VC_WEIGHTS_DIR``. ``--preview`` writes a motion-arrow picture of a real clip
(../shared/media/motion_transfer.mp4) for checking by eye.
"""

from __future__ import annotations

import argparse
import functools
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import av
import cv2
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vc_core.conditions import (
    depth_condition,
    extract_motion_maps,
    irregular_mask,
    mask_clip,
    masked_video_condition,
    misc_frames_tensor,
    motion_arrows_preview,
    motion_condition,
    motion_maps_tensor,
    read_clip,
    sketch_condition,
    video_frames_tensor,
    video_tensor_to_uint8,
)
from vc_core.weights import OFFICIAL_FILES, weights_dir

REAL_CLIP = Path(__file__).resolve().parents[2] / "shared" / "media" / "motion_transfer.mp4"


def seconds(work: Callable[[], object], repeats: int = 3) -> float:
    """Median wall time of a few runs."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def report(name: str, value_s: float, per: int = 1) -> None:
    unit = f"{value_s / per * 1000:8.1f} ms/frame" if per > 1 else f"{value_s * 1000:8.1f} ms"
    print(f"  {name:<58}{unit}")


def write_hd_clip(path: Path, seconds_long: int = 10, fps: int = 30) -> None:
    """1280×720 H.264: a camera panning over a textured world with a moving textured square."""
    rng = np.random.default_rng(0)
    world = cv2.resize(rng.integers(0, 256, (90, 330, 3), np.uint8), (3300, 900), interpolation=cv2.INTER_CUBIC)
    square = cv2.resize(rng.integers(0, 256, (16, 16, 3), np.uint8), (160, 160), interpolation=cv2.INTER_CUBIC)
    with av.open(str(path), mode="w") as output:
        stream = output.add_stream("libx264", rate=fps, options={"preset": "veryfast", "crf": "23"})
        stream.width, stream.height, stream.pix_fmt = 1280, 720, "yuv420p"
        for index in range(seconds_long * fps):
            frame = world[90:810, 6 * index : 6 * index + 1280].copy()
            x = 200 + 3 * index
            frame[280:440, x : x + 160] = square
            output.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        output.mux(stream.encode(None))


def motion_benchmarks(path: Path) -> None:
    print("Motion vectors, 10 s 1280x720 H.264 30 fps clip (goal <= 1 s):")
    for count in (16, 32):
        read = functools.partial(read_clip, path, num_frames=count)
        clip = read()
        maps = extract_motion_maps(clip.frames, clip.fps)
        report(f"read + sample {count} frames at {clip.fps} fps (decode)", seconds(read))
        extract = functools.partial(extract_motion_maps, clip.frames, clip.fps)
        report(f"MPEG-4 re-encode + vector decode + maps, {count} frames", seconds(extract))
        report(
            f"resize/crop to the 256² condition, {count} frames", seconds(functools.partial(motion_maps_tensor, maps))
        )
        report(
            f"TOTAL file → motion condition, {count} frames", seconds(lambda read=read: motion_condition(read().frames))
        )


def frame_benchmarks(path: Path) -> torch.Tensor:
    clip = read_clip(path)
    count = len(clip.frames)
    print(f"Per frame ({count} frames of 1280x720):")
    report("video frames → 256² [-1,1]", seconds(lambda: video_frames_tensor(clip.frames)), count)
    report("misc frames → 384² [0,1]", seconds(lambda: misc_frames_tensor(clip.frames)), count)
    misc = misc_frames_tensor(clip.frames)
    report("Canny sketch on 384²", seconds(lambda: sketch_condition(misc)), count)
    report("irregular mask preset (384²)", seconds(lambda: [irregular_mask(seed) for seed in range(count)]), count)
    masks = mask_clip(irregular_mask(0), count)
    report("masked video composition (384²)", seconds(lambda: masked_video_condition(misc, masks)), count)
    return misc


def annotator_benchmarks(misc: torch.Tensor, folder: Path | None) -> None:
    print("Annotators (batch of 4 frames at 384²):")
    if folder is None:
        print("  skipped: no weights folder (--weights or $VC_WEIGHTS_DIR)")
        return
    try:
        from vc_core.models import annotators
    except ImportError as exc:
        print(f"  skipped: annotators not importable ({exc})")
        return
    loaders = {
        "midas": annotators.load_midas,
        "pidinet": annotators.load_pidinet,
        "sketch": annotators.load_sketch_simplification,
    }
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    batch = misc[:4]
    for key, load in loaders.items():
        path = folder / OFFICIAL_FILES[key].filename
        if not path.is_file():
            print(f"  {key}: skipped, {path} not found")
            continue
        model = load(path)
        for device in devices:
            model = model.to(device)
            run_annotator(annotators, key, model, batch)  # warm-up (cuDNN autotuning, lazy allocations)
            timed = functools.partial(run_annotator, annotators, key, model, batch)
            report(f"{key} on {device}", seconds(timed, 2), len(batch))


def run_annotator(annotators, key: str, model: torch.nn.Module, batch: torch.Tensor) -> None:
    """One condition computed with the real network, waiting for the GPU to finish."""
    if key == "midas":
        depth_condition(batch, model)
    elif key == "pidinet":
        sketch_condition(batch, functools.partial(annotators.edge_map, model))
    else:
        annotators.clean_sketch(model, batch[:, :1]).cpu()
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def write_preview(target: Path) -> None:
    if not REAL_CLIP.is_file():
        print(f"preview skipped: {REAL_CLIP} not found")
        return
    clip = read_clip(REAL_CLIP)
    frames = video_tensor_to_uint8(video_frames_tensor(clip.frames))
    arrows = motion_arrows_preview(frames, motion_condition(clip.frames, clip.fps))
    strip = np.concatenate([arrows[i] for i in (2, 6, 10, 14)], axis=1)
    cv2.imwrite(str(target), cv2.cvtColor(strip, cv2.COLOR_RGB2BGR))
    print(f"motion preview written to {target}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", help="folder with the official annotator weights")
    parser.add_argument("--preview", type=Path, help="write a motion-arrow preview PNG here")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, PyAV {av.__version__}")
    with tempfile.TemporaryDirectory(prefix="vc_bench_") as folder:
        clip_path = Path(folder) / "hd.mp4"
        write_hd_clip(clip_path)
        motion_benchmarks(clip_path)
        misc = frame_benchmarks(clip_path)
    annotator_benchmarks(misc, weights_dir(args.weights))
    if args.preview:
        write_preview(args.preview)


if __name__ == "__main__":
    main()
