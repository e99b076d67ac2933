"""Sketch-simplification GAN generator (Simo-Serra et al.), used by VideoComposer as an edge cleaner.

A fully convolutional encoder-decoder (three stride-2 convs down, three 4×4 transposed convs up)
that maps a dark-lines-on-white sketch in [0,1] to a cleaned one in [0,1].
"""
from __future__ import annotations

import os

import torch
from torch import nn

from vc_core.weights import load_frozen
from vc_core.weights import OFFICIAL_FILES, read_checkpoint

# Statistics of the network's training sketches (mostly white paper): the input is standardised with them.
SKETCH_MEAN = 0.9664114577640158
SKETCH_STD = 0.0858381272736797

# (kind, in, out, kernel, stride): "conv" pads kernel//2; "up" is a 4×4 stride-2 pad-1 transposed conv (×2).
_LAYERS = (
    ("conv", 1, 48, 5, 2),
    ("conv", 48, 128, 3, 1),
    ("conv", 128, 128, 3, 1),
    ("conv", 128, 128, 3, 2),
    ("conv", 128, 256, 3, 1),
    ("conv", 256, 256, 3, 1),
    ("conv", 256, 256, 3, 2),
    ("conv", 256, 512, 3, 1),
    ("conv", 512, 1024, 3, 1),
    ("conv", 1024, 1024, 3, 1),
    ("conv", 1024, 1024, 3, 1),
    ("conv", 1024, 1024, 3, 1),
    ("conv", 1024, 512, 3, 1),
    ("conv", 512, 256, 3, 1),
    ("up", 256, 256, 4, 2),
    ("conv", 256, 256, 3, 1),
    ("conv", 256, 128, 3, 1),
    ("up", 128, 128, 4, 2),
    ("conv", 128, 128, 3, 1),
    ("conv", 128, 48, 3, 1),
    ("up", 48, 48, 4, 2),
    ("conv", 48, 24, 3, 1),
    ("conv", 24, 1, 3, 1),
)


class SketchSimplification(nn.Module):
    """(B,1,H,W) sketch in [0,1], dark lines on white, H and W multiples of 8 → (B,1,H,W) in [0,1]."""

    def __init__(self, mean: float = SKETCH_MEAN, std: float = SKETCH_STD):
        super().__init__()
        self.mean = mean
        self.std = std
        layers: list[nn.Module] = []
        for kind, c_in, c_out, k, s in _LAYERS:
            if kind == "up":
                layers.append(nn.ConvTranspose2d(c_in, c_out, k, s, padding=1))
            else:
                layers.append(nn.Conv2d(c_in, c_out, k, s, padding=k // 2))
            layers.append(nn.ReLU(inplace=True))
        layers[-1] = nn.Sigmoid()
        # Parameter names layers.0, layers.2, … follow the official nn.Sequential.
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers((x - self.mean) / self.std)


@torch.no_grad()
def clean_sketch(net: SketchSimplification, sketch: torch.Tensor) -> torch.Tensor:
    """VideoComposer's cleaner chain ``1 - net(1 - s)`` for a bright-edges-on-black map s in [0,1]."""
    param = next(net.parameters())
    s = sketch.to(device=param.device, dtype=param.dtype)
    return (1 - net(1 - s)).to(sketch.dtype)


def load_sketch_simplification(path: str | os.PathLike) -> SketchSimplification:
    """Load ``sketch_simplification_gan.pth`` (a plain state dict) strictly into a frozen, eval-mode net."""
    info = OFFICIAL_FILES["sketch"]
    state = read_checkpoint(path, info.what, info.source)
    return load_frozen(SketchSimplification, state, f"{info.what}: {path}")
