"""Video reading and sampling, frame geometry, and the annotator-based conditions (sketch, depth,
local image, single sketch), plus the result cache."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch

from tests.media_factory import CONTAINERS, frame_code_frames, read_frame_code, shared_media, write_video
from vc_core.conditions import (
    ConditionCache,
    ConditionError,
    cache_key,
    canny_edges,
    depth_condition,
    nearness_condition,
    local_image_condition,
    misc_frames_tensor,
    probe_video,
    read_clip,
    single_sketch_condition,
    sketch_condition,
    to_model_layout,
    video_frames_tensor,
)
from vc_core.conditions.video import sampling_fps

# ---------------------------------------------------------------- reading and sampling


@pytest.mark.parametrize("extension", sorted(set(CONTAINERS) - {"h264"}))
def test_every_container_reads_the_right_frames(tmp_path, extension):
    path = write_video(tmp_path / f"clip.{extension}", frame_code_frames(24), fps=4)
    clip = read_clip(path)
    assert clip.frames.shape == (16, 64, 160, 3) and clip.frames.dtype == np.uint8
    assert [read_frame_code(f) for f in clip.frames] == list(range(16))
    assert clip.fps == 4


def test_raw_stream_without_timestamps_assumes_25_fps(tmp_path):
    clip = read_clip(write_video(tmp_path / "clip.h264", frame_code_frames(24), fps=4))
    assert clip.info.native_fps == 25.0 and clip.info.duration_s == pytest.approx(24 / 25)
    codes = [read_frame_code(f) for f in clip.frames]
    assert codes[0] == 0 and codes[-1] == 22 and np.all(np.diff(codes) > 0)


@pytest.mark.parametrize(("rotation", "turns"), [(90, 1), (-90, -1), (180, 2)])
def test_rotation_metadata_is_applied(tmp_path, rotation, turns):
    frames = frame_code_frames(24)
    path = write_video(tmp_path / "phone.mp4", frames, rotation=rotation)
    clip = read_clip(path)
    np.testing.assert_array_equal(clip.frames[5], np.rot90(frames[5], turns))
    info = probe_video(path)
    assert (info.width, info.height) == (clip.frames.shape[2], clip.frames.shape[1])
    assert info.rotation == (rotation % 360)


def test_official_frame_rate_rule():
    assert sampling_fps(10.0, 16) == 4  # 40 frames at 4 fps: enough
    assert sampling_fps(4.0, 16) == 5  # exactly 16 is not "more than 16": int(16/4)+1
    assert sampling_fps(2.5, 16) == 7
    assert sampling_fps(2.5, 8) == 4


def test_short_clip_is_sampled_faster_and_repeats_frames(tmp_path):
    path = write_video(tmp_path / "short.mp4", frame_code_frames(10), fps=4)  # 2.5 s
    clip = read_clip(path)
    codes = [read_frame_code(f) for f in clip.frames]
    assert clip.fps == 7  # int(16 / 2.5) + 1
    assert codes == [int(np.ceil(4 * (k + 0.5) / 7)) - 1 for k in range(16)]  # 0, 0, 1, 1, 2, 3, ... 8


def test_high_frame_rate_follows_ffmpeg_fps_filter(tmp_path):
    path = write_video(tmp_path / "fast.mp4", frame_code_frames(150), fps=30)  # 5 s
    clip = read_clip(path, num_frames=8, start_s=1.0)
    # output frame k shows the last source frame starting before 1.0 + (k + 0.5) / 4
    expected = [int(np.ceil(30 * (1.0 + (k + 0.5) / 4))) - 1 for k in range(8)]
    assert [read_frame_code(f) for f in clip.frames] == expected


def test_start_time_and_clamping(tmp_path):
    path = write_video(tmp_path / "clip.mp4", frame_code_frames(40), fps=4)  # 10 s
    assert [read_frame_code(f) for f in read_clip(path, start_s=2.0).frames][:3] == [8, 9, 10]
    late = read_clip(path, start_s=100.0)
    assert late.start_s == pytest.approx(10.0 - 16 / 4)
    assert read_frame_code(late.frames[-1]) == 39


@pytest.mark.parametrize("num_frames", [8, 32])
def test_frame_counts_in_range(tmp_path, num_frames):
    path = write_video(tmp_path / "clip.mp4", frame_code_frames(40), fps=4)
    assert read_clip(path, num_frames=num_frames).frames.shape[0] == num_frames


@pytest.mark.parametrize("num_frames", [7, 33])
def test_frame_counts_out_of_range(tmp_path, num_frames):
    path = write_video(tmp_path / "clip.mp4", frame_code_frames(40), fps=4)
    with pytest.raises(ConditionError, match="between 8 and 32"):
        read_clip(path, num_frames=num_frames)


# ---------------------------------------------------------------- geometry


def test_video_and_misc_tensors_centre_crop_as_official():
    frame = np.zeros((360, 640, 3), np.uint8)
    frame[:, :320, 0] = 255  # left half red, right half blue
    frame[:, 320:, 2] = 255
    video = video_frames_tensor(frame[None])
    misc = misc_frames_tensor(frame[None])
    assert video.shape == (1, 3, 256, 256) and misc.shape == (1, 3, 384, 384)
    assert video.min() >= -1 and video.max() <= 1 and misc.min() >= 0 and misc.max() <= 1
    # 640x360 → 455x256 → crop at x=99: the colour boundary sits at 227.5 - 99 ≈ 128
    assert video[0, 0, 128, 120] == 1.0 and video[0, 2, 128, 136] == 1.0
    # misc: 683x384 → crop at x=149: boundary at 341.5 - 149 ≈ 192
    assert misc[0, 0, 192, 185] == 1.0 and misc[0, 2, 192, 199] == 1.0


def test_model_layout():
    condition = torch.arange(16 * 2 * 4 * 4, dtype=torch.float32).reshape(16, 2, 4, 4)
    batched = to_model_layout(condition)
    assert batched.shape == (1, 2, 16, 4, 4)
    assert torch.equal(batched[0, 1, 5], condition[5, 1])


def test_real_footage_shapes():
    for name in ("video_8800.mp4", "motion_transfer.mp4"):
        clip = read_clip(shared_media(name))
        assert clip.frames.shape == (16, 360, 640, 3)
        assert video_frames_tensor(clip.frames).shape == (16, 3, 256, 256)
        assert misc_frames_tensor(clip.frames).shape == (16, 3, 384, 384)
        assert clip.frames.std() > 10  # real picture content


# ---------------------------------------------------------------- sketch


def _square_frames() -> torch.Tensor:
    frames = torch.zeros(2, 3, 64, 64)
    frames[:, :, 16:48, 16:48] = 1.0
    return frames


def test_canny_gives_bright_edges_on_black():
    edges = canny_edges(_square_frames())
    assert edges.shape == (2, 1, 64, 64)
    assert set(edges.unique().tolist()) <= {0.0, 1.0}
    assert edges[0, 0, 32, 16] == 1.0  # on the border
    assert edges[0, 0, 32, 32] == 0.0 and edges[0, 0, 2, 2] == 0.0  # inside, outside


def test_sketch_uses_injected_networks_in_order():
    calls = []

    def edge_fn(frames):
        calls.append(("edges", frames.shape[0]))
        return frames[:, :1]

    def cleaner_fn(edges):
        calls.append(("clean", edges.shape[0]))
        return edges * 0.5

    sketch = sketch_condition(_square_frames().repeat(3, 1, 1, 1), edge_fn, cleaner_fn, batch_size=4)
    assert calls == [("edges", 4), ("edges", 2), ("clean", 4), ("clean", 2)]
    assert sketch.shape == (6, 1, 64, 64) and sketch.max() == 0.5


def test_single_sketch_from_a_drawing_and_a_picture():
    drawing = np.zeros((200, 300, 4), np.uint8)  # transparent canvas
    drawing[90:110, :, 3] = 255  # an opaque black horizontal line
    sketch = single_sketch_condition(drawing, num_frames=8, drawing=True)
    assert sketch.shape == (8, 1, 384, 384) and torch.equal(sketch[0], sketch[7])
    assert sketch[0, 0, 192, 192] == 1.0 and sketch[0, 0, 20, 192] == 0.0  # bright line, dark paper
    picture = single_sketch_condition(shared_media("src_single_sketch.png"))
    assert picture.shape == (16, 1, 384, 384) and 0 < picture.mean() < 0.5


# ---------------------------------------------------------------- depth


def test_depth_postprocessing_and_model_space_input():
    seen = []

    def midas(images):
        seen.append((float(images.min()), float(images.max())))
        return images[:, 0] * 400.0  # (N,H,W) raw depth, up to 400 → 20 → clamped to 10

    frames = torch.linspace(0, 1, 8 * 3 * 4 * 4).reshape(8, 3, 4, 4)
    depth = depth_condition(frames, midas, batch_size=8)
    assert seen[0][0] == pytest.approx(-1.0, abs=0.02)  # frame·2−1
    assert depth.shape == (8, 1, 4, 4) and depth.min() == 0.0 and depth.max() == 10.0
    expected = ((frames[:, :1] * 2 - 1) * 400 / 20).clamp(0, 10)
    torch.testing.assert_close(depth, expected)


def test_nearness_is_rescaled_per_clip_keeping_order():
    """For models trained on rendered nearness: MiDaS inverse depth → [0, 1] over the whole clip."""
    frames = torch.linspace(0, 1, 2 * 3 * 4 * 4).reshape(2, 3, 4, 4)
    near = nearness_condition(frames, lambda images: images[:, :1] * 50.0 + 7.0)
    assert near.shape == (2, 1, 4, 4) and near.min() == 0.0 and near.max() == 1.0
    flat = near.flatten()
    assert torch.all(flat[1:] >= flat[:-1])  # brighter input (nearer for MiDaS) stays nearer


def test_depth_module_gets_its_own_dtype():
    model = torch.nn.Conv2d(3, 1, 1).double()
    depth = depth_condition(torch.rand(3, 3, 8, 8), model)
    assert depth.dtype == torch.float32 and depth.shape == (3, 1, 8, 8)


# ---------------------------------------------------------------- images


def test_local_image_is_not_normalised_and_repeated():
    condition = local_image_condition(shared_media("moon_on_water.jpg"), num_frames=16)
    assert condition.shape == (16, 3, 384, 384)
    assert condition.min() >= 0 and condition.max() <= 1 and torch.equal(condition[0], condition[15])


# ---------------------------------------------------------------- cache


def test_cache_hits_on_same_content_under_another_path(tmp_path):
    frames = frame_code_frames(24)
    first = write_video(tmp_path / "a.mp4", frames)
    second = tmp_path / "b.mp4"
    second.write_bytes(first.read_bytes())
    cache, computed = ConditionCache(max_entries=4), []

    def load(path, start_s):
        key = cache_key(path, "clip", num_frames=16, start_s=start_s)
        return cache.get_or_compute(key, lambda: computed.append(path) or read_clip(path, start_s=start_s))

    clip = load(first, 0.0)
    assert load(second, 0.0) is clip and computed == [first]
    load(second, 1.0)  # other parameters → computed again
    assert computed == [first, second]


def test_cache_is_bounded_by_entries_and_bytes():
    cache = ConditionCache(max_entries=2, max_bytes=1000)
    make = functools.partial(np.zeros, 100, np.uint8)  # 100 bytes each
    for key in "abc":
        cache.get_or_compute(key, make)
    assert "a" not in cache and "b" in cache and "c" in cache  # least recently used went first
    cache.get_or_compute("b", make)  # touch b
    cache.get_or_compute("d", make)
    assert "b" in cache and "c" not in cache
    big = cache.get_or_compute("big", functools.partial(np.zeros, 5000, np.uint8))
    assert big.nbytes == 5000 and "big" not in cache and cache.total_bytes <= 1000
