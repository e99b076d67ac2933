"""The three condition annotators reproduce the official goldens (annotators_manifest/golden).

Every module is configured from the manifest's state-dict shapes, filled with the deterministic
init, loaded strictly and run on the stored inputs. Max deviations are printed (``pytest -s``) and
included in every assertion message.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from tests.reference import assert_state_dict_matches, deterministic_state_dict, load_golden, load_manifest, max_abs_diff
from vc_core.conditions.depth import depth_condition
from vc_core.models.annotators.midas import MiDaS, load_midas
from vc_core.models.annotators.pidinet import PiDiNet, convert_pidinet_checkpoint, load_pidinet
from vc_core.models.annotators.sketch_simplification import (
    SketchSimplification,
    clean_sketch,
    load_sketch_simplification,
)
from vc_core.weights import WeightError

pytestmark = pytest.mark.reference

# (rtol, atol) per golden key, from the reference README's tolerance table.
TOL_MIDAS_OUT = (1e-4, 1e-3)
TOL_MIDAS_POSTPROC = (1e-4, 5e-5)
TOL_PIDINET = (0.0, 5e-5)
TOL_SKETCH = (0.0, 1e-6)
# The converter is elementwise arithmetic on the same float32 values: at most rounding of the 'cd' sum.
TOL_CONVERTED = (0.0, 1e-7)


@pytest.fixture(scope="module")
def manifest() -> dict:
    return load_manifest("annotators_manifest.json")


@pytest.fixture(scope="module")
def golden() -> dict[str, np.ndarray]:
    return load_golden("annotators_golden.npz")


def _shapes(entries) -> dict[str, tuple[int, ...]]:
    return {e[0]: tuple(e[1]) for e in entries}


def _compare(key: str, ours: torch.Tensor, ref: np.ndarray, tol: tuple[float, float]) -> None:
    rtol, atol = tol
    assert tuple(ours.shape) == ref.shape, f"{key}: shape {tuple(ours.shape)} != {ref.shape}"
    dev = max_abs_diff(ours, ref)
    print(f"{key}: max |Δ| = {dev:.3g} (rtol {rtol}, atol {atol})")
    np.testing.assert_allclose(ours.detach().numpy(), ref, rtol=rtol, atol=atol, err_msg=f"{key}: max |Δ| = {dev:.3g}")


def _build(cls, entries, **kwargs) -> torch.nn.Module:
    """Construct without allocating, check names/shapes, then assign the deterministic init strictly."""
    with torch.device("meta"):
        model = cls(**kwargs)
    assert_state_dict_matches(model, entries)
    model.load_state_dict(deterministic_state_dict(entries), strict=True, assign=True)
    return model.eval()


def _midas_config(shapes: dict[str, tuple[int, ...]]) -> dict:
    dim, _, patch, _ = shapes["patch_embedding.weight"]
    grid = math.isqrt(shapes["pos_embedding"][1] - 1)
    return dict(
        image_size=grid * patch,
        patch_size=patch,
        dim=dim,
        neck_dims=tuple(shapes[f"conv{i}.0.weight"][0] for i in range(1, 5)),
        fusion_dim=shapes["fusion1.conv_out.weight"][0],
        num_layers=len({k.split(".")[1] for k in shapes if k.startswith("blocks.")}),
    )  # num_heads is not visible in shapes: the DPT-Large default (16 × 64) applies


def _pidinet_config(shapes: dict[str, tuple[int, ...]]) -> dict:
    return dict(inplane=shapes["init_block.weight"][0], dil=shapes["dilations.0.conv1.weight"][0])


def _sketch_config(entry: dict) -> dict:
    return dict(mean=entry["mean"], std=entry["std"])


def test_midas_matches_golden(manifest, golden):
    entries = manifest["midas_v3"]["state_dict"]
    model = _build(MiDaS, entries, **_midas_config(_shapes(entries)))
    with torch.no_grad():
        out = model(torch.from_numpy(golden["midas_in"]))
    _compare("midas_out", out, golden["midas_out"], TOL_MIDAS_OUT)
    # The full condition path: frames in [0,1] → ·2−1 → model → /20, clamp [0, 10].
    frames01 = (torch.from_numpy(golden["midas_in"]) + 1) / 2
    _compare("midas_out_postproc", depth_condition(frames01, model), golden["midas_out_postproc"], TOL_MIDAS_POSTPROC)


def _pidinet_raw_checkpoint(manifest) -> dict[str, torch.Tensor]:
    raw = deterministic_state_dict(manifest["pidinet_bsd_raw_checkpoint_layout"]["state_dict"])
    return {"module." + k: v for k, v in raw.items()}  # as DataParallel saved it


def test_pidinet_converter_matches_golden(manifest, golden):
    converted = convert_pidinet_checkpoint(_pidinet_raw_checkpoint(manifest))
    assert _shapes([(k, v.shape) for k, v in converted.items()]) == _shapes(manifest["pidinet_bsd_vanilla_cnn"]["state_dict"])
    keys = [k for k in golden if k.startswith("pidinet_converted_")]
    assert keys
    for key in keys:
        _compare(key, converted[key.removeprefix("pidinet_converted_")], golden[key], TOL_CONVERTED)


def test_pidinet_matches_golden(manifest, golden):
    entries = manifest["pidinet_bsd_vanilla_cnn"]["state_dict"]
    with torch.device("meta"):
        model = PiDiNet(**_pidinet_config(_shapes(entries)))
    assert_state_dict_matches(model, entries)
    model.load_state_dict(convert_pidinet_checkpoint(_pidinet_raw_checkpoint(manifest)), strict=True, assign=True)
    with torch.no_grad():
        out = model.eval()(torch.from_numpy(golden["pidinet_in"]))
    _compare("pidinet_out", out, golden["pidinet_out"], TOL_PIDINET)
    # The official un-converted PDC network agrees with the vanilla one up to float rounding.
    _compare("pidinet_out_raw_pdc", out, golden["pidinet_out_raw_pdc"], TOL_PIDINET)


def test_load_pidinet_reads_official_layout(manifest, golden, tmp_path):
    path = tmp_path / "table5_pidinet.pth"
    torch.save({"state_dict": _pidinet_raw_checkpoint(manifest)}, path)
    model = load_pidinet(path)
    assert not model.training and not any(p.requires_grad for p in model.parameters())
    with torch.no_grad():
        out = model(torch.from_numpy(golden["pidinet_in"]))
    _compare("pidinet_out (load_pidinet)", out, golden["pidinet_out"], TOL_PIDINET)


def test_sketch_simplification_matches_golden(manifest, golden):
    entry = manifest["sketch_simplification_gan"]
    model = _build(SketchSimplification, entry["state_dict"], **_sketch_config(entry))
    x = torch.from_numpy(golden["sketchsimp_in"])
    with torch.no_grad():
        out = model(x)
    _compare("sketchsimp_out", out, golden["sketchsimp_out"], TOL_SKETCH)
    _compare("sketchsimp_cleaner_chain_out", clean_sketch(model, x), golden["sketchsimp_cleaner_chain_out"], TOL_SKETCH)


@pytest.mark.parametrize(
    "loader, state",
    [
        (load_midas, {"pos_embedding": torch.zeros(1)}),
        (load_sketch_simplification, {"layers.0.weight": torch.zeros(1), "extra.weight": torch.zeros(1)}),
        (load_pidinet, {"state_dict": {"module.init_block.weight": torch.zeros(60, 3, 3, 3)}}),
    ],
)
def test_loaders_reject_mismatched_keys(loader, state, tmp_path):
    path = tmp_path / "wrong.pth"
    torch.save(state, path)
    with pytest.raises(WeightError, match="wrong.pth.*missing"):
        loader(path)
