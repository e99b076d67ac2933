"""MP4 (H.264 yuv420p, faststart), GIF and per-request folders."""
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.app_support import read_video
from vc_core.video_io import request_dir, write_gif, write_mp4


def frames(count: int = 8, height: int = 64, width: int = 96) -> np.ndarray:
    """A smooth gradient that moves, so the codec has something easy to keep."""
    y, x = np.mgrid[0:height, 0:width]
    return np.stack(
        [np.stack([(x * 2 + 8 * i) % 256, (y * 3) % 256, np.full_like(x, 128)], axis=-1) for i in range(count)]
    ).astype(np.uint8)


def test_mp4_is_h264_yuv420p_with_every_frame(tmp_path):
    video = frames()
    decoded = read_video(write_mp4(video, tmp_path / "a.mp4"))
    assert (decoded.codec, decoded.pix_fmt) == ("h264", "yuv420p")
    assert decoded.frames.shape == video.shape
    assert np.abs(decoded.frames.astype(int) - video).mean() < 4  # high quality, not lossless


def test_mp4_moov_before_mdat_so_browsers_start_playing_early(tmp_path):
    data = write_mp4(frames(), tmp_path / "a.mp4").read_bytes()
    assert 0 < data.index(b"moov") < data.index(b"mdat")


def test_odd_sizes_are_padded_to_even(tmp_path):
    decoded = read_video(write_mp4(frames(4, 33, 47), tmp_path / "odd.mp4"))
    assert decoded.frames.shape == (4, 34, 48, 3)


def test_gif_loops_with_every_frame(tmp_path):
    with Image.open(write_gif(frames(5), tmp_path / "a.gif")) as gif:
        assert gif.n_frames == 5 and gif.info["loop"] == 0


@pytest.mark.parametrize("bad", [np.zeros((0, 8, 8, 3), np.uint8), np.zeros((2, 8, 8), np.uint8), np.zeros((2, 8, 8, 3))])
def test_bad_frames_are_refused(tmp_path, bad):
    with pytest.raises(ValueError, match="uint8 frames"):
        write_mp4(bad, tmp_path / "bad.mp4")


def test_request_dirs_are_unique_and_removed_even_on_error(tmp_path):
    with request_dir(tmp_path) as a, request_dir(tmp_path) as b:
        assert a != b and a.is_dir() and b.is_dir()
        (a / "x.mp4").write_bytes(b"1")
    assert not a.exists() and not b.exists()
    with pytest.raises(RuntimeError), request_dir(tmp_path) as c:
        raise RuntimeError
    assert not Path(c).exists()
