"""Weight files: missing, truncated, corrupt and malicious files are refused with clear messages."""
import os
import pickle

import pytest
import torch

from tests.tiny import TINY_UNET
from vc_core.models.unet import UNet3D, load_unet
from vc_core.weights import OFFICIAL_FILES, WeightError, find_official_files, read_checkpoint


class _Exploit:
    """Unpickling this would create a marker file — it must never run."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_missing_empty_and_corrupt_files_name_the_file(tmp_path):
    with pytest.raises(WeightError, match="not found.*nothing.pth"):
        read_checkpoint(tmp_path / "nothing.pth")
    empty = tmp_path / "empty.pth"
    empty.write_bytes(b"")
    with pytest.raises(WeightError, match="empty.pth is empty"):
        read_checkpoint(empty)
    good = tmp_path / "good.pth"
    torch.save({"w": torch.ones(1000)}, good)
    truncated = tmp_path / "truncated.pth"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(WeightError, match="truncated.pth is truncated or corrupt"):
        read_checkpoint(truncated)
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(os.urandom(256))
    with pytest.raises(WeightError, match="garbage.safetensors is not a valid safetensors"):
        read_checkpoint(garbage)


def test_pickled_code_is_refused_and_never_executed(tmp_path):
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pth"
    torch.save({"weights": torch.ones(2), "payload": _Exploit(str(marker))}, evil)
    with pytest.raises(WeightError, match="refusing"):
        read_checkpoint(evil)
    assert not marker.exists()
    legacy = tmp_path / "legacy.pth"  # old, non-zip pickle format
    legacy.write_bytes(pickle.dumps({"payload": _Exploit(str(marker))}))
    with pytest.raises(WeightError):
        read_checkpoint(legacy)
    assert not marker.exists()


def test_weights_folder_check_lists_every_problem(tmp_path):
    with pytest.raises(WeightError, match="--weights DIR or set VC_WEIGHTS_DIR"):
        find_official_files(None)
    (tmp_path / OFFICIAL_FILES["unet"].filename).write_bytes(b"x" * 10)
    with pytest.raises(WeightError) as err:
        find_official_files(tmp_path)
    text = str(err.value)
    assert "non_ema_228000.pth is 10 bytes" in text and "truncated" in text
    for key in ("clip", "vae", "midas", "pidinet", "sketch"):
        assert f"{OFFICIAL_FILES[key].filename} ({OFFICIAL_FILES[key].what}) is missing" in text
    assert "huggingface.co" in text


def test_unet_loader_reports_missing_and_unexpected_keys(tmp_path):
    state = UNet3D(TINY_UNET).state_dict()
    path = tmp_path / "unet.pth"
    torch.save({"state_dict": {f"module.{k}": v for k, v in state.items()}}, path)
    model, report = load_unet(path, TINY_UNET)
    assert report.clean and not model.training
    assert all(torch.equal(model.state_dict()[k], v) for k, v in state.items())

    dropped = sorted(state)[0]
    partial = {k: v for k, v in state.items() if k != dropped} | {"extra.weight": torch.zeros(1)}
    torch.save(partial, path)
    _, report = load_unet(path, TINY_UNET)
    assert report.missing == [dropped] and report.unexpected == ["extra.weight"]

    torch.save({"something.else": torch.zeros(3)}, path)
    with pytest.raises(WeightError, match="shares no parameter name"):
        load_unet(path, TINY_UNET)
    wrong = dict(state)
    wrong[dropped] = torch.zeros(1)
    torch.save(wrong, path)
    with pytest.raises(WeightError, match="wrong shape"):
        load_unet(path, TINY_UNET)
