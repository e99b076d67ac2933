"""Codec motion vectors: known synthetic motion → the official sparse map, right sign and size.

Clips are 320×256 so that the official Resize(256) is the identity and only the centre crop
(32 px on the left) applies; block centres of the native map sit at (8 + 16 i, 8 + 16 j).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.media_factory import moving_object_frames, pan_frames, shared_media, smooth_texture, write_video
from vc_core.conditions import extract_motion_maps, motion_condition, motion_maps_tensor, read_clip
from vc_core.conditions.motion_vectors import sparse_motion_map

OBJECT = 64


def _clip_frames(tmp_path, frames: np.ndarray) -> np.ndarray:
    """Write the frames as an H.264 mp4 at 4 fps and sample 16 frames back, like a user upload."""
    return read_clip(write_video(tmp_path / "clip.mp4", frames, fps=4)).frames


def _block_values(motion: np.ndarray) -> np.ndarray:
    """The map at the block-centre pixels: (..., 2, rows, cols)."""
    return motion[..., 8::16, 8::16]


def _object_blocks(frame: int, step, start, shape: tuple[int, int], margin: int) -> np.ndarray:
    """Block grid mask: centres at least ``margin`` px inside (margin > 0) or closer than -margin
    px to (margin < 0) the object in that frame."""
    rows, cols = shape
    cy, cx = np.meshgrid(8 + 16 * np.arange(rows), 8 + 16 * np.arange(cols), indexing="ij")
    left, top = start[0] + step[0] * frame, start[1] + step[1] * frame
    inside_x = (cx >= left + margin) & (cx < left + OBJECT - margin)
    inside_y = (cy >= top + margin) & (cy < top + OBJECT - margin)
    return inside_x & inside_y


@pytest.mark.parametrize(
    ("step", "start"),
    [((4, 0), (96, 96)), ((0, 4), (96, 96)), ((4, 4), (96, 96)), ((-4, 0), (160, 96))],
    ids=["right", "down", "diagonal", "left"],
)
def test_moving_object_has_forward_displacement_on_its_blocks(tmp_path, step, start):
    maps = extract_motion_maps(_clip_frames(tmp_path, moving_object_frames(step, start=start)))
    assert maps.shape == (16, 2, 256, 320) and not maps[0].any()  # I-frame: all zero
    for index in range(1, 16):
        blocks = _block_values(maps[index])
        inner = _object_blocks(index, step, start, blocks.shape[1:], margin=8)
        outer = ~_object_blocks(index, step, start, blocks.shape[1:], margin=-24)
        assert inner.any() and outer.any()
        np.testing.assert_array_equal(blocks[0][inner], step[0])
        np.testing.assert_array_equal(blocks[1][inner], step[1])
        assert np.abs(blocks[:, outer]).max() < 0.5  # flat background: no motion


def test_static_textured_background_has_no_motion(tmp_path):
    frames = _clip_frames(tmp_path, np.repeat(smooth_texture(256, 320)[None], 24, axis=0))
    assert np.abs(extract_motion_maps(frames)).max() < 0.5


@pytest.mark.parametrize("step", [(4, 0), (0, -4)], ids=["camera-right", "camera-up"])
def test_camera_pan_moves_everything_the_other_way(tmp_path, step):
    maps = extract_motion_maps(_clip_frames(tmp_path, pan_frames(step)))
    blocks = _block_values(maps[1:])  # (15, 2, rows, cols)
    assert np.mean(blocks[:, 0] == -step[0]) > 0.98
    assert np.mean(blocks[:, 1] == -step[1]) > 0.98


def test_values_only_at_block_centres(tmp_path):
    maps = extract_motion_maps(_clip_frames(tmp_path, moving_object_frames((4, 2))))
    _, _, ys, xs = np.nonzero(maps)
    assert len(xs) and np.all(xs % 16 == 8) and np.all(ys % 16 == 8)


def test_model_tensor_keeps_pixel_units_and_crops_as_official(tmp_path):
    frames = _clip_frames(tmp_path, moving_object_frames((4, 0)))
    maps = extract_motion_maps(frames)
    condition = motion_condition(frames)
    assert condition.shape == (16, 2, 256, 256) and condition.dtype == torch.float32
    # 320x256 → Resize(256) is the identity, CenterCrop(256) drops 32 columns on the left
    torch.testing.assert_close(condition, torch.from_numpy(maps[..., 32:288]))


def test_downscaling_is_bilinear_without_antialiasing():
    """torchvision 0.13 resized tensors without antialiasing; isolated vectors are attenuated."""
    maps = np.zeros((1, 2, 512, 512), np.float32)
    maps[0, 0, 8, 8] = 4.0
    out = motion_maps_tensor(maps)
    assert out.shape == (1, 2, 256, 256)
    assert out[0, 0, 4, 4] == pytest.approx(1.0)  # sample at 8.5 → a quarter of the pixel
    assert out.abs().sum() == pytest.approx(1.0)


def test_wide_maps_crop_the_centre():
    maps = np.zeros((1, 2, 360, 640), np.float32)
    out = motion_maps_tensor(maps)
    assert out.shape == (1, 2, 256, 256)  # 640x360 → 455x256 → crop from x = round(99.5) = 100


def test_sparse_map_clips_vectors_into_the_image():
    vectors = np.array([[8, 8, 4.0, -2.0], [330, -5, 1.0, 1.0]], np.float32)
    motion = sparse_motion_map(vectors, 256, 320)
    assert motion[0, 8, 8] == 4.0 and motion[1, 8, 8] == -2.0
    assert motion[0, 0, 319] == 1.0  # clipped to the last column / first row
    assert np.count_nonzero(motion[0]) == 2


def test_real_footage_motion():
    clip = read_clip(shared_media("motion_transfer.mp4"))
    condition = motion_condition(clip.frames, clip.fps)
    assert condition.shape == (16, 2, 256, 256)
    assert not condition[0].any() and condition[1:].abs().amax() > 0.5


def test_mvextractor_backend_agrees_and_cleans_up(tmp_path, monkeypatch):
    pytest.importorskip("mvextractor")
    import tempfile

    frames = _clip_frames(tmp_path, moving_object_frames((4, 2)))
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    np.testing.assert_array_equal(extract_motion_maps(frames, backend="mvextractor"), extract_motion_maps(frames))
    assert list(scratch.iterdir()) == []  # the per-call temporary folder is gone
