"""A randomly initialised miniature of every component, for fast pipeline behaviour tests.

Random weights make meaningless videos; these tests check plumbing (shapes, seeds, progress,
cancel, errors), never quality.
"""
import torch

from vc_core.config import ModelSpec, UNetConfig
from vc_core.models.clip import CLIPEncoder
from vc_core.models.unet import UNet3D
from vc_core.models.vae import AutoencoderKL, VAEConfig
from vc_core.pipeline import Pipeline

TINY_UNET = UNetConfig(
    dim=32, dim_mult=[1, 2], num_res_blocks=1, attn_scales=[1.0, 0.5], num_heads=2, head_dim=16,
    context_dim=64, image_dim=32, stc_pool_size=32,
)
TINY_VAE = VAEConfig(ch=32, ch_mult=[1, 2], num_res_blocks=1)
TINY_CLIP = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 224, "layers": 1, "width": 64, "head_width": 32, "patch_size": 56},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2},
}


def tiny_pipeline(precision: str = "auto", offload: bool = False) -> Pipeline:
    torch.manual_seed(0)
    spec = ModelSpec("tiny", TINY_UNET, TINY_VAE, TINY_CLIP, video_size=16, misc_size=16, depth_from="nearness")
    return Pipeline(spec, UNet3D(TINY_UNET), AutoencoderKL(TINY_VAE).eval(), CLIPEncoder(TINY_CLIP).eval(), precision=precision, offload=offload)
