"""The OpenCLIP wiring reproduces the official ViT-H-14 text/image goldens and preprocessing."""
import numpy as np
import pytest
import torch
from PIL import Image

from tests.reference import deterministic_state_dict, load_golden, load_manifest
from vc_core.conditions.images import load_rgb
from vc_core.models.clip import CLIPEncoder, load_clip, preprocess_style_image, preprocess_vit_frame
from vc_core.weights import WeightError

pytestmark = pytest.mark.reference

TOL = dict(rtol=1e-4, atol=1e-4)  # README "clip text / image"
PRE_TOL = dict(rtol=0, atol=1e-6)  # README preprocessing goldens
PROMPTS = ("fox", "empty", "long")


@pytest.fixture(scope="module")
def manifest():
    return load_manifest("clip_manifest.json")


@pytest.fixture(scope="module")
def golden():
    return load_golden("clip_golden.npz")


def _shapes(entries) -> dict:
    return {e[0]: tuple(e[1]) for e in entries}


@pytest.fixture(scope="module")
def encoder(manifest):
    # ~1B parameters: built on meta, then the deterministic tensors are assigned (one 4 GB copy)
    enc = CLIPEncoder(manifest["arch"], empty=True)
    mine = {k: tuple(v.shape) for k, v in enc.model.state_dict().items()}
    assert mine == _shapes(manifest["union_state_dict"])
    enc.load_weights(deterministic_state_dict(manifest["union_state_dict"]))
    return enc


def test_tower_name_lists(manifest):
    """Text tower = union minus visual.*; visual tower = union minus the text transformer."""
    union = _shapes(manifest["union_state_dict"])
    text = {k: s for k, s in union.items() if not k.startswith("visual.")}
    visual = {k: s for k, s in union.items() if not k.startswith("transformer.")}
    assert _shapes(manifest["text_tower_state_dict"]) == text
    assert _shapes(manifest["visual_tower_state_dict"]) == visual


def test_tokens(encoder, golden):
    for name in PROMPTS:
        tokens = encoder.tokenize([str(golden[f"prompt_{name}"])])
        np.testing.assert_array_equal(tokens.numpy(), golden[f"tokens_{name}"], err_msg=name)


def test_text_penultimate(encoder, golden):
    prompts = [str(golden[f"prompt_{name}"]) for name in PROMPTS]
    with torch.no_grad():
        out = encoder.encode_text(prompts)  # one batch: also checks the batch-first layout
    for i, name in enumerate(PROMPTS):
        np.testing.assert_allclose(out[i : i + 1].numpy(), golden[f"text_penultimate_{name}"], err_msg=name, **TOL)
    zero_y = encoder.empty_text_embedding()
    assert encoder.empty_text_embedding() is zero_y
    np.testing.assert_allclose(zero_y.numpy(), golden["text_penultimate_empty"], **TOL)


def test_image_embed(encoder, golden):
    with torch.no_grad():
        out = encoder.encode_image(torch.from_numpy(golden["in_image_normalized"]))
    assert out.shape == (golden["image_embed"].shape[0], 1, golden["image_embed"].shape[1])
    np.testing.assert_allclose(out[:, 0].numpy(), golden["image_embed"], **TOL)


def test_preprocessing(golden):
    picture = Image.fromarray(golden["pre_in_uint8_hwc"])
    np.testing.assert_allclose(preprocess_style_image(picture).numpy(), golden["pre_openclip_out"], **PRE_TOL)
    np.testing.assert_allclose(preprocess_vit_frame(picture).numpy(), golden["pre_vit_dataset_out"], **PRE_TOL)
    size = golden["black_image_preprocessed"].shape[-1]
    white = Image.new("RGB", (size, size), (255, 255, 255))
    np.testing.assert_allclose(preprocess_style_image(white).numpy(), golden["black_image_preprocessed"], **PRE_TOL)


@pytest.mark.parametrize("mode", ["L", "RGBA", "LA", "P", "I;16", "I"])
def test_preprocessing_other_modes(golden, mode):
    rgb = Image.fromarray(golden["pre_in_uint8_hwc"])
    gray = np.asarray(rgb.convert("L"))
    if mode == "I;16":
        image = Image.fromarray(gray.astype(np.uint16) * 257)
    elif mode == "I":
        image = Image.fromarray(gray.astype(np.int32) * 257)
    else:
        image = rgb.convert(mode)
    assert image.mode == mode
    expected = rgb.convert("L") if mode in ("L", "LA", "I;16", "I") else rgb.convert("P") if mode == "P" else rgb
    with pytest.raises(ValueError, match="load_rgb"):
        preprocess_style_image(image)
    for fn in (preprocess_style_image, preprocess_vit_frame):
        mine, ref = fn(load_rgb(image)).numpy(), fn(expected.convert("RGB")).numpy()
        np.testing.assert_allclose(mine, ref, atol=1e-6, err_msg=f"{mode} {fn.__name__}")


def test_transparent_pixels_become_white():
    image = Image.new("RGBA", (300, 250), (10, 20, 30, 0))
    white = Image.new("RGB", (300, 250), (255, 255, 255))
    np.testing.assert_array_equal(preprocess_style_image(load_rgb(image)).numpy(), preprocess_style_image(white).numpy())


# A tiny config of the same family, for the loader tests (not a reference model).
TINY = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 28, "layers": 2, "width": 64, "head_width": 32, "patch_size": 14},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2},
}


def _tiny_state() -> dict:
    entries = [(k, tuple(v.shape)) for k, v in CLIPEncoder(TINY, empty=True).model.state_dict().items()]
    return deterministic_state_dict(entries)


def test_load_clip_round_trip(tmp_path):
    state = _tiny_state()
    path = tmp_path / "open_clip_pytorch_model.bin"
    torch.save(state, path)
    enc = load_clip(path, TINY)
    assert not enc.training and not any(p.requires_grad for p in enc.parameters())
    loaded = enc.model.state_dict()
    assert set(loaded) == set(state) and all(torch.equal(loaded[k], v) for k, v in state.items())
    direct = CLIPEncoder(TINY).load_weights(state)
    with torch.no_grad():
        np.testing.assert_array_equal(enc.encode_text(["a cat"]).numpy(), direct.encode_text(["a cat"]).numpy())
        pixels = torch.zeros(1, 3, 28, 28)
        np.testing.assert_array_equal(enc.encode_image(pixels).numpy(), direct.encode_image(pixels).numpy())


def test_load_clip_wrong_keys(tmp_path):
    state = _tiny_state()
    state["logit_scale_renamed"] = state.pop("logit_scale")
    path = tmp_path / "bad_clip.bin"
    torch.save(state, path)
    with pytest.raises(WeightError, match="bad_clip.bin") as info:
        load_clip(path, TINY)
    assert "logit_scale" in str(info.value) and "logit_scale_renamed" in str(info.value)
