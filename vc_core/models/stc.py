"""STC-encoder: one small branch per spatial condition (depth, sketch, motion, …).

Each branch maps a per-frame condition to ``concat_dim`` channels at the latent resolution and
mixes it over time with a tiny frame-attention adapter. The branches do not depend on the
timestep, so a sampler computes them once per generation (see ``UNet3D.condition_features``).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from vc_core.models.attention import attention


class AdapterAttention(nn.Module):
    """ViT-style attention with one packed bias-free q|k|v projection."""

    def __init__(self, dim: int, heads: int, dim_head: int):
        super().__init__()
        self.heads = heads
        self.to_qkv = nn.Linear(dim, heads * dim_head * 3, bias=False)
        self.to_out = nn.Sequential(nn.Linear(heads * dim_head, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = (rearrange(t, "b n (h d) -> b h n d", h=self.heads) for t in self.to_qkv(x).chunk(3, dim=-1))
        return self.to_out(rearrange(attention(q, k, v), "b h n d -> b n (h d)"))


class PreNorm(nn.Module):
    def __init__(self, dim: int, fn: nn.Module):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.fn = fn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.fn(self.norm(x))


class AdapterMLP(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.net = nn.Sequential(nn.Sequential(nn.Linear(dim, hidden), nn.GELU()), nn.Dropout(0.0), nn.Linear(hidden, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class FrameAdapter(nn.Module):
    """Temporal mixing of a condition's features: x += Attn(LN(x)); x += MLP(x) (no norm)."""

    def __init__(self, dim: int, heads: int = 2):
        super().__init__()
        self.layers = nn.ModuleList([nn.ModuleList([PreNorm(dim, AdapterAttention(dim, heads, dim)), AdapterMLP(dim, 4 * dim)])])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        attn, mlp = self.layers[0]
        x = attn(x)
        return x + mlp(x)


def condition_encoder(in_channels: int, out_channels: int, pool_size: int) -> nn.Sequential:
    """Conv → SiLU → adaptive pool → two stride-2 convs: any resolution to pool_size/4."""
    hidden = out_channels * 4
    return nn.Sequential(
        nn.Conv2d(in_channels, hidden, 3, padding=1),
        nn.SiLU(),
        nn.AdaptiveAvgPool2d((pool_size, pool_size)),
        nn.Conv2d(hidden, hidden, 3, stride=2, padding=1),
        nn.SiLU(),
        nn.Conv2d(hidden, out_channels, 3, stride=2, padding=1),
    )


def fill_motion_blocks(motion: torch.Tensor, block: int) -> torch.Tensor:
    """Sparse motion (…, 2, H, W), one vector per block centre → every pixel gets the mean of the
    non-zero vectors within ``block``/2 of it, so a moving block is filled with its vector.

    Zero vectors (static blocks) stay zero rather than diluting their moving neighbours.
    """
    shape = motion.shape
    flat = motion.reshape(-1, *shape[-3:])
    moving = flat.abs().sum(1, keepdim=True).gt(0).to(flat.dtype)
    filled = _box_mean(flat, block) / _box_mean(moving, block).clamp_min(1 / block**2)
    return filled.reshape(shape)


def _box_mean(x: torch.Tensor, block: int) -> torch.Tensor:
    """Mean over the ``block``×``block`` window around each pixel (zero padded), as two 1-D passes:
    5× faster than one 2-D pool, which cost a tenth of a training step."""
    rows = F.avg_pool2d(x, (block, 1), stride=1, padding=(block // 2, 0))
    return F.avg_pool2d(rows, (1, block), stride=1, padding=(0, block // 2))[..., : x.shape[-2], : x.shape[-1]]


def encode_condition(encoder: nn.Module, adapter: FrameAdapter, cond: torch.Tensor, input_size: int | None = None) -> torch.Tensor:
    """(B, C, F, H, W) condition → (B, concat_dim, F, h, w) features; ``input_size``: average-pool
    each frame to that size before the encoder (None: as given, as official)."""
    b, _, f = cond.shape[:3]
    x = rearrange(cond, "b c f h w -> (b f) c h w")
    if input_size is not None:
        x = F.adaptive_avg_pool2d(x, input_size)
    y = encoder(x)
    h, w = y.shape[-2:]
    y = adapter(rearrange(y, "(b f) c h w -> (b h w) f c", b=b, f=f))
    return rearrange(y, "(b h w) f c -> b c f h w", b=b, h=h, w=w)
