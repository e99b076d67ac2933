"""Faults around a launched app: broken or malicious weight files, a full disk, cancelled and
abandoned requests. Each time the user gets a message naming the fault, the app keeps serving and
no request folder is left behind. (Unit-level weight-file checks live in test_weights.py.)"""
import errno
import tempfile
import time

import pytest
import torch
from gradio_client import Client
from gradio_client.exceptions import AppError

from tests.app_support import launch_app, read_video, request_dirs
from tests.test_weights import _Exploit
from tests.tiny import tiny_pipeline
from vc_core import tasks, video_io
from vc_core.weights import WeightError, find_official_files, read_checkpoint

VALID = {"prompt": "x", "image": None, "strokes": "", "preset": "pan_left", "frames": 8, "steps": 2, "seed": 3, "sampler": "ddim"}


def assert_still_serving(client: Client, **overrides) -> None:
    video = read_video(client.predict(api_name="/draw_motion", **(VALID | overrides))[0])
    assert video.frames.shape[0] == VALID["frames"]


@pytest.fixture(scope="module")
def weights_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("weights")


@pytest.fixture(scope="module")
def app(weights_dir):
    """'official' is offered, but loading it reads whatever file the test put there."""
    pipe = tiny_pipeline()

    def loader(name: str, weights: str | None):
        if name == "official":
            read_checkpoint(weights_dir / "unet.pth")
            raise WeightError("unreachable in these tests: every file they write is bad")
        return pipe

    running = launch_app(pipe, loader=loader, models={"embedded": "", "official": ""})
    yield running
    running.demo.close()


@pytest.fixture(scope="module")
def client(app):
    return Client(app.url, verbose=False)


def test_missing_or_truncated_official_files_are_named_in_the_model_selector(tmp_path):
    from ui.app import build_app
    from vc_core.pipeline import available_models
    from vc_core.weights import OFFICIAL_FILES

    (tmp_path / OFFICIAL_FILES["unet"].filename).write_bytes(b"x" * 10)
    reason = available_models(str(tmp_path))["official"]
    assert "truncated" in reason and OFFICIAL_FILES["vae"].filename in reason
    demo = build_app(str(tmp_path), loader=lambda name, weights: tiny_pipeline(), available=lambda w: {"embedded": "", "official": reason})
    dropdowns = [b for b in demo.blocks.values() if type(b).__name__ == "Dropdown" and b.label == "Model"]
    assert dropdowns and all(d.choices == [("embedded", "embedded")] and "Not available" in d.info for d in dropdowns)
    with pytest.raises(WeightError, match="missing"):
        find_official_files(str(tmp_path), ("unet", "clip"))


@pytest.mark.parametrize("content", ["truncated", "pickled code"])
def test_a_bad_weight_file_is_reported_and_the_app_keeps_serving(client, weights_dir, content):
    path, marker = weights_dir / "unet.pth", weights_dir / "executed"
    if content == "truncated":
        torch.save({"w": torch.ones(1000)}, path)
        path.write_bytes(path.read_bytes()[:500])
    else:
        torch.save({"w": torch.ones(2), "payload": _Exploit(str(marker))}, path)
    before = request_dirs()
    with pytest.raises(AppError, match="unet.pth") as err:
        client.predict(api_name="/draw_motion", **(VALID | {"model": "official"}))
    assert ("truncated or corrupt" if content == "truncated" else "refusing") in str(err.value)
    assert not marker.exists()  # the pickled payload never ran
    assert_still_serving(client)
    assert request_dirs() == before


@pytest.mark.parametrize("where", ["request folder", "result file"])
def test_a_full_disk_gets_a_message_and_the_app_keeps_serving(client, monkeypatch, where):
    def no_space(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    before = request_dirs()
    if where == "request folder":
        monkeypatch.setattr(video_io.tempfile, "mkdtemp", no_space)
    else:
        monkeypatch.setattr(tasks, "write_mp4", no_space)
    with pytest.raises(AppError, match=r"could not read or write a file \(No space left on device\)"):
        client.predict(api_name="/draw_motion", **VALID)
    monkeypatch.undo()
    assert_still_serving(client)
    assert request_dirs() == before


def test_an_unwritable_temp_dir_gets_a_message(client, monkeypatch, tmp_path):
    # root ignores permission bits, so "unwritable" is a temp dir that is not a directory
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("")
    monkeypatch.setattr(tempfile, "tempdir", str(not_a_dir))
    with pytest.raises(AppError, match="could not read or write a file"):
        client.predict(api_name="/draw_motion", **VALID)
    monkeypatch.undo()
    assert_still_serving(client)


@pytest.mark.parametrize("how", ["cancelled", "disconnected"])
def test_a_request_abandoned_mid_generation_leaves_the_app_serving_and_clean(app, how):
    """A long generation is cancelled by its client, or its client goes away, while it runs."""
    before = request_dirs()
    leaving = Client(app.url, verbose=False)
    job = leaving.submit(api_name="/draw_motion", **(VALID | {"steps": 100, "frames": 32}))
    deadline = time.monotonic() + 60
    while job.status().code.name not in ("PROCESSING", "PROGRESS") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert job.status().code.name in ("PROCESSING", "PROGRESS"), job.status()
    if how == "cancelled":
        job.cancel()
    else:
        leaving.close()  # stops the client's threads and its connection to the event stream
    started = time.monotonic()
    assert_still_serving(Client(app.url, verbose=False), seed=5)
    assert time.monotonic() - started < 300
    assert request_dirs() == before
