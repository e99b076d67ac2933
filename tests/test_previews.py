"""Previews are uint8 RGB pictures of the right size that actually show something."""

from __future__ import annotations

import numpy as np
import torch

from tests.media_factory import shared_media
from vc_core.conditions import (
    Stroke,
    depth_preview,
    mask_clip,
    masked_video_condition,
    masked_video_preview,
    motion_arrows_preview,
    motion_condition,
    preset_motion,
    read_clip,
    sketch_preview,
    stroke_preview,
    video_frames_tensor,
    video_tensor_to_uint8,
)
from vc_core.conditions.previews import STROKE_COLOURS


def _is_picture(image: np.ndarray, shape: tuple[int, ...]) -> bool:
    return image.dtype == np.uint8 and image.shape == shape and image.std() > 1


def test_motion_arrows_drawn_over_frames_coloured_by_direction():
    frames = np.full((8, 128, 128, 3), 90, np.uint8)
    previews = motion_arrows_preview(frames, preset_motion("pan_left", (128, 128), num_frames=8).maps)
    assert len(previews) == 8 and np.array_equal(previews[0], frames[0])  # frame 0 has no motion
    assert all(_is_picture(p, (128, 128, 3)) for p in previews[1:])
    red = (previews[3][..., 0] > 200) & (previews[3][..., 1] < 80)  # rightward motion: hue 0 = red
    assert red.sum() > 50


def test_motion_arrows_on_black_when_no_frames_are_given():
    maps = preset_motion("zoom_in", (96, 64), num_frames=8).maps
    previews = motion_arrows_preview(None, maps)
    assert _is_picture(previews[4], (64, 96, 3))


def test_real_clip_motion_preview():
    clip = read_clip(shared_media("motion_transfer.mp4"))
    frames = video_tensor_to_uint8(video_frames_tensor(clip.frames))
    previews = motion_arrows_preview(frames, motion_condition(clip.frames, clip.fps))
    assert len(previews) == 16 and _is_picture(previews[8], (256, 256, 3))
    assert not np.array_equal(previews[8], frames[8])


def test_depth_preview_is_a_colour_map():
    depth = torch.linspace(0, 10, 4 * 32 * 32).reshape(4, 1, 32, 32)
    previews = depth_preview(depth)
    assert len(previews) == 4 and _is_picture(previews[0], (32, 32, 3))
    assert previews[3][-1, -1].sum() > previews[0][0, 0].sum()  # near (large) is brighter


def test_sketch_preview_shows_dark_lines_on_white():
    sketch = torch.zeros(2, 1, 32, 32)
    sketch[:, :, 16] = 1.0
    preview = sketch_preview(sketch)[0]
    assert _is_picture(preview, (32, 32, 3))
    assert preview[16, 5].tolist() == [0, 0, 0] and preview[5, 5].tolist() == [255, 255, 255]


def test_masked_preview_shows_hidden_area_as_checkerboard():
    frames = torch.full((8, 3, 64, 64), 0.2)
    mask = np.zeros((64, 64), bool)
    mask[:, 32:] = True
    preview = masked_video_preview(masked_video_condition(frames, mask_clip(mask, 8)))[0]
    assert _is_picture(preview, (64, 64, 3))
    assert np.all(preview[:, :32] == 51)  # visible part: 0.2 → 51
    assert set(np.unique(preview[:, 32:])) == {120, 200}


def test_stroke_preview_draws_each_stroke_in_its_colour():
    strokes = [Stroke([(20, 20), (100, 20)]), Stroke([(60, 100), (60, 30), (110, 30)], radius=10)]
    picture = stroke_preview(strokes, (128, 128))
    assert _is_picture(picture, (128, 128, 3))
    for colour in STROKE_COLOURS[:2]:
        assert np.any(np.all(picture == colour, axis=-1))
    background = np.full((128, 128, 3), 200, np.uint8)
    assert stroke_preview(strokes, (128, 128), background)[120, 5].tolist() == [120, 120, 120]  # dimmed
