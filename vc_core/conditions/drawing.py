"""The hand-drawn motion canvas's JSON → :class:`Stroke` objects in pixels of the model's picture.

The canvas (``ui/canvas.py``) sends::

    {"width": 512, "height": 512,                      # the canvas the points are in
     "strokes": [{"points": [[x, y], ...], "times": [t, ...]}],   # times optional
     "regions": [{"points": [[x, y], ...], "radius": 20}]}        # optional "what moves" brush

A stroke whose first point lies on a painted region moves that region; any other stroke moves a
disc around its current position (see ``vc_core.conditions.strokes``).
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import cv2
import numpy as np

from vc_core.conditions.errors import StrokeError
from vc_core.conditions.strokes import MAX_STROKES, Stroke

MAX_DRAWING_POINTS = 10_000  # all strokes and regions together; a real drawing has a few hundred


def parse_drawing(drawing: str | Mapping, size: int) -> list[Stroke]:
    """Canvas JSON (see the module docstring) → strokes in pixels of a ``size``² picture."""
    try:
        data = json.loads(drawing) if isinstance(drawing, str) else dict(drawing)
        width, height = float(data.get("width", size)), float(data.get("height", size))
        strokes = [_points(s["points"]) for s in data.get("strokes", [])]
        times = [s.get("times") for s in data.get("strokes", [])]
        regions = [(_points(r["points"]), float(r.get("radius", 0))) for r in data.get("regions", [])]
    except (ValueError, TypeError, KeyError, AttributeError, RecursionError) as exc:  # RecursionError: absurd nesting
        raise StrokeError(f"The drawing could not be read ({type(exc).__name__}): expected the canvas JSON.") from exc
    if not (np.isfinite([width, height]).all() and width > 0 and height > 0):
        raise StrokeError(f"The drawing's canvas size {width}×{height} is not usable.")
    if sum(len(p) for p in strokes) + sum(len(p) for p, _ in regions) > MAX_DRAWING_POINTS:
        raise StrokeError(f"The drawing has more than {MAX_DRAWING_POINTS} points; draw fewer or shorter strokes.")
    if len(strokes) > MAX_STROKES:
        raise StrokeError(f"{len(strokes)} strokes were drawn; at most {MAX_STROKES} are supported.")
    scale = np.array([size / width, size / height])
    region_labels = _region_labels([(p * scale, r * size / width) for p, r in regions], size)
    result = []
    for points, stroke_times in zip(strokes, times):
        points = points * scale
        mask = None
        if region_labels is not None and len(points) and np.isfinite(points[0]).all():
            x, y = np.clip(np.rint(points[0]).astype(int), 0, size - 1)
            if region_labels[y, x]:
                mask = region_labels == region_labels[y, x]
        result.append(Stroke(points=[tuple(p) for p in points], times=stroke_times, mask=mask))
    return result


def _points(value: Any) -> np.ndarray:
    points = np.asarray(value, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] < 2:
        raise ValueError("points must be a list of [x, y] pairs")
    return points[:, :2]


def _region_labels(regions: list[tuple[np.ndarray, float]], size: int) -> np.ndarray | None:
    """Painted "what moves" brush → connected regions labelled 1..n on a size² grid (0 = none)."""
    if not regions:
        return None
    canvas = np.zeros((size, size), np.uint8)
    for points, radius in regions:
        if not np.isfinite(points).all() or not np.isfinite(radius) or radius <= 0:
            raise StrokeError("A 'what moves' brush stroke has unusable points or radius.")
        pixels = np.rint(np.clip(points, -size, 2 * size)).astype(np.int32)
        radius = min(radius, 3 * size)  # already covers the canvas from any clipped point; OpenCV needs a C int
        thickness = max(1, round(2 * radius))
        cv2.polylines(canvas, [pixels], False, 1, thickness)
        for x, y in pixels:
            cv2.circle(canvas, (int(x), int(y)), max(1, round(radius)), 1, -1)
    return cv2.connectedComponents(canvas)[1]
