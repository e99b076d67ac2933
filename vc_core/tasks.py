"""User inputs → a :class:`GenerationRequest` plus condition previews, one function per app tab.

This is the only place where uploads, drawings and checkboxes become condition tensors; the Gradio
app (``ui/``) and the command line (``vc_core.generate``) both call it, so a result made in one can
be reproduced with the other. Conditions are made at the sizes of the model that will use them:
motion at ``spec.video_size``, everything else at ``spec.misc_size``.

Inputs are plain values (file paths, PIL images or arrays, JSON strings, booleans); every problem
a user can fix raises a ``ValueError`` (usually a ``ConditionError``) whose message can be shown
as it is; missing official annotator weights raise ``WeightError``.

The hand-drawn motion canvas sends JSON, read by :func:`vc_core.conditions.parse_drawing`.
"""
from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from vc_core.conditions import (
    DEFAULT_LIMITS,
    Clip,
    ConditionCache,
    ConditionError,
    StrokeError,
    cache_key,
    depth_condition,
    nearness_condition,
    depth_preview,
    extract_motion_maps,
    file_digest,
    irregular_mask,
    load_rgb,
    mask_clip,
    mask_from_image,
    masked_video_condition,
    parse_drawing,
    paste_outside_mask,
    masked_video_preview,
    misc_frames_tensor,
    motion_arrows_preview,
    motion_hold_preview,
    preset_motion,
    read_clip,
    rectangle_mask,
    sketch_condition,
    sketch_preview,
    stroke_preview,
    stroke_to_motion,
    to_model_layout,
    uncrop_mask,
    video_frames_tensor,
    video_tensor_to_uint8,
)
from vc_core.conditions.images import ImageSource
from vc_core.conditions.motion_warp import warp_along_motion
from vc_core.conditions.sketch import CleanerFn, EdgeFn
from vc_core.conditions.strokes import PRESETS
from vc_core.conditions.transforms import (
    MISC_SIZE,
    mask_square,
    repeat_over_frames,
)
from vc_core.conditions.video import check_num_frames
from vc_core.config import ModelSpec
from vc_core.evaluate.motion import motion_adherence
from vc_core.models.annotators import (
    clean_sketch,
    edge_map,
    load_midas,
    load_pidinet,
    load_sketch_simplification,
)
from vc_core.models.clip import preprocess_style_image
from vc_core.pipeline import (
    MIN_FRAMES,
    GenerationRequest,
    GenerationResult,
    Pipeline,
    Progress,
)
from vc_core.video_io import write_gif, write_mp4
from vc_core.weights import WeightError, find_official_files
from vc_core.world.vocabulary import prompt_notes

MASK_PRESETS: dict[str, Callable[[int, int], np.ndarray]] = {  # name → (size, seed) → (size, size) bool
    "centre box": lambda size, seed: rectangle_mask((0.25, 0.25, 0.75, 0.75), size),
    "left half": lambda size, seed: rectangle_mask((0.0, 0.0, 0.5, 1.0), size),
    "right half": lambda size, seed: rectangle_mask((0.5, 0.0, 1.0, 1.0), size),
    "outpaint sides": lambda size, seed: uncrop_mask((0.25, 0.0, 0.75, 1.0), size),
    "random brush strokes (seeded)": lambda size, seed: irregular_mask(seed, size),
}
MOTION_PRESETS = PRESETS


@dataclass(frozen=True)
class Settings:
    """The sampling controls every tab shares."""

    frames: int = 16
    steps: int = 25
    guide_scale: float | None = None  # None: the model's default
    sampler: str = "ddim"
    seed: int = 0
    condition_guidance: bool | None = None  # None: the model's default
    keep_given: bool | None = None  # None: the model's default
    motion_hold: float | None = None  # None: the model's default


@dataclass
class Prepared:
    """A request ready for ``Pipeline.generate`` and what the user should see about it."""

    request: GenerationRequest
    previews: dict[str, list[np.ndarray]]  # caption → uint8 (H, W, 3) frames; one frame = a still
    motion: np.ndarray | None  # (F, 2, S, S) requested motion at the video size, for adherence
    warnings: list[str] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)  # JSON-able: task, inputs, how conditions were made
    paste_back: tuple[np.ndarray, np.ndarray] | None = None  # (source frames, mask): keep the source outside the mask


@dataclass
class Outcome:
    video: np.ndarray  # (F, H, W, 3) uint8
    parameters: dict[str, Any]  # everything needed to reproduce the video, plus timings
    adherence: dict[str, Any] | None  # motion adherence when motion was requested
    previews: dict[str, list[np.ndarray]]


@dataclass(frozen=True)
class SavedOutcome:
    mp4: Path
    gif: Path
    previews: list[tuple[Path, str]]  # (GIF or PNG, caption)
    parameters: Path


# ---------------------------------------------------------------------------------------------
# Annotators (official weights), loaded lazily and shared by the whole process: models only.

_ANNOTATOR_LOADERS: dict[str, Callable[[Path], torch.nn.Module]] = {
    "midas": load_midas,
    "pidinet": load_pidinet,
    "sketch": load_sketch_simplification,
}
_annotators: dict[tuple[str, Path, str], torch.nn.Module] = {}
_annotators_lock = threading.Lock()


class Toolbox:
    """What turning inputs into conditions needs besides the generator: the official annotators
    of ``weights`` (when present) and a cache of video-derived conditions (keyed by content)."""

    def __init__(self, weights: str | None = None, cache: ConditionCache | None = None, device: str = "cpu"):
        self.weights = weights
        self.cache = cache if cache is not None else ConditionCache()
        self.device = device

    def annotator(self, key: str) -> torch.nn.Module:
        path = find_official_files(self.weights, (key,))[key]
        with _annotators_lock:
            slot = (key, path, self.device)
            if slot not in _annotators:
                _annotators[slot] = _ANNOTATOR_LOADERS[key](path).to(self.device)
            return _annotators[slot]

    def depth_unavailable(self) -> str:
        """'' when MiDaS can run, else why not (shown next to the depth checkbox)."""
        try:
            find_official_files(self.weights, ("midas",))
        except WeightError as exc:
            return f"Depth needs the official MiDaS weights (midas_v3_dpt_large.pth). {exc}"
        return ""

    def sketch_method(self, spec: ModelSpec) -> str:
        """'PiDiNet + cleaner' when the model was trained on it and both official files are
        present, else 'Canny' (what the embedded model was trained on)."""
        if spec.sketch_from == "canny":
            return "Canny"
        try:
            find_official_files(self.weights, ("pidinet", "sketch"))
        except WeightError:
            return "Canny"
        return "PiDiNet + cleaner"

    def sketch_functions(self, spec: ModelSpec) -> tuple[EdgeFn | None, CleanerFn | None]:
        if self.sketch_method(spec) == "Canny":
            return None, None
        pidinet, cleaner = self.annotator("pidinet"), self.annotator("sketch")
        return (lambda frames: edge_map(pidinet, frames)), (lambda edges: clean_sketch(cleaner, edges))


# ---------------------------------------------------------------------------------------------
# A reference video: sampled once per request, derived conditions cached by content.


class _ReferenceVideo:
    def __init__(self, tools: Toolbox, path: str | Path, frames: int, start_s: float):
        self.tools, self.path, self.frames, self.start_s = tools, path, frames, float(start_s)
        self.digest = file_digest(DEFAULT_LIMITS.check_file(path))  # readable error before hashing
        self._clip: Clip | None = None

    def clip(self) -> Clip:
        if self._clip is None:
            self._clip = read_clip(self.path, self.frames, self.start_s)
        return self._clip

    def _cached(self, kind: str, compute: Callable[[], Any], **params: Any) -> Any:
        key = cache_key(None, kind, file=self.digest, frames=self.frames, start=self.start_s, **params)
        return self.tools.cache.get_or_compute(key, compute)

    def video_frames(self, size: int) -> np.ndarray:
        """(F, size, size, 3) uint8 in the geometry of generated videos."""
        return self._cached("video_frames", lambda: video_tensor_to_uint8(video_frames_tensor(self.clip().frames, size)), size=size)

    def misc(self, size: int) -> torch.Tensor:
        """(F, 3, size, size) in [0, 1]: what annotators, masks and the first frame use."""
        return self._cached("misc", lambda: misc_frames_tensor(self.clip().frames, size), size=size)

    def motion(self, size: int) -> np.ndarray:
        # Vectors are measured on frames already brought to the model's video size, so they are
        # in pixels of the generated video: that is how the embedded model was trained, and what
        # motion adherence measures (the official code kept source-resolution pixels instead).
        return self._cached("motion", lambda: extract_motion_maps(self.video_frames(size), self.clip().fps), size=size)

    def depth(self, size: int, depth_from: str) -> torch.Tensor:
        def compute() -> torch.Tensor:
            midas = self.tools.annotator("midas")
            misc = self.misc(MISC_SIZE)  # MiDaS runs at its official 384², then the result is resized
            depth = (nearness_condition if depth_from == "nearness" else depth_condition)(misc, midas)
            return _resize(depth, size)

        return self._cached("depth", compute, size=size, depth_from=depth_from)

    def sketch(self, size: int, method: str, functions: tuple[EdgeFn | None, CleanerFn | None]) -> torch.Tensor:
        return self._cached("sketch", lambda: sketch_condition(self.misc(size), *functions), size=size, method=method)


def _resize(condition: torch.Tensor, size: int) -> torch.Tensor:
    if condition.shape[-1] == size and condition.shape[-2] == size:
        return condition
    return F.interpolate(condition, size=(size, size), mode="area")


# ---------------------------------------------------------------------------------------------
# Still images


def _still(source: ImageSource, size: int) -> torch.Tensor:
    """(1, 3, size, size) in [0, 1], in the geometry of the misc frames."""
    return misc_frames_tensor(np.asarray(load_rgb(source))[None], size)


def _as_frames(condition: torch.Tensor) -> list[np.ndarray]:
    """A [0, 1] RGB condition (N, 3, H, W) → uint8 frames for previews."""
    return list(video_tensor_to_uint8(condition * 2.0 - 1.0))


class _Builder:
    """Collects conditions (checked against the model), previews, warnings and provenance."""

    def __init__(self, pipe: Pipeline, task: str, prompt: str | None, settings: Settings):
        check_num_frames(int(settings.frames))  # before any work is sized by it
        self.pipe, self.spec = pipe, pipe.spec
        self.prompt = _checked_prompt(prompt)
        self.settings = settings
        self.conditions: dict[str, torch.Tensor] = {}
        self.previews: dict[str, list[np.ndarray]] = {}
        self.warnings: list[str] = prompt_notes(self.prompt) if self.spec.world_vocabulary else []
        self.paste_back: tuple[np.ndarray, np.ndarray] | None = None
        self.info: dict[str, Any] = {"task": task, "inputs": {}, "condition_sources": {}}
        self.style: torch.Tensor | None = None
        self.motion: np.ndarray | None = None
        self.started = time.perf_counter()

    def add(self, name: str, condition: torch.Tensor, how: str, preview: list[np.ndarray]) -> None:
        """``condition`` is (F, C, H, W); ``how`` says how it was made (shown and recorded)."""
        known = self.spec.unet.conditions
        if name not in known:
            raise ConditionError(f"The {self.spec.name} model has no '{name}' condition; it takes {', '.join(known)}.")
        self.conditions[name] = to_model_layout(condition)
        self.info["condition_sources"][name] = how
        self.previews[f"{name} ({how})"] = preview

    def add_motion(self, maps: np.ndarray, how: str, background: np.ndarray | None) -> None:
        self.motion = maps
        self.add("motion", torch.from_numpy(maps), how, motion_arrows_preview(background, maps))

    def add_style(self, source: ImageSource, name: str) -> None:
        self.style = preprocess_style_image(load_rgb(source))
        self.info["inputs"]["style"] = name
        self.previews["style image"] = _as_frames(_still(source, 224))

    def add_first_frame(self, source: ImageSource, name: str) -> np.ndarray:
        """``local_image`` from a picture; returns it at the video size (for motion previews)."""
        square = _still(source, self.spec.misc_size)
        self.add("local_image", repeat_over_frames(square[0], self.settings.frames), "first frame", _as_frames(square))
        self.info["inputs"]["image"] = name
        return square_picture(source, self.spec.video_size)

    def reference(self, tools: Toolbox, video: str | Path, start_s: float) -> _ReferenceVideo:
        ref = _ReferenceVideo(tools, video, self.settings.frames, start_s)
        self.info["inputs"]["video"] = {"name": Path(video).name, "blake2b": ref.digest, "start_s": ref.start_s}
        return ref

    def add_reference_motion(self, ref: _ReferenceVideo) -> None:
        size = self.spec.video_size
        self.add_motion(ref.motion(size), "codec motion vectors of the video", ref.video_frames(size))

    def add_reference_depth(self, tools: Toolbox, ref: _ReferenceVideo) -> None:
        reason = tools.depth_unavailable()
        if reason:
            raise WeightError(reason)
        depth = ref.depth(self.spec.misc_size, self.spec.depth_from)
        how = "MiDaS, per-clip nearness" if self.spec.depth_from == "nearness" else "MiDaS"
        self.add("depth", depth, how, depth_preview(depth))

    def build(self) -> Prepared:
        s = self.settings
        request = GenerationRequest(
            self.prompt, self.conditions, self.style, frames=int(s.frames), steps=int(s.steps),
            guide_scale=None if s.guide_scale is None else float(s.guide_scale), sampler=s.sampler, seed=int(s.seed),
            condition_guidance=s.condition_guidance, keep_given=s.keep_given, motion_hold=s.motion_hold,
        )
        request.validate(self.spec.unet.conditions)
        if not request.prompt and not request.conditions and request.style_image is None:
            raise ConditionError("Nothing to generate from: write a prompt or give at least one condition.")
        hold = self.pipe.with_model_defaults(request).motion_hold
        carried = self.pipe.carried_first_frame(request) if hold else None
        if carried is not None:
            caption = f"motion hold: your image carried along the motion, held for {hold:.0%} of sampling (dimmed: the model draws)"
            self.previews[caption] = motion_hold_preview(*carried)
        self.info["prepare_s"] = round(time.perf_counter() - self.started, 3)
        return Prepared(request, self.previews, self.motion, self.warnings, self.info, self.paste_back)


def _checked_prompt(prompt: str | None) -> str:
    """The prompt, stripped; refused when it cannot be UTF-8 (unpaired surrogates, which JSON can
    carry): the tokenizer would accept it but the parameters of the result could not be written."""
    prompt = (prompt or "").strip()
    try:
        prompt.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ConditionError(
            f"The prompt contains an invalid character at position {exc.start} (an unpaired UTF-16 surrogate); retype it."
        ) from exc
    return prompt


def _name(source: ImageSource | None) -> str:
    return Path(source).name if isinstance(source, (str, Path)) else type(source).__name__


# ---------------------------------------------------------------------------------------------
# The four tabs


def compose_request(
    pipe: Pipeline,
    tools: Toolbox,
    prompt: str | None,
    settings: Settings,
    *,
    image: ImageSource | None = None,
    style: ImageSource | None = None,
    sketch: ImageSource | None = None,
    sketch_is_photo: bool = False,
    video: str | Path | None = None,
    video_start_s: float = 0.0,
    use_depth: bool = False,
    use_sketch: bool = False,
    use_motion: bool = False,
) -> Prepared:
    """Text plus any of: first frame, style image, one sketch, and depth / sketch sequence /
    motion taken from a reference video."""
    b = _Builder(pipe, "compose", prompt, settings)
    size = pipe.spec.misc_size
    if image is not None:
        b.add_first_frame(image, _name(image))
    if style is not None:
        b.add_style(style, _name(style))
    if sketch is not None:
        single, how = _single_sketch(tools, b.spec, sketch, sketch_is_photo)
        b.info["inputs"]["sketch"] = _name(sketch)
        if float(single.max()) < 0.1:
            b.warnings.append("The sketch is empty, so it was not used.")
        else:
            b.add("single_sketch", repeat_over_frames(single[0], settings.frames), how, sketch_preview(single))
    wanted = [name for name, on in (("depth", use_depth), ("sketch", use_sketch), ("motion", use_motion)) if on]
    if wanted and video is None:
        raise ConditionError(f"Upload a reference video to take its {' / '.join(wanted)} from.")
    if video is not None:
        if not wanted:
            b.warnings.append("The reference video was not used: tick depth, sketch or motion to use it.")
        else:
            ref = b.reference(tools, video, video_start_s)
            if use_depth:
                b.add_reference_depth(tools, ref)
            if use_sketch:
                method = tools.sketch_method(b.spec)
                sequence = ref.sketch(size, method, tools.sketch_functions(b.spec))
                b.add("sketch", sequence, f"{method} on every frame", sketch_preview(sequence))
            if use_motion:
                b.add_reference_motion(ref)
    return b.build()


def _single_sketch(tools: Toolbox, spec: ModelSpec, source: ImageSource, is_photo: bool) -> tuple[torch.Tensor, str]:
    """(1, 1, size, size) bright lines on black, and how they were made."""
    square = _still(source, spec.misc_size)
    if is_photo:
        return sketch_condition(square, *tools.sketch_functions(spec)), f"{tools.sketch_method(spec)} edges of the picture"
    # a drawing: its dark lines on a light (or transparent, i.e. white) background are the sketch
    return 1.0 - square.mean(dim=1, keepdim=True), "drawn lines"


def inpaint_request(
    pipe: Pipeline,
    tools: Toolbox,
    prompt: str | None,
    settings: Settings,
    *,
    video: str | Path | None,
    mask_layers: Sequence[ImageSource] = (),
    preset: str | None = None,
    keep_motion: bool = False,
    keep_depth: bool = False,
    video_start_s: float = 0.0,
    keep_unmasked: bool = True,
) -> Prepared:
    """Regenerate the masked part of a video. The mask is painted (layers: opaque paint or white =
    regenerate) or a preset from :data:`MASK_PRESETS`; the preset wins when both are given.
    With ``keep_unmasked`` the result shows the source's own pixels outside the mask."""
    if video is None:
        raise ConditionError("Upload the video to inpaint.")
    b = _Builder(pipe, "inpaint", prompt, settings)
    size = pipe.spec.misc_size
    ref = b.reference(tools, video, video_start_s)
    if preset:
        if preset not in MASK_PRESETS:
            raise ConditionError(f"Unknown mask preset {preset!r}; choose one of {', '.join(MASK_PRESETS)}.")
        mask, how = MASK_PRESETS[preset](size, int(settings.seed)), f"preset '{preset}'"
    else:
        mask, how = _painted_mask(mask_layers, size), "painted"
    if not mask.any():
        raise ConditionError("The mask is empty: paint the area to regenerate, or pick a mask preset.")
    if mask.all():
        b.warnings.append("The mask hides the whole picture, so nothing of the video is kept.")
    masked = masked_video_condition(ref.misc(size), mask_clip(mask, settings.frames))
    b.add("masked", masked, f"mask {how}, {100 * mask.mean():.0f}% regenerated", masked_video_preview(masked))
    b.info["mask"] = {"how": how, "hidden_fraction": round(float(mask.mean()), 4), "keep_unmasked": keep_unmasked}
    if keep_unmasked:
        b.paste_back = (ref.video_frames(pipe.spec.video_size), mask)
    if keep_depth:
        b.add_reference_depth(tools, ref)
    if keep_motion:
        b.add_reference_motion(ref)
    return b.build()


def _painted_mask(layers: Sequence[ImageSource], size: int) -> np.ndarray:
    """Union of painted layers → (size, size) bool (True = regenerate)."""
    mask = np.zeros((size, size), bool)
    for layer in layers:
        mask |= mask_square(mask_from_image(layer), size)
    return mask


def motion_transfer_request(
    pipe: Pipeline,
    tools: Toolbox,
    prompt: str | None,
    settings: Settings,
    *,
    video: str | Path | None,
    image: ImageSource | None = None,
    style: ImageSource | None = None,
    video_start_s: float = 0.0,
) -> Prepared:
    """The motion of a reference video applied to the appearance of an image (its first frame)."""
    if video is None:
        raise ConditionError("Upload the reference video whose motion should be transferred.")
    b = _Builder(pipe, "motion_transfer", prompt, settings)
    ref = b.reference(tools, video, video_start_s)
    if image is not None:
        b.add_first_frame(image, _name(image))
    if style is not None:
        b.add_style(style, _name(style))
    b.add_reference_motion(ref)
    return b.build()


def draw_motion_request(
    pipe: Pipeline,
    tools: Toolbox,
    prompt: str | None,
    settings: Settings,
    *,
    image: ImageSource | None = None,
    drawing: str | Mapping | None = None,
    preset: str | None = None,
) -> Prepared:
    """Motion from strokes drawn on a canvas (JSON, see the module docstring) or from a preset
    (:data:`MOTION_PRESETS`), on an image (its first frame) or on a blank background."""
    b = _Builder(pipe, "draw_motion", prompt, settings)
    background = b.add_first_frame(image, _name(image)) if image is not None else None
    maps, how, picture = drawn_motion(pipe.spec.video_size, settings.frames, drawing, preset, background, b)
    if picture is not None:
        b.previews["strokes"] = [picture]
    b.add_motion(maps, how, None if background is None else np.repeat(background[None], settings.frames, axis=0))
    return b.build()


def motion_preview(
    pipe: Pipeline,
    frames: int,
    image: ImageSource | None = None,
    drawing: str | Mapping | None = None,
    preset: str | None = None,
    display_size: int = 384,
    motion_hold: float | None = None,
) -> tuple[list[np.ndarray], list[str]]:
    """Animated arrows of the motion a drawing or preset requests (before generating), enlarged to
    ``display_size`` (pixels stay square: small models work at 128²), and warnings. With a picture
    and a motion hold (None: the model's), the arrows move over the picture carried along the
    motion, as the sampling will start from it."""
    size = pipe.spec.video_size
    background = square_picture(image, size) if image is not None else None
    b = _Builder(pipe, "motion_preview", "", Settings(frames=frames))
    maps, _, _ = drawn_motion(size, frames, drawing, preset, background, b)
    backgrounds = None if background is None else np.repeat(background[None], frames, axis=0)
    hold = pipe.spec.motion_hold if motion_hold is None else motion_hold
    if background is not None and hold and "local_image" in pipe.spec.unet.conditions:
        picture = torch.from_numpy(background).permute(2, 0, 1).float().div(127.5).sub(1)
        video, known = warp_along_motion(picture, torch.from_numpy(maps).float())
        backgrounds = np.stack(motion_hold_preview(video, known))
    scale = max(1, display_size // size)
    arrows = motion_arrows_preview(backgrounds, maps)
    return [cv2.resize(f, (size * scale, size * scale), interpolation=cv2.INTER_NEAREST) for f in arrows], b.warnings


def drawn_motion(
    size: int,
    frames: int,
    drawing: str | Mapping | None,
    preset: str | None,
    background: np.ndarray | None,
    b: _Builder,
) -> tuple[np.ndarray, str, np.ndarray | None]:
    """(F, 2, size, size) motion maps, how they were made, and a picture of the strokes (or None)."""
    strokes = parse_drawing(drawing, size) if drawing else []
    if preset:
        if preset not in MOTION_PRESETS:
            raise StrokeError(f"Unknown motion preset {preset!r}; choose one of {', '.join(MOTION_PRESETS)}.")
        if strokes:
            b.warnings.append(f"The preset '{preset}' was used; the drawn strokes were ignored.")
        b.info["motion"] = {"preset": preset}
        # 4 px per frame at the official 256², scaled so a pan crosses the same share of the picture
        return preset_motion(preset, (size, size), frames, speed=4.0 * size / 256).maps, f"preset '{preset}'", None
    if not strokes:
        raise StrokeError("Draw at least one stroke on the canvas (or pick a motion preset) to describe the motion.")
    motion = stroke_to_motion(strokes, (size, size), frames)
    b.warnings.extend(motion.warnings)
    b.info["motion"] = {
        "strokes": [
            {"points": np.round(np.asarray(s.points), 2).tolist(), "moves": "painted region" if s.mask is not None else "disc"}
            for s in strokes
        ],
        "canvas": [size, size],
    }
    return motion.maps, f"{len(strokes)} drawn stroke(s)", stroke_preview(strokes, (size, size), background, frames)


def square_picture(source: ImageSource, size: int) -> np.ndarray:
    """A picture cropped and scaled as the model sees it, (size, size, 3) uint8: to draw or paint on."""
    return _as_frames(_still(source, size))[0]


def video_first_frame(video: str | Path, size: int = MISC_SIZE, start_s: float = 0.0) -> np.ndarray:
    """The first sampled frame of a video as :func:`square_picture` (where inpainting masks are painted)."""
    return square_picture(read_clip(video, MIN_FRAMES, start_s).frames[0], size)


# ---------------------------------------------------------------------------------------------
# Generation and outputs


def generate(
    pipe: Pipeline, prepared: Prepared, progress: Progress | None = None, cancel: threading.Event | None = None
) -> Outcome:
    """Run the request; add motion adherence when motion was requested and record everything."""
    result: GenerationResult = pipe.generate(prepared.request, progress, cancel)
    video = result.video.numpy()
    if prepared.paste_back is not None:
        video = paste_outside_mask(video, *prepared.paste_back)
    adherence = None
    if prepared.motion is not None:
        measured = motion_adherence(video, prepared.motion)
        adherence = measured.as_dict() if measured.points else None
    parameters = {
        **result.parameters,
        **prepared.info,
        "warnings": prepared.warnings,
        "timings_s": {k: round(v, 3) for k, v in result.timings.items()},
        "motion_adherence": adherence,
    }
    return Outcome(video, parameters, adherence, prepared.previews | _draft_previews(result.drafted, video))


def _draft_previews(drafted: dict[str, torch.Tensor], video: np.ndarray) -> dict[str, list[np.ndarray]]:
    """Previews of what motion hold's draft pass made, so the result shows all the model was given."""
    previews = {}
    if "local_image" in drafted:
        first = drafted["local_image"][0, :, :1].transpose(0, 1)  # (1, 3, H, W) in [0, 1]
        previews["first frame drawn by the model (a shorter first pass), then animated along the motion"] = _as_frames(first)
    if "motion" in drafted:
        maps = drafted["motion"][0].transpose(0, 1).numpy()  # (F, 2, H, W) at the video size
        previews["motion drafted by the model (a shorter first pass); your image was carried along it"] = motion_arrows_preview(video, maps)
    return previews


def save_outcome(outcome: Outcome, folder: str | Path, stem: str = "result") -> SavedOutcome:
    """MP4 + GIF of the video, one GIF (clips) or PNG (stills) per preview, and the parameters JSON."""
    folder = Path(folder)
    mp4 = write_mp4(outcome.video, folder / f"{stem}.mp4")
    gif = write_gif(outcome.video, folder / f"{stem}.gif")
    previews = []
    for index, (caption, frames) in enumerate(outcome.previews.items()):
        if len(frames) > 1:
            path = write_gif(np.stack(frames), folder / f"{stem}_preview{index}.gif")
        else:
            path = folder / f"{stem}_preview{index}.png"
            Image.fromarray(frames[0]).save(path)
        previews.append((path, caption))
    parameters = folder / f"{stem}.json"
    parameters.write_text(json.dumps(outcome.parameters, indent=2))
    return SavedOutcome(mp4, gif, previews, parameters)
