"""The shipped embedded model: its files load offline, match the code's config, stay within the
size budget, and are trained (they denoise held-out world clips far better than chance)."""
import json

import numpy as np
import pytest
import torch

from vc_core.config import ModelSpec
from vc_core.pipeline import EMBEDDED_DIR, GenerationRequest, Pipeline
from vc_core.train.common import video_tensor
from vc_core.train.data import EVAL_SEED_BASE
from vc_core.world import caption, render, sample_scene


@pytest.fixture(scope="module")
def pipe():
    return Pipeline.from_embedded()


def test_shipped_files_match_the_config_and_the_size_budget(pipe):
    meta = json.loads((EMBEDDED_DIR / "model.json").read_text())
    spec = ModelSpec.embedded()
    assert meta["unet"] == json.loads(json.dumps(spec.unet.__dict__)) and meta["prediction"] == spec.prediction
    total = sum(p.stat().st_size for p in EMBEDDED_DIR.glob("*.safetensors"))
    assert total <= 60e6, f"{total / 1e6:.1f} MB"
    assert pipe.video_size == spec.video_size == 128


def test_generates_offline_and_reproducibly(pipe):
    request = GenerationRequest("a red circle moving right over a solid blue background", frames=8, steps=4, seed=1)
    a, b = pipe.generate(request).video, pipe.generate(request).video
    assert a.shape == (8, 128, 128, 3) and torch.equal(a, b)


def test_weights_are_trained_they_denoise_a_held_out_clip(pipe):
    """x0 predicted from a half-noised held-out clip is much closer to the clip than the noisy
    input's own estimate; random weights fail this by far."""
    scene = sample_scene(np.random.default_rng(EVAL_SEED_BASE + 7), size=128, frames=8, max_objects=1)
    clip = render(scene)
    with torch.no_grad():
        x0 = pipe.vae.encode_video(video_tensor(clip.frames).transpose(0, 1)[None])
        t = torch.tensor([500])
        noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(0))
        x_t = pipe.schedule.add_noise(x0, noise, t)
        out = pipe.unet(x_t, t, y=pipe.text_embedding(caption(scene)))
        eps = pipe.schedule.eps_from(pipe.spec.prediction, out, x_t, t)
    a = pipe.schedule.alphas_cumprod[500].item()
    x0_hat = (x_t - (1 - a) ** 0.5 * eps) / a**0.5
    naive = x_t / a**0.5  # the noisy input taken as the clip
    error, baseline = (x0_hat - x0).pow(2).mean().item(), (naive - x0).pow(2).mean().item()
    assert error < 0.2 * baseline, (error, baseline)
