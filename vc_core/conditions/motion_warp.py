"""A first frame carried along requested motion: a rough video of what the motion asks for.

Motion maps (the model's representation, see ``strokes`` and ``motion_vectors``) hold, in frame
k, the displacement from frame k−1 of each moving 16×16 block, at the block's centre in frame k.
Every pixel that moves in frame k is traced back, frame by frame, to where it was in frame 0 and
takes the picture's colour there — if that colour belongs to the moving object. The motion marks
whole blocks, so the region it moves holds background too: a colour model (GrabCut, the picture
outside the region as certain background) splits the object from it, and only the object moves;
the background stays where it is, and where the object moved away from is filled from its
surroundings (OpenCV inpainting), so it leaves background behind, not a copy.

The result is rough (the split goes by colour, the filled place is smooth), so callers use it only
where it is meant (``known``) and only as a start: the pipeline holds it there during the first
sampling steps (``GenerationRequest.motion_hold``) and lets the model draw the rest.
"""
from __future__ import annotations

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from vc_core.conditions.strokes import BLOCK  # one vector per macroblock, at its centre (codec and strokes alike)

# Splitting object from background needs background outside the moved region to learn from (a
# pan moves nearly all of the picture), and a split that keeps fewer pixels found no object.
_MAX_REGION, _MIN_OBJECT = 0.9, 16
_SAME_WAY = 0.9  # cosine above which a neighbour's vector points a block's way


def warp_along_motion(image: torch.Tensor, motion: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``image`` (3, S, S) in [-1, 1] carried along ``motion`` (F, 2, H, W; pixels of the S²
    video per frame, as the model's motion condition).

    Returns the video (F, 3, S, S) — frame 0 is ``image`` — and ``known`` (F, S, S) bool: in each
    frame after the first, the region the motion moves (the object moved, the background in it
    kept) and the place the object left, less what came from outside the picture; False in frame 0.
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
    thing = _object_in(image, left).float()[None]
    background = _inpaint(image, F.max_pool2d(thing[None], 3, 1, 1)[0, 0] > 0)
    carried = []
    for k in range(1, len(origins)):
        on_object = moving[k] & (_sample(thing, origins[k])[0] > 0.5)
        carried.append(torch.where(on_object, _sample(image.float(), origins[k]), background))
    video = torch.stack([image.float(), *carried])
    known = (moving | left) & ~entered
    known[0] = False
    return video, known


def _widened_field(motion: torch.Tensor, size: int) -> torch.Tensor:
    """Dense (F, 2, size, size) motion, taken a block beyond the blocks the motion marks: a stroke's
    disc or the codec's blocks cut objects at block edges, and a point traced back must not fall
    off its object. Each block moves with the longest vector among it and its 8 neighbours that
    points its way (its own vector, or for an unmarked block the mean of the marked ones around
    it): the codec gives a block an object only partly covers a shorter vector, and an object
    carried at those fell behind its motion (one tuning clip: 65 % of the travel). Vectors
    pointing other ways (an object growing, two objects) are not mixed in."""
    vectors = motion[..., BLOCK // 2 :: BLOCK, BLOCK // 2 :: BLOCK]  # one per block
    f, _, h, w = vectors.shape
    marked = vectors.abs().sum(1, keepdim=True).gt(0)
    mean = F.avg_pool2d(vectors, 3, 1, 1) / F.avg_pool2d(marked.float(), 3, 1, 1).clamp_min(1 / 9)
    way = torch.where(marked, vectors, mean)
    around = F.unfold(vectors.reshape(f * 2, 1, h, w), 3, padding=1).view(f, 2, 9, h, w)
    length = around.norm(dim=1)
    along = (around * way[:, :, None]).sum(1) / (length * way.norm(dim=1, keepdim=True)).clamp_min(1e-6)
    same = along > _SAME_WAY
    longest = torch.where(same, length, torch.zeros_like(length)).argmax(1, keepdim=True)  # (F, 1, h, w)
    chosen = around.gather(2, longest[:, None].expand(-1, 2, -1, -1, -1))[:, :, 0]
    blocks = torch.where(same.any(1, keepdim=True), chosen, way)
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


def _object_in(image: torch.Tensor, region: torch.Tensor) -> torch.Tensor:
    """The pixels of ``region`` (S, S) bool unlike the picture outside it: GrabCut with the outside
    as certain background; the whole region where that cannot work (``_MAX_REGION``, ``_MIN_OBJECT``)."""
    if not region.any() or region.float().mean() > _MAX_REGION:
        return region
    pixels = _pixels(image)
    labels = np.where(region.numpy(), cv2.GC_PR_FGD, cv2.GC_BGD).astype(np.uint8)
    cv2.setRNGSeed(0)  # GrabCut's GMM initialisation draws from OpenCV's generator
    cv2.grabCut(pixels, labels, None, np.zeros((1, 65)), np.zeros((1, 65)), 3, cv2.GC_INIT_WITH_MASK)
    found = torch.from_numpy((labels == cv2.GC_FGD) | (labels == cv2.GC_PR_FGD)) & region
    return found if found.sum() >= _MIN_OBJECT else region


def _inpaint(image: torch.Tensor, hole: torch.Tensor) -> torch.Tensor:
    """``image`` with ``hole`` filled from around it (Telea), in the image's [-1, 1] range."""
    if not hole.any():
        return image.float()
    pixels = _pixels(image)
    filled = cv2.inpaint(pixels, hole.numpy().astype(np.uint8), 5, cv2.INPAINT_TELEA)
    filled = torch.from_numpy(filled).permute(2, 0, 1).float().div(127.5).sub(1)
    return torch.where(hole, filled, image.float())  # the rest exactly as given, not rounded to 8 bits


def _pixels(image: torch.Tensor) -> np.ndarray:
    """(3, S, S) in [-1, 1] → contiguous uint8 (S, S, 3), as OpenCV takes pictures."""
    return np.ascontiguousarray(((image.clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).numpy())
