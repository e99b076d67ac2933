"""The launched app through gradio_client: every endpoint, bad inputs, queue settings, cleanup.

Uses the trained embedded model when it is present (then the quality checks run too), otherwise
the random miniature model (plumbing only).
"""
import json
import threading
import wave
from pathlib import Path

import gradio as gr
import numpy as np
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from tests.app_support import (
    FAST,
    drawing,
    example,
    example_meta,
    launch_app,
    model_under_test,
    read_video,
    real_model_only,
    request_dirs,
)
from vc_core import tasks
from vc_core.config import ModelSpec
from vc_core.conditions import read_clip, video_frames_tensor, video_tensor_to_uint8
from vc_core.conditions.optical_flow import optical_flow


@pytest.fixture(scope="module")
def app():
    running = launch_app(model_under_test())
    yield running
    running.demo.close()


@pytest.fixture(scope="module")
def client(app):
    return Client(app.url, verbose=False)


def settings(**overrides) -> dict:
    return {"frames": FAST["frames"], "steps": FAST["steps"], "seed": 7, "sampler": "ddim"} | overrides


def editor(path: str | None) -> dict:
    """An ImageEditor value with one painted layer (how API users send a mask)."""
    return {"background": None, "layers": [handle_file(path)] if path else [], "composite": None, "id": None}


def call(client: Client, endpoint: str, **kwargs):
    defaults = {
        "/compose": {"image": None, "style": None, "sketch": None, "video": None},
        "/inpaint": {"mask": editor(None)},
        "/motion_transfer": {"image": None, "style": None},
        "/draw_motion": {"image": None},
    }[endpoint]
    return client.predict(api_name=endpoint, **(defaults | kwargs))


def check_result(result, app, frames: int) -> dict:
    video_path, gif_path, previews, adherence, parameters = result
    video = read_video(video_path)
    size = app.pipe.spec.video_size
    assert (video.codec, video.pix_fmt) == ("h264", "yuv420p")
    assert video.frames.shape == (frames, size, size, 3)
    assert Path(gif_path).suffix == ".gif" and previews
    assert parameters["frames"] == frames and parameters["seed"] == 7 and parameters["model"] == app.pipe.name
    return {"frames": video.frames, "adherence": adherence, "parameters": parameters}


ENDPOINTS = {
    "/compose": lambda: {
        "prompt": "a green square", "image": handle_file(example("first_frame.png")),
        "style": handle_file(example("style.png")), "video": handle_file(example("moving_object.mp4")),
        "use_motion": True, "use_sketch": True,
    },
    "/inpaint": lambda: {
        "prompt": "a purple circle", "video": handle_file(example("moving_object.mp4")),
        "mask": editor(example("mask.png")), "keep_motion": True,
    },
    "/motion_transfer": lambda: {
        "prompt": example_meta("first_frame.png")["caption"], "video": handle_file(example("camera_pan.mp4")),
        "image": handle_file(example("first_frame.png")),
    },
    "/draw_motion": lambda: {
        "prompt": "a square moving right", "image": handle_file(example("first_frame.png")),
        "strokes": drawing([[(100, 350), (250, 350), (420, 340)]]),
    },
}


@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
def test_every_endpoint_returns_a_browser_playable_video(app, client, endpoint):
    before = request_dirs()
    out = check_result(call(client, endpoint, **ENDPOINTS[endpoint](), **settings()), app, FAST["frames"])
    assert "motion" in out["parameters"]["conditions"]
    assert request_dirs() == before  # the request's folder is gone once the files were handed over


def test_frame_count_keep_given_and_motion_hold_follow_the_request(app, client):
    frames = 10
    out = check_result(call(client, "/draw_motion", prompt="x", strokes="", preset="pan_right", **settings(frames=frames, keep_given="off")), app, frames)
    assert out["parameters"]["keep_given"] is False
    # the sliders start at the model's own values
    assert out["parameters"]["guide_scale"] == ModelSpec.named("embedded").guide_scale
    assert out["parameters"]["motion_hold"] == ModelSpec.named("embedded").motion_hold
    out = check_result(call(client, "/draw_motion", prompt="x", strokes="", preset="pan_right", **settings(frames=frames, motion_hold=0.5)), app, frames)
    assert out["parameters"]["motion_hold"] == 0.5


def silence_wav(path: Path) -> str:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(np.zeros(8000, np.int16).tobytes())
    return str(path)


@pytest.mark.parametrize(
    "endpoint, make_inputs, message",
    [
        ("/motion_transfer", lambda tmp: {"video": handle_file(_write(tmp / "corrupt.mp4", b"\x00\x00\x00 ftypisom" + bytes(range(256)) * 20))}, "video"),
        ("/motion_transfer", lambda tmp: {"video": handle_file(silence_wav(tmp / "sound.wav"))}, "contains no video"),
        ("/draw_motion", lambda tmp: {"strokes": json.dumps({"width": 512, "height": 512, "strokes": []})}, "Draw at least one stroke"),
        ("/draw_motion", lambda tmp: {"strokes": "", "preset": "pan_left", "frames": 5000}, "greater than maximum"),
        ("/draw_motion", lambda tmp: {"image": handle_file(_write(tmp / "notes.png", b"this is text, not a picture")), "preset": "pan_left"}, "cannot identify image"),
        ("/inpaint", lambda tmp: {"video": handle_file(example("moving_object.mp4"))}, "mask is empty"),
    ],
    ids=["corrupt-video", "audio-only", "empty-strokes", "huge-frame-count", "text-as-image", "empty-mask"],
)
def test_bad_inputs_get_a_message_and_the_next_request_succeeds(app, client, tmp_path, endpoint, make_inputs, message):
    inputs = {"prompt": "x", **settings()} | make_inputs(tmp_path)
    with pytest.raises(AppError, match=message):
        call(client, endpoint, **inputs)
    check_result(call(client, "/draw_motion", prompt="x", strokes="", preset="zoom_in", **settings()), app, FAST["frames"])


def _write(path: Path, data: bytes) -> str:
    path.write_bytes(data)
    return str(path)


def test_one_shared_bounded_queue(app):
    from ui.app import MAX_QUEUE

    demo = app.demo
    assert demo._queue.max_size == MAX_QUEUE and demo._queue.default_concurrency_limit == 1
    generation = [fn for fn in demo.fns.values() if fn.api_name in ENDPOINTS or f"/{fn.api_name}" in ENDPOINTS]
    assert len(generation) == 4
    assert {fn.concurrency_id for fn in generation} == {"generation"} and {fn.concurrency_limit for fn in generation} == {1}


def test_cancel_stops_a_running_generation_and_cleans_up():
    from ui.common import AppContext

    pipe = model_under_test()
    ctx = AppContext(None, lambda name, weights: pipe, {"embedded": ""}, tasks.Toolbox())
    request = type("Request", (), {"session_hash": "session-1"})()

    def cancel_on_first_step(*args, **kwargs) -> None:  # stands in for gr.Progress
        ctx.cancels.cancel("session-1")

    def prepare(p):
        # a prompt in the embedded model's words: a note would be a toast with no page to show it
        prompt = "a red star over a plain navy background"
        return tasks.draw_motion_request(p, ctx.tools, prompt, tasks.Settings(frames=8, steps=50), preset="pan_left")

    before = request_dirs()
    with pytest.raises(gr.Error, match="cancelled"):
        next(ctx.run(prepare, "embedded", request, cancel_on_first_step))
    assert request_dirs() == before and not ctx.cancels.cancel("session-1")  # nothing left registered


def test_cancel_registry_is_per_session():
    from ui.common import CancelRegistry

    registry = CancelRegistry()
    with registry.running("a") as a, registry.running("b") as b:
        assert registry.cancel("a") and a.is_set() and not b.is_set()
    assert not registry.cancel("a")


def test_concurrent_sessions_get_their_own_results(app):
    results: dict[int, dict] = {}

    def run(seed: int) -> None:
        client = Client(app.url, verbose=False)
        out = call(client, "/draw_motion", prompt="x", strokes="", preset="pan_up", **settings(seed=seed))
        results[seed] = out[4]

    threads = [threading.Thread(target=run, args=(seed,)) for seed in (11, 12, 13)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    assert {seed: r["seed"] for seed, r in results.items()} == {11: 11, 12: 12, 13: 13}


# ---- quality, with the trained embedded model only ----


@real_model_only
@pytest.mark.slow
def test_rightward_stroke_gives_rightward_motion(app, client):
    meta = example_meta("first_frame.png")
    picture = Image.open(example("first_frame.png")).width  # object_xy is in its pixels
    canvas = 512 / picture
    x, y = meta["object_xy"]
    result = call(
        client, "/draw_motion", prompt=meta["caption"].replace("standing still", "moving right"),
        image=handle_file(example("first_frame.png")),
        strokes=drawing([[(x * canvas, y * canvas), ((x + 60) * canvas, y * canvas)]]),  # 60 px to the right
        **settings(frames=16, steps=20),
    )
    out = check_result(result, app, 16)
    flow = optical_flow(out["frames"])  # (F-1, H, W, 2) in pixels of the result
    video = app.pipe.spec.video_size / picture
    r = meta["object_radius"]
    band = flow[:, int((y - r) * video) : int((y + r) * video), int(x * video) : int((x + 70) * video)]
    dx, dy = float(band[..., 0].mean()), float(band[..., 1].mean())
    assert dx > 0.5 and dx > 2 * abs(dy), f"mean flow along the stroke: dx={dx:.2f}, dy={dy:.2f} px/frame"
    adherence = out["adherence"]
    assert adherence["epe_px_per_frame"] < adherence["requested_px_per_frame"], adherence  # better than standing still


@real_model_only
@pytest.mark.slow
def test_inpainting_keeps_the_unmasked_region(app, client):
    result = call(
        client, "/inpaint", prompt="a purple circle", video=handle_file(example("moving_object.mp4")),
        preset="centre box", **settings(frames=16, steps=20),
    )
    out = check_result(result, app, 16)
    size = app.pipe.spec.video_size
    source = video_tensor_to_uint8(video_frames_tensor(read_clip(example("moving_object.mp4"), 16).frames, size))
    kept = ~tasks.MASK_PRESETS["centre box"](size, 0)
    error = np.abs(out["frames"].astype(float) - source)[:, kept].mean() / 255
    assert error < 0.08, f"mean absolute error outside the mask: {error:.3f}"
