"""Errors a user can act on, and the input limits that protect the app.

Every exception here is a ``ValueError`` whose message is written for the person who uploaded the
file (what is wrong and what to do), so the UI can show ``str(exc)`` as it is.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


class ConditionError(ValueError):
    """An input cannot become a condition; the message says why in plain words."""


class UnreadableFileError(ConditionError):
    """The file is missing, empty, corrupt or in a format that cannot be decoded."""


class NoVideoStreamError(ConditionError):
    """The file has no picture (for example an audio-only file)."""


class EmptyVideoError(ConditionError):
    """The video stream holds no decodable frame."""


class VideoTooLongError(ConditionError):
    """The video is longer than the configured limit."""


class FileTooLargeError(ConditionError):
    """The file is bigger (in bytes) than the configured limit."""


class ResolutionTooLargeError(ConditionError):
    """The picture is wider or taller (in pixels) than the configured limit."""


class ImageModeError(ConditionError):
    """The image uses a pixel format that cannot be turned into RGB."""


class StrokeError(ConditionError):
    """Hand-drawn motion strokes that cannot be turned into motion."""


@dataclass(frozen=True)
class InputLimits:
    """Upper bounds on uploads; the defaults suit a shared server, raise them for local use."""

    max_duration_s: float = 60.0
    max_side_px: int = 4096
    max_file_bytes: int = 200 * 1024 * 1024

    def check_file(self, path: str | os.PathLike) -> Path:
        """The path of an existing, non-empty file within the size limit."""
        path = Path(path)
        if not path.is_file():
            raise UnreadableFileError(f"File not found: {path.name}.")
        size = path.stat().st_size
        if size == 0:
            raise UnreadableFileError(f"{path.name} is empty (0 bytes); the upload may have failed.")
        if size > self.max_file_bytes:
            raise FileTooLargeError(
                f"{path.name} is {size / 2**20:.0f} MB; the limit is {self.max_file_bytes / 2**20:.0f} MB."
            )
        return path

    def check_resolution(self, width: int, height: int, name: str) -> None:
        if max(width, height) > self.max_side_px:
            raise ResolutionTooLargeError(
                f"{name} is {width}×{height} pixels; the limit is {self.max_side_px} pixels per side. "
                "Downscale it and try again."
            )

    def check_duration(self, duration_s: float, name: str) -> None:
        if duration_s > self.max_duration_s:
            raise VideoTooLongError(
                f"{name} lasts {duration_s:.1f} s; the limit is {self.max_duration_s:.0f} s. Trim it and try again."
            )


DEFAULT_LIMITS = InputLimits()
