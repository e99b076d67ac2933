"""Read any video PyAV can open and sample the frames the conditions are made from.

Sampling follows the official data pipeline: the video is resampled to 4 fps (or, for short
clips, to ``int(N / duration) + 1`` fps so that N frames exist) and N consecutive frames are
taken from a start time. Resampling uses the rule of FFmpeg's ``fps`` filter, which the official
code ran: output frame k (time ``start + k / fps``) shows the last source frame that begins before
``start + (k + 0.5) / fps``. Unlike the official code, which picked a random start and decoded
the frames back from its low-bitrate MPEG-4 re-encode, the caller picks the start and the frames
come from the original video at full quality.

Frames are returned upright: rotation metadata (phones) is applied. Flips in the display matrix
are not (they are practically never written by cameras).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from vc_core.conditions.errors import (
    DEFAULT_LIMITS,
    ConditionError,
    EmptyVideoError,
    InputLimits,
    NoVideoStreamError,
    UnreadableFileError,
)

MIN_FRAMES, MAX_FRAMES, DEFAULT_FRAMES = 8, 32, 16
FEATURE_FPS = 4  # cfg.feature_framerate of the official config


@dataclass(frozen=True)
class VideoInfo:
    """What the UI needs to know about an upload before sampling it."""

    width: int  # as displayed, i.e. after rotation
    height: int
    duration_s: float
    native_fps: float  # average frame rate of the file (25 if a raw stream does not say)
    rotation: int  # degrees counter-clockwise applied to show the frames upright
    codec: str


@dataclass(frozen=True)
class Clip:
    """N sampled frames of a video, upright, at the video's own resolution."""

    frames: np.ndarray  # (N,H,W,3) uint8 RGB
    times_s: np.ndarray  # (N,) time of the source frame shown in each output frame
    fps: int  # sampling rate of the clip
    start_s: float  # start actually used (clamped so that the N frames fit)
    info: VideoInfo


def check_num_frames(num_frames: int) -> int:
    if not MIN_FRAMES <= num_frames <= MAX_FRAMES:
        raise ConditionError(f"The number of frames must be between {MIN_FRAMES} and {MAX_FRAMES}, got {num_frames}.")
    return num_frames


def sampling_fps(duration_s: float, num_frames: int, feature_fps: int = FEATURE_FPS) -> int:
    """Official rule: 4 fps when that gives more than N frames, else just enough fps for N frames."""
    if duration_s <= 0 or duration_s * feature_fps > num_frames:
        return feature_fps
    return int(num_frames / duration_s) + 1


@contextmanager
def open_video(
    path: str | os.PathLike, limits: InputLimits = DEFAULT_LIMITS
) -> Iterator[tuple[av.container.InputContainer, av.VideoStream]]:
    """Open a video file and its first video stream, translating failures into user messages."""
    path = limits.check_file(path)
    try:
        container = av.open(str(path), mode="r")
    except av.FFmpegError as exc:
        raise UnreadableFileError(f"{path.name} is not a video file that can be read ({_reason(exc)}).") from exc
    try:
        if not container.streams.video:
            kinds = ", ".join(sorted({s.type for s in container.streams}))
            found = f"only {kinds}" if kinds else "no streams at all"
            raise NoVideoStreamError(f"{path.name} contains no video ({found}).")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        limits.check_resolution(stream.codec_context.width, stream.codec_context.height, path.name)
        yield container, stream
    except av.FFmpegError as exc:
        raise UnreadableFileError(f"{path.name} is damaged and cannot be decoded ({_reason(exc)}).") from exc
    finally:
        container.close()


def probe_video(path: str | os.PathLike, limits: InputLimits = DEFAULT_LIMITS) -> VideoInfo:
    """Size, duration, frame rate and rotation of a video (decodes only its first frame)."""
    with open_video(path, limits) as (container, stream):
        duration_s = _checked_duration(path, container, stream, limits)
        first = next(container.decode(stream), None)
        if first is None:
            raise _no_frames(path)
        return _video_info(stream, duration_s, first.rotation)


def read_clip(
    path: str | os.PathLike,
    num_frames: int = DEFAULT_FRAMES,
    start_s: float = 0.0,
    limits: InputLimits = DEFAULT_LIMITS,
) -> Clip:
    """Sample ``num_frames`` frames from ``start_s`` seconds at the official frame rate."""
    check_num_frames(num_frames)
    with open_video(path, limits) as (container, stream):
        duration_s = _checked_duration(path, container, stream, limits)
        fps = sampling_fps(duration_s, num_frames)
        start_s = min(max(0.0, float(start_s)), max(0.0, duration_s - num_frames / fps))
        origin = float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0
        if start_s > 0:
            container.seek(int((origin + start_s) / stream.time_base), stream=stream, backward=True)
        slot_ends = start_s + (np.arange(num_frames) + 0.5) / fps
        chosen = _pick_frames(container.decode(stream), slot_ends, origin, 1.0 / _frame_rate(stream))
        if not chosen:
            raise _no_frames(path)
        info = _video_info(stream, duration_s, chosen[0][0].rotation)
    rgb = {id(frame): _upright_rgb(frame) for frame, _ in chosen}
    return Clip(
        frames=np.stack([rgb[id(frame)] for frame, _ in chosen]),
        times_s=np.array([t for _, t in chosen]),
        fps=fps,
        start_s=start_s,
        info=info,
    )


def _pick_frames(
    frames: Iterator[av.VideoFrame], slot_ends: np.ndarray, origin: float, frame_step: float
) -> list[tuple[av.VideoFrame, float]]:
    """For each output slot, the last frame that starts before the slot's end (FFmpeg ``fps``)."""
    chosen: list[tuple[av.VideoFrame, float]] = []
    previous: tuple[av.VideoFrame, float] | None = None
    for frame in frames:
        # Frames without a timestamp (raw elementary streams) follow the previous one by one frame.
        t = frame.time - origin if frame.time is not None else (previous[1] + frame_step if previous else 0.0)
        while len(chosen) < len(slot_ends) and t >= slot_ends[len(chosen)]:
            chosen.append(previous or (frame, t))
        if len(chosen) == len(slot_ends):
            return chosen
        previous = (frame, t)
    # The video ended early: the last frame fills the remaining slots (FFmpeg does the same).
    return chosen + [previous] * (len(slot_ends) - len(chosen)) if previous else chosen


def _checked_duration(
    path: str | os.PathLike, container: av.container.InputContainer, stream: av.VideoStream, limits: InputLimits
) -> float:
    duration_s = _duration_s(path, container, stream)
    limits.check_duration(duration_s, Path(path).name)
    return duration_s


def _video_info(stream: av.VideoStream, duration_s: float, rotation: int) -> VideoInfo:
    turns = _quarter_turns(rotation)
    width, height = stream.codec_context.width, stream.codec_context.height
    return VideoInfo(
        width=height if turns % 2 else width,
        height=width if turns % 2 else height,
        duration_s=duration_s,
        native_fps=_frame_rate(stream),
        rotation=turns * 90,
        codec=stream.codec_context.name,
    )


def _duration_s(path: str | os.PathLike, container: av.container.InputContainer, stream: av.VideoStream) -> float:
    """Stream duration from the header, else from packet timestamps, else from the packet count."""
    if stream.duration is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / av.time_base
    with av.open(str(path)) as probe:  # separate handle: raw streams cannot always seek back
        video = probe.streams.video[0]
        packets = [p for p in probe.demux(video) if p.size]
        ends = [p.pts + (p.duration or 0) for p in packets if p.pts is not None]
        if ends:
            return float((max(ends) - (video.start_time or 0)) * video.time_base)
        return len(packets) / _frame_rate(video)


def _frame_rate(stream: av.VideoStream) -> float:
    """Average frame rate; raw streams without one are assumed to run at FFmpeg's default 25 fps."""
    rate = stream.average_rate or stream.guessed_rate
    return float(rate) if rate else 25.0


def _quarter_turns(rotation: float) -> int:
    return round(rotation / 90.0) % 4


def _upright_rgb(frame: av.VideoFrame) -> np.ndarray:
    """RGB pixels rotated as the display matrix says (counter-clockwise degrees)."""
    return np.ascontiguousarray(np.rot90(frame.to_ndarray(format="rgb24"), _quarter_turns(frame.rotation)))


def _no_frames(path: str | os.PathLike) -> EmptyVideoError:
    return EmptyVideoError(f"{Path(path).name} has a video stream but no frame in it; the file may be incomplete.")


def _reason(exc: Exception) -> str:
    return getattr(exc, "strerror", None) or type(exc).__name__
