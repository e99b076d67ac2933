"""The VideoComposer 3D UNet (official ``UNetSD_temporal``), one configurable class.

Frames are folded into the batch ((B·F), C, h, w) for 2-D layers, with the frame index fastest
within each batch element; temporal layers unfold them. A single frame is an image: the temporal
layers pass it through, as the official joint image-video training does, so images can train the
spatial layers. Parameter names equal the official checkpoint's (including its ``temopral_conv``
spelling).
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn
from torch.utils.checkpoint import checkpoint

from vc_core.config import COMPOSITION_OF_CONDITION, CONDITION_CHANNELS, UNetConfig
from vc_core.models.stc import FrameAdapter, condition_encoder, encode_condition, fill_motion_blocks
from vc_core.models.transformer import SpatialTransformer, TemporalTransformer
from vc_core.weights import OFFICIAL_FILES, WeightError, read_checkpoint

log = logging.getLogger(__name__)


@dataclass
class StepInputs:
    """What every block needs besides x: time embedding and context per (B·F) row."""

    emb: torch.Tensor
    context: torch.Tensor
    frames: int


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """[cos | sin] sinusoidal embedding (cos half first, as official), float32."""
    half = dim // 2
    freqs = torch.pow(10000, -torch.arange(half, device=t.device, dtype=torch.float32).div(half))
    args = torch.outer(t.float(), freqs)
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=1)
    return F.pad(emb, (0, dim % 2))


class TemporalConvBlock(nn.Module):
    """Four GN → SiLU → (Dropout) → 3-tap temporal conv stages, residual."""

    def __init__(self, channels: int, dropout: float):
        super().__init__()

        def stage(first: bool) -> nn.Sequential:
            conv = nn.Conv3d(channels, channels, (3, 1, 1), padding=(1, 0, 0))
            layers = [nn.GroupNorm(32, channels), nn.SiLU()] + ([] if first else [nn.Dropout(dropout)])
            return nn.Sequential(*layers, conv)

        self.conv1, self.conv2, self.conv3, self.conv4 = stage(True), stage(False), stage(False), stage(False)

    def forward(self, x: torch.Tensor, frames: int) -> torch.Tensor:
        y = rearrange(x, "(b f) c h w -> b c f h w", f=frames)
        y = y + self.conv4(self.conv3(self.conv2(self.conv1(y))))
        return rearrange(y, "b c f h w -> (b f) c h w")


class ResBlock(nn.Module):
    def __init__(self, in_channels: int, emb_dim: int, dropout: float, out_channels: int | None = None):
        super().__init__()
        out_channels = out_channels or in_channels
        self.in_layers = nn.Sequential(nn.GroupNorm(32, in_channels), nn.SiLU(), nn.Conv2d(in_channels, out_channels, 3, padding=1))
        self.emb_layers = nn.Sequential(nn.SiLU(), nn.Linear(emb_dim, out_channels))
        self.out_layers = nn.Sequential(
            nn.GroupNorm(32, out_channels), nn.SiLU(), nn.Dropout(dropout), nn.Conv2d(out_channels, out_channels, 3, padding=1)
        )
        self.skip_connection = nn.Identity() if in_channels == out_channels else nn.Conv2d(in_channels, out_channels, 1)
        self.temopral_conv = TemporalConvBlock(out_channels, dropout)

    def forward(self, x: torch.Tensor, s: StepInputs) -> torch.Tensor:
        h = self.in_layers(x) + self.emb_layers(s.emb)[..., None, None].to(x.dtype)
        h = self.skip_connection(x) + self.out_layers(h)
        return h if s.frames == 1 else self.temopral_conv(h, s.frames)


class Downsample(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.op = nn.Conv2d(channels, channels, 3, stride=2, padding=1)

    def forward(self, x: torch.Tensor, s: StepInputs) -> torch.Tensor:
        return self.op(x)


class Upsample(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor, s: StepInputs) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class Block(nn.ModuleList):
    """A sequence of layers run with the shared step inputs."""

    def forward(self, x: torch.Tensor, s: StepInputs) -> torch.Tensor:
        for layer in self:
            if isinstance(layer, SpatialTransformer):
                x = layer(x, s.context)
            elif isinstance(layer, TemporalTransformer):
                x = x if s.frames == 1 else layer(x, s.frames)
            elif isinstance(layer, (ResBlock, Upsample, Downsample)):
                x = layer(x, s)
            else:
                x = layer(x)
        return x


class UNet3D(nn.Module):
    """VideoComposer's denoiser: eps = model(x, t, y, image, spatial conditions).

    Always constructed in eval mode; condition dropout for training lives in the training code,
    never in ``forward``.
    """

    def __init__(self, config: UNetConfig):
        super().__init__()
        c = self.config = config
        emb_dim = c.dim * 4
        self.time_embed = nn.Sequential(nn.Linear(c.dim, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))
        self.pre_image_condition = nn.Sequential(nn.Linear(c.image_dim, c.context_dim), nn.SiLU(), nn.Linear(c.context_dim, c.context_dim))
        for name in c.conditions:
            setattr(self, f"{name}_embedding", condition_encoder(CONDITION_CHANNELS[name], c.concat_dim, c.stc_pool_size))
            setattr(self, _ADAPTER_NAME.get(name, f"{name}_embedding_after"), FrameAdapter(c.concat_dim))

        def spatial(ch: int) -> SpatialTransformer:
            return SpatialTransformer(ch, ch // c.head_dim, c.head_dim, c.context_dim)

        def temporal(ch: int, heads: int | None = None) -> TemporalTransformer:
            return TemporalTransformer(ch, heads or ch // c.head_dim, c.head_dim)

        def attn_layers(ch: int, scale: float) -> list[nn.Module]:
            if scale not in c.attn_scales:
                return []
            return [spatial(ch)] + ([temporal(ch)] if c.temporal_attention else [])

        enc_dims = [c.dim * m for m in [1] + c.dim_mult]
        dec_dims = [c.dim * m for m in [c.dim_mult[-1]] + c.dim_mult[::-1]]
        first = Block([nn.Conv2d(c.in_dim + c.concat_dim, c.dim, 3, padding=1)])
        if c.temporal_attention:
            first.append(temporal(c.dim, c.num_heads))
        self.input_blocks = nn.ModuleList([first])
        skips, scale = [c.dim], 1.0
        for level, (cin, cout) in enumerate(zip(enc_dims[:-1], enc_dims[1:])):
            for j in range(c.num_res_blocks):
                self.input_blocks.append(Block([ResBlock(cin, emb_dim, c.dropout, cout), *attn_layers(cout, scale)]))
                skips.append(cout)
                cin = cout
                if level != len(c.dim_mult) - 1 and j == c.num_res_blocks - 1:
                    self.input_blocks.append(Downsample(cout))
                    skips.append(cout)
                    scale /= 2.0
        ch = enc_dims[-1]
        self.middle_block = Block(
            [ResBlock(ch, emb_dim, c.dropout), spatial(ch)]
            + ([temporal(ch)] if c.temporal_attention else [])
            + [ResBlock(ch, emb_dim, c.dropout)]
        )
        self.output_blocks = nn.ModuleList()
        for level, (cin, cout) in enumerate(zip(dec_dims[:-1], dec_dims[1:])):
            for j in range(c.num_res_blocks + 1):
                # (the official decoder hard-codes 1024 here, which equals its context_dim)
                block = Block([ResBlock(cin + skips.pop(), emb_dim, c.dropout, cout), *attn_layers(cout, scale)])
                cin = cout
                if level != len(c.dim_mult) - 1 and j == c.num_res_blocks:
                    block.append(Upsample(cout))
                    scale *= 2.0
                self.output_blocks.append(block)
        self.out = nn.Sequential(nn.GroupNorm(32, cout), nn.SiLU(), nn.Conv2d(cout, c.out_dim, 3, padding=1))
        # Embedding of the empty prompt: used when y is None (the official ``zero_y`` attribute).
        self.register_buffer("zero_y", None, persistent=False)
        self.eval()

    # -- conditions -------------------------------------------------------------------------
    def condition_features(self, **conditions: torch.Tensor | None) -> torch.Tensor | None:
        """Sum of the STC-encoder branches for the given spatial conditions (B, concat_dim, F, h, w).

        Independent of the timestep and identical for both guidance branches, so samplers call it
        once per generation. Returns None when no condition is given.
        """
        unknown = set(conditions) - set(COMPOSITION_OF_CONDITION)
        if unknown:
            raise ValueError(f"unknown condition(s) {sorted(unknown)}; expected some of {list(COMPOSITION_OF_CONDITION)}")
        features = None
        for name in COMPOSITION_OF_CONDITION:  # official summation order
            cond = conditions.get(name)
            if cond is None:
                continue
            if name not in self.config.conditions:
                raise ValueError(f"this model has no '{name}' branch (video_compositions={self.config.video_compositions})")
            y = self.condition_branch(name, cond)
            features = y if features is None else features + y
        return features

    def condition_branch(self, name: str, cond: torch.Tensor) -> torch.Tensor:
        """One branch: (B, C, F, H, W) condition → (B, concat_dim, F, h, w)."""
        if cond.shape[1] != CONDITION_CHANNELS[name]:
            raise ValueError(f"condition '{name}' needs {CONDITION_CHANNELS[name]} channels, got shape {tuple(cond.shape)}")
        encoder = getattr(self, f"{name}_embedding")
        adapter = getattr(self, _ADAPTER_NAME.get(name, f"{name}_embedding_after"))
        if name == "motion" and self.config.motion_block_fill:
            cond = fill_motion_blocks(cond.transpose(1, 2), self.config.motion_block_fill).transpose(1, 2)
        return encode_condition(encoder, adapter, cond.to(encoder[0].weight.dtype), self.config.stc_input_size)

    def context(self, y: torch.Tensor | None, image: torch.Tensor | None, batch: int) -> torch.Tensor:
        """Cross-attention tokens: text (77) then, if given, one image token."""
        if y is None:
            if self.zero_y is None:
                raise ValueError("y (text embedding) is None and the model has no zero_y (empty-prompt embedding) set")
            y = self.zero_y.repeat(batch, 1, 1)[:, :1]  # official: one token of the empty prompt
        if image is None:
            return y
        return torch.cat([y, self.pre_image_condition(image.to(y.dtype))], dim=1)

    # -- forward ----------------------------------------------------------------------------
    def forward(
        self,
        x: torch.Tensor,
        t: torch.Tensor,
        y: torch.Tensor | None = None,
        image: torch.Tensor | None = None,
        features: torch.Tensor | None = None,
        **conditions: torch.Tensor | None,
    ) -> torch.Tensor:
        """Predict eps for x (B, 4, F, h, w) at DDPM step t (B,).

        Spatial conditions come either as tensors (depth=…, motion=…) or precomputed ``features``
        from :meth:`condition_features` — not both.
        """
        b, _, f, h, w = x.shape
        if features is not None and any(v is not None for v in conditions.values()):
            raise ValueError("pass spatial conditions either as tensors or as precomputed features, not both")
        if features is None:
            features = self.condition_features(**conditions)
        if features is not None and features.shape[-2:] != (h, w):
            raise ValueError(
                f"spatial conditions give {tuple(features.shape[-2:])} features but the latent is {h}x{w}; "
                f"this model needs {self.config.latent_size}x{self.config.latent_size} latents (stc_pool_size/4)"
            )
        if features is None:
            features = x.new_zeros(b, self.config.concat_dim, f, h, w)
        elif features.shape[0] != b:
            features = features.expand(b, -1, -1, -1, -1)  # shared by both guidance branches
        x = rearrange(torch.cat([x, features.to(x.dtype)], dim=1), "b c f h w -> (b f) c h w")

        emb = self.time_embed(timestep_embedding(t.to(x.device).expand(b), self.config.dim).to(x.dtype))
        s = StepInputs(
            emb=emb.repeat_interleave(f, dim=0),
            context=self.context(y, image, b).repeat_interleave(f, dim=0),
            frames=f,
        )
        skips = []
        for block in self.input_blocks:
            x = self._run(block, x, s)
            skips.append(x)
        x = self._run(self.middle_block, x, s)
        for block in self.output_blocks:
            x = self._run(block, torch.cat([x, skips.pop()], dim=1), s)
        return rearrange(self.out(x), "(b f) c h w -> b c f h w", b=b)

    def _run(self, block: nn.Module, x: torch.Tensor, s: StepInputs) -> torch.Tensor:
        if self.training and self.config.use_checkpoint and x.requires_grad:
            return checkpoint(block, x, s, use_reentrant=False)
        return block(x, s)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


# The masked branch's adapter has an irregular official name.
_ADAPTER_NAME = {"masked": "mask_embedding_after"}


@dataclass
class LoadReport:
    """Keys the UNet checkpoint lacked (left at their constructor init) or had in excess (ignored)."""

    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.missing and not self.unexpected


def channels_last_convs(net: nn.Module) -> nn.Module:
    """2-D convolution weights in channels_last, in place (the 5-D temporal weights stay)."""
    for module in net.modules():
        if isinstance(module, nn.Conv2d):
            module.to(memory_format=torch.channels_last)
    return net


def load_unet(path: str | os.PathLike, config: UNetConfig | None = None) -> tuple[UNet3D, LoadReport]:
    """Load ``non_ema_228000.pth`` (or a file with its names) into a frozen, eval-mode UNet.

    The official loader uses strict=False and so hides mismatches; we load the same way but
    return (and log) the missing and unexpected keys. A file sharing no key with the model, or
    with a tensor of the wrong shape, is refused with :class:`WeightError`.
    """
    spec = OFFICIAL_FILES["unet"]
    origin = f"{spec.what}: {path}"
    ckpt = read_checkpoint(path, spec.what, spec.source)
    state = ckpt["state_dict"] if isinstance(ckpt.get("state_dict"), dict) else ckpt
    state = {k.removeprefix("module."): v for k, v in state.items()}
    config = config or UNetConfig.official()
    with torch.device("meta"):
        model = UNet3D(config)
    expected = model.state_dict()
    report = LoadReport(sorted(set(expected) - set(state)), sorted(set(state) - set(expected)))
    if len(report.missing) == len(expected):
        raise WeightError(f"{origin} shares no parameter name with the VideoComposer UNet (first keys: {list(state)[:5]}). Get it from {spec.source}.")
    wrong = [(k, tuple(state[k].shape), tuple(v.shape)) for k, v in expected.items() if k in state and state[k].shape != v.shape]
    if wrong:
        raise WeightError(f"{origin} has {len(wrong)} tensors of the wrong shape for this config (first: (name, file, expected) {wrong[:5]})")
    if report.missing:  # these keep their constructor init, as with the official loader
        log.warning("UNet: %d keys missing from %s (left at init): %s", len(report.missing), path, report.missing[:8])
        model = UNet3D(config)
    if report.unexpected:
        log.warning("UNet: %d unexpected keys in %s (ignored): %s", len(report.unexpected), path, report.unexpected[:8])
    known = {k: v.float() for k, v in state.items() if k in expected}
    model.load_state_dict(known, strict=not report.missing, assign=True)
    return model.eval().requires_grad_(False), report
