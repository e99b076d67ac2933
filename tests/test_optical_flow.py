"""The motion a video shows, in the model's motion representation (what a drafted video hands on)."""
import numpy as np

from vc_core.conditions.optical_flow import motion_from_video
from vc_core.conditions.strokes import BLOCK


def textured_square_moving_right(frames: int = 6, speed: int = 2) -> np.ndarray:
    rng = np.random.default_rng(0)
    background = (rng.random((64, 64, 3)) * 60 + 60).astype(np.uint8)
    texture = (rng.random((20, 20, 3)) * 120 + 120).astype(np.uint8)
    video = np.repeat(background[None], frames, 0)
    for k in range(frames):
        x = 10 + speed * k
        video[k, 20:40, x : x + 20] = texture
    return video


def test_a_moving_square_gives_its_speed_at_its_blocks_and_still_blocks_stay_zero():
    motion = motion_from_video(textured_square_moving_right())
    assert motion.shape == (6, 2, 64, 64) and not motion[0].any()
    vectors = motion[:, :, BLOCK // 2 :: BLOCK, BLOCK // 2 :: BLOCK]  # (F, 2, 4, 4), one per block
    assert np.count_nonzero(motion) == np.count_nonzero(vectors)  # only at block centres, as the codec
    on_square = vectors[1:, :, 1:3, 1]  # blocks in rows 16–47, columns 16–31: on the square in every frame
    assert np.all(np.abs(on_square[:, 0] - 2) < 0.5), on_square[:, 0]
    assert np.all(np.abs(on_square[:, 1]) < 0.5)
    assert not vectors[1:, :, 0].any() and not vectors[1:, :, 3].any()  # rows above and below: still


def test_a_still_video_has_no_motion():
    video = np.repeat(textured_square_moving_right(1), 5, 0)
    assert not motion_from_video(video).any()
    assert not motion_from_video(video[:1]).any()
