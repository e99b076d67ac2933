"""UNet forward at the official config: time, counted FLOPs, achieved FLOP/s vs this run's matmul.

    python benchmarks/unet.py [--frames 2] [--dtype float32 bfloat16]

Batch 2 = batched classifier-free guidance, 32×32 latents; on CPU fewer frames than the official
16 (say which). Random weights: speed does not depend on their values.
"""
from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.common import best_time, machine, matmul_flops  # noqa: E402
from vc_core.config import UNetConfig  # noqa: E402
from vc_core.models.unet import UNet3D, channels_last_convs  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--frames", type=int, default=2 if not torch.cuda.is_available() else 16)
    p.add_argument("--dtype", nargs="+", default=["float32", "bfloat16"])
    p.add_argument("--repeat", type=int, default=2)
    p.add_argument("--memory-format", nargs="+", default=["contiguous", "channels_last"], choices=["contiguous", "channels_last"])
    args = p.parse_args()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    torch.set_grad_enabled(False)
    cfg = UNetConfig.official()
    net = UNet3D(cfg).to(device)
    f = args.frames
    x = torch.randn(2, 4, f, 32, 32, device=device)
    t = torch.tensor([500, 500], device=device)
    y = torch.randn(2, 77, 1024, device=device)
    features = net.condition_features(motion=torch.randn(1, 2, f, 256, 256, device=device))
    with FlopCounterMode(display=False) as counter:
        net(x, t, y=y, features=features)
    flops = counter.get_total_flops()
    print(f"machine: {machine()}")
    print(f"UNet official config, batch 2 (batched CFG), {f} frames, 32x32 latents: {flops / 1e12:.3f} TFLOP per call")
    print("| dtype | memory format | time per call | achieved TFLOP/s | matmul TFLOP/s (same run) | ratio |")
    print("|---|---|---|---|---|---|")
    nets = {"contiguous": net, "channels_last": channels_last_convs(copy.deepcopy(net))}
    for name in args.dtype:
        dtype = getattr(torch, name)
        reference = matmul_flops(dtype, device)
        for layout in args.memory_format:

            def call(model=nets[layout]):
                with torch.autocast(device, dtype=dtype, enabled=dtype != torch.float32):
                    model(x, t, y=y, features=features)

            seconds = best_time(call, repeat=args.repeat)
            achieved = flops / seconds
            print(f"| {name} | {layout} | {seconds:.3f} s | {achieved / 1e12:.3f} | {reference / 1e12:.3f} | {achieved / reference:.0%} |")


if __name__ == "__main__":
    main()
