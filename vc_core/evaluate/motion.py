"""Motion adherence: optical flow of a generated video against the requested motion.

The requested motion uses the model's representation (sparse forward displacements at block
centres, pixels per frame, frame 0 zero), so the error is measured where a request was made:
end-point error of the flow from frame k−1 to k at the non-zero entries of the request's frame k.
Given the object's colour, only the entries on the generated object count (the issue's "optical
flow of the generated object"): the request's blocks also cover background, which stands still
in a perfect video; a frame whose object is nowhere on the request counts all its entries, so an
object that is missing or off the path is not left out. ``path_error`` asks where the object is.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from vc_core.conditions.optical_flow import optical_flow
from vc_core.evaluate.appearance import colour_mask


@dataclass
class MotionAdherence:
    epe: float  # mean end-point error, pixels per frame
    requested_speed: float  # mean |requested displacement| at the same points, pixels per frame
    points: int  # how many (frame, block) entries were compared

    def as_dict(self) -> dict:
        return {"epe_px_per_frame": round(self.epe, 3), "requested_px_per_frame": round(self.requested_speed, 3), "points": self.points}


def motion_adherence(
    frames: np.ndarray | torch.Tensor, requested: np.ndarray | torch.Tensor, colour: str | None = None
) -> MotionAdherence:
    """Compare a video (F, H, W, 3) uint8 with a requested motion map (F, 2, H, W) of the same size;
    with ``colour``, at the requested entries on the object of that colour (see the module)."""
    frames = np.asarray(frames)
    requested = np.asarray(requested, dtype=np.float32)
    if requested.shape[0] != frames.shape[0] or requested.shape[-2:] != frames.shape[1:3]:
        raise ValueError(f"requested motion {requested.shape} does not match the video {frames.shape}")
    want = requested[1:].transpose(0, 2, 3, 1)  # (F-1, H, W, 2)
    where = np.abs(want).sum(-1) > 0
    if not where.any():
        return MotionAdherence(float("nan"), 0.0, 0)
    if colour is not None:
        on_object = where & np.stack([colour_mask(f, colour) for f in frames[:-1]])  # flow starts at frame k−1
        where = np.where(on_object.any((1, 2), keepdims=True), on_object, where)
    error = np.linalg.norm(optical_flow(frames)[where] - want[where], axis=-1)
    return MotionAdherence(float(error.mean()), float(np.linalg.norm(want[where], axis=-1).mean()), int(where.sum()))


def path_error(frames: np.ndarray, colour: str, path: np.ndarray) -> float:
    """Mean distance (pixels) from the centre of the ``colour`` pixels of each frame after the
    first to where ``path`` (F, 2) as (x, y) puts the object; a copy left behind pulls the centre
    away, and a frame without the colour counts as half the frame size off."""
    errors = []
    for frame, (x, y) in zip(frames[1:], path[1:]):
        ys, xs = np.nonzero(colour_mask(frame, colour))
        errors.append(np.hypot(xs.mean() - x, ys.mean() - y) if len(xs) else frame.shape[0] / 2)
    return float(np.mean(errors))
