"""Motion adherence: optical flow of a generated video against the requested motion.

The requested motion uses the model's representation (sparse forward displacements at block
centres, pixels per frame, frame 0 zero), so the error is measured exactly where a request was
made: end-point error of the Farneback flow from frame k−1 to k at every non-zero entry of the
request's frame k. Those entries cover whole blocks, background around the object too, and flow
there also reads texture flicker; ``path_error`` asks only where the object is.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch

from vc_core.evaluate.appearance import colour_mask


@dataclass
class MotionAdherence:
    epe: float  # mean end-point error, pixels per frame
    requested_speed: float  # mean |requested displacement| at the same points, pixels per frame
    points: int  # how many (frame, block) entries were compared

    def as_dict(self) -> dict:
        return {"epe_px_per_frame": round(self.epe, 3), "requested_px_per_frame": round(self.requested_speed, 3), "points": self.points}


def optical_flow(frames: np.ndarray) -> np.ndarray:
    """Farneback flow (F−1, H, W, 2) from frame k−1 to frame k of uint8 RGB frames (F, H, W, 3)."""
    gray = [cv2.cvtColor(np.ascontiguousarray(f), cv2.COLOR_RGB2GRAY) for f in frames]
    size = frames.shape[1]
    # window ~ one motion block at the frame size, pyramid deep enough for fast objects
    win = max(9, size // 8 | 1)
    return np.stack(
        [cv2.calcOpticalFlowFarneback(a, b, None, 0.5, 3, win, 5, 5, 1.1, 0) for a, b in zip(gray[:-1], gray[1:])]
    )


def motion_adherence(frames: np.ndarray | torch.Tensor, requested: np.ndarray | torch.Tensor) -> MotionAdherence:
    """Compare a video (F, H, W, 3) uint8 with a requested motion map (F, 2, H, W) of the same size."""
    frames = np.asarray(frames)
    requested = np.asarray(requested, dtype=np.float32)
    if requested.shape[0] != frames.shape[0] or requested.shape[-2:] != frames.shape[1:3]:
        raise ValueError(f"requested motion {requested.shape} does not match the video {frames.shape}")
    flow = optical_flow(frames)  # (F-1, H, W, 2)
    want = requested[1:].transpose(0, 2, 3, 1)  # (F-1, H, W, 2)
    where = np.abs(want).sum(-1) > 0
    if not where.any():
        return MotionAdherence(float("nan"), 0.0, 0)
    error = np.linalg.norm(flow[where] - want[where], axis=-1)
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
