"""Attention blocks of the UNet: spatial (per frame, with text/image cross-attention) and temporal
(per pixel, over frames). Names follow the official checkpoint."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from vc_core.models.attention import attention


class CrossAttention(nn.Module):
    """Multi-head attention with bias-free q/k/v; self-attention when ``context`` is None."""

    def __init__(self, query_dim: int, heads: int, dim_head: int, context_dim: int | None = None, dropout: float = 0.0):
        super().__init__()
        inner = heads * dim_head
        self.heads = heads
        self.to_q = nn.Linear(query_dim, inner, bias=False)
        self.to_k = nn.Linear(context_dim or query_dim, inner, bias=False)
        self.to_v = nn.Linear(context_dim or query_dim, inner, bias=False)
        self.to_out = nn.Sequential(nn.Linear(inner, query_dim), nn.Dropout(dropout))

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        context = x if context is None else context
        # channel index = head * dim_head + j, as in the official reshape
        q, k, v = (rearrange(t, "b n (h d) -> b h n d", h=self.heads) for t in (self.to_q(x), self.to_k(context), self.to_v(context)))
        out = attention(q, k, v)
        return self.to_out(rearrange(out, "b h n d -> b n (h d)"))


class GEGLU(nn.Module):
    def __init__(self, dim_in: int, dim_out: int):
        super().__init__()
        self.proj = nn.Linear(dim_in, dim_out * 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, gate = self.proj(x).chunk(2, dim=-1)
        return a * F.gelu(gate)


class FeedForward(nn.Module):
    def __init__(self, dim: int, mult: int = 4, dropout: float = 0.0):
        super().__init__()
        self.net = nn.Sequential(GEGLU(dim, dim * mult), nn.Dropout(dropout), nn.Linear(dim * mult, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class BasicTransformerBlock(nn.Module):
    """Pre-LN block: self-attention, cross-attention (or a second self-attention), GEGLU MLP."""

    def __init__(self, dim: int, heads: int, dim_head: int, context_dim: int | None, dropout: float = 0.0):
        super().__init__()
        self.attn1 = CrossAttention(dim, heads, dim_head, dropout=dropout)
        self.ff = FeedForward(dim, dropout=dropout)
        self.attn2 = CrossAttention(dim, heads, dim_head, context_dim=context_dim, dropout=dropout)
        self.norm1, self.norm2, self.norm3 = nn.LayerNorm(dim), nn.LayerNorm(dim), nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        x = x + self.attn1(self.norm1(x))
        x = x + self.attn2(self.norm2(x), context)
        return x + self.ff(self.norm3(x))


class SpatialTransformer(nn.Module):
    """Per-frame attention over the h·w tokens, cross-attending to the text (+ image) tokens."""

    def __init__(self, channels: int, heads: int, dim_head: int, context_dim: int, dropout: float = 0.0):
        super().__init__()
        inner = heads * dim_head
        self.norm = nn.GroupNorm(32, channels, eps=1e-6)
        self.proj_in = nn.Linear(channels, inner)
        self.transformer_blocks = nn.ModuleList([BasicTransformerBlock(inner, heads, dim_head, context_dim, dropout)])
        self.proj_out = nn.Linear(inner, channels)

    def forward(self, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        """x: (B·F, C, h, w); context: (B·F, L, context_dim)."""
        h = x.shape[-2]
        y = self.proj_in(rearrange(self.norm(x), "b c h w -> b (h w) c"))
        y = self.transformer_blocks[0](y, context)
        return x + rearrange(self.proj_out(y), "b (h w) c -> b c h w", h=h)


class TemporalTransformer(nn.Module):
    """Per-pixel self-attention over frames. No positional encoding (as official): frame order
    enters the network only through the temporal convolutions. The GroupNorm statistics span
    all frames."""

    def __init__(self, channels: int, heads: int, dim_head: int, dropout: float = 0.0):
        super().__init__()
        inner = heads * dim_head
        self.norm = nn.GroupNorm(32, channels, eps=1e-6)
        self.proj_in = nn.Conv1d(channels, inner, 1)
        # context_dim None: the second attention is a self-attention too
        self.transformer_blocks = nn.ModuleList([BasicTransformerBlock(inner, heads, dim_head, None, dropout)])
        self.proj_out = nn.Conv1d(inner, channels, 1)

    def forward(self, x: torch.Tensor, frames: int) -> torch.Tensor:
        """x: (B·F, C, h, w) with frames as the fastest index within a batch element."""
        h, w = x.shape[-2:]
        y = self.norm(rearrange(x, "(b f) c h w -> b c f h w", f=frames))
        y = self.proj_in(rearrange(y, "b c f h w -> (b h w) c f"))
        y = self.transformer_blocks[0](y.transpose(1, 2)).transpose(1, 2)
        y = rearrange(self.proj_out(y), "(b h w) c f -> (b f) c h w", h=h, w=w)
        return x + y
