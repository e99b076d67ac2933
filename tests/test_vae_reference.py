"""The VAE reproduces the official AutoencoderKL goldens; load_vae reads the official layout strictly."""
import numpy as np
import pytest
import torch

from tests.reference import assert_state_dict_matches, deterministic_state_dict, load_golden, load_manifest
from vc_core.models.attention import get_attention_backend, set_attention_backend
from vc_core.models.vae import SCALE_FACTOR, AutoencoderKL, VAEConfig, load_vae
from vc_core.weights import WeightError

pytestmark = pytest.mark.reference

TOL = dict(rtol=1e-4, atol=5e-5)  # README "vae all"


@pytest.fixture(scope="module")
def manifest():
    return load_manifest("vae_manifest.json")


@pytest.fixture(scope="module")
def golden():
    return load_golden("vae_golden.npz")


@pytest.fixture(scope="module")
def vae(manifest):
    model = AutoencoderKL(VAEConfig.from_ddconfig(manifest["ddconfig"], manifest["embed_dim"]))
    assert_state_dict_matches(model, manifest["state_dict"])
    model.load_state_dict(deterministic_state_dict(manifest["state_dict"]), strict=True)
    return model.requires_grad_(False)


@pytest.fixture(params=["sdpa", "math"])
def backend(request):
    before = get_attention_backend()
    set_attention_backend(request.param)
    yield request.param
    set_attention_backend(before)


def test_names_and_count_match_manifest(vae, manifest):
    assert list(vae.state_dict()) == [e[0] for e in manifest["state_dict"]]
    assert sum(p.numel() for p in vae.parameters()) == manifest["n_parameters"]
    assert not vae.training


def test_goldens(vae, golden, backend):
    with torch.no_grad():
        x = torch.from_numpy(golden["in_image"])
        moments = vae.encode_moments(x)
        post = vae.encode(x)
        dec = vae.decode(torch.from_numpy(golden["in_latent"]))
    ours = {
        "enc_moments": moments,
        "enc_mode": post.mode(),
        "enc_logvar_clamped": post.logvar,
        "enc_mode_scaled": post.mode() * SCALE_FACTOR,
        "dec_image": dec,
    }
    for key, value in ours.items():
        np.testing.assert_allclose(value.numpy(), golden[key], err_msg=key, **TOL)


def test_video_helpers_match_framewise(vae, golden):
    """encode_video/decode_video = per-frame encode/decode (with the 0.18215 scale), any chunking."""
    image = torch.from_numpy(golden["in_image"])
    latent = torch.from_numpy(golden["in_latent"])
    video = torch.stack([image, -image, 0.5 * image], dim=2)  # (B, C, F=3, H, W)
    with torch.no_grad():
        z = vae.encode_video(video, chunk=2)
        second = vae.encode(-image).mode() * SCALE_FACTOR
        frames = vae.decode_video(torch.stack([latent, -latent, latent], dim=2) * SCALE_FACTOR, chunk=2)
    assert z.shape[:3] == (1, golden["enc_mode"].shape[1], 3)
    assert frames.shape == (1, 3, 3) + tuple(golden["dec_image"].shape[-2:])
    np.testing.assert_allclose(z[:, :, 0].numpy(), golden["enc_mode_scaled"], **TOL)
    np.testing.assert_allclose(z[:, :, 1].numpy(), second.numpy(), **TOL)
    np.testing.assert_allclose(frames[:, :, 0].numpy(), golden["dec_image"], **TOL)
    np.testing.assert_allclose(frames[:, :, 2].numpy(), golden["dec_image"], **TOL)


def test_small_config_shapes():
    cfg = VAEConfig(ch=32, ch_mult=[1, 2, 4], num_res_blocks=1)
    model = AutoencoderKL(cfg)
    with torch.no_grad():
        z = model.encode(torch.zeros(1, 3, 32, 32)).mean
        assert z.shape == (1, cfg.embed_dim, 32 // cfg.downsample_factor, 32 // cfg.downsample_factor)
        assert model.decode(z).shape == (1, 3, 32, 32)


def _small_vae_state() -> tuple[VAEConfig, dict]:
    cfg = VAEConfig(ch=32, ch_mult=[1, 2], num_res_blocks=1)
    entries = [(k, tuple(v.shape)) for k, v in AutoencoderKL(cfg).state_dict().items()]
    return cfg, deterministic_state_dict(entries)


def test_load_vae_round_trip(tmp_path):
    cfg, state = _small_vae_state()
    path = tmp_path / "sd.ckpt"
    full = {"first_stage_model." + k: v for k, v in state.items()}
    full["model.diffusion_model.out.0.weight"] = torch.ones(3)  # other SD parts are ignored
    torch.save({"state_dict": full}, path)
    vae = load_vae(path, cfg)
    assert not vae.training and not any(p.requires_grad for p in vae.parameters())
    loaded = vae.state_dict()
    assert set(loaded) == set(state)
    assert all(torch.equal(loaded[k], v) for k, v in state.items())


def test_load_vae_wrong_keys(tmp_path):
    cfg, state = _small_vae_state()
    state["encoder.conv_in.weight_renamed"] = state.pop("encoder.conv_in.weight")
    path = tmp_path / "broken.ckpt"
    torch.save({"state_dict": {"first_stage_model." + k: v for k, v in state.items()}}, path)
    with pytest.raises(WeightError, match="broken.ckpt") as info:
        load_vae(path, cfg)
    assert "encoder.conv_in.weight" in str(info.value)
