"""Synthetic media for the condition tests, written with PyAV into a test's temporary folder.

Frames have known content (moving textured objects, pans, frame numbers drawn as a binary code),
so tests can check motion signs and magnitudes, frame sampling and rotation exactly.
"""

from __future__ import annotations

from pathlib import Path

import av
import cv2
import numpy as np

MEDIA_DIR = Path(__file__).resolve().parents[2] / "shared" / "media"

# container extension → (codec, pixel format, encoder options)
CONTAINERS: dict[str, tuple[str, str, dict[str, str]]] = {
    "mp4": ("libx264", "yuv420p", {"preset": "ultrafast", "crf": "12"}),
    "mov": ("libx264", "yuv420p", {"preset": "ultrafast", "crf": "12"}),
    "mkv": ("libx264", "yuv420p", {"preset": "ultrafast", "crf": "12"}),
    "ts": ("libx264", "yuv420p", {"preset": "ultrafast", "crf": "12"}),
    "h264": ("libx264", "yuv420p", {"preset": "ultrafast", "crf": "12"}),  # raw stream: no timestamps
    "webm": ("libvpx-vp9", "yuv420p", {"crf": "20", "b": "0", "deadline": "realtime", "cpu-used": "8"}),
    "avi": ("mjpeg", "yuvj420p", {"q:v": "2"}),
    "gif": ("gif", "rgb8", {}),
}
CODE_BITS = 8  # frame numbers up to 255
CODE_CELL = 16


def smooth_texture(height: int, width: int, seed: int = 0) -> np.ndarray:
    """Blurred colour noise stretched to the full range: easy to track, cheap to encode."""
    rng = np.random.default_rng(seed)
    noise = cv2.GaussianBlur(rng.integers(0, 256, (height, width, 3), np.uint8), (0, 0), 2.0)
    return cv2.normalize(noise, None, 0, 255, cv2.NORM_MINMAX)


def moving_object_frames(
    step: tuple[int, int],
    num_frames: int = 24,
    size: tuple[int, int] = (256, 320),
    start: tuple[int, int] = (96, 96),
    object_size: int = 64,
    background: np.ndarray | None = None,
) -> np.ndarray:
    """A textured square moving ``step`` = (dx, dy) pixels per frame from ``start`` = (x, y)."""
    height, width = size
    texture = smooth_texture(object_size, object_size, seed=1)
    base = np.full((height, width, 3), 128, np.uint8) if background is None else background
    frames = np.repeat(base[None], num_frames, axis=0)
    for index, frame in enumerate(frames):
        x, y = start[0] + step[0] * index, start[1] + step[1] * index
        frame[y : y + object_size, x : x + object_size] = texture
    return frames


def pan_frames(step: tuple[int, int], num_frames: int = 24, size: tuple[int, int] = (256, 320)) -> np.ndarray:
    """A camera window moving ``step`` per frame over a large texture (content moves by -step)."""
    height, width = size
    margin = max(abs(step[0]), abs(step[1])) * num_frames
    world = smooth_texture(height + 2 * margin, width + 2 * margin, seed=2)
    return np.stack(
        [
            world[
                margin + step[1] * i : margin + step[1] * i + height,
                margin + step[0] * i : margin + step[0] * i + width,
            ]
            for i in range(num_frames)
        ]
    )


def frame_code_frames(num_frames: int, size: tuple[int, int] = (64, 160)) -> np.ndarray:
    """Frames showing their own index as white/black squares along the top (bit 0 first)."""
    height, width = size
    frames = np.zeros((num_frames, height, width, 3), np.uint8)
    for index, frame in enumerate(frames):
        for bit in range(CODE_BITS):
            if index >> bit & 1:
                frame[:CODE_CELL, bit * CODE_CELL : (bit + 1) * CODE_CELL] = 255
    return frames


def read_frame_code(frame: np.ndarray) -> int:
    """The index drawn by :func:`frame_code_frames` (robust to lossy coding)."""
    cells = frame[2 : CODE_CELL - 2, : CODE_BITS * CODE_CELL].reshape(CODE_CELL - 4, CODE_BITS, CODE_CELL, 3)
    bits = cells[:, :, 2:-2].mean(axis=(0, 2, 3)) > 128
    return int(sum(1 << i for i, on in enumerate(bits) if on))


def write_video(
    path: Path, frames: np.ndarray, fps: int = 4, container: str | None = None, rotation: int | None = None
) -> Path:
    """Encode RGB frames (N,H,W,3) with the codec that suits the file extension."""
    codec, pix_fmt, options = CONTAINERS[container or path.suffix.lstrip(".")]
    with av.open(str(path), mode="w") as output:
        stream = output.add_stream(codec, rate=fps, options=options)
        stream.height, stream.width = frames.shape[1:3]
        stream.pix_fmt = pix_fmt
        if rotation is not None:
            stream.set_display_rotation(rotation)
        for rgb in frames:
            output.mux(stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")))
        output.mux(stream.encode(None))
    return path


def write_audio_only(path: Path, seconds: float = 1.0, rate: int = 44100) -> Path:
    """An AAC file with silence and no video stream."""
    with av.open(str(path), mode="w") as output:
        stream = output.add_stream("aac", rate=rate)
        samples = 1024
        for index in range(int(seconds * rate / samples)):
            frame = av.AudioFrame.from_ndarray(np.zeros((1, samples), np.float32), format="fltp", layout="mono")
            frame.sample_rate, frame.pts = rate, index * samples
            output.mux(stream.encode(frame))
        output.mux(stream.encode(None))
    return path


def shared_media(name: str) -> Path:
    """A real clip from ../shared/media; the calling test is skipped when it is missing."""
    import pytest

    path = MEDIA_DIR / name
    if not path.is_file():
        pytest.skip(f"{path} not found")
    return path
