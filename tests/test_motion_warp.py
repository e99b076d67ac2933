"""The first frame carried along requested motion (what ``motion_hold`` holds while sampling)."""
import numpy as np
import pytest
import torch

from vc_core.conditions.motion_warp import warp_along_motion
from vc_core.conditions.strokes import Stroke, preset_motion, stroke_to_motion

SIZE, FRAMES, STEP = 128, 8, 3.0


def picture() -> torch.Tensor:
    """A red 20² square at (20..39, 50..69) on a left-to-right grey gradient, in [-1, 1]."""
    image = torch.linspace(-0.6, 0.2, SIZE).expand(3, SIZE, SIZE).clone()
    image[:, 50:70, 20:40] = torch.tensor([0.9, -0.9, -0.9])[:, None, None]
    return image


def red(frame: torch.Tensor) -> torch.Tensor:
    return (frame[0] > 0.5) & (frame[1] < -0.5)


def test_a_stroke_carries_the_object_and_leaves_background_behind():
    stroke = Stroke([(30.0, 60.0), (30.0 + STEP * (FRAMES - 1), 60.0)], radius=12.0)
    motion = torch.from_numpy(stroke_to_motion(stroke, (SIZE, SIZE), FRAMES).maps)
    video, known = warp_along_motion(picture(), motion)
    assert video.shape == (FRAMES, 3, SIZE, SIZE) and known.shape == (FRAMES, SIZE, SIZE)
    assert torch.equal(video[0], picture()) and not known[0].any()
    for k in range(1, FRAMES):
        ys, xs = torch.nonzero(red(video[k]), as_tuple=True)
        # the whole square, moved by k steps (not cut at the motion's block edges)
        assert abs(len(xs) - 400) <= 40, (k, len(xs))
        assert abs(xs.float().mean() - (29.5 + STEP * k)) < 1 and abs(ys.float().mean() - 59.5) < 1, k
        assert known[k][ys, xs].all()
    last = video[-1]
    # where the square started, background (the gradient's grey), not a copy of it
    assert not red(last)[50:70, 20:24].any()
    assert (last[:, 50:70, 20:24] - picture()[:, 40:50, 20:24].mean((1, 2))[:, None, None]).abs().max() < 0.15
    assert known[-1, 50:70, 20:24].all()
    # far from the stroke nothing is known: the model draws it
    assert not known[:, :, 100:].any() and not known[:, :20].any()


def test_only_the_object_moves_the_background_around_it_stays():
    """The motion moves whole blocks; stripes in them must not travel with the object."""
    image = picture()
    stripes = (torch.arange(SIZE) // 4) % 2 == 1
    image[:, :, stripes] = torch.tensor([-0.2, 0.3, -0.2])[:, None, None]  # green stripes every 8 px
    image[:, 50:70, 20:40] = torch.tensor([0.9, -0.9, -0.9])[:, None, None]
    stroke = Stroke([(30.0, 60.0), (30.0 + STEP * (FRAMES - 1), 60.0)], radius=12.0)
    video, known = warp_along_motion(image, torch.from_numpy(stroke_to_motion(stroke, (SIZE, SIZE), FRAMES).maps))
    for k in range(1, FRAMES):
        ys, xs = torch.nonzero(red(video[k]), as_tuple=True)
        assert abs(len(xs) - 400) <= 40 and abs(xs.float().mean() - (29.5 + STEP * k)) < 1, k
        # above and below the square, inside the moved blocks (known), the stripes are where they were
        for rows in (slice(36, 48), slice(72, 80)):
            assert known[k, rows, 30:60].all()
            assert torch.allclose(video[k, :, rows], image[:, rows], atol=1e-4), k


def test_what_a_pan_brings_into_the_picture_is_left_unknown():
    motion = torch.from_numpy(preset_motion("pan_left", (SIZE, SIZE), FRAMES, speed=4.0).maps)  # content slides right
    video, known = warp_along_motion(picture(), motion)
    k = FRAMES - 1
    assert not known[k, :, : int(4 * k) - 1].any()  # entered from the left edge
    assert known[k, :, int(4 * k) + 1 :].all()
    assert torch.allclose(video[k, :, :, 4 * k + 1 :], picture()[:, :, 1 : SIZE - 4 * k], atol=1e-4)


def test_bad_shapes_are_refused():
    with pytest.raises(ValueError, match="motion"):
        warp_along_motion(picture(), torch.zeros(FRAMES, 3, SIZE, SIZE))
    with pytest.raises(ValueError, match="image"):
        warp_along_motion(picture()[:1], torch.zeros(FRAMES, 2, SIZE, SIZE))


def test_no_motion_knows_nothing():
    video, known = warp_along_motion(picture(), torch.zeros(FRAMES, 2, SIZE, SIZE))
    assert not known.any() and torch.equal(video[3], picture())
    assert np.isfinite(video.numpy()).all()


def test_short_vectors_where_the_object_only_partly_covers_a_block_do_not_slow_it():
    """The codec gives a block an object only partly covers a shorter vector (one tuning clip:
    0.7 and 2.1 beside 3.9 px/frame). A square in such a block, beside one moving at full speed,
    must move at full speed, not at their mean."""
    motion = torch.zeros(FRAMES, 2, SIZE, SIZE)
    motion[1:, 0, 56:80:16, 24] = 0.2 * STEP  # block column x 16–31, where most of the square is
    motion[1:, 0, 56:80:16, 40] = STEP  # x 32–47
    video, _ = warp_along_motion(picture(), motion)
    for k in range(1, FRAMES):
        ys, xs = torch.nonzero(red(video[k]), as_tuple=True)
        assert abs(len(xs) - 400) <= 40 and abs(xs.float().mean() - (29.5 + STEP * k)) < 1, k


def test_neighbours_moving_the_other_way_are_not_mixed_in():
    """Two squares side by side moving apart (or one object growing) each keep their own way."""
    image = picture()
    image[:, 50:70, 56:76] = torch.tensor([-0.9, -0.9, 0.9])[:, None, None]  # a blue square right of the red one
    motion = torch.zeros(FRAMES, 2, SIZE, SIZE)
    motion[1:, 0, 56:64:8, 24] = -STEP  # the red square's blocks (x 16–47) move left …
    motion[1:, 0, 56:64:8, 40] = -STEP
    motion[1:, 0, 56:64:8, 56] = STEP  # … the blue one's (x 48–79) right
    motion[1:, 0, 56:64:8, 72] = STEP
    video, _ = warp_along_motion(image, motion)
    ys, xs = torch.nonzero(red(video[1]), as_tuple=True)
    assert xs.float().mean() < 29.5 - 0.5 * STEP  # moved left, not dragged right by its neighbour
