"""The Stable Diffusion 2.1 first-stage AutoencoderKL (the VAE VideoComposer encodes/decodes with).

Parameter names equal the official ``first_stage_model.*`` names (prefix stripped), so the SD 2.1
checkpoint loads strictly. The architecture is general in its ``ddconfig`` so small VAEs can be
built too: the spatial downsampling factor is ``2 ** (len(ch_mult) - 1)``.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import NamedTuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from vc_core.models.attention import attention
from vc_core.weights import OFFICIAL_FILES, load_frozen, read_checkpoint

SCALE_FACTOR = 0.18215  # latents fed to the diffusion model are moments' mean/sample times this
CHECKPOINT_PREFIX = "first_stage_model."
LOGVAR_RANGE = (-30.0, 20.0)


@dataclass
class VAEConfig:
    """The official ``ddconfig`` fields plus ``embed_dim`` (latent channels after quant_conv)."""

    ch: int = 128
    ch_mult: list[int] = field(default_factory=lambda: [1, 2, 4, 4])
    num_res_blocks: int = 2
    z_channels: int = 4
    embed_dim: int = 4
    in_channels: int = 3
    out_ch: int = 3
    resolution: int = 256  # only used to decide where attn_resolutions apply
    attn_resolutions: list[int] = field(default_factory=list)
    dropout: float = 0.0
    double_z: bool = True
    # latents seen by the UNet = posterior × scale_factor (≈ 1/std of the latents)
    scale_factor: float = SCALE_FACTOR

    def __post_init__(self) -> None:
        if not self.double_z:
            raise ValueError("AutoencoderKL needs double_z=True (the encoder predicts mean and logvar)")
        if self.ch % 32:
            raise ValueError(f"ch={self.ch} must be a multiple of 32 (GroupNorm with 32 groups)")

    @classmethod
    def official(cls) -> "VAEConfig":
        """The SD 2.1 (v2-1_512-ema-pruned) first-stage configuration."""
        return cls()

    @classmethod
    def from_ddconfig(cls, ddconfig: dict, embed_dim: int) -> "VAEConfig":
        """Build from an official-style ``ddconfig`` dict and ``embed_dim``."""
        return cls(**{**ddconfig, "embed_dim": embed_dim})

    @property
    def downsample_factor(self) -> int:
        return 2 ** (len(self.ch_mult) - 1)


class Posterior(NamedTuple):
    """Diagonal Gaussian over latents; ``logvar`` is already clamped to [-30, 20]."""

    mean: torch.Tensor
    logvar: torch.Tensor

    @property
    def std(self) -> torch.Tensor:
        return torch.exp(0.5 * self.logvar)

    def mode(self) -> torch.Tensor:
        return self.mean

    def sample(self, generator: torch.Generator | None = None) -> torch.Tensor:
        noise = torch.randn(self.mean.shape, generator=generator, device=self.mean.device, dtype=self.mean.dtype)
        return self.mean + self.std * noise


def _norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(32, channels, eps=1e-6, affine=True)


class ResnetBlock(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, dropout: float):
        super().__init__()
        self.norm1 = _norm(in_channels)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.norm2 = _norm(out_channels)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        self.nin_shortcut = nn.Conv2d(in_channels, out_channels, 1) if in_channels != out_channels else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(self.dropout(F.silu(self.norm2(h))))
        skip = x if self.nin_shortcut is None else self.nin_shortcut(x)
        return skip + h


class AttnBlock(nn.Module):
    """Single-head self-attention over all pixels, q/k/v/proj as 1x1 convs (official layout)."""

    def __init__(self, channels: int):
        super().__init__()
        self.norm = _norm(channels)
        self.q = nn.Conv2d(channels, channels, 1)
        self.k = nn.Conv2d(channels, channels, 1)
        self.v = nn.Conv2d(channels, channels, 1)
        self.proj_out = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        y = self.norm(x)
        # (B, C, H, W) -> (B, 1 head, H*W tokens, C)
        q, k, v = (conv(y).reshape(b, 1, c, h * w).transpose(-1, -2) for conv in (self.q, self.k, self.v))
        out = attention(q, k, v).transpose(-1, -2).reshape(b, c, h, w)
        return x + self.proj_out(out)


class Downsample(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, stride=2, padding=0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # official asymmetric padding: one pixel right and bottom only
        return self.conv(F.pad(x, (0, 1, 0, 1)))


class Upsample(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class MidBlock(nn.Module):
    def __init__(self, channels: int, dropout: float):
        super().__init__()
        self.block_1 = ResnetBlock(channels, channels, dropout)
        self.attn_1 = AttnBlock(channels)
        self.block_2 = ResnetBlock(channels, channels, dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block_2(self.attn_1(self.block_1(x)))


class Level(nn.Module):
    """One resolution level: res blocks (each optionally followed by attention), then a resampler."""

    def __init__(
        self,
        blocks: list[nn.Module],
        attns: list[nn.Module],
        downsample: nn.Module | None = None,
        upsample: nn.Module | None = None,
    ):
        super().__init__()
        self.block = nn.ModuleList(blocks)
        self.attn = nn.ModuleList(attns)
        self.downsample = downsample
        self.upsample = upsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i, block in enumerate(self.block):
            x = block(x)
            if self.attn:
                x = self.attn[i](x)
        if self.downsample is not None:
            x = self.downsample(x)
        if self.upsample is not None:
            x = self.upsample(x)
        return x


class Encoder(nn.Module):
    def __init__(self, cfg: VAEConfig):
        super().__init__()
        self.conv_in = nn.Conv2d(cfg.in_channels, cfg.ch, 3, padding=1)
        levels, res, block_in = [], cfg.resolution, cfg.ch
        for i, mult in enumerate(cfg.ch_mult):
            block_out = cfg.ch * mult
            blocks, attns = [], []
            for _ in range(cfg.num_res_blocks):
                blocks.append(ResnetBlock(block_in, block_out, cfg.dropout))
                block_in = block_out
                if res in cfg.attn_resolutions:
                    attns.append(AttnBlock(block_in))
            last = i == len(cfg.ch_mult) - 1
            levels.append(Level(blocks, attns, downsample=None if last else Downsample(block_in)))
            res = res if last else res // 2
        self.down = nn.ModuleList(levels)
        self.mid = MidBlock(block_in, cfg.dropout)
        self.norm_out = _norm(block_in)
        self.conv_out = nn.Conv2d(block_in, 2 * cfg.z_channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv_in(x)
        for level in self.down:
            h = level(h)
        h = self.mid(h)
        return self.conv_out(F.silu(self.norm_out(h)))


class Decoder(nn.Module):
    def __init__(self, cfg: VAEConfig):
        super().__init__()
        block_in = cfg.ch * cfg.ch_mult[-1]
        res = cfg.resolution // cfg.downsample_factor
        self.conv_in = nn.Conv2d(cfg.z_channels, block_in, 3, padding=1)
        self.mid = MidBlock(block_in, cfg.dropout)
        levels: list[Level] = []
        for i in reversed(range(len(cfg.ch_mult))):
            block_out = cfg.ch * cfg.ch_mult[i]
            blocks, attns = [], []
            for _ in range(cfg.num_res_blocks + 1):
                blocks.append(ResnetBlock(block_in, block_out, cfg.dropout))
                block_in = block_out
                if res in cfg.attn_resolutions:
                    attns.append(AttnBlock(block_in))
            levels.insert(0, Level(blocks, attns, upsample=Upsample(block_in) if i else None))
            res = res * 2 if i else res
        self.up = nn.ModuleList(levels)  # indexed by resolution level, run from the coarsest
        self.norm_out = _norm(block_in)
        self.conv_out = nn.Conv2d(block_in, cfg.out_ch, 3, padding=1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.mid(self.conv_in(z))
        for level in reversed(self.up):
            h = level(h)
        return self.conv_out(F.silu(self.norm_out(h)))


class AutoencoderKL(nn.Module):
    """KL autoencoder: image in [-1, 1] <-> unscaled latent (multiply by SCALE_FACTOR for the UNet)."""

    def __init__(self, config: VAEConfig | None = None):
        super().__init__()
        self.config = config or VAEConfig.official()
        self.encoder = Encoder(self.config)
        self.decoder = Decoder(self.config)
        self.quant_conv = nn.Conv2d(2 * self.config.z_channels, 2 * self.config.embed_dim, 1)
        self.post_quant_conv = nn.Conv2d(self.config.embed_dim, self.config.z_channels, 1)
        self.eval()

    def encode_moments(self, x: torch.Tensor) -> torch.Tensor:
        """quant_conv output (B, 2*embed_dim, h, w): mean ‖ raw logvar."""
        return self.quant_conv(self.encoder(x))

    def encode(self, x: torch.Tensor) -> Posterior:
        mean, logvar = torch.chunk(self.encode_moments(x), 2, dim=1)
        return Posterior(mean, torch.clamp(logvar, *LOGVAR_RANGE))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Unscaled latent (B, embed_dim, h, w) -> image (B, out_ch, H, W); no 1/SCALE_FACTOR here."""
        return self.decoder(self.post_quant_conv(z))

    def encode_video(
        self,
        video: torch.Tensor,
        chunk: int = 4,
        sample: bool = False,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Video (B, C, F, H, W) in [-1, 1] -> scaled latents (B, embed_dim, F, h, w).

        Uses the posterior mean unless ``sample`` (official inference samples, but only uses the
        shape). Frames go through the encoder ``chunk`` at a time to bound memory (4: on CPU 1.3–1.5×
        faster than 16 at once, benchmarks/RESULTS.md).
        """
        b, _, f = video.shape[:3]
        frames = video.transpose(1, 2).flatten(0, 1)  # (B*F, C, H, W), frame index fastest
        outs = []
        for part in frames.split(chunk):
            post = self.encode(part)
            outs.append(post.sample(generator) if sample else post.mode())
        z = torch.cat(outs) * self.config.scale_factor
        return z.unflatten(0, (b, f)).transpose(1, 2)

    def decode_video(self, latents: torch.Tensor, chunk: int = 4) -> torch.Tensor:
        """Scaled latents (B, C, F, h, w) -> video (B, out_ch, F, H, W), ``chunk`` frames at a time
        (4: on CPU 1.8× faster than 16 at once and a third of the memory, benchmarks/RESULTS.md)."""
        b, _, f = latents.shape[:3]
        z = latents.transpose(1, 2).flatten(0, 1) / self.config.scale_factor
        frames = torch.cat([self.decode(part) for part in z.split(chunk)])
        return frames.unflatten(0, (b, f)).transpose(1, 2)


def load_vae(path: str | os.PathLike, config: VAEConfig | None = None) -> AutoencoderKL:
    """Load the VAE from the SD 2.1 checkpoint (or any file with ``first_stage_model.*`` keys).

    A file whose keys carry no ``first_stage_model.`` prefix is taken as a bare VAE state dict.
    Loads strictly; frozen and in eval mode.
    """
    spec = OFFICIAL_FILES["vae"]
    ckpt = read_checkpoint(path, spec.what, spec.source)
    state = ckpt["state_dict"] if isinstance(ckpt.get("state_dict"), dict) else ckpt
    if any(CHECKPOINT_PREFIX in k for k in state):
        # official loader: keep keys containing the prefix, drop everything up to and including it
        state = {k.split(CHECKPOINT_PREFIX, 1)[1]: v for k, v in state.items() if CHECKPOINT_PREFIX in k}
    return load_frozen(lambda: AutoencoderKL(config), state, f"{spec.what}: {path} (get it from {spec.source})")

