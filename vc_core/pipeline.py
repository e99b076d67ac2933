"""Cached components → ``generate(request, progress, cancel)`` → uint8 video frames.

The pipeline takes condition tensors already built by ``vc_core.conditions`` and owns only
model work: text/image encoding, the STC features, sampling and VAE decoding.
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
from collections import OrderedDict
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterator

import torch
import torch.nn.functional as F

from vc_core.conditions.motion_warp import warp_along_motion
from vc_core.conditions.optical_flow import motion_from_video
from vc_core.conditions.transforms import to_model_layout
from vc_core.config import CONDITION_CHANNELS, MODEL_NAMES, OFFICIAL_NOISE_SCHEDULE, ModelSpec, UNetConfig
from vc_core.models.clip import CLIPEncoder, load_clip
from vc_core.models.unet import LoadReport, UNet3D, channels_last_convs, load_unet
from vc_core.models.vae import AutoencoderKL, load_vae
from vc_core.sampling import NOISE_SCHEDULES, SAMPLERS, NoiseSchedule, StepCallback, as_eps_fn, cfg_eps_fn, hold_known_eps_fn, sample
from vc_core.weights import WeightError, find_official_files, load_frozen, read_checkpoint

log = logging.getLogger(__name__)
Progress = Callable[[int, int], None]
EMBEDDED_DIR = Path(__file__).resolve().parents[1] / "assets" / "embedded"
MIN_FRAMES, MAX_FRAMES = 8, 32
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
# The draft pass before motion hold (``Pipeline._draft``) takes this share of the request's steps.
DRAFT_SHARE = 0.4
# What a draft gives, as named in a result's timings and parameters, and what is done with it.
DRAFTS = {"local_image": ("first_frame", "animated along the motion"), "motion": ("drafted_motion", "the first frame carried along it")}


def precision_dtype(precision: str, device: str | torch.device, cuda_auto: str = "fp16") -> torch.dtype:
    """The autocast dtype for ``precision`` on ``device``; 'auto' is the model's ``cuda_auto`` on
    CUDA (``ModelSpec.cuda_precision``) and fp32 on CPU (bf16 there is ~2× faster on the official
    UNet but moves the prediction by ~2 %)."""
    device = torch.device(device)
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose one of {PRECISIONS}")
    if precision == "auto":
        return _DTYPES[cuda_auto] if device.type == "cuda" else torch.float32
    if precision == "fp16" and device.type == "cpu":
        raise ValueError("fp16 is not supported on the CPU (it is slower than fp32 there); use bf16 or fp32")
    return _DTYPES[precision]


# GenerationRequest settings whose None means "the model's own" (ModelSpec fields of the same name).
MODEL_DEFAULTS = ("guide_scale", "condition_guidance", "keep_given", "motion_hold")


@dataclass
class GenerationRequest:
    """Everything that determines one video; ``parameters()`` reproduces it."""

    prompt: str
    conditions: dict[str, torch.Tensor] = field(default_factory=dict)  # name → (1, C, F, H, W)
    style_image: torch.Tensor | None = None  # (1, 3, 224, 224) CLIP-normalised
    frames: int = 16
    steps: int = 50
    # None here and below = the model's default (the ModelSpec field of the same name).
    guide_scale: float | None = None
    sampler: str = "ddim"
    seed: int = 0
    # Guidance also strengthens the spatial conditions (dropped in the unconditional branch).
    condition_guidance: bool | None = None
    # Keep what the user gave: the video starts exactly at a single image condition's picture and
    # a masked video's visible pixels stay, the model filling only the rest.
    keep_given: bool | None = None
    # With a first frame and motion: for the noisiest ``motion_hold`` of the diffusion time (0–1)
    # the regions the motion moves hold the first frame carried along it, so objects start where
    # the motion puts them; the model draws everything after and around that. Given only one of
    # the two, a shorter first pass drafts the other (``Pipeline._draft``).
    motion_hold: float | None = None

    def validate(self, conditions_known: list[str]) -> None:
        if not MIN_FRAMES <= self.frames <= MAX_FRAMES:
            raise ValueError(f"frame count must be between {MIN_FRAMES} and {MAX_FRAMES}, got {self.frames}")
        if not 1 <= self.steps <= 200:
            raise ValueError(f"steps must be between 1 and 200, got {self.steps}")
        if self.guide_scale is not None and not 0.0 <= self.guide_scale <= 50.0:
            raise ValueError(f"guidance scale must be between 0 and 50, got {self.guide_scale}")
        if self.motion_hold is not None and not 0.0 <= self.motion_hold <= 1.0:
            raise ValueError(f"motion hold must be between 0 and 1, got {self.motion_hold}")
        if self.sampler not in SAMPLERS:
            raise ValueError(f"unknown sampler {self.sampler!r}; choose one of {SAMPLERS}")
        for name, cond in self.conditions.items():
            if name not in conditions_known:
                raise ValueError(f"this model has no '{name}' condition; it knows {conditions_known}")
            if cond.dim() != 5 or cond.shape[1] != CONDITION_CHANNELS[name] or cond.shape[2] != self.frames:
                raise ValueError(
                    f"condition '{name}' must be (1, {CONDITION_CHANNELS[name]}, {self.frames}, H, W), got {tuple(cond.shape)}"
                )

    def parameters(self) -> dict:
        """JSON-able description (condition tensors by name and shape only)."""
        d = asdict(self) | {"conditions": {k: list(v.shape) for k, v in self.conditions.items()}}
        d["style_image"] = self.style_image is not None
        return d


@dataclass
class GenerationResult:
    video: torch.Tensor  # (F, H, W, 3) uint8
    timings: dict[str, float]
    parameters: dict
    # conditions a draft pass made for motion hold (``Pipeline._draft``), as the request's are
    drafted: dict[str, torch.Tensor] = field(default_factory=dict)


class Pipeline:
    """Models loaded once; ``generate`` may be called many times (one at a time)."""

    def __init__(
        self,
        spec: ModelSpec,
        unet: UNet3D,
        vae: AutoencoderKL,
        clip: CLIPEncoder,
        schedule: NoiseSchedule | None = None,
        device: str | torch.device = "cpu",
        precision: str = "auto",
        offload: bool = False,
    ):
        """``offload``: keep UNet, VAE and CLIP in CPU memory and move each to ``device`` only while
        it runs, so a GPU needs room for the largest one, not all three (one transfer per use)."""
        self.spec = spec
        self.device = torch.device(device)
        self.offload = offload
        home = torch.device("cpu") if offload else self.device
        self.unet = unet.to(home).eval()
        self.vae = vae.to(home).eval()
        self.clip = clip.to(home).eval()
        self.schedule = schedule or NoiseSchedule.named(spec.noise_schedule)
        self.dtype = precision_dtype(precision, self.device, spec.cuda_precision)
        if self.dtype == torch.bfloat16 and self.device.type == "cpu":
            channels_last_convs(self.unet)  # 17 % faster under bf16 on CPU, 3 % slower in fp32 (benchmarks/)
        self._text_cache: OrderedDict[str, torch.Tensor] = OrderedDict()
        self._lock = threading.Lock()
        self.unet.zero_y = self.text_embedding("").to(home)
        self.load_report: LoadReport | None = None

    @classmethod
    def from_official(
        cls, weights: str | None = None, device: str = "cpu", precision: str = "auto", offload: bool = False
    ) -> "Pipeline":
        """Load the official UNet, VAE and OpenCLIP from ``weights`` (or ``$VC_WEIGHTS_DIR``)."""
        files = find_official_files(weights, keys=("unet", "clip", "vae"))
        unet, report = load_unet(files["unet"])
        pipe = cls(ModelSpec.official(), unet, load_vae(files["vae"]), load_clip(files["clip"]), device=device, precision=precision, offload=offload)
        pipe.load_report = report
        return pipe

    @classmethod
    def from_embedded(
        cls, folder: str | os.PathLike = EMBEDDED_DIR, device: str = "cpu", precision: str = "auto", offload: bool = False
    ) -> "Pipeline":
        """The small model shipped in ``assets/embedded`` (trained by ``vc_core.train``)."""
        folder = Path(folder)
        spec = ModelSpec.embedded()
        meta_path = folder / "model.json"
        if not meta_path.is_file():
            raise WeightError(f"embedded model not found: {meta_path} is missing (train it with the recipe in vc_core/train)")
        meta = json.loads(meta_path.read_text())
        spec.vae.scale_factor = float(meta["vae_scale_factor"])
        spec.prediction = meta["prediction"]
        spec.noise_schedule = meta.get("noise_schedule", OFFICIAL_NOISE_SCHEDULE)  # folders exported before the option
        if spec.noise_schedule not in NOISE_SCHEDULES:
            raise WeightError(f"{meta_path}: unknown noise_schedule {spec.noise_schedule!r}; this code knows {NOISE_SCHEDULES}")
        try:  # the folder's own config: a model retrained with other options differs from the shipped one
            spec.unet = UNetConfig(**meta["unet"])
        except (TypeError, ValueError) as exc:
            raise WeightError(f"{meta_path}: its UNet config does not fit this code ({exc})") from exc
        parts = {}
        for key in ("unet", "vae", "clip"):
            state = read_checkpoint(folder / f"{key}.safetensors", f"embedded {key}")
            parts[key] = {k: v.float() for k, v in state.items()}
        unet = load_frozen(lambda: UNet3D(spec.unet), parts["unet"], f"embedded UNet: {folder}")
        vae = load_frozen(lambda: AutoencoderKL(spec.vae), parts["vae"], f"embedded VAE: {folder}")
        clip = CLIPEncoder(spec.clip, empty=True).load_weights(parts["clip"], origin=f"embedded CLIP: {folder}")
        return cls(spec, unet, vae, clip, device=device, precision=precision, offload=offload)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def video_size(self) -> int:
        return self.unet.config.latent_size * self.vae.config.downsample_factor

    def text_embedding(self, prompt: str) -> torch.Tensor:
        """(1, 77, D) penultimate CLIP embedding, cached per prompt (bounded)."""
        if prompt in self._text_cache:
            self._text_cache.move_to_end(prompt)
            return self._text_cache[prompt]
        with torch.no_grad(), self._running(self.clip):
            emb = self.clip.encode_text([prompt]).to(self.device)
        self._text_cache[prompt] = emb
        if len(self._text_cache) > 64:
            self._text_cache.popitem(last=False)
        return emb

    @contextlib.contextmanager
    def _running(self, module: torch.nn.Module) -> Iterator[None]:
        """``module`` on the compute device for the block; with offload, back to the CPU after."""
        if not self.offload:
            yield
            return
        module.to(self.device)
        try:
            yield
        finally:
            module.to("cpu")

    def _autocast(self):
        if self.dtype == torch.float32:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.dtype)

    def generate(
        self,
        request: GenerationRequest,
        progress: Progress | None = None,
        cancel: threading.Event | None = None,
    ) -> GenerationResult:
        """Sample one video. ``progress(step, total)`` is called after every sampling step;
        setting ``cancel`` stops at the next step with ``GenerationCancelled``.

        With a ``motion_hold``, a shorter pass of the same request without the hold first drafts
        what the hold lacks (``_draft``): the first frame for motion without one, or the motion
        for a first frame without any; the full pass then animates the first frame along it.
        """
        if not request.prompt.strip() and not request.conditions and request.style_image is None:
            raise ValueError("nothing to generate from: give a prompt or at least one condition")
        request = self.with_model_defaults(request)
        request.validate(self.unet.config.conditions)
        drafted, draft_steps = self._draft(request)
        total = draft_steps + request.steps
        with self._lock, torch.no_grad():
            timings: dict[str, float] = {}
            animated, made = request, {}
            if drafted:
                start = time.perf_counter()
                latents = self._sample_latents(replace(request, steps=draft_steps, motion_hold=0.0), {}, progress, cancel, 0, total)
                made = {drafted: self._drafted(drafted, latents, request.frames)}
                animated = replace(request, conditions=request.conditions | made)
                timings[DRAFTS[drafted][0]] = time.perf_counter() - start
            latents = self._sample_latents(animated, timings, progress, cancel, draft_steps, total)
            clock = time.perf_counter()
            with self._running(self.vae):
                video = self.vae.decode_video(latents.float())
            timings["vae_decode"] = time.perf_counter() - clock
        frames = _to_frames(video)
        parameters = request.parameters() | {"model": self.name, "precision": str(self.dtype).removeprefix("torch.")}
        if drafted:
            label, use = DRAFTS[drafted]
            parameters[label] = f"drafted by the model ({draft_steps} steps), then {use}"
        return GenerationResult(frames, timings, parameters, made)

    def _draft(self, request: GenerationRequest) -> tuple[str | None, int]:
        """What a first, shorter pass drafts for motion hold, and its steps: ``local_image`` for
        motion without a first frame; ``motion`` for a first frame without motion — the model's
        own motion then carries the picture, whose objects so keep their shapes (drawn freely,
        this small model's objects melt into blobs as they move; model card). Nothing without a
        hold, or when a masked video or a sketch or depth sequence already fixes the frames."""
        given = request.conditions
        if not request.motion_hold or not {"local_image", "motion"} <= set(self.unet.config.conditions):
            return None, 0
        steps = max(1, round(request.steps * DRAFT_SHARE))
        if "masked" in given or ("local_image" in given) == ("motion" in given):
            return None, 0
        if "motion" in given:
            return "local_image", steps
        return (None, 0) if given.keys() & {"sketch", "depth"} else ("motion", steps)

    def _drafted(self, name: str, latents: torch.Tensor, frames: int) -> torch.Tensor:
        """The ``name`` condition (1, C, F, H, W) read off a draft's latents."""
        with self._running(self.vae):
            if name == "local_image":
                first = self.vae.decode_video(latents[:, :, :1].float())  # only frame 0 is used
                return _resized(first.add(1).div(2).clamp(0, 1), self.spec.misc_size).expand(-1, -1, frames, -1, -1)
            video = self.vae.decode_video(latents.float())
        return to_model_layout(torch.from_numpy(motion_from_video(_to_frames(video).numpy())))

    def _sample_latents(
        self,
        request: GenerationRequest,
        timings: dict[str, float],
        progress: Progress | None,
        cancel: threading.Event | None,
        done: int,
        total: int,
    ) -> torch.Tensor:
        """One sampling pass → the latents; progress counts from ``done`` of ``total`` steps."""
        clock = time.perf_counter()

        def lap(name: str) -> None:
            nonlocal clock
            now = time.perf_counter()
            timings[name] = now - clock
            clock = now

        y = self.text_embedding(request.prompt)
        cond: dict = {"y": y}
        uncond: dict = {"y": self.text_embedding("")}  # on the device, also with offload
        if request.style_image is not None:
            with self._running(self.clip):
                image = self.clip.encode_image(request.style_image.to(self.device))
            cond["image"], uncond["image"] = image, torch.zeros_like(image)
        size = self.unet.config.latent_size
        shape = torch.Size((1, self.unet.config.in_dim, request.frames, size, size))
        given = self._given_latents(request, shape) if request.keep_given else None  # before the UNet (offload)
        carried = self._carried_latents(request, shape) if request.motion_hold else None
        lap("encode_text_image")
        with self._autocast(), self._running(self.unet):
            spatial = {k: v.to(self.device) for k, v in request.conditions.items()}
            features = self.unet.condition_features(**spatial)
            if features is not None:  # computed once for all steps
                cond["features"] = features
                uncond["features"] = torch.zeros_like(features) if request.condition_guidance else features
            lap("condition_features")
            generator = torch.Generator().manual_seed(int(request.seed))
            noise = torch.randn(shape, generator=generator).to(self.device)
            eps_fn = as_eps_fn(cfg_eps_fn(self.unet, cond, uncond, request.guide_scale), self.schedule, self.spec.prediction)
            if given is not None:
                eps_fn = hold_known_eps_fn(eps_fn, self.schedule, *given)
            if carried is not None:
                from_t = round((1 - request.motion_hold) * (self.schedule.num_timesteps - 1))
                eps_fn = hold_known_eps_fn(eps_fn, self.schedule, *carried, from_t=from_t)
            callback: StepCallback | None = None
            if progress is not None:
                callback = lambda i, n, t, x, x0: progress(done + i + 1, total)  # noqa: E731
            latents = sample(request.sampler, eps_fn, noise, self.schedule, request.steps, callback, cancel)
        lap("sampling")
        return latents

    @torch.no_grad()
    def autoencode(self, frames: torch.Tensor) -> torch.Tensor:
        """uint8 (F, H, W, 3) frames after a round trip through the model's autoencoder: the
        best a generator in its latent space could show (an evaluation ceiling)."""
        video = frames.permute(3, 0, 1, 2)[None].float().div(127.5).sub(1).to(self.device)
        with self._running(self.vae):
            return _to_frames(self.vae.decode_video(self.vae.encode_video(video)))

    def with_model_defaults(self, request: GenerationRequest) -> GenerationRequest:
        """The request with every setting left at None replaced by this model's default."""
        unset = {name: getattr(self.spec, name) for name in MODEL_DEFAULTS if getattr(request, name) is None}
        return replace(request, **unset) if unset else request

    def _given_latents(self, request: GenerationRequest, shape: torch.Size) -> tuple[torch.Tensor, torch.Tensor] | None:
        """(latents, mask) of what the user gave, at the latent shape: the visible pixels of a
        ``masked`` video, and frame 0 from a ``local_image``; None when neither is given."""
        size, latent = self.video_size, shape[-1]
        video = torch.zeros(1, 3, request.frames, size, size)
        keep = torch.zeros(1, 1, request.frames, size, size)
        masked = request.conditions.get("masked")
        if masked is not None:
            video, keep = _resized(masked[:, :3], size), _resized(masked[:, 3:], size).round()
        image = request.conditions.get("local_image")
        if image is not None:
            video[:, :, 0] = _first_frame(image, size)
            keep[:, :, 0] = 1
        used = keep[0, 0].flatten(1).any(1)  # frames with something to hold: often frame 0 only
        if not used.any():
            return None
        latents = torch.zeros(shape, device=self.device)
        with self._running(self.vae):
            latents[:, :, used.to(self.device)] = self.vae.encode_video(video[:, :, used].to(self.device)).to(latents.dtype)
        # a latent cell is held only if its whole patch, and its neighbours' (the encoder sees
        # past its patch), is visible: hidden pixels must not leak in as grey
        b, _, f = keep.shape[:3]
        hidden = 1 - keep.transpose(1, 2).reshape(b * f, 1, size, size)
        hidden = F.max_pool2d(F.adaptive_max_pool2d(hidden, latent), 3, 1, 1)
        held = (1 - hidden).reshape(b, f, 1, latent, latent).transpose(1, 2)
        return latents, held.to(self.device)

    def carried_first_frame(self, request: GenerationRequest) -> tuple[torch.Tensor, torch.Tensor] | None:
        """What motion hold holds: the request's first frame carried along its motion
        (``warp_along_motion`` at the video size: (F, 3, S, S) in [-1, 1], ``known`` (F, S, S));
        None without both a ``local_image`` and ``motion``, or when nothing moves."""
        image, motion = request.conditions.get("local_image"), request.conditions.get("motion")
        if image is None or motion is None:
            return None
        video, known = warp_along_motion(_first_frame(image, self.video_size)[0], motion[0].transpose(0, 1).float().cpu())
        return (video, known) if known.any() else None

    def _carried_latents(self, request: GenerationRequest, shape: torch.Size) -> tuple[torch.Tensor, torch.Tensor] | None:
        """(latents, mask) of ``carried_first_frame``, held where it is known."""
        carried = self.carried_first_frame(request)
        if carried is None:
            return None
        (video, known), latent = carried, shape[-1]
        with self._running(self.vae):
            latents = self.vae.encode_video(video.transpose(0, 1)[None].to(self.device))
        # a latent cell is held where most of its patch is known (motion blocks cover whole patches)
        held = F.adaptive_avg_pool2d(known[:, None].float(), latent).gt(0.5).transpose(0, 1)[None]
        return latents.to(torch.float32), held.to(self.device)


def _to_frames(video: torch.Tensor) -> torch.Tensor:
    """Decoded (1, 3, F, H, W) in [-1, 1] → uint8 (F, H, W, 3) on the CPU."""
    return ((video[0].clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(1, 2, 3, 0).cpu()


def _first_frame(image: torch.Tensor, size: int) -> torch.Tensor:
    """A ``local_image`` condition (1, 3, F, H, W) in [0, 1] → its picture (1, 3, size, size) in [-1, 1]."""
    return _resized(image[:, :, :1] * 2 - 1, size)[:, :, 0]


def _resized(video: torch.Tensor, size: int) -> torch.Tensor:
    """(B, C, F, H, W) → (B, C, F, size, size), bilinear per frame, on the CPU."""
    b, c, f = video.shape[:3]
    frames = video.float().cpu().transpose(1, 2).reshape(b * f, c, *video.shape[-2:])
    frames = F.interpolate(frames, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    return frames.reshape(b, f, c, size, size).transpose(1, 2)


_loaded: dict[tuple[str, str | None, str, str, bool], Pipeline] = {}
_loading = threading.Lock()


def default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def load_pipeline(
    name: str = "embedded", weights: str | None = None, device: str | None = None, precision: str = "auto", offload: bool = False
) -> Pipeline:
    """The named model, loaded once per process and then shared (models only, no user data)."""
    if name not in MODEL_NAMES:
        raise ValueError(f"unknown model {name!r}; choose one of {MODEL_NAMES}")
    device = device or default_device()
    precision_dtype(precision, device)  # refuse a bad precision before loading anything
    key = (name, weights if name == "official" else None, device, precision, offload)
    with _loading:
        if key not in _loaded:
            if name == "embedded":
                _loaded[key] = Pipeline.from_embedded(device=device, precision=precision, offload=offload)
            else:
                _loaded[key] = Pipeline.from_official(weights, device=device, precision=precision, offload=offload)
        return _loaded[key]


def available_models(weights: str | None = None) -> dict[str, str]:
    """Model name → '' when usable, else the reason it is not (shown in the model selector)."""
    status = {"embedded": "" if (EMBEDDED_DIR / "model.json").is_file() else "embedded weights missing from assets/embedded"}
    try:
        find_official_files(weights, keys=("unet", "clip", "vae"))
        status["official"] = ""
    except WeightError as exc:
        status["official"] = str(exc)
    return status
