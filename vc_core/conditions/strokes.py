"""Hand-drawn motion: strokes and presets → motion maps in the codec-vector representation.

The model was trained on sparse codec maps (see ``motion_vectors``): one value per 16×16 block,
written at the block-centre pixel ``(8 + 16 i, 8 + 16 j)``, equal to the forward displacement in
pixels from the previous frame, zero elsewhere and zero on frame 0. Strokes are written in exactly
that form, on a canvas of the caller's size (the picture the user drew on); the result then goes
through the same resize/crop as codec maps (:meth:`StrokeMotion.tensor`).

A stroke is the path of something that moves. Its position in frame f is the point reached after
the fraction ``f / (N - 1)`` of the path — of its length (constant speed) or, when per-point times
are given, of its duration. What moves is a disc of ``radius`` around the current position, or a
mask (given where the object is at the stroke's first point) carried along the path. A block moves
in frame f when its centre lies in that region (the block under the current position always
does); it gets the step ``position(f) - position(f - 1)``.

Preset directions follow camera language: "pan left" turns the camera left, so the picture
content slides RIGHT (positive x); "zoom in" makes content grow away from the centre.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from vc_core.conditions.errors import StrokeError
from vc_core.conditions.transforms import motion_maps_tensor
from vc_core.conditions.video import DEFAULT_FRAMES, check_num_frames

BLOCK = 16  # macroblock size of MPEG-4 Part 2, the codec the model's motion came from
MAX_STROKES = 10
PRESETS = ("pan_left", "pan_right", "pan_up", "pan_down", "zoom_in", "zoom_out", "circle")
_PAN_DIRECTIONS = {"pan_left": (1.0, 0.0), "pan_right": (-1.0, 0.0), "pan_up": (0.0, 1.0), "pan_down": (0.0, -1.0)}


@dataclass(frozen=True)
class Stroke:
    """One drawn path, in canvas pixels ``(x, y)`` with y pointing down."""

    points: Sequence[tuple[float, float]]
    times: Sequence[float] | None = None  # per point, non-decreasing; only their ratios matter
    radius: float | None = None  # brush radius of what moves; default: 1/8 of the canvas' shorter side
    mask: np.ndarray | None = None  # (H,W) bool: what moves, where it is at the first point


@dataclass(frozen=True)
class StrokeMotion:
    """Sparse motion maps on the canvas, plus warnings to show the user."""

    maps: np.ndarray  # (N,2,H,W) float32, canvas pixels; channel 0 = x, 1 = y
    warnings: tuple[str, ...] = ()

    def tensor(self) -> torch.Tensor:
        """The motion condition (N,2,256,256), resized and cropped like codec maps."""
        return motion_maps_tensor(self.maps)


def stroke_to_motion(
    strokes: Stroke | Sequence[Stroke],
    canvas_size: tuple[int, int],
    num_frames: int = DEFAULT_FRAMES,
) -> StrokeMotion:
    """Strokes drawn on a ``(width, height)`` canvas → per-frame sparse motion maps.

    Raises :class:`StrokeError` for unusable input (no stroke, more than 10, bad times or mask,
    nothing that moves). Points outside the canvas are moved to its edge, single points and
    zero-length strokes are skipped, and overlapping regions are resolved in favour of the later
    stroke — each with a warning in the result.
    """
    check_num_frames(num_frames)
    strokes = [strokes] if isinstance(strokes, Stroke) else list(strokes)
    if not strokes:
        raise StrokeError("Draw at least one stroke to describe the motion.")
    if len(strokes) > MAX_STROKES:
        raise StrokeError(f"{len(strokes)} strokes were drawn; at most {MAX_STROKES} are supported.")
    width, height = _checked_canvas(canvas_size)
    warnings: list[str] = []
    paths = [
        (number, stroke, _checked_path(stroke, number, width, height, warnings))
        for number, stroke in enumerate(strokes, 1)
    ]
    moving = [(number, stroke, path) for number, stroke, path in paths if path is not None]
    if not moving:
        raise StrokeError("No stroke has any length, so nothing would move. Drag to draw a path.")
    maps = np.zeros((num_frames, 2, height, width), np.float32)
    owner = np.zeros((num_frames, *_grid_shape(width, height)), int)  # stroke number per block, 0 = none
    overlaps: set[tuple[int, int]] = set()
    for number, stroke, path in moving:
        positions = stroke_positions(path, stroke.times, num_frames)
        for frame in range(1, num_frames):
            blocks = _region_blocks(stroke, positions[frame] - positions[0], positions[frame], width, height)
            rows, cols = np.nonzero(blocks)
            overlaps.update((int(earlier), number) for earlier in owner[frame, rows, cols] if earlier)
            owner[frame, rows, cols] = number
            step_x, step_y = positions[frame] - positions[frame - 1]
            maps[frame, 0, BLOCK // 2 + BLOCK * rows, BLOCK // 2 + BLOCK * cols] = step_x
            maps[frame, 1, BLOCK // 2 + BLOCK * rows, BLOCK // 2 + BLOCK * cols] = step_y
    warnings += [f"Strokes {a} and {b} move the same area; stroke {b} wins there." for a, b in sorted(overlaps)]
    return StrokeMotion(maps, tuple(warnings))


def stroke_positions(points: np.ndarray, times: Sequence[float] | None, num_frames: int) -> np.ndarray:
    """(N,2) positions along a path at N evenly spaced fractions of its length (or of its times)."""
    points = np.asarray(points, np.float64)
    if times is None:
        progress = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(points, axis=0), axis=1))])
    else:
        progress = np.asarray(times, np.float64) - times[0]
    targets = np.linspace(0.0, progress[-1], num_frames)
    return np.stack([np.interp(targets, progress, points[:, 0]), np.interp(targets, progress, points[:, 1])], axis=1)


def circle_stroke(canvas_size: tuple[int, int]) -> Stroke:
    """One clockwise turn (on screen) around the canvas centre, starting at the top."""
    width, height = canvas_size
    radius = min(width, height) / 4
    angles = np.linspace(0.0, 2 * math.pi, 65)
    points = np.stack([width / 2 + radius * np.sin(angles), height / 2 - radius * np.cos(angles)], axis=1)
    return Stroke(points=[tuple(p) for p in points])


def preset_motion(
    name: str, canvas_size: tuple[int, int], num_frames: int = DEFAULT_FRAMES, speed: float = 4.0
) -> StrokeMotion:
    """A ready-made motion. ``speed``: pixels per frame of a pan, or of the corners of a zoom.

    ``circle`` moves a disc in the centre once around a circle of a quarter of the shorter side
    (its speed follows from that); the other presets move the whole picture.
    """
    if name == "circle":
        return stroke_to_motion(circle_stroke(canvas_size), canvas_size, num_frames)
    check_num_frames(num_frames)
    width, height = _checked_canvas(canvas_size)
    centres_x, centres_y = np.meshgrid(_block_centres(width), _block_centres(height))
    if name in _PAN_DIRECTIONS:
        step_x = np.full(centres_x.shape, _PAN_DIRECTIONS[name][0] * speed)
        step_y = np.full(centres_x.shape, _PAN_DIRECTIONS[name][1] * speed)
    elif name in ("zoom_in", "zoom_out"):
        offset_x, offset_y = centres_x - width / 2, centres_y - height / 2
        rate = speed / math.hypot(width / 2, height / 2) * (1 if name == "zoom_in" else -1)
        step_x, step_y = offset_x * rate, offset_y * rate
    else:
        raise StrokeError(f"Unknown motion preset {name!r}; choose one of {', '.join(PRESETS)}.")
    maps = np.zeros((num_frames, 2, height, width), np.float32)
    maps[1:, 0, centres_y, centres_x] = step_x
    maps[1:, 1, centres_y, centres_x] = step_y
    return StrokeMotion(maps)


def _checked_canvas(canvas_size: tuple[int, int]) -> tuple[int, int]:
    width, height = canvas_size
    if width < BLOCK or height < BLOCK:
        raise StrokeError(f"The drawing canvas must be at least {BLOCK}×{BLOCK} pixels, got {width}×{height}.")
    return int(width), int(height)


def _block_centres(length: int) -> np.ndarray:
    return np.arange(BLOCK // 2, length, BLOCK)


def _grid_shape(width: int, height: int) -> tuple[int, int]:
    return len(_block_centres(height)), len(_block_centres(width))


def _checked_path(stroke: Stroke, number: int, width: int, height: int, warnings: list[str]) -> np.ndarray | None:
    """The stroke's points clamped into the canvas, or None (with a warning) if it does not move."""
    points = np.asarray(stroke.points, np.float64)
    if points.ndim != 2 or points.shape[1] != 2 or len(points) == 0 or not np.isfinite(points).all():
        raise StrokeError(f"Stroke {number} has no usable points; give a list of (x, y) pairs.")
    _check_times(stroke.times, len(points), number)
    _check_region(stroke, number, width, height)
    clamped = np.clip(points, 0.0, [width - 1.0, height - 1.0])
    outside = int(np.any(clamped != points, axis=1).sum())
    if outside:
        warnings.append(
            f"Stroke {number}: {outside} point(s) outside the {width}×{height} picture were moved to its edge."
        )
    if len(points) == 1:
        warnings.append(f"Stroke {number} is a single point, so it moves nothing; drag to draw a path.")
        return None
    if np.all(clamped == clamped[0]):
        warnings.append(f"Stroke {number} has zero length, so it moves nothing.")
        return None
    return clamped


def _check_times(times: Sequence[float] | None, count: int, number: int) -> None:
    if times is None:
        return
    try:
        times = np.asarray(times, np.float64)
    except (ValueError, TypeError) as exc:
        raise StrokeError(f"Stroke {number}: point times must be numbers.") from exc
    if times.shape != (count,):
        raise StrokeError(f"Stroke {number} needs one time per point ({count}), got {times.size}.")
    if not np.isfinite(times).all():
        raise StrokeError(f"Stroke {number}: point times must be finite numbers (got NaN or infinity).")
    if np.any(np.diff(times) < 0) or (count > 1 and times[-1] == times[0]):
        raise StrokeError(f"Stroke {number}: point times must increase from the first to the last point.")


def _check_region(stroke: Stroke, number: int, width: int, height: int) -> None:
    if stroke.mask is not None:
        if stroke.mask.shape != (height, width):
            raise StrokeError(
                f"Stroke {number}: its region mask is {stroke.mask.shape}, the picture is {(height, width)}."
            )
        if not stroke.mask.any():
            raise StrokeError(f"Stroke {number}: its region mask is empty; paint what should move.")
    elif stroke.radius is not None and not stroke.radius > 0:
        raise StrokeError(f"Stroke {number}: the brush radius must be positive, got {stroke.radius}.")


def _region_blocks(stroke: Stroke, shift: np.ndarray, position: np.ndarray, width: int, height: int) -> np.ndarray:
    """Boolean block grid of the region moved in one frame (a disc or the carried mask)."""
    centres_x, centres_y = np.meshgrid(_block_centres(width), _block_centres(height))
    if stroke.mask is not None:
        src_x = np.rint(centres_x - shift[0]).astype(int)
        src_y = np.rint(centres_y - shift[1]).astype(int)
        inside = (src_x >= 0) & (src_x < width) & (src_y >= 0) & (src_y < height)
        blocks = np.zeros(centres_x.shape, bool)
        blocks[inside] = stroke.mask[src_y[inside], src_x[inside]]
        return blocks
    radius = stroke.radius if stroke.radius is not None else min(width, height) / 8
    blocks = (centres_x - position[0]) ** 2 + (centres_y - position[1]) ** 2 <= radius**2
    rows, cols = blocks.shape
    blocks[min(int(position[1]) // BLOCK, rows - 1), min(int(position[0]) // BLOCK, cols - 1)] = True
    return blocks
