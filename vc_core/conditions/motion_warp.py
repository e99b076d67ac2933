"""A first frame carried along requested motion: a rough video of what the motion asks for.

Motion maps (the model's representation, see ``strokes`` and ``motion_vectors``) hold, in frame
k, the displacement from frame k−1 of each moving 16×16 block, at the block's centre in frame k.
Every pixel that moves in frame k is traced back, frame by frame, to where it was in frame 0 and
takes the picture's colour there. Where something moved away from, the picture is filled from
its surroundings (OpenCV inpainting), so a moved object leaves background behind, not a copy.

The result is rough (blocks move whole, the filled background is smooth), so callers use it only
where it is meant (``known``) and only as a start: the pipeline holds it there during the first
sampling steps (``GenerationRequest.motion_hold``) and lets the model draw the rest.
"""
from __future__ import annotations

import cv2
import numpy as np
import torch
import torch.nn.functional as F


BLOCK = 16  # pixels per motion vector, at the motion maps' own resolution (codec macroblocks)


def warp_along_motion(image: torch.Tensor, motion: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``image`` (3, S, S) in [-1, 1] carried along ``motion`` (F, 2, H, W; pixels of the S²
    video per frame, as the model's motion condition).

    Returns the video (F, 3, S, S) — frame 0 is ``image`` — and ``known`` (F, S, S) bool: in each
    frame after the first, the pixels that move (from inside the picture) and those they left;
    False in frame 0.
    """
    if image.dim() != 3 or image.shape[0] != 3 or motion.dim() != 4 or motion.shape[1] != 2:
        raise ValueError(f"expected an image (3, S, S) and motion (F, 2, H, W), got {tuple(image.shape)} and {tuple(motion.shape)}")
    size = image.shape[-1]
    motion = motion.float()
    field = _widened_field(motion, size)
    moving = field.abs().sum(1) > 0
    moving[0] = False
    ys, xs = torch.meshgrid(torch.arange(size, dtype=torch.float32), torch.arange(size, dtype=torch.float32), indexing="ij")
    pixel = torch.stack([xs, ys])  # (2, S, S) as (x, y)
    # per frame, where in frame 0 each pixel came from: its place in frame k−1, looked up there
    origins = [pixel]
    for k in range(1, motion.shape[0]):
        before = pixel - field[k]
        origins.append(torch.where(_inside(before, size), _sample(origins[-1], before), before))
    # what entered the picture (a pan's new side) came from outside it: unknown, the model draws it
    entered = moving & ~torch.stack([_inside(o, size) for o in origins])
    left = _footprint(origins, moving & ~entered, size)
    background = _inpaint(image, left)
    carried = [torch.where(moving[k], _sample(image.float(), origins[k]), background) for k in range(1, len(origins))]
    video = torch.stack([image.float(), *carried])
    known = (moving | left) & ~entered
    known[0] = False
    return video, known


def _widened_field(motion: torch.Tensor, size: int) -> torch.Tensor:
    """Dense (F, 2, size, size) motion: each block gets the mean of the non-zero vectors of its
    block and the 8 around it. What moves is taken a block beyond the blocks the motion marks: a
    stroke's disc or the codec's blocks cut objects at block edges, and a point traced back must
    not fall off its object."""
    vectors = motion[..., BLOCK // 2 :: BLOCK, BLOCK // 2 :: BLOCK]  # one per block
    marked = vectors.abs().sum(1, keepdim=True).gt(0).float()
    blocks = F.avg_pool2d(vectors, 3, 1, 1) / F.avg_pool2d(marked, 3, 1, 1).clamp_min(1 / 9)
    return F.interpolate(blocks, size=(size, size), mode="nearest")


def _inside(points: torch.Tensor, size: int) -> torch.Tensor:
    return ((points > -1) & (points < size)).all(0)


def _sample(values: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """``values`` (C, S, S) read bilinearly at ``points`` (2, S, S) in pixel coordinates (x, y)."""
    size = values.shape[-1]
    grid = ((points + 0.5) / size * 2 - 1).permute(1, 2, 0)[None]
    return F.grid_sample(values[None], grid, mode="bilinear", padding_mode="border", align_corners=False)[0]


def _footprint(origins: list[torch.Tensor], moving: torch.Tensor, size: int) -> torch.Tensor:
    """Pixels of frame 0 that some later frame's moving pixels came from (what moves away)."""
    marks = torch.zeros(size * size)
    for k in range(1, len(origins)):
        xy = origins[k][:, moving[k]].round().long().clamp(0, size - 1)
        marks[xy[1] * size + xy[0]] = 1
    # close the gaps a rounded scatter leaves where the motion stretches (zoom)
    return F.max_pool2d(marks.view(1, 1, size, size), 3, 1, 1)[0, 0] > 0


def _inpaint(image: torch.Tensor, hole: torch.Tensor) -> torch.Tensor:
    """``image`` with ``hole`` filled from around it (Telea), in the image's [-1, 1] range."""
    if not hole.any():
        return image.float()
    pixels = ((image.clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).numpy()
    filled = cv2.inpaint(np.ascontiguousarray(pixels), hole.numpy().astype(np.uint8), 5, cv2.INPAINT_TELEA)
    return torch.from_numpy(filled).permute(2, 0, 1).float().div(127.5).sub(1)
