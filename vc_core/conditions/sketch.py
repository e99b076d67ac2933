"""Sketch sequence: edges of the misc frames, in the official convention.

Official chain: PiDiNet on ImageNet-normalised frames gives a sigmoid edge map with BRIGHT edges;
the sketch-simplification GAN cleans it as ``s = 1 - cleaner(1 - s)`` (the GAN works on dark lines
on white), so the final condition again has bright lines (≈1) on a dark background (≈0).

The networks are injected, so this module does not depend on their code:

* ``edge_fn(frames)``: (N,3,H,W) RGB in [0,1] → (N,1,H,W) edge strength in [0,1], bright edges,
  e.g. ``functools.partial(vc_core.models.annotators.edge_map, pidinet)``;
* ``cleaner_fn(edges)``: bright edges → cleaned bright edges, i.e. the whole ``1 - net(1 - s)``
  chain, e.g. ``functools.partial(vc_core.models.annotators.clean_sketch, net)``.

Without weights, :func:`canny_edges` is the weight-free stand-in with the same convention.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np
import torch

from vc_core.conditions.transforms import run_in_batches

EdgeFn = Callable[[torch.Tensor], torch.Tensor]
CleanerFn = Callable[[torch.Tensor], torch.Tensor]

# Lines are thickened to ~3 px: the sketch encoder average-pools 384 → 128, which would fade a
# 1-px Canny line to a third of its value, while PiDiNet + cleaner lines are a few pixels wide.
_LINE_KERNEL = np.ones((3, 3), np.uint8)


def canny_edges(frames: torch.Tensor, low: int = 50, high: int = 150, blur_sigma: float = 1.0) -> torch.Tensor:
    """(N,3,H,W) RGB in [0,1] → (N,1,H,W) in {0,1}: 1 on edges, 0 elsewhere."""
    gray = (frames.mean(dim=1) * 255.0).round().clamp(0, 255).to(torch.uint8).numpy()
    edges = []
    for image in gray:
        smooth = cv2.GaussianBlur(image, (0, 0), blur_sigma) if blur_sigma > 0 else image
        edges.append(cv2.dilate(cv2.Canny(smooth, low, high), _LINE_KERNEL))
    return torch.from_numpy(np.stack(edges)).unsqueeze(1).float().div_(255.0)


def clean_edges(edges: torch.Tensor, cleaner_fn: CleanerFn, batch_size: int = 4) -> torch.Tensor:
    """Run the injected cleaner chain over (N,1,H,W) bright edges a few frames at a time."""
    return run_in_batches(cleaner_fn, edges, batch_size)


def sketch_condition(
    misc_frames: torch.Tensor,
    edge_fn: EdgeFn | None = None,
    cleaner_fn: CleanerFn | None = None,
    batch_size: int = 4,
) -> torch.Tensor:
    """The sketch condition (N,1,384,384) of misc frames (N,3,384,384) in [0,1]."""
    edges = run_in_batches(edge_fn, misc_frames, batch_size) if edge_fn is not None else canny_edges(misc_frames)
    return clean_edges(edges, cleaner_fn, batch_size) if cleaner_fn is not None else edges
