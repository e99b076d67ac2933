"""Turn user inputs (videos, images, masks, strokes) into VideoComposer condition tensors.

Tensor layout: every function here returns one video's condition as a float32 CPU tensor
``(F, C, H, W)`` (frames first, as the official dataset builds them). The UNet takes
``(B, C, F, H, W)``; :func:`to_model_layout` makes ``(1, C, F, H, W)`` from one condition.

| condition      | C | H×W     | values                                        | made by                      |
|----------------|---|---------|-----------------------------------------------|------------------------------|
| video          | 3 | 256²    | [-1, 1]                                       | ``video_frames_tensor``      |
| motion         | 2 | 256²    | pixels, sparse (x right+, y down+)            | ``motion_condition``, strokes|
| depth          | 1 | 384²    | [0, 10]                                       | ``depth_condition``          |
| sketch         | 1 | 384²    | [0, 1], bright lines on black                 | ``sketch_condition``         |
| single_sketch  | 1 | 384²    | as sketch, one picture repeated               | ``single_sketch_condition``  |
| local_image    | 3 | 384²    | [0, 1], not normalised, repeated              | ``local_image_condition``    |
| masked         | 4 | 384²    | [(frame·2−1)·(1−m), 1−m], m = 1 where hidden  | ``masked_video_condition``   |

Typical flow: ``clip = read_clip(path)`` → ``misc = misc_frames_tensor(clip.frames)`` → the
conditions above. Errors a user can fix are :class:`ConditionError` subclasses with readable
messages; input limits are an :class:`InputLimits`. A style image is prepared by
``vc_core.models.clip.preprocess_style_image(load_rgb(source))``. Nothing here imports Gradio.
"""

from vc_core.conditions.cache import ConditionCache, cache_key, file_digest
from vc_core.conditions.depth import depth_condition, nearness_condition
from vc_core.conditions.drawing import parse_drawing
from vc_core.conditions.errors import (
    DEFAULT_LIMITS,
    ConditionError,
    EmptyVideoError,
    FileTooLargeError,
    ImageModeError,
    InputLimits,
    NoVideoStreamError,
    ResolutionTooLargeError,
    StrokeError,
    UnreadableFileError,
    VideoTooLongError,
)
from vc_core.conditions.images import (
    load_rgb,
    load_rgba,
    local_image_condition,
    single_sketch_condition,
)
from vc_core.conditions.masks import (
    irregular_mask,
    mask_clip,
    mask_from_image,
    mask_from_video,
    masked_video_condition,
    paste_outside_mask,
    rectangle_mask,
    uncrop_mask,
)
from vc_core.conditions.motion_vectors import extract_motion_maps, motion_condition
from vc_core.conditions.previews import (
    depth_preview,
    masked_video_preview,
    motion_arrows_preview,
    motion_hold_preview,
    sketch_preview,
    stroke_preview,
    video_tensor_to_uint8,
)
from vc_core.conditions.sketch import canny_edges, sketch_condition
from vc_core.conditions.strokes import PRESETS, Stroke, StrokeMotion, preset_motion, stroke_to_motion
from vc_core.conditions.transforms import (
    misc_frames_tensor,
    motion_maps_tensor,
    to_model_layout,
    video_frames_tensor,
)
from vc_core.conditions.video import Clip, VideoInfo, probe_video, read_clip

__all__ = [
    "DEFAULT_LIMITS",
    "PRESETS",
    "Clip",
    "ConditionCache",
    "ConditionError",
    "EmptyVideoError",
    "FileTooLargeError",
    "ImageModeError",
    "InputLimits",
    "NoVideoStreamError",
    "ResolutionTooLargeError",
    "Stroke",
    "StrokeError",
    "StrokeMotion",
    "UnreadableFileError",
    "VideoInfo",
    "VideoTooLongError",
    "cache_key",
    "canny_edges",
    "depth_condition",
    "nearness_condition",
    "depth_preview",
    "extract_motion_maps",
    "file_digest",
    "irregular_mask",
    "load_rgb",
    "load_rgba",
    "local_image_condition",
    "mask_clip",
    "mask_from_image",
    "mask_from_video",
    "masked_video_condition",
    "parse_drawing",
    "paste_outside_mask",
    "masked_video_preview",
    "misc_frames_tensor",
    "motion_arrows_preview",
    "motion_hold_preview",
    "motion_condition",
    "motion_maps_tensor",
    "preset_motion",
    "probe_video",
    "read_clip",
    "rectangle_mask",
    "single_sketch_condition",
    "sketch_condition",
    "sketch_preview",
    "stroke_preview",
    "stroke_to_motion",
    "to_model_layout",
    "uncrop_mask",
    "video_frames_tensor",
    "video_tensor_to_uint8",
]
