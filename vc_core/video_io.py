"""Write generated frames as files people can open: H.264 MP4 for browsers, GIF for downloads.

MP4s are H.264 in yuv420p (the only combination every browser decodes) with the ``moov`` atom at
the front (``+faststart``) so playback starts before the whole file has arrived. yuv420p needs
even dimensions, so an odd row/column is added by repeating the edge (never cropped away).
"""
from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import av
import numpy as np
from PIL import Image

OUTPUT_FPS = 8  # the models are conditioned on clips sampled at 4 fps; 8 fps plays them smoothly
_X264_OPTIONS = {"crf": "17", "preset": "medium"}


def _checked_frames(frames: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8 or len(frames) == 0:
        raise ValueError(f"expected uint8 frames (F, H, W, 3) with F ≥ 1, got {frames.dtype} {frames.shape}")
    return frames


def _even(frames: np.ndarray) -> np.ndarray:
    """Pad by edge replication to even height and width (a yuv420p requirement)."""
    pad_h, pad_w = frames.shape[1] % 2, frames.shape[2] % 2
    if pad_h or pad_w:
        frames = np.pad(frames, ((0, 0), (0, pad_h), (0, pad_w), (0, 0)), mode="edge")
    return frames


def write_mp4(frames: np.ndarray | Sequence[np.ndarray], path: str | Path, fps: int = OUTPUT_FPS) -> Path:
    """uint8 RGB frames (F, H, W, 3) → an H.264 yuv420p MP4 that browsers play."""
    frames = _even(_checked_frames(frames))
    path = Path(path)
    with av.open(str(path), mode="w", format="mp4", options={"movflags": "+faststart"}) as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "yuv420p"
        stream.codec_context.options = dict(_X264_OPTIONS)
        for rgb in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")))
        container.mux(stream.encode(None))
    return path


def write_gif(frames: np.ndarray | Sequence[np.ndarray], path: str | Path, fps: int = OUTPUT_FPS) -> Path:
    """uint8 RGB frames → a looping GIF (adaptive palette per frame)."""
    frames = _checked_frames(frames)
    path = Path(path)
    images = [Image.fromarray(f) for f in frames]
    images[0].save(path, save_all=True, append_images=images[1:], duration=round(1000 / fps), loop=0, disposal=1)
    return path


@contextlib.contextmanager
def request_dir(root: str | Path | None = None) -> Iterator[Path]:
    """A new, uniquely named folder for one request's files, removed with everything in it on exit."""
    folder = Path(tempfile.mkdtemp(prefix="vc_request_", dir=root))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
