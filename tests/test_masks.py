"""Masks from painted images, mask videos and presets; the masked-video composition."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.media_factory import write_video
from vc_core.conditions import (
    ConditionError,
    irregular_mask,
    mask_clip,
    mask_from_image,
    mask_from_video,
    masked_video_condition,
    paste_outside_mask,
    rectangle_mask,
    uncrop_mask,
)


def test_black_and_white_mask_image_uses_brightness_and_frame_geometry():
    painted = np.zeros((360, 640), np.uint8)
    painted[:, 320:] = 255  # right half hidden
    mask = mask_from_image(painted)
    assert mask.shape == (384, 384) and mask.dtype == bool
    # 640x360 → 683x384 (NEAREST) → crop from x = 149: the edge lands at 341.5 - 149 ≈ 192
    assert not mask[:, :190].any() and mask[:, 194:].all()


def test_transparent_brush_layer_uses_opacity():
    layer = np.zeros((384, 384, 4), np.uint8)  # transparent canvas
    layer[100:200, 50:150] = (20, 20, 20, 255)  # a dark but opaque brush stroke
    mask = mask_from_image(layer)
    assert mask[150, 100] and not mask[300, 300]
    assert mask.sum() == 100 * 100


def test_mask_video_follows_its_frames(tmp_path):
    frames = np.zeros((24, 256, 256, 3), np.uint8)
    for index, frame in enumerate(frames):
        frame[:, 8 * index : 8 * index + 64] = 255  # a white band sliding right
    masks = mask_from_video(write_video(tmp_path / "mask.mp4", frames))
    assert masks.shape == (16, 1, 384, 384) and set(masks.unique().tolist()) == {0.0, 1.0}
    columns = [int(torch.nonzero(m[0, 192])[0]) for m in masks]
    np.testing.assert_allclose(np.diff(columns), 12, atol=2)  # 8 px per frame at 256 → 12 at 384


def test_rectangle_and_uncrop_presets():
    box = rectangle_mask((0.25, 0.5, 0.75, 1.0))
    assert box.sum() == 192 * 192 and box[300, 192] and not box[100, 192]
    keep_centre = uncrop_mask((0.25, 0.0, 0.75, 1.0))
    assert keep_centre[:, :96].all() and keep_centre[:, 288:].all() and not keep_centre[:, 96:288].any()
    with pytest.raises(ConditionError, match="left < right"):
        rectangle_mask((0.6, 0.0, 0.4, 1.0))


def test_irregular_mask_is_deterministic_per_seed():
    first, again, other = irregular_mask(seed=3), irregular_mask(seed=3), irregular_mask(seed=4)
    assert np.array_equal(first, again) and not np.array_equal(first, other)
    assert 0.02 < first.mean() < 0.6


def test_masked_video_composition_values():
    frames = torch.full((8, 3, 384, 384), 0.75)  # 0.75 in [0,1] is 0.5 in [-1,1]
    mask = np.zeros((384, 384), bool)
    mask[:, :100] = True
    masked = masked_video_condition(frames, mask_clip(mask, 8))
    assert masked.shape == (8, 4, 384, 384)
    assert torch.all(masked[:, :3, :, :100] == 0) and torch.all(masked[:, 3, :, :100] == 0)  # hidden
    assert torch.all(masked[:, :3, :, 100:] == 0.5) and torch.all(masked[:, 3, :, 100:] == 1)  # visible


def test_masked_video_rejects_mismatched_masks():
    with pytest.raises(ConditionError, match="does not match"):
        masked_video_condition(torch.zeros(8, 3, 384, 384), mask_clip(np.zeros((256, 256), bool), 8))


def test_paste_outside_mask_keeps_the_source_exactly_and_the_hidden_part_generated():
    rng = np.random.default_rng(0)
    source = rng.integers(0, 256, (4, 64, 64, 3), dtype=np.uint8)
    generated = rng.integers(0, 256, (4, 64, 64, 3), dtype=np.uint8)
    hidden = rectangle_mask((0.25, 0.25, 0.75, 0.75), 128)  # on another grid than the video
    out = paste_outside_mask(generated, source, hidden, feather_px=3)
    np.testing.assert_array_equal(out[:, 16:48, 16:48], generated[:, 16:48, 16:48])  # all of the hidden part
    np.testing.assert_array_equal(out[:, :10], source[:, :10])  # beyond the feather
    ring = out[:, 14, 20:40].astype(int)  # 2 px outside the mask: a blend of both
    assert (np.minimum(source[:, 14, 20:40], generated[:, 14, 20:40]) <= ring).all()
    assert (ring <= np.maximum(source[:, 14, 20:40], generated[:, 14, 20:40])).all()
    with pytest.raises(ConditionError, match="shape"):
        paste_outside_mask(generated[:2], source, hidden)
