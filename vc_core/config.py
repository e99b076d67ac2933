"""Model configurations as small dataclasses: the official VideoComposer and reduced variants.

Field names follow the official ``UNetSD_temporal`` constructor so a manifest's
``constructor_args`` map onto :class:`UNetConfig` directly.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from vc_core.models.vae import VAEConfig

# The official noise schedule: what a model or training record that names none was trained on.
OFFICIAL_NOISE_SCHEDULE = "linear_sd"

# Every spatial condition the STC-encoder knows, with its channel count. The order is the
# official summation order of the branches (it matters only for float rounding).
CONDITION_CHANNELS: dict[str, int] = {
    "depth": 1,
    "local_image": 3,
    "motion": 2,
    "sketch": 1,
    "single_sketch": 1,
    "masked": 4,
}
# The official ``video_compositions`` name of each spatial condition.
COMPOSITION_OF_CONDITION: dict[str, str] = {
    "depth": "depthmap",
    "local_image": "local_image",
    "motion": "motion",
    "sketch": "sketch",
    "single_sketch": "single_sketch",
    "masked": "mask",
}
ALL_COMPOSITIONS = ["text", "mask", "depthmap", "sketch", "motion", "image", "local_image", "single_sketch"]


@dataclass
class UNetConfig:
    """Constructor arguments of the 3D UNet (official names) plus ``stc_pool_size``."""

    in_dim: int = 4
    concat_dim: int = 8
    dim: int = 320
    y_dim: int = 768  # accepted for compatibility, unused by the network (as official)
    context_dim: int = 1024
    out_dim: int = 4
    dim_mult: list[int] = field(default_factory=lambda: [1, 2, 4, 4])
    num_heads: int = 8
    head_dim: int = 64
    num_res_blocks: int = 2
    attn_scales: list[float] = field(default_factory=lambda: [1.0, 0.5, 0.25])
    dropout: float = 0.1
    temporal_attention: bool = True
    temporal_attn_times: int = 1
    use_checkpoint: bool = True  # activation checkpointing, applied only while training
    use_fps_condition: bool = False
    use_sim_mask: bool = False
    video_compositions: list[str] = field(default_factory=lambda: list(ALL_COMPOSITIONS))
    misc_dropout: float = 0.5
    p_all_zero: float = 0.1
    p_all_keep: float = 0.1
    # Width of the CLIP image embedding (the official code hard-codes 1024); the image token is
    # projected to context_dim so it can join the text tokens.
    image_dim: int = 1024
    # The STC-encoder pools every condition to this size before two stride-2 convs, so the
    # latent must be stc_pool_size/4 (official 128 -> 32x32 latents, i.e. 256x256 video).
    stc_pool_size: int = 128
    # 0 (official): the motion branch sees the codec's sparse map, one vector per block centre.
    # N > 0: each vector is first spread over the N×N block around it (see stc.fill_motion_blocks).
    motion_block_fill: int = 0
    # None (official): a branch's first conv runs at the condition's own size, then pools to
    # stc_pool_size. N (≥ stc_pool_size): each condition frame is average-pooled to N×N first —
    # the full-size first conv cost over a third of a CPU training step of the embedded model.
    stc_input_size: int | None = None

    def __post_init__(self) -> None:
        if self.use_fps_condition:
            raise ValueError("use_fps_condition=True is not supported (the official models do not use it)")
        if self.temporal_attn_times != 1:
            raise ValueError("temporal_attn_times must be 1 (the only value the official models use)")
        unknown = set(self.video_compositions) - set(ALL_COMPOSITIONS)
        if unknown:
            raise ValueError(f"unknown video_compositions {sorted(unknown)}; known: {ALL_COMPOSITIONS}")
        levels = [0.5**k for k in range(len(self.dim_mult))]
        if any(s not in levels for s in self.attn_scales):
            # a scale matching no level would silently add no attention
            raise ValueError(f"attn_scales {self.attn_scales} must be latent levels of this UNet: {levels}")
        if self.stc_input_size is not None and self.stc_input_size < self.stc_pool_size:
            raise ValueError(f"stc_input_size {self.stc_input_size} is below stc_pool_size {self.stc_pool_size}: it would only blur")

    @classmethod
    def official(cls) -> "UNetConfig":
        """The released VideoComposer UNet (non_ema_228000.pth), 1.41 B parameters."""
        return cls()

    @classmethod
    def from_args(cls, args: dict) -> "UNetConfig":
        """Build from official constructor arguments, ignoring the non-architectural ones."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in args.items() if k in names})

    @property
    def conditions(self) -> list[str]:
        """Spatial conditions that have an STC-encoder branch in this model."""
        return [c for c, comp in COMPOSITION_OF_CONDITION.items() if comp in self.video_compositions]

    @property
    def latent_size(self) -> int:
        """Latent height/width required whenever a spatial condition is given."""
        return self.stc_pool_size // 4


MODEL_NAMES = ("embedded", "official")


@dataclass
class ModelSpec:
    """One generator: UNet + VAE + CLIP configs and the sizes its conditions are made at."""

    name: str
    unet: UNetConfig
    vae: "VAEConfig"
    clip: str | dict  # open_clip architecture name or model-config dict
    video_size: int  # generated frames (and the motion condition) are video_size²
    misc_size: int  # depth / sketch / image / mask conditions are misc_size²
    depth_from: str = "midas"  # 'midas' (depth/20 clamped to [0,10]) or 'nearness' ([0,1], 1 = near)
    sketch_from: str = "pidinet"  # 'pidinet' (PiDiNet + cleaner when present, else Canny) or 'canny'
    prediction: str = "eps"  # what the UNet outputs: 'eps' (official) or 'v' (= α·eps − σ·x0)
    # The noise schedule it was trained on (vc_core.sampling.NOISE_SCHEDULES).
    noise_schedule: str = OFFICIAL_NOISE_SCHEDULE
    # Default of GenerationRequest.guide_scale (official: 9, hard-coded in its sampling call).
    guide_scale: float = 9.0
    # Default of GenerationRequest.condition_guidance: whether the unconditional guidance branch
    # also drops the spatial conditions, so guidance strengthens them (official: kept in both).
    condition_guidance: bool = False
    # Default of GenerationRequest.keep_given: hold the given first frame / visible pixels in the
    # latents while sampling (official: they are only conditions).
    keep_given: bool = False
    # Default of GenerationRequest.motion_hold (official: 0, the motion is only a condition).
    motion_hold: float = 0.0
    # What precision 'auto' means on CUDA: fp16 autocast, as the official sampler (its UNet ran
    # 2.4× faster than in fp32 on an H200, benchmarks/RESULTS.md).
    cuda_precision: str = "fp16"
    # Its text tower learned only the synthetic world's captions: a prompt gets notes on the words
    # it cannot read (vc_core.world.vocabulary); the official model reads English.
    world_vocabulary: bool = False

    @classmethod
    def named(cls, name: str) -> "ModelSpec":
        """The spec of a model the app offers ('official' or 'embedded'), without loading it."""
        if name not in MODEL_NAMES:
            raise ValueError(f"unknown model {name!r}; choose one of {MODEL_NAMES}")
        return cls.official() if name == "official" else cls.embedded()

    @staticmethod
    def guide_scales() -> str:
        """Each model's default guidance scale, for help texts: 'embedded 3, official 9'."""
        return ", ".join(f"{name} {ModelSpec.named(name).guide_scale:g}" for name in MODEL_NAMES)

    @classmethod
    def official(cls) -> "ModelSpec":
        from vc_core.models.vae import VAEConfig

        return cls("official", UNetConfig.official(), VAEConfig.official(), "ViT-H-14", video_size=256, misc_size=384)

    @classmethod
    def embedded(cls) -> "ModelSpec":
        """The small model trained by this project on the synthetic world (vc_core/train)."""
        from vc_core.models.vae import VAEConfig

        # 8 latent channels: at 48× compression (SD's 4) the small autoencoder blurs the
        # world's textures; 8 channels cost the UNet only its first and last conv.
        unet = UNetConfig(
            in_dim=8, out_dim=8, dim=32, dim_mult=[1, 2, 4], num_res_blocks=1, attn_scales=[0.5, 0.25], num_heads=2, head_dim=32,
            context_dim=64, image_dim=64, stc_pool_size=64, dropout=0.0,
            # a one-pixel-per-block motion map was too weak a cue for this model to learn from
            # in the CPU budget (it ignored motion entirely); filled blocks mark where things move
            motion_block_fill=16,
        )
        vae = VAEConfig(ch=32, ch_mult=[1, 2, 4, 4], num_res_blocks=1, z_channels=8, embed_dim=8, scale_factor=1.0)
        clip = {
            "embed_dim": 64,
            "vision_cfg": {"image_size": 224, "layers": 2, "width": 64, "head_width": 32, "patch_size": 32},
            "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 3},
        }
        # v-prediction: a small eps-model trained briefly stays worse than eps = σ·x_t at high
        # noise, where the sampler amplifies eps errors by σ/α; v keeps x0 well-posed there.
        return cls(
            "embedded", unet, vae, clip, video_size=128, misc_size=128, depth_from="nearness", sketch_from="canny", prediction="v",
            # guidance 9 over-saturates this small model: frames after the first turn blotchy and
            # unlike the given image. At 3: strokes EPE 2.17 → 1.93, clip 2.17 → 1.77, depth F1
            # 0.71 → 0.90, inpainting 22.0 → 25.1 dB (docs/EMBEDDED_MODEL.md)
            guide_scale=3.0,
            condition_guidance=True,  # the small model follows its conditions weakly unguided (docs/EMBEDDED_MODEL.md)
            keep_given=True,  # first-frame SSIM 0.73 → 0.83, inpainting 23.5 → 25.1 dB raw decode (docs/EMBEDDED_MODEL.md)
            # on its own the model moves objects too slowly and leaves a copy where they started;
            # 0.95 rather than 0.9: strokes EPE 1.08 → 0.93 on the tuning scenes (docs/EMBEDDED_MODEL.md)
            motion_hold=0.95,
            # its kernels are too small for fp16 to pay for the casts: 1.04 s vs 0.74 s per video on an H200
            cuda_precision="fp32",
            world_vocabulary=True,
        )
