"""Request builders of vc_core.tasks on the miniature model (conditions at its sizes, errors)."""
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.app_support import drawing, example
from tests.tiny import tiny_pipeline
from vc_core import tasks
from vc_core.conditions import ConditionError, StrokeError
from vc_core.weights import WeightError

SETTINGS = tasks.Settings(frames=8, steps=2, seed=3)


@pytest.fixture(scope="module")
def pipe():
    return tiny_pipeline()


@pytest.fixture()
def tools():
    return tasks.Toolbox()


def shapes(prepared: tasks.Prepared) -> dict[str, tuple]:
    return {name: tuple(c.shape) for name, c in prepared.request.conditions.items()}


def test_compose_makes_every_condition_at_the_model_sizes(pipe, tools):
    p = tasks.compose_request(
        pipe, tools, "a green square", SETTINGS, image=example("first_frame.png"), style=example("style.png"),
        sketch=example("sketch.png"), video=example("moving_object.mp4"), use_sketch=True, use_motion=True,
    )
    v, m = pipe.spec.video_size, pipe.spec.misc_size
    assert shapes(p) == {
        "local_image": (1, 3, 8, m, m), "single_sketch": (1, 1, 8, m, m), "sketch": (1, 1, 8, m, m), "motion": (1, 2, 8, v, v),
    }
    assert p.request.style_image.shape == (1, 3, 224, 224)
    assert p.motion.shape == (8, 2, v, v) and p.request.seed == 3 and p.request.frames == 8
    assert p.info["condition_sources"]["sketch"] == "Canny on every frame"  # no official weights here
    assert all(f.dtype == np.uint8 and f.ndim == 3 for frames in p.previews.values() for f in frames)
    json.dumps(p.info)  # provenance must be JSON-able


def test_video_conditions_are_cached_by_content(pipe, tools, tmp_path):
    copy = tmp_path / "same_content.mp4"
    copy.write_bytes(Path(example("moving_object.mp4")).read_bytes())
    tasks.compose_request(pipe, tools, "x", SETTINGS, video=example("moving_object.mp4"), use_motion=True)
    entries = len(tools.cache)
    again = tasks.compose_request(pipe, tools, "x", SETTINGS, video=str(copy), use_motion=True)
    assert len(tools.cache) == entries and again.motion is not None


def test_compose_explains_missing_inputs(pipe, tools):
    with pytest.raises(ConditionError, match="reference video"):
        tasks.compose_request(pipe, tools, "x", SETTINGS, use_motion=True)
    with pytest.raises(ConditionError, match="Nothing to generate"):
        tasks.compose_request(pipe, tools, "  ", SETTINGS)
    with pytest.raises(WeightError, match="MiDaS"):
        tasks.compose_request(pipe, tools, "x", SETTINGS, video=example("moving_object.mp4"), use_depth=True)
    assert "MiDaS" in tools.depth_unavailable()


def test_unused_video_and_empty_sketch_are_warned_about(pipe, tools):
    blank = np.full((64, 64, 3), 255, np.uint8)
    p = tasks.compose_request(pipe, tools, "x", SETTINGS, sketch=blank, video=example("moving_object.mp4"))
    assert not p.request.conditions and len(p.warnings) == 2


def test_prompts_the_embedded_model_cannot_read_are_noted_not_refused(pipe, tools, monkeypatch):
    prompt = "a red cat over a blue background"
    assert tasks.compose_request(pipe, tools, prompt, SETTINGS).warnings == []  # a model that reads English
    monkeypatch.setattr(pipe.spec, "world_vocabulary", True)
    p = tasks.compose_request(pipe, tools, prompt, SETTINGS)
    assert p.request.prompt == prompt and len(p.warnings) == 2
    assert "cat" in p.warnings[0] and "blue only as an object colour" in p.warnings[1]
    assert tasks.compose_request(pipe, tools, "a red star over a plain navy background", SETTINGS).warnings == []


def test_inpaint_painted_mask_and_presets(pipe, tools):
    size = pipe.spec.misc_size
    painted = tasks.inpaint_request(pipe, tools, "x", SETTINGS, video=example("moving_object.mp4"), mask_layers=[example("mask.png")])
    keep = painted.request.conditions["masked"][0, 3]  # (F, H, W): 1 = kept
    assert keep.shape == (8, size, size) and keep[:, size // 2, size // 2].eq(0).all() and keep[:, 0, 0].eq(1).all()
    preset = tasks.inpaint_request(
        pipe, tools, "x", SETTINGS, video=example("moving_object.mp4"), preset="left half", keep_motion=True
    )
    keep = preset.request.conditions["masked"][0, 3]
    assert keep[:, :, 0].eq(0).all() and keep[:, :, -1].eq(1).all() and "motion" in preset.request.conditions
    with pytest.raises(ConditionError, match="mask is empty"):
        tasks.inpaint_request(pipe, tools, "x", SETTINGS, video=example("moving_object.mp4"))
    with pytest.raises(ConditionError, match="Unknown mask preset"):
        tasks.inpaint_request(pipe, tools, "x", SETTINGS, video=example("moving_object.mp4"), preset="nope")
    with pytest.raises(ConditionError, match="Upload"):
        tasks.inpaint_request(pipe, tools, "x", SETTINGS, video=None, preset="left half")


def test_inpainting_result_keeps_the_source_outside_the_mask_unless_asked_not_to(pipe, tools):
    video = example("moving_object.mp4")
    kept = tasks.generate(pipe, tasks.inpaint_request(pipe, tools, "x", SETTINGS, video=video, preset="left half"))
    size = pipe.spec.video_size
    source = tasks._ReferenceVideo(tools, video, SETTINGS.frames, 0.0).video_frames(size)
    np.testing.assert_array_equal(kept.video[:, :, size // 2 + 5 :], source[:, :, size // 2 + 5 :])
    assert kept.parameters["mask"]["keep_unmasked"] is True
    raw = tasks.generate(pipe, tasks.inpaint_request(pipe, tools, "x", SETTINGS, video=video, preset="left half", keep_unmasked=False))
    assert not np.array_equal(raw.video[:, :, size // 2 + 5 :], source[:, :, size // 2 + 5 :])  # the model's own decode


def test_motion_transfer_takes_motion_and_appearance(pipe, tools):
    p = tasks.motion_transfer_request(pipe, tools, "", SETTINGS, video=example("camera_pan.mp4"), image=example("first_frame.png"))
    assert set(p.request.conditions) == {"motion", "local_image"} and p.motion is not None


def test_draw_motion_requests_the_drawn_direction(pipe, tools):
    p = tasks.draw_motion_request(pipe, tools, "x", SETTINGS, drawing=drawing([[(64, 256), (448, 256)]]))
    moving = p.motion[1:, 0] != 0
    assert moving.any() and (p.motion[1:, 0][moving] > 0).all() and not p.motion[1:, 1].any()
    assert "strokes" in p.previews and p.info["motion"]["strokes"][0]["moves"] == "disc"
    preset = tasks.draw_motion_request(pipe, tools, "x", SETTINGS, image=example("first_frame.png"), preset="pan_left",
                                       drawing=drawing([[(0, 0), (9, 9)]]))
    assert preset.warnings and set(preset.request.conditions) == {"motion", "local_image"}


def test_motion_hold_shows_what_it_holds_with_the_results(pipe, tools):
    """With an image, motion and a hold, the previews show the image carried along the motion (what
    the sampling starts from), the parts left to the model dimmed; without a hold, nothing."""
    stroke = drawing([[(128, 256), (384, 256)]])
    held = tasks.draw_motion_request(pipe, tools, "x", tasks.Settings(frames=8, motion_hold=0.9), image=example("first_frame.png"), drawing=stroke)
    (caption, frames), = [(c, f) for c, f in held.previews.items() if c.startswith("motion hold")]
    size = pipe.spec.video_size
    assert "90%" in caption and len(frames) == 8 and frames[0].shape == (size, size, 3)
    carried, known = pipe.carried_first_frame(held.request)
    assert np.array_equal(frames[0], ((carried[0].clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).numpy())
    far = ~known[-1].numpy()
    assert far.any() and known[-1].any() and frames[-1][far].mean() < 0.5 * frames[0][far].mean()  # dimmed: the model's
    free = tasks.draw_motion_request(pipe, tools, "x", tasks.Settings(frames=8, motion_hold=0.0), image=example("first_frame.png"), drawing=stroke)
    assert not any(c.startswith("motion hold") for c in free.previews)


def test_what_a_draft_pass_made_is_shown_with_the_results(pipe, tools):
    """Motion hold's draft pass is visible: the motion drafted for a picture given alone, the first
    frame drawn for motion given alone; nothing drafted without a hold."""
    held = tasks.Settings(frames=8, steps=2, seed=3, motion_hold=0.9)
    picture = tasks.generate(pipe, tasks.compose_request(pipe, tools, "a red star moving left", held, image=example("first_frame.png")))
    (caption, frames), = [(c, f) for c, f in picture.previews.items() if c.startswith("motion drafted")]
    assert len(frames) == 8 and frames[0].shape == picture.video.shape[1:]
    moved = tasks.generate(pipe, tasks.draw_motion_request(pipe, tools, "a star", held, preset="pan_right"))
    (caption, frames), = [(c, f) for c, f in moved.previews.items() if c.startswith("first frame drawn")]
    assert len(frames) == 1 and frames[0].shape == (pipe.spec.misc_size, pipe.spec.misc_size, 3)
    free = tasks.Settings(frames=8, steps=2, seed=3, motion_hold=0.0)
    plain = tasks.generate(pipe, tasks.compose_request(pipe, tools, "a red star moving left", free, image=example("first_frame.png")))
    assert not any("drafted" in c or "drawn by the model" in c for c in plain.previews)


@pytest.mark.parametrize(
    "value, message",
    [
        ("", "Draw at least one stroke"),
        (json.dumps({"strokes": []}), "Draw at least one stroke"),
        ("{not json", "could not be read"),
        (json.dumps({"strokes": [{"points": "abc"}]}), "could not be read"),
        (json.dumps({"strokes": [{"points": [[float("nan"), 1], [2, 3]]}]}).replace("NaN", "1e999"), "no usable points"),
        (drawing([[(i, i) for i in range(6000)], [(i, 0) for i in range(6000)]]), "more than"),
        (drawing([[(5, 5), (5, 5)]]), "nothing would move"),
        ("[" * 5000 + "]" * 5000, "could not be read"),
        (json.dumps({"strokes": [{"points": [[1, 2], [300, 4]], "times": ["a", "b"]}]}), "times must be numbers"),
        (json.dumps({"strokes": [{"points": [[1, 2], [300, 4]], "times": [0, 1e999]}]}), "times must be finite"),
    ],
)
def test_bad_drawings_get_clear_errors(pipe, tools, value, message):
    with pytest.raises(StrokeError, match=message):
        tasks.draw_motion_request(pipe, tools, "x", SETTINGS, drawing=value)


@pytest.mark.parametrize(
    "value",
    [
        drawing([[(1e300, 300), (100, 300)]]),  # beyond a C int: once crashed the stroke preview
        drawing([[(64, 256), (448, 256)]], regions=[{"points": [[64, 256]], "radius": 1e300}]),
    ],
)
def test_absurd_coordinates_are_clamped_to_the_canvas(pipe, tools, value):
    p = tasks.draw_motion_request(pipe, tools, "x", SETTINGS, drawing=value)
    assert p.previews["strokes"][0].shape[:2] == (pipe.spec.video_size,) * 2


def test_a_prompt_that_is_not_unicode_text_is_refused(pipe, tools):
    with pytest.raises(ConditionError, match="invalid character at position 2"):
        tasks.draw_motion_request(pipe, tools, "a \udcff star", SETTINGS, preset="pan_left")


def test_motion_preview_animates_every_frame(pipe):
    frames, warnings = tasks.motion_preview(pipe, 8, example("first_frame.png"), preset="zoom_in", display_size=64)
    assert len(frames) == 8 and frames[0].shape == (64, 64, 3) and not warnings  # 16² enlarged 4×


def test_motion_preview_moves_the_picture_as_motion_hold_will(pipe):
    stroke = drawing([[(128, 256), (384, 256)]])
    held, _ = tasks.motion_preview(pipe, 8, example("first_frame.png"), stroke, display_size=64, motion_hold=0.9)
    still, _ = tasks.motion_preview(pipe, 8, example("first_frame.png"), stroke, display_size=64, motion_hold=0.0)
    assert np.array_equal(held[0], still[0])  # frame 0 is the picture either way
    assert not np.array_equal(held[-1], still[-1])  # then it is carried along the stroke


def test_generate_and_save_record_everything(pipe, tools, tmp_path):
    p = tasks.draw_motion_request(pipe, tools, "a star", SETTINGS, preset="pan_right")
    outcome = tasks.generate(pipe, p)
    saved = tasks.save_outcome(outcome, tmp_path)
    assert outcome.video.shape == (8, pipe.spec.video_size, pipe.spec.video_size, 3)
    params = json.loads(saved.parameters.read_text())
    assert params["seed"] == 3 and params["task"] == "draw_motion" and params["motion"] == {"preset": "pan_right"}
    assert params["conditions"] == {"motion": [1, 2, 8, 16, 16]} and params["condition_sources"]["motion"] == "preset 'pan_right'"
    assert saved.mp4.is_file() and saved.gif.is_file() and all(path.is_file() for path, _ in saved.previews)
    assert set(outcome.adherence or {}) <= {"epe_px_per_frame", "requested_px_per_frame", "points"}


def test_frame_count_is_checked_before_any_work(pipe, tools):
    with pytest.raises(ValueError, match="frame"):
        tasks.draw_motion_request(pipe, tools, "x", tasks.Settings(frames=500), preset="pan_left")
    assert torch.is_tensor(tasks.draw_motion_request(pipe, tools, "x", SETTINGS, preset="pan_left").request.conditions["motion"])


def test_command_line_writes_every_seed_and_survives_a_bad_job(pipe, tmp_path, monkeypatch, capsys):
    from vc_core import generate

    monkeypatch.setattr(generate, "load_pipeline", lambda *args: pipe)
    common = ["--frames", "8", "--steps", "2", "--out", str(tmp_path)]
    assert generate.main(["--task", "draw_motion", "--preset", "pan_left", "--seed", "1", "2", *common]) == 0
    assert sorted(p.name for p in tmp_path.glob("*.mp4")) == ["draw_motion_seed1.mp4", "draw_motion_seed2.mp4"]
    assert json.loads((tmp_path / "draw_motion_seed2.json").read_text())["seed"] == 2

    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text(
        json.dumps({"task": "motion_transfer"}) + "\n"  # no video: reported, the batch goes on
        + json.dumps({"task": "inpaint", "video": example("moving_object.mp4"), "mask": [example("mask.png")], "keep_given": False}) + "\n"
        + json.dumps({"task": "draw_motion", "preset": "pan_left", "keep_given": "maybe"}) + "\n"  # named, not taken as true
    )
    assert generate.main(["--jobs", str(jobs), *common]) == 1
    err = capsys.readouterr().err
    assert "Upload the reference video" in err and "keep_given must be on or off, got 'maybe'" in err
    assert (tmp_path / "job2_seed0.mp4").is_file() and not list(tmp_path.glob("job1_*")) and not list(tmp_path.glob("job3_*"))
    assert json.loads((tmp_path / "job2_seed0.json").read_text())["keep_given"] is False
