"""MiDaS v3.0 DPT-Large depth estimator, with the parameter names of VideoComposer's own rewrite.

ViT-L/16 backbone (pre-LN blocks, packed q|k|v projection), the DPT "project" readout (patch tokens
concatenated with the class token, Linear + GELU) taken after every quarter of the blocks,
reassembled at strides 4/8/16/32 of the input, fused coarse-to-fine and decoded by a small head to a
non-negative (inverse) depth map at the input resolution.
"""
from __future__ import annotations

import os

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from vc_core.weights import load_frozen
from vc_core.models.attention import attention
from vc_core.weights import OFFICIAL_FILES, read_checkpoint

# VideoComposer's cfg.depth_std / cfg.depth_clamp: raw MiDaS outputs are O(10); dividing by 20 and
# clamping to [0, 10] is the scaling the UNet's depth branch was trained with.
DEPTH_STD = 20.0
DEPTH_CLAMP = 10.0


class SelfAttention(nn.Module):
    def __init__(self, dim: int, num_heads: int):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"dim {dim} is not divisible by num_heads {num_heads}")
        self.num_heads = num_heads
        self.to_qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Output channels are laid out [q | k | v], each head-major (head · head_dim + j).
        q, k, v = rearrange(self.to_qkv(x), "b n (three h d) -> three b h n d", three=3, h=self.num_heads)
        return self.proj(rearrange(attention(q, k, v), "b h n d -> b n (h d)"))


class AttentionBlock(nn.Module):
    def __init__(self, dim: int, num_heads: int):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)  # eps 1e-5 (torch default), as in the official rewrite
        self.attn = SelfAttention(dim, num_heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, dim * 4), nn.GELU(), nn.Linear(dim * 4, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class ResidualConvUnit(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        # Not in-place: the first ReLU must not modify the caller's tensor.
        self.residual = nn.Sequential(
            nn.ReLU(), nn.Conv2d(dim, dim, 3, padding=1), nn.ReLU(), nn.Conv2d(dim, dim, 3, padding=1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.residual(x)


class FusionBlock(nn.Module):
    """x (+ refined skip) → residual unit → ×2 bilinear (align_corners=True) → 1×1 conv."""

    def __init__(self, dim: int):
        super().__init__()
        self.layer1 = ResidualConvUnit(dim)
        self.layer2 = ResidualConvUnit(dim)
        self.conv_out = nn.Conv2d(dim, dim, 1)

    def forward(self, x: torch.Tensor, skip: torch.Tensor | None = None) -> torch.Tensor:
        if skip is not None:
            x = x + self.layer1(skip)
        x = F.interpolate(self.layer2(x), scale_factor=2, mode="bilinear", align_corners=True)
        return self.conv_out(x)


def _reassemble(dim: int, neck: int, fusion_dim: int, stage: int) -> nn.Sequential:
    """Token map (stride 16) → feature map at stride 4, 8, 16, 32 for stage 0, 1, 2, 3."""
    layers: list[nn.Module] = [nn.Conv2d(dim, neck, 1)]
    if stage == 0:
        layers.append(nn.ConvTranspose2d(neck, neck, 4, stride=4))
    elif stage == 1:
        layers.append(nn.ConvTranspose2d(neck, neck, 2, stride=2))
    elif stage == 3:
        layers.append(nn.Conv2d(neck, neck, 3, stride=2, padding=1))
    layers.append(nn.Conv2d(neck, fusion_dim, 3, padding=1, bias=False))
    return nn.Sequential(*layers)


class MiDaS(nn.Module):
    """DPT-Large: (B,3,H,W) image in [-1, 1] (H, W multiples of 2·patch = 32) → (B,1,H,W) depth."""

    def __init__(
        self,
        image_size: int = 384,
        patch_size: int = 16,
        dim: int = 1024,
        neck_dims: tuple[int, int, int, int] = (256, 512, 1024, 1024),
        fusion_dim: int = 256,
        num_heads: int = 16,
        num_layers: int = 24,
    ):
        super().__init__()
        if image_size % patch_size or num_layers % 4:
            raise ValueError("image_size must be a multiple of patch_size and num_layers of 4")
        self.patch_size = patch_size
        self.grid = image_size // patch_size  # side of the stored positional-embedding grid
        self.stage_depth = num_layers // 4

        self.patch_embedding = nn.Conv2d(3, dim, kernel_size=patch_size, stride=patch_size)
        self.cls_embedding = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embedding = nn.Parameter(torch.zeros(1, self.grid**2 + 1, dim))
        self.blocks = nn.Sequential(*[AttentionBlock(dim, num_heads) for _ in range(num_layers)])
        for i, neck in enumerate(neck_dims):
            self.add_module(f"fc{i + 1}", nn.Sequential(nn.Linear(dim * 2, dim), nn.GELU()))
            self.add_module(f"conv{i + 1}", _reassemble(dim, neck, fusion_dim, i))
            self.add_module(f"fusion{i + 1}", FusionBlock(fusion_dim))
        self.head = nn.Sequential(
            nn.Conv2d(fusion_dim, fusion_dim // 2, 3, padding=1),
            nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True),
            nn.Conv2d(fusion_dim // 2, 32, 3, padding=1),
            nn.ReLU(),
            nn.ConvTranspose2d(32, 1, 1),
            nn.ReLU(),
        )

    def _pos_embedding(self, hp: int, wp: int) -> torch.Tensor:
        """Class position + the stored grid resized bilinearly (align_corners=False) to hp×wp."""
        cls_pos, grid = self.pos_embedding[:, :1], self.pos_embedding[:, 1:]
        grid = rearrange(grid, "1 (h w) c -> 1 c h w", h=self.grid)
        grid = F.interpolate(grid, size=(hp, wp), mode="bilinear", align_corners=False)
        return torch.cat([cls_pos, rearrange(grid, "1 c h w -> 1 (h w) c")], dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        p = self.patch_size
        # The stride-32 branch is upsampled ×2 onto the token grid, so the grid must be even.
        if h % (2 * p) or w % (2 * p):
            raise ValueError(f"MiDaS input {h}×{w} must be a multiple of {2 * p} (twice the patch size)")
        hp, wp = h // p, w // p

        tokens = rearrange(self.patch_embedding(x), "b c h w -> b (h w) c")
        tokens = torch.cat([self.cls_embedding.expand(b, -1, -1), tokens], dim=1) + self._pos_embedding(hp, wp)

        features = []
        for i in range(4):
            tokens = self.blocks[i * self.stage_depth : (i + 1) * self.stage_depth](tokens)
            patches = tokens[:, 1:]
            readout = torch.cat([patches, tokens[:, :1].expand_as(patches)], dim=-1)
            fmap = rearrange(getattr(self, f"fc{i + 1}")(readout), "b (h w) c -> b c h w", h=hp)
            features.append(getattr(self, f"conv{i + 1}")(fmap))

        x = self.fusion4(features[3])
        x = self.fusion3(x, features[2])
        x = self.fusion2(x, features[1])
        x = self.fusion1(x, features[0])
        return self.head(x)


@torch.no_grad()
def load_midas(path: str | os.PathLike) -> MiDaS:
    """Load ``midas_v3_dpt_large.pth`` (a plain state dict) strictly into a frozen, eval-mode MiDaS."""
    info = OFFICIAL_FILES["midas"]
    state = read_checkpoint(path, info.what, info.source)
    return load_frozen(MiDaS, state, f"{info.what}: {path}")
