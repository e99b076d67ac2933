"""End-to-end generation time, split by stage, with before/after for the sampler optimisations.

    python benchmarks/generation.py [--model embedded] [--steps 25] [--frames 16] [--precision fp32 bf16]

Rows: DDIM and DPM-Solver++ as shipped (STC features once, batched CFG) per precision, then DDIM with the
STC-encoder recomputed in every UNet call and DDIM with two UNet calls per step (official
style), so each optimisation's gain is measured in the same run; the share of sampling time
spent outside the UNet (scheduler, guidance, data movement); VAE decode and encode time and
peak memory per frame-chunk size.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.common import machine, peak_increase_mb, peak_rss_gb  # noqa: E402
from vc_core.conditions.strokes import preset_motion  # noqa: E402
from vc_core.conditions.transforms import to_model_layout  # noqa: E402
from vc_core.pipeline import PRECISIONS, GenerationRequest, Pipeline, load_pipeline  # noqa: E402
from vc_core.sampling import as_eps_fn, cfg_eps_fn, sample  # noqa: E402
from vc_core.video_io import write_mp4  # noqa: E402


def motion_request(pipe, frames: int, steps: int, sampler: str, first_frame: bool = True, motion: bool = True) -> GenerationRequest:
    size = pipe.spec.video_size
    maps = preset_motion("pan_left", (size, size), frames).maps
    conditions = {"motion": to_model_layout(torch.from_numpy(maps))} if motion else {}
    if first_frame:
        conditions["local_image"] = torch.rand(1, 3, 1, pipe.spec.misc_size, pipe.spec.misc_size).expand(-1, -1, frames, -1, -1)
    request = GenerationRequest("a red star moving left", conditions, frames=frames, steps=steps, sampler=sampler)
    return pipe.with_model_defaults(request)


def time_sampling(pipe, request: GenerationRequest, batched: bool, stc_once: bool) -> float:
    """Sampling time; optionally the STC branches in every call and/or two calls per step (official)."""
    unet = pipe.unet
    y = pipe.text_embedding(request.prompt)
    conds = {k: v.to(pipe.device) for k, v in request.conditions.items()}
    spatial = {"features": unet.condition_features(**conds)} if stc_once else conds
    cond, uncond = {"y": y, **spatial}, {"y": unet.zero_y, **spatial}
    size = unet.config.latent_size
    noise = torch.randn(1, unet.config.in_dim, request.frames, size, size)
    start = time.perf_counter()
    eps_fn = as_eps_fn(cfg_eps_fn(unet, cond, uncond, request.guide_scale, batched=batched), pipe.schedule, pipe.spec.prediction)
    sample(request.sampler, eps_fn, noise, pipe.schedule, request.steps)
    return time.perf_counter() - start


def sampling_overhead(pipe, request: GenerationRequest) -> tuple[float, float]:
    """(sampling seconds, seconds inside UNet forward) for one shipped-style sampling run."""
    inside = []
    pre = pipe.unet.register_forward_pre_hook(lambda *_: inside.append(-time.perf_counter()))
    post = pipe.unet.register_forward_hook(lambda *_: inside.append(time.perf_counter()))
    try:
        total = time_sampling(pipe, request, batched=True, stc_once=True)
    finally:
        pre.remove()
        post.remove()
    return total, sum(inside)


def compiled_sampling(pipe, request: GenerationRequest) -> None:
    """Same sampling with the UNet's forward under torch.compile; the first run pays the compile."""
    eager = pipe.unet.forward
    pipe.unet.forward = torch.compile(eager)
    try:
        start = time.perf_counter()
        time_sampling(pipe, request, batched=True, stc_once=True)
        first = time.perf_counter() - start
        seconds = min(time_sampling(pipe, request, batched=True, stc_once=True) for _ in range(2))
    finally:
        pipe.unet.forward = eager
    print(f"| torch.compile(unet) | {seconds:.2f} (first run incl. compile {first:.0f}) |")


def vae_chunks(pipe, frames: int, chunks: tuple[int, ...] = (16, 4, 1)) -> None:
    size = pipe.unet.config.latent_size
    latents = torch.randn(1, pipe.unet.config.in_dim, frames, size, size)
    video = pipe.vae.decode_video(latents).clamp(-1, 1)
    print("\n| VAE, frames per chunk | decode seconds | decode peak memory increase | encode seconds | encode peak memory increase |")
    print("|---|---|---|---|---|")
    for chunk in chunks:
        decode = lambda c=chunk: pipe.vae.decode_video(latents, chunk=c)  # noqa: E731
        encode = lambda c=chunk: pipe.vae.encode_video(video, chunk=c)  # noqa: E731
        cells = []
        for run in (decode, encode):
            run()  # warm-up
            start = time.perf_counter()
            run()
            cells += [f"{time.perf_counter() - start:.2f}", f"{peak_increase_mb(run):.0f} MB"]
        print(f"| {chunk} | " + " | ".join(cells) + " |")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--model", default="embedded")
    p.add_argument("--weights", default=None)
    p.add_argument("--steps", type=int, default=25)
    p.add_argument("--frames", type=int, default=16)
    p.add_argument("--folder", default=None, help="an exported embedded model folder instead of assets/embedded")
    p.add_argument("--compile", action="store_true", help="also time sampling with torch.compile(unet) (compile time apart)")
    p.add_argument("--precision", nargs="+", default=["fp32", "bf16"], choices=PRECISIONS, help="end-to-end rows per precision")
    args = p.parse_args()
    torch.set_grad_enabled(False)

    def load(precision: str) -> Pipeline:
        if args.folder:
            return Pipeline.from_embedded(args.folder, precision=precision)
        return load_pipeline(args.model, args.weights, precision=precision)

    print(f"machine: {machine()}")
    print(f"model: {args.model}, {args.frames} frames, motion + first frame conditions")
    print("| configuration | precision | total | text/image | STC features | sampling | VAE decode | MP4 encode | peak RSS |")
    print("|---|---|---|---|---|---|---|---|---|")
    for precision in args.precision:
        pipe = load(precision)
        pipe.generate(motion_request(pipe, args.frames, 2, "ddim"))  # warm-up
        for sampler, steps in (("ddim", args.steps), ("dpmpp_2m", 20)):
            out = pipe.generate(motion_request(pipe, args.frames, steps, sampler))
            with tempfile.TemporaryDirectory() as tmp:
                start = time.perf_counter()
                write_mp4(out.video.numpy(), Path(tmp) / "v.mp4")
                mp4 = time.perf_counter() - start
            t = out.timings
            total = sum(t.values()) + mp4
            print(
                f"| {sampler} {steps} steps | {out.parameters['precision']} | {total:.2f} s | {t['encode_text_image']:.2f} | "
                f"{t['condition_features']:.2f} | {t['sampling']:.2f} | {t['vae_decode']:.2f} | {mp4:.2f} | {peak_rss_gb():.2f} GB |"
            )
    pipe = load("fp32")  # the rows below compare variants in fp32
    out = pipe.generate(motion_request(pipe, args.frames, args.steps, "ddim", first_frame=False))
    drawn = out.timings.get("first_frame", 0.0)
    print(
        f"\nmotion without a first frame, DDIM {args.steps} (motion hold {out.parameters['motion_hold']}: the model draws "
        f"the first frame, then animates it): {sum(out.timings.values()):.2f} s, of which the first frame {drawn:.2f} s"
    )
    out = pipe.generate(motion_request(pipe, args.frames, args.steps, "ddim", motion=False))
    drafted = out.timings.get("drafted_motion", 0.0)
    print(
        f"a first frame without motion, DDIM {args.steps} (motion hold {out.parameters['motion_hold']}: the model drafts "
        f"the motion, then carries the frame along it): {sum(out.timings.values()):.2f} s, of which the draft {drafted:.2f} s"
    )
    request = motion_request(pipe, args.frames, args.steps, "ddim")
    rows = [("shipped: STC once, batched CFG", True, True), ("STC in every call", True, False), ("two calls per step (official)", False, True)]
    print("\n| DDIM sampling only | seconds |")
    print("|---|---|")
    for name, batched, stc_once in rows:
        seconds = np.min([time_sampling(pipe, request, batched, stc_once) for _ in range(2)])
        print(f"| {name} | {seconds:.2f} |")
    if args.compile:
        compiled_sampling(pipe, request)
    total, unet = sampling_overhead(pipe, request)
    print(f"\nsampling {total:.2f} s, inside the UNet {unet:.2f} s: overhead outside the UNet {(total - unet) / total:.1%}")
    vae_chunks(pipe, args.frames)


if __name__ == "__main__":
    main()
