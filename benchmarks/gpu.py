"""The CUDA path on a GPU: attention backend, precisions and offload against the CPU's fp32.

    python benchmarks/gpu.py [--steps 25]

Generates the benchmark request (embedded model, 16 frames, motion + first frame, DDIM) on the
CPU in fp32, then on the GPU in each precision, with and without offload; the noise is drawn on
the CPU from the request's seed, so every row should give the CPU's video up to rounding. Prints
time per generation and the mean / largest pixel difference from the CPU video. Then the
official-config UNet (random weights, 16 frames) under fp16 and bf16 autocast against fp32, and
SDPA against plain math attention. ``--parts memory``: the whole official pipeline (random weights
of the official UNet, VAE and OpenCLIP ViT-H) generating 16 frames at 256² in fp16, with and
without offload: peak GPU memory and time — what decides which GPU it fits.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.common import best_time, machine  # noqa: E402
from benchmarks.generation import motion_request  # noqa: E402
from vc_core.config import ModelSpec, UNetConfig  # noqa: E402
from vc_core.models.attention import resolve_backend, set_attention_backend  # noqa: E402
from vc_core.models.clip import CLIPEncoder, _causal_mask  # noqa: E402
from vc_core.models.unet import UNet3D  # noqa: E402
from vc_core.models.vae import AutoencoderKL  # noqa: E402
from vc_core.pipeline import Pipeline  # noqa: E402


def relative_error(x: torch.Tensor, reference: torch.Tensor) -> float:
    return float((x.float() - reference.float()).norm() / reference.float().norm())


def embedded_rows(steps: int) -> None:
    cpu = Pipeline.from_embedded(device="cpu", precision="fp32")
    request = motion_request(cpu, 16, steps, "ddim")
    reference = cpu.generate(request).video.float()
    print("| device | precision | offload | seconds per generation | mean / max pixel difference vs CPU fp32 |")
    print("|---|---|---|---|---|")
    for precision in ("fp32", "fp16", "bf16"):
        for offload in (False, True):
            pipe = Pipeline.from_embedded(device="cuda", precision=precision, offload=offload)
            video = pipe.generate(request).video.float()
            seconds = best_time(lambda: pipe.generate(request), repeat=3)
            diff = (video - reference).abs()
            print(f"| cuda | {precision} | {offload} | {seconds:.3f} | {diff.mean():.2f} / {diff.max():.0f} |")


def official_unet_rows() -> None:
    torch.manual_seed(0)
    net = UNet3D(UNetConfig.official()).cuda().eval()
    x = torch.randn(2, 4, 16, 32, 32, device="cuda")
    t = torch.tensor([500, 500], device="cuda")
    y = torch.randn(2, 77, 1024, device="cuda")
    features = net.condition_features(motion=torch.randn(1, 2, 16, 256, 256, device="cuda"))
    reference = net(x, t, y=y, features=features)
    print("\n| official UNet, batch 2, 16 frames | relative L2 error vs fp32 (same backend) |")
    print("|---|---|")
    for dtype in (torch.float16, torch.bfloat16):
        with torch.autocast("cuda", dtype=dtype):
            out = net(x, t, y=y, features=features)
        print(f"| {dtype} autocast, {resolve_backend(x.device)} | {relative_error(out, reference):.2e} |")
    for backend in ("sdpa", "math"):
        set_attention_backend(backend)
        with torch.autocast("cuda", dtype=torch.float16):
            out = net(x, t, y=y, features=features)
        print(f"| fp16 autocast, {backend} attention | {relative_error(out, reference):.2e} |")
    set_attention_backend("auto")


def random_official_pipeline(offload: bool) -> Pipeline:
    """The official architecture with random weights (N(0, 0.02)), built on the meta device and
    filled where the pipeline keeps it: speed and memory do not depend on the values."""
    spec = ModelSpec.official()
    with torch.device("meta"):
        unet, vae = UNet3D(spec.unet), AutoencoderKL(spec.vae)
    clip = CLIPEncoder(spec.clip, empty=True)
    home = "cpu" if offload else "cuda"
    for module in (unet, vae, clip):
        module.to_empty(device=home)
        for weight in module.parameters():
            weight.data.normal_(0, 0.02)
    clip.model.attn_mask = _causal_mask(clip.model.context_length, torch.device(home))  # as load_weights sets it
    return Pipeline(spec, unet, vae, clip, device="cuda", precision="auto", offload=offload)


def official_memory_rows(steps: int) -> None:
    print("\n| official pipeline, 16 frames at 256², motion, DDIM | offload | peak GPU memory allocated | seconds per video |")
    print("|---|---|---|---|")
    for offload in (False, True):
        pipe = random_official_pipeline(offload)
        request = motion_request(pipe, 16, steps, "ddim")
        pipe.generate(motion_request(pipe, 16, 2, "ddim"))  # warm-up
        torch.cuda.reset_peak_memory_stats()
        seconds = best_time(lambda p=pipe: p.generate(request), repeat=1, warmup=0)
        print(f"| {steps} steps, {pipe.dtype} | {offload} | {torch.cuda.max_memory_allocated() / 2**30:.1f} GiB | {seconds:.1f} |", flush=True)
        pipe = None  # free this one's GPU memory before the next
        torch.cuda.empty_cache()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--steps", type=int, default=25)
    p.add_argument("--parts", nargs="+", default=["embedded", "official", "memory"], choices=["embedded", "official", "memory"])
    args = p.parse_args()
    if not torch.cuda.is_available():
        sys.exit("no CUDA device: this benchmark checks the GPU path")
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    torch.set_grad_enabled(False)
    print(f"machine: {machine()}")
    print(f"attention backend 'auto' on cuda: {resolve_backend(torch.device('cuda'))}")
    parts = {"embedded": lambda: embedded_rows(args.steps), "official": official_unet_rows, "memory": lambda: official_memory_rows(args.steps)}
    for name in args.parts:
        parts[name]()


if __name__ == "__main__":
    main()
