"""Bad input: each case is either handled correctly or raises a specific, readable error."""

from __future__ import annotations

import av
import numpy as np
import pytest
from PIL import Image

from tests.media_factory import frame_code_frames, write_audio_only, write_video
from vc_core.conditions import (
    EmptyVideoError,
    FileTooLargeError,
    ImageModeError,
    InputLimits,
    NoVideoStreamError,
    ResolutionTooLargeError,
    UnreadableFileError,
    VideoTooLongError,
    load_rgb,
    local_image_condition,
    probe_video,
    read_clip,
)

# ---------------------------------------------------------------- videos


def test_zero_byte_file(tmp_path):
    path = tmp_path / "upload.mp4"
    path.write_bytes(b"")
    with pytest.raises(UnreadableFileError, match="upload.mp4 is empty"):
        read_clip(path)


def test_missing_file(tmp_path):
    with pytest.raises(UnreadableFileError, match="not found"):
        read_clip(tmp_path / "gone.mp4")


@pytest.mark.parametrize("content", [b"definitely not a video " * 50, bytes(range(256)) * 20])
def test_garbage_file(tmp_path, content):
    path = tmp_path / "garbage.mp4"
    path.write_bytes(content)
    with pytest.raises(UnreadableFileError, match="garbage.mp4 is not a video file"):
        read_clip(path)


def test_truncated_file(tmp_path):
    good = write_video(tmp_path / "good.mp4", frame_code_frames(24))
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 3])
    with pytest.raises(UnreadableFileError):
        read_clip(cut)


def test_audio_only_file(tmp_path):
    with pytest.raises(NoVideoStreamError, match="no video.*audio"):
        read_clip(write_audio_only(tmp_path / "song.m4a"))


def test_video_stream_without_frames(tmp_path):
    path = tmp_path / "empty.avi"
    with av.open(str(path), mode="w") as output:
        stream = output.add_stream("mjpeg", rate=4)
        stream.width, stream.height, stream.pix_fmt = 64, 64, "yuvj420p"
        output.start_encoding()  # header only
    with pytest.raises(EmptyVideoError, match="no frame"):
        read_clip(path)
    with pytest.raises(EmptyVideoError):
        probe_video(path)


def test_too_long(tmp_path):
    path = write_video(tmp_path / "long.mp4", frame_code_frames(40), fps=4)  # 10 s
    with pytest.raises(VideoTooLongError, match="10.0 s; the limit is 5 s"):
        read_clip(path, limits=InputLimits(max_duration_s=5))
    assert read_clip(path).frames.shape[0] == 16  # within the default 60 s


def test_too_large_in_bytes(tmp_path):
    path = write_video(tmp_path / "big.mp4", frame_code_frames(24))
    with pytest.raises(FileTooLargeError, match="limit is"):
        read_clip(path, limits=InputLimits(max_file_bytes=100))


def test_too_large_in_pixels(tmp_path):
    path = write_video(tmp_path / "wide.mp4", frame_code_frames(24))  # 160x64
    with pytest.raises(ResolutionTooLargeError, match="160×64"):
        read_clip(path, limits=InputLimits(max_side_px=128))


# ---------------------------------------------------------------- images


def _save(tmp_path, image: Image.Image, name: str):
    path = tmp_path / name
    image.save(path)
    return path


def test_rgba_transparency_becomes_white(tmp_path):
    pixels = np.zeros((32, 32, 4), np.uint8)
    pixels[:16, :, :] = (255, 0, 0, 255)  # top: opaque red; bottom: transparent
    rgb = np.asarray(load_rgb(_save(tmp_path, Image.fromarray(pixels, "RGBA"), "a.png")))
    assert rgb[5, 5].tolist() == [255, 0, 0] and rgb[25, 5].tolist() == [255, 255, 255]


def test_grayscale_and_bilevel_images(tmp_path):
    gray = Image.fromarray(np.full((32, 32), 77, np.uint8), "L")
    assert np.asarray(load_rgb(_save(tmp_path, gray, "g.png")))[0, 0].tolist() == [77, 77, 77]
    bilevel = Image.fromarray(np.eye(32, dtype=bool))
    assert np.asarray(load_rgb(_save(tmp_path, bilevel, "b.png")))[3, 3].tolist() == [255, 255, 255]


def test_sixteen_bit_images_are_scaled_not_clipped(tmp_path):
    deep = Image.fromarray(np.full((32, 32), 32896, np.uint16))  # mode I;16, half scale
    assert deep.mode == "I;16"
    assert np.asarray(load_rgb(_save(tmp_path, deep, "d.png")))[0, 0].tolist() == [128, 128, 128]
    array = load_rgb(np.full((8, 8, 3), 65535, np.uint16))
    assert np.asarray(array)[0, 0].tolist() == [255, 255, 255]


def test_palette_with_transparency(tmp_path):
    palette = Image.new("P", (16, 16), 1)
    palette.putpalette([0, 0, 0, 0, 0, 255] + [0] * 762)
    palette.info["transparency"] = 0
    palette.paste(0, (0, 0, 8, 16))  # left half transparent
    rgb = np.asarray(load_rgb(_save(tmp_path, palette, "p.png")))
    assert rgb[4, 2].tolist() == [255, 255, 255] and rgb[4, 12].tolist() == [0, 0, 255]


def test_cmyk_and_float_inputs():
    cmyk = Image.new("CMYK", (8, 8), (0, 255, 255, 0))  # red
    assert np.asarray(load_rgb(cmyk))[0, 0].tolist() == [255, 0, 0]
    assert np.asarray(load_rgb(np.full((8, 8, 3), 0.5, np.float32)))[0, 0].tolist() == [128, 128, 128]


def test_exif_orientation_is_applied(tmp_path):
    upright = np.zeros((24, 48, 3), np.uint8)
    upright[:, :24] = 255  # left half white
    image = Image.fromarray(np.rot90(upright, 1).copy())  # stored turned left: 24 wide, 48 high
    exif = image.getexif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    path = tmp_path / "photo.jpg"
    image.save(path, exif=exif)
    shown = np.asarray(load_rgb(path)).astype(int)
    assert shown.shape == (24, 48, 3)
    assert shown[12, 6].min() > 200 and shown[12, 42].max() < 50


def test_corrupt_and_unsupported_images(tmp_path):
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\nthis is not the rest of a png")
    with pytest.raises(UnreadableFileError, match="broken.png is not an image"):
        load_rgb(broken)
    with pytest.raises(ImageModeError, match="H×W"):
        load_rgb(np.zeros((4, 4, 5), np.uint8))


def test_image_too_large(tmp_path):
    path = _save(tmp_path, Image.new("RGB", (300, 200)), "big.png")
    with pytest.raises(ResolutionTooLargeError, match="300×200"):
        local_image_condition(path, limits=InputLimits(max_side_px=256))
