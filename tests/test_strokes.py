"""Hand-drawn motion: strokes with known geometry → exact block values; presets; errors/warnings."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from tests.media_factory import moving_object_frames, write_video
from vc_core.conditions import (
    PRESETS,
    Stroke,
    StrokeError,
    extract_motion_maps,
    parse_drawing,
    preset_motion,
    read_clip,
    stroke_to_motion,
)
from vc_core.conditions.strokes import circle_stroke, stroke_positions

CANVAS = (256, 256)
CENTRES = 8 + 16 * np.arange(16)


def _moving_blocks(maps: np.ndarray) -> set[tuple[int, int]]:
    """(x, y) pixels with a non-zero vector in one frame's map (2,H,W)."""
    ys, xs = np.nonzero(np.abs(maps).sum(axis=0))
    return {(int(x), int(y)) for x, y in zip(xs, ys)}


def test_straight_stroke_gives_exact_block_values():
    motion = stroke_to_motion(Stroke([(64, 128), (124, 128)], radius=20), CANVAS)  # 60 px in 15 steps
    assert motion.maps.shape == (16, 2, 256, 256) and motion.warnings == ()
    assert not motion.maps[0].any()
    for frame in range(1, 16):
        x = 64 + 4 * frame
        expected = {(cx, cy) for cx in CENTRES for cy in CENTRES if (cx - x) ** 2 + (cy - 128) ** 2 <= 20**2}
        expected.add((8 + 16 * (x // 16), 136))  # the block under the current position always moves
        assert _moving_blocks(motion.maps[frame]) == expected
        for cx, cy in expected:
            assert tuple(motion.maps[frame, :, cy, cx]) == (4.0, 0.0)


def test_arc_length_gives_constant_speed_around_a_corner():
    stroke = Stroke([(40, 40), (80, 40), (80, 80)])  # 80 px: 40 right, then 40 down
    positions = stroke_positions(np.array(stroke.points, float), None, 17)
    steps = np.diff(positions, axis=0)
    np.testing.assert_allclose(steps[:8], [[5, 0]] * 8)
    np.testing.assert_allclose(steps[8:], [[0, 5]] * 8)
    motion = stroke_to_motion(stroke, CANVAS, num_frames=17)
    assert tuple(motion.maps[3, :, 40, 56]) == (5.0, 0.0)  # frame 3 is at (55, 40), block centre (56, 40)


def test_times_set_the_speed_along_the_stroke():
    # 30 px in the first 3 time units, 30 px in the last one
    positions = stroke_positions(np.array([(0, 0), (30, 0), (60, 0)], float), [0.0, 3.0, 4.0], 16)
    steps = np.diff(positions[:, 0])
    assert steps[0] == pytest.approx(10 * 4 / 15)  # slow part: 10 px per time unit, 4/15 unit per frame
    assert steps[-1] == pytest.approx(30 * 4 / 15)  # fast part
    assert positions[-1, 0] == pytest.approx(60)


def test_mask_region_is_carried_along_the_stroke():
    mask = np.zeros((256, 256), bool)
    mask[96:160, 32:96] = True  # a 64x64 object whose centre is at (64, 128)
    motion = stroke_to_motion(Stroke([(64, 128), (124, 128)], mask=mask), CANVAS)
    for frame in (1, 8, 15):
        shift = 4 * frame
        expected = {(cx, cy) for cx in CENTRES for cy in CENTRES if 32 + shift <= cx < 96 + shift and 96 <= cy < 160}
        assert _moving_blocks(motion.maps[frame]) == expected


def test_stroke_matches_codec_vectors_of_the_same_motion(tmp_path):
    """Same representation: a stroke over an object's region reproduces its codec map."""
    frames = read_clip(write_video(tmp_path / "clip.mp4", moving_object_frames((4, 0), size=(256, 256)))).frames
    codec = extract_motion_maps(frames)
    mask = np.zeros((256, 256), bool)
    mask[104:152, 104:152] = True  # the object's blocks that never touch its border
    drawn = stroke_to_motion(Stroke([(128, 128), (188, 128)], mask=mask), CANVAS).maps
    region = drawn != 0
    assert region.any()
    np.testing.assert_array_equal(codec[region], drawn[region])


def test_tensor_matches_the_codec_transform():
    small = stroke_to_motion(Stroke([(10, 10), (70, 10)]), CANVAS)
    assert torch.equal(small.tensor(), torch.from_numpy(small.maps))  # 256² canvas: identity
    large = stroke_to_motion(Stroke([(20, 20), (140, 20)]), (640, 360))
    assert large.tensor().shape == (16, 2, 256, 256)


@pytest.mark.parametrize(
    ("name", "step"),
    [("pan_left", (4, 0)), ("pan_right", (-4, 0)), ("pan_up", (0, 4)), ("pan_down", (0, -4))],
)
def test_pan_presets_move_every_block(name, step):
    maps = preset_motion(name, CANVAS, speed=4.0).maps
    assert not maps[0].any()
    np.testing.assert_array_equal(maps[1:, 0, 8::16, 8::16], step[0])
    np.testing.assert_array_equal(maps[1:, 1, 8::16, 8::16], step[1])
    assert np.count_nonzero(np.abs(maps[1]).sum(0)) == 256  # 16x16 blocks, nothing in between


@pytest.mark.parametrize(("name", "sign"), [("zoom_in", 1), ("zoom_out", -1)])
def test_zoom_presets_point_away_from_or_to_the_centre(name, sign):
    maps = preset_motion(name, CANVAS, speed=4.0).maps
    cy, cx = np.meshgrid(CENTRES - 128, CENTRES - 128, indexing="ij")
    radial = maps[5, 0, 8::16, 8::16] * cx + maps[5, 1, 8::16, 8::16] * cy
    assert np.all(sign * radial > 0)
    corner = np.hypot(*maps[5, :, 8, 8])
    assert corner == pytest.approx(4.0 * np.hypot(120, 120) / np.hypot(128, 128))


def test_circle_preset_closes_its_loop():
    maps = preset_motion("circle", CANVAS).maps
    assert all(maps[i].any() for i in range(1, 16))
    # one full turn: the disc ends where it started
    path = stroke_positions(np.array(circle_stroke(CANVAS).points), None, 16)
    np.testing.assert_allclose(path[0], path[-1], atol=1e-6)


def test_every_preset_is_available():
    for name in PRESETS:
        assert preset_motion(name, (320, 192), num_frames=8).maps.shape == (8, 2, 192, 320)
    with pytest.raises(StrokeError, match="Unknown motion preset"):
        preset_motion("spin", CANVAS)


# ---------------------------------------------------------------- defined errors and warnings


def test_points_outside_are_clamped_with_a_warning():
    motion = stroke_to_motion(Stroke([(-50, 128), (100, 128)]), CANVAS)
    assert any("outside" in w for w in motion.warnings)
    assert motion.maps[1:, 0].sum() > 0
    np.testing.assert_allclose(np.abs(motion.maps[1:, 0]).max(), 100 / 15, rtol=1e-6)  # from x = 0


def test_single_point_and_zero_length_are_skipped_with_warnings():
    motion = stroke_to_motion(
        [Stroke([(30, 30)]), Stroke([(90, 90), (90, 90)]), Stroke([(200, 50), (200, 110)])], CANVAS
    )
    assert any("single point" in w for w in motion.warnings)
    assert any("zero length" in w for w in motion.warnings)
    assert _moving_blocks(motion.maps[1]) and not motion.maps[1, :, 88, 88].any()


def test_nothing_moving_is_an_error():
    with pytest.raises(StrokeError, match="nothing would move"):
        stroke_to_motion([Stroke([(30, 30)])], CANVAS)
    with pytest.raises(StrokeError, match="at least one stroke"):
        stroke_to_motion([], CANVAS)


def test_more_than_ten_strokes_is_an_error():
    strokes = [Stroke([(10 + 20 * i, 10), (10 + 20 * i, 60)]) for i in range(11)]
    with pytest.raises(StrokeError, match="at most 10"):
        stroke_to_motion(strokes, CANVAS)
    assert stroke_to_motion(strokes[:10], CANVAS, num_frames=8).maps.shape[0] == 8


def test_overlapping_regions_warn_and_the_later_stroke_wins():
    motion = stroke_to_motion([Stroke([(100, 100), (160, 100)]), Stroke([(100, 100), (100, 160)])], CANVAS)
    assert any("Strokes 1 and 2" in w for w in motion.warnings)
    assert tuple(motion.maps[1, :, 104, 104]) == (0.0, 4.0)


@pytest.mark.parametrize(
    ("stroke", "message"),
    [
        (Stroke([(0, 0), (10, 10)], times=[0.0]), "one time per point"),
        (Stroke([(0, 0), (10, 10)], times=[1.0, 0.0]), "must increase"),
        (Stroke([(0, 0), (10, 10)], times=[1.0, 1.0]), "must increase"),
        (Stroke([(0, 0), (10, 10)], radius=-3), "radius must be positive"),
        (Stroke([(0, 0), (10, 10)], mask=np.ones((10, 10), bool)), "region mask"),
        (Stroke([(0, 0), (10, 10)], mask=np.zeros((256, 256), bool)), "empty"),
        (Stroke([]), "no usable points"),
        (Stroke([(0, float("nan")), (1, 1)]), "no usable points"),
    ],
)
def test_invalid_strokes_raise_readable_errors(stroke, message):
    with pytest.raises(StrokeError, match=message):
        stroke_to_motion(stroke, CANVAS)


def test_filled_blocks_carry_each_block_vector_over_the_whole_block():
    """The embedded model's motion branch sees every pixel of a moving block, not one centre."""
    from vc_core.models.stc import fill_motion_blocks

    motion = stroke_to_motion(Stroke([(64, 128), (124, 128)], radius=20), CANVAS)
    filled = fill_motion_blocks(torch.from_numpy(motion.maps), 16).numpy()
    for frame in (1, 8, 15):
        for cx, cy in _moving_blocks(motion.maps[frame]):
            block = filled[frame, :, cy - 7 : cy + 8, cx - 7 : cx + 8]  # the block around its centre
            assert np.allclose(block[0], 4.0) and np.allclose(block[1], 0.0)
        moving = np.abs(filled[frame]).sum(0) > 0
        assert moving.sum() <= 16 * 16 * len(_moving_blocks(motion.maps[frame]))  # nothing beyond the blocks
    assert not filled[0].any()  # the first frame has no motion, and none is invented


def test_drawing_is_scaled_to_the_model_and_regions_pick_their_stroke():
    stroke = [(100.0, 256.0), (400.0, 256.0)]
    other = [(256.0, 450.0), (256.0, 300.0)]
    region = {"points": [[100, 256], [110, 256]], "radius": 30}
    canvas = {"width": 512, "height": 512, "strokes": [{"points": stroke}, {"points": other}], "regions": [region]}
    first, second = parse_drawing(json.dumps(canvas), 128)  # as the browser sends it
    assert first.points[0] == (25.0, 64.0) and first.points[-1] == (100.0, 64.0)
    assert first.mask is not None and first.mask[64, 25] and not first.mask[64, 100]
    assert second.mask is None  # starts outside the painted region: moves a disc
