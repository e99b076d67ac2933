"""The deterministic init used by every golden test reproduces init_check.json."""
import numpy as np
import pytest

from tests.reference import deterministic_value, load_manifest

pytestmark = pytest.mark.reference


def test_init_matches_init_check():
    checks = load_manifest("init_check.json")["checks"]
    assert checks
    for c in checks:
        v = deterministic_value(c["name"], tuple(c["shape"]))
        n = len(c["first_values"])
        np.testing.assert_array_equal(v.reshape(-1)[:n], np.asarray(c["first_values"], np.float32), err_msg=c["name"])
        assert abs(v.astype(np.float64).sum() - c["sum_float64"]) < 1e-6 * max(1.0, abs(c["sum_float64"]))
