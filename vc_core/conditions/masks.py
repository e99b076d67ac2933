"""Inpainting masks and the ``masked`` condition. mask = 1 where the picture is hidden (regenerated).

Masks always come from the user — a painted image (repeated over frames), a mask video, or a
preset — never drawn at random as in the official dataset. They live on the 384² misc grid, like
the frames they hide, and stay binary (NEAREST resizing).

A painted mask image marks hidden pixels by opacity when it has transparency (a brush layer on a
transparent canvas), otherwise by brightness (white = hidden).
"""

from __future__ import annotations

import os

import cv2
import numpy as np
import torch

from vc_core.conditions.errors import DEFAULT_LIMITS, ConditionError, InputLimits
from vc_core.conditions.images import ImageSource, load_rgba
from vc_core.conditions.transforms import MISC_SIZE, mask_square, repeat_over_frames
from vc_core.conditions.video import DEFAULT_FRAMES, check_num_frames, read_clip

Box = tuple[float, float, float, float]  # fractions of the width/height


def mask_from_image(source: ImageSource, limits: InputLimits = DEFAULT_LIMITS) -> np.ndarray:
    """A painted mask image → (384,384) bool, in the geometry of the misc frames."""
    rgba = np.asarray(load_rgba(source, limits))
    alpha = rgba[..., 3]
    painted = alpha > 127 if (alpha < 255).any() else _luminance(rgba[..., :3]) > 127
    return mask_square(painted)


def mask_from_video(
    path: str | os.PathLike,
    num_frames: int = DEFAULT_FRAMES,
    start_s: float = 0.0,
    limits: InputLimits = DEFAULT_LIMITS,
) -> torch.Tensor:
    """A black/white mask video (white = hidden), sampled like any clip → (N,1,384,384)."""
    clip = read_clip(path, num_frames, start_s, limits)
    return torch.from_numpy(np.stack([mask_square(_luminance(f) > 127) for f in clip.frames])).unsqueeze(1).float()


def rectangle_mask(box: Box = (0.25, 0.25, 0.75, 0.75), size: int = MISC_SIZE) -> np.ndarray:
    """Hide the rectangle ``(left, top, right, bottom)`` given as fractions of the picture."""
    mask = np.zeros((size, size), bool)
    left, top, right, bottom = (round(f * size) for f in _checked_box(box))
    mask[top:bottom, left:right] = True
    return mask


def uncrop_mask(keep: Box = (0.25, 0.0, 0.75, 1.0), size: int = MISC_SIZE) -> np.ndarray:
    """Outpainting: hide everything outside the kept rectangle (fractions)."""
    return ~rectangle_mask(keep, size)


def irregular_mask(seed: int = 0, size: int = MISC_SIZE) -> np.ndarray:
    """Free-form brush strokes (thick random polylines), the same for the same seed and size."""
    rng = np.random.default_rng(seed)
    canvas = np.zeros((size, size), np.uint8)
    for _ in range(rng.integers(3, 7)):
        point = rng.uniform(0, size, 2)
        width = max(1, int(rng.uniform(0.03, 0.08) * size))
        for _ in range(rng.integers(4, 10)):
            angle, length = rng.uniform(0, 2 * np.pi), rng.uniform(0.05, 0.2) * size
            end = np.clip(point + length * np.array([np.cos(angle), np.sin(angle)]), 0, size - 1)
            cv2.line(canvas, _pixel(point), _pixel(end), 1, width)
            cv2.circle(canvas, _pixel(end), width // 2, 1, -1)  # round joints
            point = end
    return canvas.astype(bool)


def mask_clip(mask: np.ndarray, num_frames: int = DEFAULT_FRAMES) -> torch.Tensor:
    """One (H,W) mask repeated as a clip (num_frames,1,H,W) of 0./1."""
    check_num_frames(num_frames)
    return repeat_over_frames(torch.from_numpy(np.asarray(mask, bool)).float().unsqueeze(0), num_frames)


def masked_video_condition(misc_frames: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """``masked`` (N,4,H,W) = [(frame·2−1)·(1−m), 1−m] from misc frames in [0,1] and masks (N,1,H,W)."""
    if masks.shape[0] != misc_frames.shape[0] or masks.shape[-2:] != misc_frames.shape[-2:]:
        raise ConditionError(
            f"The mask clip {tuple(masks.shape)} does not match the video frames {tuple(misc_frames.shape)}."
        )
    keep = 1.0 - masks
    return torch.cat([(misc_frames * 2.0 - 1.0) * keep, keep], dim=1)


def paste_outside_mask(generated: np.ndarray, source: np.ndarray, mask: np.ndarray, feather_px: int = 4) -> np.ndarray:
    """Generated (F,H,W,3) uint8 inside the (H,W) mask, the source's own pixels outside it.

    The autoencoder blurs whatever it decodes, so without this the part the user wanted kept comes
    back softened. The blend ramps over ``feather_px`` pixels *outside* the mask, so every hidden
    pixel is still the model's and no seam shows at the border.
    """
    if generated.shape != source.shape:
        raise ConditionError(f"the generated video {generated.shape} and its source {source.shape} differ in shape")
    hidden = cv2.resize(np.asarray(mask, np.uint8), generated.shape[2:0:-1], interpolation=cv2.INTER_NEAREST) > 0
    # distance (px) from each kept pixel to the nearest hidden one → weight of the generated video
    distance = cv2.distanceTransform((~hidden).astype(np.uint8), cv2.DIST_L2, 3)
    weight = np.clip(1.0 - distance / (feather_px + 1), 0.0, 1.0)[None, :, :, None]
    return np.rint(weight * generated + (1.0 - weight) * source).astype(np.uint8)


def _luminance(rgb: np.ndarray) -> np.ndarray:
    return rgb.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)


def _checked_box(box: Box) -> Box:
    left, top, right, bottom = box
    if not (0 <= left < right <= 1 and 0 <= top < bottom <= 1):
        raise ConditionError(f"A mask rectangle needs 0 ≤ left < right ≤ 1 and 0 ≤ top < bottom ≤ 1, got {box}.")
    return box


def _pixel(point: np.ndarray) -> tuple[int, int]:
    return round(point[0]), round(point[1])
