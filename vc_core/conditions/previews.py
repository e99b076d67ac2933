"""uint8 RGB pictures of conditions, so users can check what the model will see.

Clip previews are lists of (H,W,3) uint8 frames (play them as an animation); single pictures are
one (H,W,3) array.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import torch

from vc_core.conditions.strokes import Stroke, stroke_positions
from vc_core.conditions.video import DEFAULT_FRAMES

# One colour per stroke (up to MAX_STROKES), RGB, distinguishable on photos.
STROKE_COLOURS = (
    (230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48),
    (145, 30, 180), (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212),
)  # fmt: skip


def video_tensor_to_uint8(video: torch.Tensor) -> np.ndarray:
    """Video frames (N,3,H,W) in [-1,1] → (N,H,W,3) uint8."""
    return _to_uint8((video.float().clamp(-1, 1) + 1.0) / 2.0).transpose(0, 2, 3, 1)


def motion_hold_preview(video: torch.Tensor, known: torch.Tensor, dim: float = 0.35) -> list[np.ndarray]:
    """What motion hold holds (``Pipeline.carried_first_frame``: frames (N,3,H,W) in [-1,1], ``known``
    (N,H,W)) as uint8 frames, the parts left to the model dimmed; frame 0 is the given image.
    Hairline gaps in ``known`` are closed: the sampling holds whole latent cells, not pixels."""
    kernel = np.ones((3, 3), np.uint8)
    held = np.stack([cv2.morphologyEx(k.astype(np.uint8), cv2.MORPH_CLOSE, kernel) for k in known.numpy()]) > 0
    shade = np.where(held[..., None], 1.0, dim)
    shade[0] = 1.0
    return list((video_tensor_to_uint8(video) * shade).round().astype(np.uint8))


def motion_arrows_preview(
    frames: np.ndarray | None,
    maps: np.ndarray | torch.Tensor,
    cell: int = 16,
    arrow_scale: float | None = None,
    min_length: float = 0.5,
) -> list[np.ndarray]:
    """Arrows over frames (N,H,W,3) uint8 (or black) showing sparse motion maps (N,2,H,W).

    Per ``cell``² cell the strongest vector is drawn from where it sits, coloured by direction
    (hue: red = right, then clockwise on screen) with a dark outline. Arrows are ``arrow_scale``
    times the vector; by default one scale for the whole clip that draws its typical (95th
    percentile) vector as long as a cell, so slow motion stays visible and fast motion readable.
    """
    maps = np.asarray(maps, np.float32)
    count, _, height, width = maps.shape
    if frames is None:
        frames = np.zeros((count, height, width, 3), np.uint8)
    if frames.shape[:3] != (count, height, width):
        raise ValueError(f"frames {frames.shape} and motion maps {maps.shape} differ in size")
    if arrow_scale is None:
        lengths = np.hypot(maps[:, 0], maps[:, 1])
        moving = lengths[lengths >= min_length]
        arrow_scale = cell / np.percentile(moving, 95) if moving.size else 1.0
    return [_draw_arrows(frame.copy(), motion, cell, arrow_scale, min_length) for frame, motion in zip(frames, maps)]


def depth_preview(depth: torch.Tensor) -> list[np.ndarray]:
    """Depth condition (N,1,H,W) → colour-mapped frames (near = bright), one scale for the clip."""
    values = depth[:, 0].float().numpy()
    low, high = float(values.min()), float(values.max())
    scaled = _to_uint8(torch.from_numpy((values - low) / max(high - low, 1e-6)))
    return [cv2.cvtColor(cv2.applyColorMap(image, cv2.COLORMAP_INFERNO), cv2.COLOR_BGR2RGB) for image in scaled]


def sketch_preview(sketch: torch.Tensor) -> list[np.ndarray]:
    """Sketch condition (N,1,H,W), bright lines → dark lines on white, as people draw."""
    gray = _to_uint8(1.0 - sketch[:, 0].float().clamp(0, 1))
    return [np.repeat(image[..., None], 3, axis=2) for image in gray]


def masked_video_preview(masked: torch.Tensor, checker: int = 16) -> list[np.ndarray]:
    """``masked`` condition (N,4,H,W) → visible pixels as they are, hidden ones as a checkerboard."""
    visible = video_tensor_to_uint8(masked[:, :3])
    keep = masked[:, 3].numpy() > 0.5
    height, width = keep.shape[1:]
    rows, cols = np.indices((height, width))
    board = np.where(((rows // checker + cols // checker) % 2 == 0)[..., None], 200, 120).astype(np.uint8)
    return [np.where(k[..., None], frame, board) for frame, k in zip(visible, keep)]


def stroke_preview(
    strokes: Sequence[Stroke],
    canvas_size: tuple[int, int],
    background: np.ndarray | None = None,
    num_frames: int = DEFAULT_FRAMES,
) -> np.ndarray:
    """Stroke paths on the (dimmed) picture: one colour per stroke, its region, a dot per frame
    position (so speed is visible) and arrowheads showing the direction."""
    width, height = canvas_size
    base = np.full((height, width, 3), 60, np.uint8) if background is None else (background * 0.6).astype(np.uint8)
    overlay = base.copy()
    # Off-canvas points are drawn where the motion uses them, on the edge (and OpenCV cannot take
    # coordinates beyond a C int, which a crafted drawing can send).
    paths = [np.clip(np.asarray(s.points, np.float64).reshape(-1, 2), 0, [width - 1, height - 1]) for s in strokes]
    for colour, stroke, points in zip(STROKE_COLOURS, strokes, paths):
        if stroke.mask is not None:
            overlay[stroke.mask] = colour
        else:
            radius = stroke.radius if stroke.radius is not None else min(width, height) / 8
            cv2.circle(overlay, _pixel(points[0]), int(min(radius, width + height)), colour, -1, cv2.LINE_AA)
    picture = cv2.addWeighted(overlay, 0.35, base, 0.65, 0)  # regions translucent
    for colour, stroke, points in zip(STROKE_COLOURS, strokes, paths):
        cv2.polylines(picture, [np.rint(points).astype(np.int32)], False, colour, 2, cv2.LINE_AA)
        positions = stroke_positions(points, stroke.times, num_frames)
        for position in positions:
            cv2.circle(picture, _pixel(position), 3, colour, -1, cv2.LINE_AA)
        for index in (num_frames // 2, num_frames - 1):
            start, end = positions[index - 1], positions[index]
            length = float(np.hypot(*(end - start)))
            if length > 0:
                cv2.arrowedLine(
                    picture, _pixel(start), _pixel(end), colour, 2, cv2.LINE_AA, tipLength=min(1.0, 12 / length)
                )
    return picture


def _pixel(point) -> tuple[int, int]:
    return round(float(point[0])), round(float(point[1]))


def _to_uint8(values01: torch.Tensor) -> np.ndarray:
    return (values01.clamp(0, 1) * 255.0).round().to(torch.uint8).numpy()


def _draw_arrows(frame: np.ndarray, motion: np.ndarray, cell: int, scale: float, min_length: float) -> np.ndarray:
    height, width = motion.shape[1:]
    rows, cols = -(-height // cell), -(-width // cell)
    padded = np.zeros((2, rows * cell, cols * cell), np.float32)
    padded[:, :height, :width] = motion
    cells = padded.reshape(2, rows, cell, cols, cell).transpose(1, 3, 0, 2, 4).reshape(rows, cols, 2, cell * cell)
    strongest = np.argmax(np.hypot(cells[:, :, 0], cells[:, :, 1]), axis=2)
    for row in range(rows):
        for col in range(cols):
            index = strongest[row, col]
            dx, dy = cells[row, col, :, index]
            if np.hypot(dx, dy) < min_length:
                continue
            x, y = col * cell + index % cell, row * cell + index // cell
            tip = _pixel((x + dx * scale, y + dy * scale))
            cv2.arrowedLine(frame, _pixel((x, y)), tip, (0, 0, 0), 3, cv2.LINE_AA, tipLength=0.35)
            cv2.arrowedLine(frame, _pixel((x, y)), tip, _direction_colour(dx, dy), 1, cv2.LINE_AA, tipLength=0.35)
    return frame


def _direction_colour(dx: float, dy: float) -> tuple[int, int, int]:
    hue = int((np.degrees(np.arctan2(dy, dx)) % 360) / 2)  # OpenCV hue is 0..179
    rgb = cv2.cvtColor(np.array([[[hue, 255, 255]]], np.uint8), cv2.COLOR_HSV2RGB)[0, 0]
    return tuple(int(c) for c in rgb)
