"""Image measurements: an object's colour and shape, SSIM, PSNR and edge agreement.

Colour and shape need no learned model: the colour is the palette entry covering most pixels
under the world's shading, the shape the one whose silhouette, drawn at the blob's centroid and
area, overlaps the blob best (IoU).
"""
from __future__ import annotations

import cv2
import numpy as np

from vc_core.world import COLOURS, SHAPES
from vc_core.world.render import shape_mask

# an object pixel is its palette colour times a shade in about [0.7, 1.35] (texture)
_CHROMA_COS, _SHADE_RANGE, _MIN_PIXELS = 0.985, (0.6, 1.45), 25
_GRID = np.mgrid[-1.5:1.5:121j, -1.5:1.5:121j][::-1]  # (v, u) sample grid for shape areas
_UNIT_AREA = {shape: float(shape_mask(shape, _GRID[1], _GRID[0]).mean() * 9.0) for shape in SHAPES}


def colour_mask(frame: np.ndarray, colour: str) -> np.ndarray:
    """Pixels whose colour is ``colour`` under the world's shading (same hue, similar brightness)."""
    ref = np.asarray(COLOURS[colour], np.float64)
    rgb = frame.astype(np.float64)
    norm = np.linalg.norm(rgb, axis=-1) + 1e-6
    cos = rgb @ ref / (norm * np.linalg.norm(ref))
    ratio = norm / np.linalg.norm(ref)
    return (cos > _CHROMA_COS) & (ratio > _SHADE_RANGE[0]) & (ratio < _SHADE_RANGE[1])


def dominant_colour(frame: np.ndarray) -> str | None:
    """The palette colour covering most pixels (at least a small blob), or None."""
    counts = {c: int(colour_mask(frame, c).sum()) for c in COLOURS}
    best = max(counts, key=counts.get)
    return best if counts[best] >= _MIN_PIXELS else None


def shape_of(mask: np.ndarray) -> str | None:
    """Best-matching shape (IoU against each shape drawn at the blob's centroid and area)."""
    count, labels, stats, centroids = cv2.connectedComponentsWithStats(mask.astype(np.uint8))
    if count < 2:
        return None
    blob = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    region = labels == blob
    if region.sum() < _MIN_PIXELS:
        return None
    cx, cy = centroids[blob]
    yy, xx = np.mgrid[0 : mask.shape[0], 0 : mask.shape[1]].astype(np.float64)
    scores = {}
    for shape in SHAPES:
        radius = np.sqrt(region.sum() / _UNIT_AREA[shape])
        # shapes are not centred on their centroid (triangle, heart): search a few offsets
        best = 0.0
        for dy in np.linspace(-0.3, 0.3, 7) * radius:
            template = shape_mask(shape, (xx - cx) / radius, (yy - cy - dy) / radius)
            best = max(best, (template & region).sum() / (template | region).sum())
        scores[shape] = best
    return max(scores, key=scores.get)


def colour_and_shape(frame: np.ndarray) -> tuple[str | None, str | None]:
    colour = dominant_colour(frame)
    return colour, (shape_of(colour_mask(frame, colour)) if colour else None)


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Mean SSIM of two uint8 RGB images (Gaussian window σ 1.5, as Wang et al.), over channels."""
    a, b = a.astype(np.float64), b.astype(np.float64)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2

    def blur(x: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(x, (11, 11), 1.5)

    mu_a, mu_b = blur(a), blur(b)
    var_a, var_b, cov = blur(a * a) - mu_a**2, blur(b * b) - mu_b**2, blur(a * b) - mu_a * mu_b
    s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return float(s.mean())


def psnr(a: np.ndarray, b: np.ndarray, where: np.ndarray | None = None) -> float:
    """PSNR in dB of uint8 images, optionally only over the pixels where ``where`` is True."""
    diff = (a.astype(np.float64) - b.astype(np.float64)) ** 2
    mse = diff[where].mean() if where is not None else diff.mean()
    return float(10 * np.log10(255.0**2 / max(mse, 1e-10)))


def edge_f1(edges_pred: np.ndarray, edges_ref: np.ndarray, tolerance: int = 2) -> float:
    """F1 of two binary edge maps where a match may be ``tolerance`` pixels away."""
    kernel = np.ones((2 * tolerance + 1, 2 * tolerance + 1), np.uint8)
    pred, ref = edges_pred.astype(np.uint8), edges_ref.astype(np.uint8)
    if pred.sum() == 0 or ref.sum() == 0:
        return 0.0
    precision = (pred & cv2.dilate(ref, kernel)).sum() / pred.sum()
    recall = (ref & cv2.dilate(pred, kernel)).sum() / ref.sum()
    return float(2 * precision * recall / max(precision + recall, 1e-9))
