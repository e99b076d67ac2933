"""Helpers for the golden-tensor tests: locate the reference set and apply its deterministic init.

The init is defined in the reference README ("Deterministic init"): every state_dict entry is
filled from a numpy generator seeded with the crc32 of its name, so any implementation with the
official parameter names reproduces the official weights bit for bit.
"""
from __future__ import annotations

import json
import os
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch

REFERENCE_DIR = Path(os.environ.get("VC_REFERENCE_DIR", Path(__file__).resolve().parents[2] / "shared" / "reference"))


def reference_file(name: str) -> Path:
    """Path of one reference file; skips the test when the reference set is not present."""
    path = REFERENCE_DIR / name
    if not path.exists():
        pytest.skip(f"reference file {path} not found (set VC_REFERENCE_DIR)")
    return path


def load_manifest(name: str) -> dict:
    return json.loads(reference_file(name).read_text())


def load_golden(name: str) -> dict[str, np.ndarray]:
    with np.load(reference_file(name), allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


def deterministic_value(name: str, shape: tuple[int, ...]) -> np.ndarray:
    """The reference init for one tensor (float32), computed in float64 and rounded once."""
    rng = np.random.default_rng(zlib.crc32(name.encode("utf-8")))
    r = rng.standard_normal(tuple(shape), dtype=np.float32).astype(np.float64)
    if name.endswith("running_var"):
        v = 1.0 + 0.1 * np.abs(r)
    elif len(shape) >= 2:
        v = r / np.sqrt(float(np.prod(shape[1:])))
    elif name.endswith("weight"):
        v = 1.0 + 0.1 * r
    else:
        v = 0.1 * r
    return v.astype(np.float32)


def deterministic_state_dict(entries) -> dict[str, torch.Tensor]:
    """State dict for manifest entries ``[name, shape, dtype]`` (or a module's state_dict items)."""
    out = {}
    for entry in entries:
        name, shape = entry[0], tuple(entry[1])
        if name.endswith("num_batches_tracked"):
            continue
        out[name] = torch.from_numpy(np.asarray(deterministic_value(name, shape)))
    return out


def assert_state_dict_matches(module: torch.nn.Module, entries) -> None:
    """The module's parameter names and shapes equal the manifest's list exactly."""
    mine = {k: tuple(v.shape) for k, v in module.state_dict().items()}
    ref = {e[0]: tuple(e[1]) for e in entries}
    missing = sorted(set(ref) - set(mine))
    extra = sorted(set(mine) - set(ref))
    assert not missing and not extra, f"missing {missing[:10]} … extra {extra[:10]} …"
    wrong = [(k, mine[k], ref[k]) for k in ref if mine[k] != ref[k]]
    assert not wrong, f"shape mismatches: {wrong[:10]}"


def max_abs_diff(a, b) -> float:
    a = a.detach().cpu().double().numpy() if isinstance(a, torch.Tensor) else np.asarray(a, np.float64)
    return float(np.max(np.abs(a - np.asarray(b, np.float64))))


def build_deterministic(factory, entries) -> torch.nn.Module:
    """Construct ``factory()`` on the meta device, check its names against the manifest and
    assign the deterministic init (no memory or time spent on a throw-away random init)."""
    with torch.device("meta"):
        module = factory()
    assert_state_dict_matches(module, entries)
    module.load_state_dict(deterministic_state_dict(entries), strict=True, assign=True)
    return module.eval()
