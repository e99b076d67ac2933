"""The official frame geometry (resize + centre crop) and the tensor layout of conditions.

Three geometries exist in the official code and are kept distinct here on purpose, because the
model was trained with them:

* video frames (256²): "CenterCropV2" — halve with PIL BOX while the shorter side is at least
  twice the target, resize the shorter side to the target with PIL BICUBIC (rounded), crop at
  ``((w - s) // 2, (h - s) // 2)``.
* misc frames for annotators (384²): resize the shorter side to 384 (the official code picks a
  random filter per frame; we always use BICUBIC so results are reproducible), then CenterCropV2.
* motion maps (256²): torchvision ``Resize(256)`` on a tensor — bilinear WITHOUT antialiasing
  (torchvision 0.13 default), long side ``int(256 * long / short)`` — then ``CenterCrop(256)``
  whose offset is ``round((h - 256) / 2)``. Isolated vector pixels are attenuated or dropped by
  this resize; that is what the model saw in training, so it is reproduced, not fixed.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

VIDEO_SIZE = 256
MISC_SIZE = 384


def resize_short_side(image: Image.Image, size: int, resample: Image.Resampling) -> Image.Image:
    """Scale so the shorter side equals ``size`` (long side rounded), keeping the aspect ratio."""
    scale = size / min(image.size)
    return image.resize((round(image.width * scale), round(image.height * scale)), resample=resample)


def center_crop(image: Image.Image, size: int) -> Image.Image:
    """Crop a ``size``² square at ``((w - size) // 2, (h - size) // 2)`` (image already large enough)."""
    left, top = (image.width - size) // 2, (image.height - size) // 2
    return image.crop((left, top, left + size, top + size))


def official_center_crop(image: Image.Image, size: int) -> Image.Image:
    """CenterCropV2 of the official code: BOX halving, BICUBIC to the target, centre crop."""
    while min(image.size) >= 2 * size:
        image = image.resize((image.width // 2, image.height // 2), resample=Image.Resampling.BOX)
    return center_crop(resize_short_side(image, size, Image.Resampling.BICUBIC), size)


def misc_image(image: Image.Image, size: int = MISC_SIZE) -> Image.Image:
    """The 384² square fed to annotators (depth, sketch) and used for masks and local image."""
    return official_center_crop(resize_short_side(image, size, Image.Resampling.BICUBIC), size)


def _uint8_to_tensor(images: list[np.ndarray]) -> torch.Tensor:
    """(N,H,W,C) uint8 → (N,C,H,W) float32 in [0, 1]."""
    return torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float().div_(255.0)


def video_frames_tensor(frames: np.ndarray, size: int = VIDEO_SIZE) -> torch.Tensor:
    """RGB uint8 frames (N,H,W,3) → the video condition (N,3,size,size) in [-1, 1]."""
    squares = [np.asarray(official_center_crop(Image.fromarray(f), size)) for f in frames]
    return _uint8_to_tensor(squares).mul_(2.0).sub_(1.0)


def misc_frames_tensor(frames: np.ndarray, size: int = MISC_SIZE) -> torch.Tensor:
    """RGB uint8 frames (N,H,W,3) → annotator frames (N,3,size,size) in [0, 1]."""
    return _uint8_to_tensor([np.asarray(misc_image(Image.fromarray(f), size)) for f in frames])


def mask_square(mask: np.ndarray, size: int = MISC_SIZE) -> np.ndarray:
    """A boolean (H,W) mask brought to the misc geometry with NEAREST, so it stays binary."""
    image = Image.fromarray(mask.astype(np.uint8) * 255)
    square = center_crop(resize_short_side(image, size, Image.Resampling.NEAREST), size)
    return np.asarray(square) > 127


def motion_maps_tensor(maps: np.ndarray | torch.Tensor, size: int = VIDEO_SIZE) -> torch.Tensor:
    """Sparse motion maps (N,2,H,W) in pixels → the motion condition (N,2,size,size), as official.

    Values are not rescaled: they stay in pixels of the resolution the vectors were measured at.
    """
    maps = torch.as_tensor(maps, dtype=torch.float32)
    height, width = maps.shape[-2:]
    short, long = min(height, width), max(height, width)
    new_long = int(size * long / short)
    new_size = (size, new_long) if height <= width else (new_long, size)
    if new_size != (height, width):
        maps = F.interpolate(maps, size=new_size, mode="bilinear", align_corners=False, antialias=False)
    top = round((new_size[0] - size) / 2.0)
    left = round((new_size[1] - size) / 2.0)
    return maps[..., top : top + size, left : left + size].contiguous()


def repeat_over_frames(image: torch.Tensor, num_frames: int) -> torch.Tensor:
    """One (C,H,W) condition repeated as a clip (num_frames,C,H,W)."""
    return image.unsqueeze(0).expand(num_frames, *image.shape).contiguous()


def to_model_layout(condition: torch.Tensor) -> torch.Tensor:
    """Per-video (F,C,H,W) → batched (1,C,F,H,W), the layout the UNet takes."""
    return condition.permute(1, 0, 2, 3).unsqueeze(0).contiguous()


FrameModel = Callable[[torch.Tensor], torch.Tensor]


def run_in_batches(model: FrameModel, frames: torch.Tensor, batch_size: int = 4) -> torch.Tensor:
    """Apply an annotator to (N,C,H,W) frames a few at a time; returns float32 on the CPU.

    An ``nn.Module`` gets its input on its own device and dtype (e.g. fp16 on a GPU); any other
    callable gets the CPU float32 frames as they are.
    """
    param = next(model.parameters(), None) if isinstance(model, torch.nn.Module) else None
    outputs = []
    with torch.inference_mode():
        for chunk in frames.split(batch_size):
            if param is not None:
                chunk = chunk.to(device=param.device, dtype=param.dtype)
            out = model(chunk)
            outputs.append(out.float().cpu())
    return torch.cat(outputs)
