"""Codec motion vectors → the official sparse motion condition.

How (as the official ``datasets.py``, but in-process and deterministic):

1. The sampled frames are re-encoded in memory with PyAV to an MPEG-4 Part 2 elementary stream
   (FFmpeg's default ``mpeg4`` settings, 200 kbit/s) with one I-frame followed only by P-frames:
   no B-frames, no periodic or scene-cut I-frames. P-frames of MPEG-4 Part 2 reference only the
   previous frame, so every vector describes the step from frame k-1 to frame k.
2. Decoding with ``flags2=+export_mvs`` yields FFmpeg ``AVMotionVector`` rows per block.
3. Each vector is written at one pixel — the block centre ``(dst_x, dst_y)`` clipped into the
   image — and everything else stays zero. The I-frame (frame 0) is all zero.

Sign convention: channel 0 is horizontal (positive = rightwards), channel 1 is vertical
(positive = downwards), in pixels of the frames that were encoded. The value is the forward
displacement ``dst - src``: where the block's content is now minus where it was in the previous
frame. FFmpeg stores ``motion = (src - dst) * motion_scale`` with ``source = -1`` for a past
reference, so the value is ``source * motion / motion_scale``, exactly the official formula.
An object moving 4 px to the right per frame therefore shows +4 in channel 0 on its blocks.

:func:`motion_maps_tensor` (in ``transforms``) then brings the maps to 256² as official.
"""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

import av
import numpy as np
import torch

from vc_core.conditions.errors import ConditionError
from vc_core.conditions.transforms import motion_maps_tensor
from vc_core.conditions.video import FEATURE_FPS

BACKENDS = ("pyav", "mvextractor")
_ENCODER_BIT_RATE = 200_000  # FFmpeg's default, which the official ffmpeg call used
_NEVER = 1_000_000_000  # gop size / scene-cut threshold that is never reached
_NO_VECTORS = np.zeros((0, 4), np.float32)  # an I-frame


def encode_mpeg4(frames: np.ndarray, fps: int = FEATURE_FPS) -> bytes:
    """RGB uint8 frames (N,H,W,3) → an MPEG-4 Part 2 stream: one I-frame, then P-frames only."""
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="m4v") as output:
        stream = output.add_stream("mpeg4", rate=fps)
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "yuv420p"
        context = stream.codec_context
        context.bit_rate = _ENCODER_BIT_RATE
        context.gop_size = _NEVER
        context.max_b_frames = 0
        context.thread_count = 1  # slice threads would change the motion search
        context.options = {"sc_threshold": str(_NEVER)}
        for rgb in frames:
            output.mux(stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")))
        output.mux(stream.encode(None))
    return buffer.getvalue()


def decode_vectors(stream: bytes, backend: str = "pyav") -> list[np.ndarray]:
    """Per frame, an array (K,4) of ``[dst_x, dst_y, dx, dy]``: block centre and forward displacement."""
    if backend == "pyav":
        return _decode_with_pyav(stream)
    if backend == "mvextractor":
        return _decode_with_mvextractor(stream)
    raise ConditionError(f"Unknown motion-vector backend {backend!r}; choose one of {BACKENDS}.")


def sparse_motion_map(vectors: np.ndarray, height: int, width: int) -> np.ndarray:
    """(2,H,W) float32: each vector at its block-centre pixel, zero elsewhere."""
    motion = np.zeros((2, height, width), np.float32)
    x = np.clip(vectors[:, 0].astype(np.int64), 0, width - 1)
    y = np.clip(vectors[:, 1].astype(np.int64), 0, height - 1)
    motion[0, y, x] = vectors[:, 2]
    motion[1, y, x] = vectors[:, 3]
    return motion


def extract_motion_maps(frames: np.ndarray, fps: int = FEATURE_FPS, backend: str = "pyav") -> np.ndarray:
    """Sparse codec motion maps (N,2,H,W) of RGB frames (N,H,W,3), at the frames' resolution."""
    if len(frames) == 0:
        raise ConditionError("Motion vectors need at least one frame.")
    height, width = frames.shape[1:3]
    per_frame = decode_vectors(encode_mpeg4(frames, fps), backend)
    if len(per_frame) != len(frames):
        raise ConditionError(f"The re-encoded clip has {len(per_frame)} frames instead of {len(frames)}.")
    return np.stack([sparse_motion_map(v, height, width) for v in per_frame])


def motion_condition(frames: np.ndarray, fps: int = FEATURE_FPS, backend: str = "pyav") -> torch.Tensor:
    """The motion condition (N,2,256,256) of a sampled clip's frames."""
    return motion_maps_tensor(extract_motion_maps(frames, fps, backend))


def _forward_displacements(source, dst_x, dst_y, motion_x, motion_y, motion_scale) -> np.ndarray:
    """(K,4) ``[dst_x, dst_y, dx, dy]`` from AVMotionVector columns: ``source * motion / scale``."""
    columns = [np.asarray(c, np.float32) for c in (source, dst_x, dst_y, motion_x, motion_y, motion_scale)]
    source, dst_x, dst_y, motion_x, motion_y, scale = columns
    return np.stack([dst_x, dst_y, source * motion_x / scale, source * motion_y / scale], axis=1)


def _decode_with_pyav(stream: bytes) -> list[np.ndarray]:
    per_frame = []
    with av.open(io.BytesIO(stream), mode="r", format="m4v") as container:
        video = container.streams.video[0]
        video.codec_context.options = {"flags2": "+export_mvs"}
        for frame in container.decode(video):
            side = frame.side_data.get("MOTION_VECTORS")
            if side is None:
                per_frame.append(_NO_VECTORS)
                continue
            mv = side.to_ndarray()
            fields = ("source", "dst_x", "dst_y", "motion_x", "motion_y", "motion_scale")
            per_frame.append(_forward_displacements(*(mv[name] for name in fields)))
    return per_frame


def _decode_with_mvextractor(stream: bytes) -> list[np.ndarray]:
    """The official decoder (package ``motion-vector-extractor``), which needs a file on disk."""
    try:
        from mvextractor.videocap import VideoCap
    except ImportError as exc:
        raise ConditionError("The mvextractor backend needs `pip install motion-vector-extractor`.") from exc
    per_frame = []
    with tempfile.TemporaryDirectory(prefix="vc_motion_") as folder:
        path = Path(folder) / "clip.m4v"
        path.write_bytes(stream)
        capture = VideoCap()
        if not capture.open(str(path)):
            raise ConditionError("mvextractor could not open the re-encoded clip.")
        try:
            while True:
                # 1.0.x returns (ok, frame, vectors, type, timestamp), 2.x drops the timestamp.
                ok, _, mv, *_ = capture.read()
                if not ok:
                    break
                # columns: source, w, h, src_x, src_y, dst_x, dst_y, motion_x, motion_y, motion_scale
                mv = np.asarray(mv).reshape(-1, 10)
                per_frame.append(_forward_displacements(mv[:, 0], mv[:, 5], mv[:, 6], mv[:, 7], mv[:, 8], mv[:, 9]))
        finally:
            capture.release()
    return per_frame
