"""PiDiNet edge detector ('bsd' table-5 model), in its converted vanilla-CNN form.

The official checkpoint stores pixel-difference convolutions (PDC) as plain 3×3 kernels; each PDC
type is a linear function of its kernel, so :func:`convert_pidinet_checkpoint` rewrites them once
into ordinary 3×3 ('cd', 'ad') or 5×5 ('rd') kernels and the network is a vanilla CNN.
"""
from __future__ import annotations

import os
from typing import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from vc_core.weights import load_frozen
from vc_core.weights import OFFICIAL_FILES, WeightError, read_checkpoint

# Op of init_block and the 15 PDC blocks: central, angular, radial difference, vanilla, ×4.
CARV4 = ("cd", "ad", "rd", "cv") * 4
# PDC blocks per stage and each stage's width in units of ``inplane``; stages 2-4 start by halving
# the resolution.
STAGE_BLOCKS = (3, 4, 4, 4)
STAGE_WIDTH = (1, 2, 4, 4)
BLOCKS = tuple(f"block{s}_{i}" for s, n in enumerate(STAGE_BLOCKS, start=1) for i in range(1, n + 1))
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# 'ad': each ring tap minus the tap before it going clockwise; the centre becomes 0.
_AD_PERM = [3, 0, 1, 6, 4, 2, 7, 8, 5]
# 'rd': flattened taps 1…8 (as officially: tap 0 dropped, centre kept) go to the outer ring of a
# 5×5 kernel and, negated, to its inner ring; the 5×5 centre stays 0.
_RD_OUTER = [0, 2, 4, 10, 14, 20, 22, 24]
_RD_INNER = [6, 7, 8, 11, 13, 16, 17, 18]


def _kernel_size(op: str) -> int:
    return 5 if op == "rd" else 3


class PDCBlock(nn.Module):
    """[max-pool] → depthwise conv → ReLU → 1×1 conv, plus the (1×1-projected when pooling) input."""

    def __init__(self, op: str, in_ch: int, out_ch: int, downsample: bool):
        super().__init__()
        self.downsample = downsample
        if downsample:
            self.shortcut = nn.Conv2d(in_ch, out_ch, 1)
        k = _kernel_size(op)
        self.conv1 = nn.Conv2d(in_ch, in_ch, k, padding=k // 2, groups=in_ch, bias=False)
        self.conv2 = nn.Conv2d(in_ch, out_ch, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.downsample:
            x = F.max_pool2d(x, 2, 2)
        y = self.conv2(F.relu(self.conv1(x)))
        return y + (self.shortcut(x) if self.downsample else x)


class CDCM(nn.Module):
    """Compact dilation module: ReLU → 1×1 → sum of 3×3 convs with dilations 5, 7, 9, 11."""

    def __init__(self, in_ch: int, out_ch: int):
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, out_ch, 1)
        for i, d in enumerate((5, 7, 9, 11), start=1):
            self.add_module(f"conv2_{i}", nn.Conv2d(out_ch, out_ch, 3, dilation=d, padding=d, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(F.relu(x))
        return self.conv2_1(x) + self.conv2_2(x) + self.conv2_3(x) + self.conv2_4(x)


class CSAM(nn.Module):
    """Compact spatial attention: x · sigmoid(3×3(1×1(ReLU(x))))."""

    def __init__(self, ch: int, mid_ch: int = 4):
        super().__init__()
        self.conv1 = nn.Conv2d(ch, mid_ch, 1)
        self.conv2 = nn.Conv2d(mid_ch, 1, 3, padding=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(self.conv2(self.conv1(F.relu(x))))


class MapReduce(nn.Module):
    def __init__(self, ch: int):
        super().__init__()
        self.conv = nn.Conv2d(ch, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class PiDiNet(nn.Module):
    """Vanilla-CNN PiDiNet with CDCM + CSAM side outputs (the 'bsd' model: sa=True, dil set).

    Input: (B,3,H,W) ImageNet-normalised RGB. Output: (B,1,H,W) fused edge probability (edges bright),
    the last of the official model's five sigmoid maps and the one VideoComposer uses.
    """

    def __init__(self, inplane: int = 60, dil: int = 24, layout: Sequence[str] = CARV4):
        super().__init__()
        if len(layout) != 1 + len(BLOCKS):
            raise ValueError(f"layout needs {1 + len(BLOCKS)} ops, got {len(layout)}")
        k = _kernel_size(layout[0])
        self.init_block = nn.Conv2d(3, inplane, k, padding=k // 2, bias=False)
        ops = iter(layout[1:])
        self.stage_blocks: list[list[str]] = []
        ch = inplane
        for stage, (n_blocks, width) in enumerate(zip(STAGE_BLOCKS, STAGE_WIDTH), start=1):
            names = [f"block{stage}_{i}" for i in range(1, n_blocks + 1)]
            for i, name in enumerate(names):
                self.add_module(name, PDCBlock(next(ops), ch, inplane * width, downsample=stage > 1 and i == 0))
                ch = inplane * width
            self.stage_blocks.append(names)
        self.conv_reduces = nn.ModuleList(MapReduce(dil) for _ in STAGE_WIDTH)
        self.attentions = nn.ModuleList(CSAM(dil) for _ in STAGE_WIDTH)
        self.dilations = nn.ModuleList(CDCM(inplane * width, dil) for width in STAGE_WIDTH)
        self.classifier = nn.Conv2d(len(STAGE_WIDTH), 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[-2:]
        x = self.init_block(x)
        side_maps = []
        for i, names in enumerate(self.stage_blocks):
            for name in names:
                x = getattr(self, name)(x)
            edge = self.conv_reduces[i](self.attentions[i](self.dilations[i](x)))
            side_maps.append(F.interpolate(edge, size=size, mode="bilinear", align_corners=False))
        return torch.sigmoid(self.classifier(torch.cat(side_maps, dim=1)))


def _convert_pdc(op: str, w: torch.Tensor) -> torch.Tensor:
    """One PDC kernel (O,I,3,3) → the equivalent vanilla kernel (3×3, or 5×5 for 'rd')."""
    if op == "cv":
        return w
    o, i = w.shape[:2]
    flat = w.reshape(o, i, 9)
    if op == "cd":  # y = conv(x, w) - x·Σw: fold the subtraction into the centre tap
        out = flat.clone()
        out[:, :, 4] = flat[:, :, 4] - w.sum(dim=(2, 3))
        return out.reshape(o, i, 3, 3)
    if op == "ad":
        return (flat - flat[:, :, _AD_PERM]).reshape(o, i, 3, 3)
    if op == "rd":
        out = w.new_zeros(o, i, 25)
        out[:, :, _RD_OUTER] = flat[:, :, 1:]
        out[:, :, _RD_INNER] = -flat[:, :, 1:]
        return out.reshape(o, i, 5, 5)
    raise ValueError(f"unknown PDC op {op!r}")


def convert_pidinet_checkpoint(
    raw_state_dict: Mapping[str, torch.Tensor], layout: Sequence[str] = CARV4
) -> dict[str, torch.Tensor]:
    """Official PDC state dict (optionally with DataParallel's ``module.`` prefix) → vanilla names.

    Only ``init_block.weight`` and the blocks' depthwise ``conv1.weight`` change; everything else
    is copied as is.
    """
    ops = {"init_block.weight": layout[0]}
    ops.update({f"{name}.conv1.weight": op for name, op in zip(BLOCKS, layout[1:])})
    out = {}
    for key, value in raw_state_dict.items():
        key = key.removeprefix("module.")
        out[key] = _convert_pdc(ops[key], value) if key in ops else value
    return out


@torch.no_grad()
def edge_map(model: PiDiNet, frames01: torch.Tensor) -> torch.Tensor:
    """(N,3,H,W) RGB frames in [0,1] → ImageNet normalisation → PiDiNet → (N,1,H,W) edges in [0,1]."""
    param = next(model.parameters())
    x = frames01.to(device=param.device, dtype=param.dtype)
    mean = x.new_tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = x.new_tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return model((x - mean) / std).to(frames01.dtype)


def load_pidinet(path: str | os.PathLike) -> PiDiNet:
    """Load ``table5_pidinet.pth`` (``['state_dict']``, ``module.`` keys, PDC form) into a frozen vanilla PiDiNet."""
    info = OFFICIAL_FILES["pidinet"]
    ckpt = read_checkpoint(path, info.what, info.source)
    if "state_dict" not in ckpt:
        raise WeightError(f"{info.what}: {path} has no 'state_dict' entry (keys: {list(ckpt)[:5]})")
    return load_frozen(PiDiNet, convert_pidinet_checkpoint(ckpt["state_dict"]), f"{info.what}: {path}")
