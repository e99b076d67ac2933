"""Still-image conditions: robust image loading, ``local_image`` and ``single_sketch``.

Any input becomes an 8-bit image first: RGBA with transparency (composited on white where RGB is
needed — a drawing on a transparent canvas becomes dark lines on white), grayscale, 16-bit
(scaled, not clipped), palette, CMYK, float arrays, EXIF-rotated photos.
"""

from __future__ import annotations

import os

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from vc_core.conditions.errors import (
    DEFAULT_LIMITS,
    ImageModeError,
    InputLimits,
    ResolutionTooLargeError,
    UnreadableFileError,
)
from vc_core.conditions.sketch import CleanerFn, EdgeFn, clean_edges, sketch_condition
from vc_core.conditions.transforms import misc_frames_tensor, repeat_over_frames
from vc_core.conditions.video import DEFAULT_FRAMES, check_num_frames

ImageSource = str | os.PathLike | Image.Image | np.ndarray

_SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")


def load_rgba(source: ImageSource, limits: InputLimits = DEFAULT_LIMITS) -> Image.Image:
    """An upright 8-bit RGBA image from a file path, a PIL image or an array (first frame if animated)."""
    if isinstance(source, np.ndarray):
        image = _array_to_image(source)
    elif isinstance(source, Image.Image):
        image = source
    else:
        image = _open_image_file(source, limits)
    limits.check_resolution(image.width, image.height, "The image")
    return _to_rgba8(ImageOps.exif_transpose(image))


def load_rgb(source: ImageSource, limits: InputLimits = DEFAULT_LIMITS) -> Image.Image:
    """Like :func:`load_rgba`, with transparent parts composited on white."""
    rgba = load_rgba(source, limits)
    white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(white, rgba).convert("RGB")


def local_image_condition(
    source: ImageSource, num_frames: int = DEFAULT_FRAMES, limits: InputLimits = DEFAULT_LIMITS
) -> torch.Tensor:
    """``local_image`` (num_frames,3,384,384) in [0, 1] — not normalised, as official."""
    check_num_frames(num_frames)
    return repeat_over_frames(_misc_square(source, limits)[0], num_frames)


def single_sketch_condition(
    source: ImageSource,
    num_frames: int = DEFAULT_FRAMES,
    edge_fn: EdgeFn | None = None,
    cleaner_fn: CleanerFn | None = None,
    drawing: bool = False,
    limits: InputLimits = DEFAULT_LIMITS,
) -> torch.Tensor:
    """``single_sketch`` (num_frames,1,384,384): bright lines on black, repeated over frames.

    ``drawing=False`` (official): edges are extracted from the picture (PiDiNet via ``edge_fn``,
    Canny without it) and cleaned. ``drawing=True``: the image already is a sketch (dark lines on
    a light or transparent background); its lines are used directly (then cleaned if a cleaner is
    given), which avoids the doubled outlines an edge detector draws around every pen line.
    """
    check_num_frames(num_frames)
    square = _misc_square(source, limits)
    if drawing:
        lines = 1.0 - square.mean(dim=1, keepdim=True)
        sketch = clean_edges(lines, cleaner_fn) if cleaner_fn is not None else lines
    else:
        sketch = sketch_condition(square, edge_fn, cleaner_fn)
    return repeat_over_frames(sketch[0], num_frames)


def _open_image_file(source: str | os.PathLike, limits: InputLimits) -> Image.Image:
    """Open lazily, check the size from the header, then decode (a huge image is never decoded)."""
    path = limits.check_file(source)
    try:
        image = Image.open(path)
        limits.check_resolution(image.width, image.height, path.name)
        image.load()
    except Image.DecompressionBombError as exc:
        raise ResolutionTooLargeError(f"{path.name} has too many pixels to be opened safely.") from exc
    except (UnidentifiedImageError, OSError) as exc:
        raise UnreadableFileError(f"{path.name} is not an image that can be read ({type(exc).__name__}).") from exc
    return image


def _misc_square(source: ImageSource, limits: InputLimits) -> torch.Tensor:
    """(1,3,384,384) in [0,1]: the image through the same geometry as misc video frames."""
    return misc_frames_tensor(np.asarray(load_rgb(source, limits))[None])


def _to_rgba8(image: Image.Image) -> Image.Image:
    """Any PIL mode → 8-bit RGBA; high bit depths are scaled to 0..255 rather than clipped."""
    if image.mode in _SIXTEEN_BIT_MODES:
        return _array_to_image(np.asarray(image).astype(np.uint16, copy=False)).convert("RGBA")
    if image.mode == "F":
        return _array_to_image(np.asarray(image)).convert("RGBA")
    try:
        return image.convert("RGBA")
    except (ValueError, OSError) as exc:
        raise ImageModeError(
            f"Images in mode {image.mode!r} are not supported; save it as an RGB PNG or JPEG."
        ) from exc


def _array_to_image(array: np.ndarray) -> Image.Image:
    """(H,W), (H,W,1), (H,W,3) or (H,W,4) array of uint8/uint16/bool/float → 8-bit PIL image."""
    array = np.asarray(array)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (3, 4)):
        raise ImageModeError(f"An image array must be H×W, H×W×3 or H×W×4, got shape {array.shape}.")
    if array.dtype == np.bool_:
        array = array.astype(np.uint8) * 255
    elif array.dtype == np.uint16 or (np.issubdtype(array.dtype, np.integer) and array.max(initial=0) > 255):
        array = np.round(np.clip(array, 0, 65535) / 257.0).astype(np.uint8)
    elif np.issubdtype(array.dtype, np.floating):
        finite = np.nan_to_num(array.astype(np.float64))
        scale = 255.0 if finite.max(initial=0.0) <= 1.0 else 1.0  # [0,1] floats vs 0..255 floats
        array = np.round(np.clip(finite * scale, 0, 255)).astype(np.uint8)
    elif array.dtype != np.uint8:
        array = np.clip(array, 0, 255).astype(np.uint8)
    return Image.fromarray(array)
