"""What every tab shares: the app context, sampling controls, the output panel and the one function
that runs a task (model → request → generation → files), mapping errors to messages for the user."""
from __future__ import annotations

import contextlib
import logging
import math
import random
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import gradio as gr
import numpy as np

from vc_core import tasks
from vc_core.config import ModelSpec
from vc_core.pipeline import MAX_FRAMES, MIN_FRAMES, Pipeline
from vc_core.sampling import GenerationCancelled
from vc_core.video_io import request_dir
from vc_core.weights import WeightError
from vc_core.world.vocabulary import EXAMPLE

log = logging.getLogger(__name__)
Loader = Callable[[str, str | None], Pipeline]
# One generation at a time for the whole app: every tab's generate event joins this group.
GENERATION_GROUP = "generation"
SAMPLER_CHOICES = [("DPM-Solver++ 2M", "dpmpp_2m"), ("DDIM (official)", "ddim")]
SEED_MAX = 2**31 - 1

try:  # On a ZeroGPU Space, `spaces.GPU` attaches a GPU for the duration of each generation.
    import spaces

    on_gpu: Callable[[Callable], Callable] = spaces.GPU(duration=180)
except ImportError:  # anywhere else it must change nothing

    def on_gpu(fn: Callable) -> Callable:
        return fn


class CancelRegistry:
    """The cancel event of each browser session's running generation (by Gradio session hash).

    Gradio's own ``cancels=`` only drops queued jobs; a running sampler stops at its next step when
    its event is set. Entries exist only while a generation runs.
    """

    def __init__(self) -> None:
        self._events: dict[str, threading.Event] = {}
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def running(self, session: str) -> Iterator[threading.Event]:
        event = threading.Event()
        with self._lock:
            self._events[session] = event
        try:
            yield event
        finally:
            with self._lock:
                if self._events.get(session) is event:
                    del self._events[session]

    def cancel(self, session: str) -> bool:
        with self._lock:
            event = self._events.get(session)
        if event is not None:
            event.set()
        return event is not None


@dataclass
class AppContext:
    """Per-app, never per-user: how to get models, the condition toolbox, running generations."""

    weights: str | None
    loader: Loader
    models: dict[str, str]  # model name → '' when usable, else why not
    tools: tasks.Toolbox
    cancels: CancelRegistry = field(default_factory=CancelRegistry)

    def pipeline(self, name: str) -> Pipeline:
        return self.loader(name, self.weights)

    @property
    def usable_models(self) -> list[str]:
        return [name for name, reason in self.models.items() if not reason]

    def run(
        self,
        build: Callable[[Pipeline], tasks.Prepared],
        model: str,
        request: gr.Request | None,
        progress: gr.Progress,
    ) -> Iterator[tuple]:
        """Generate and yield the output panel's values once.

        A generator on purpose: Gradio copies the yielded files into its cache before resuming
        it, so the request's temporary folder is removed right after, on every path.
        """
        session = request.session_hash if request is not None and request.session_hash else "api"
        # user_errors first: creating the request folder can fail too (a full disk, a bad TMPDIR)
        with self.cancels.running(session) as cancel, user_errors(), request_dir() as folder:
            progress(0, desc="Loading the model")
            pipe = self.pipeline(model)
            progress(0, desc="Preparing the conditions")
            prepared = build(pipe)
            show_warnings(prepared.warnings)

            def step(done: int, total: int) -> None:
                progress((done, total), desc="Sampling", unit="steps")

            outcome = tasks.generate(pipe, prepared, step, cancel)
            saved = tasks.save_outcome(outcome, folder)
            yield (
                str(saved.mp4),
                str(saved.gif),
                [(str(path), caption) for path, caption in saved.previews],
                outcome.adherence,
                outcome.parameters,
            )


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Problems the user can fix become their message; anything else a short note (and a log)."""
    try:
        yield
    except gr.Error:
        raise
    except GenerationCancelled as exc:
        raise gr.Error("The generation was cancelled.", title="Cancelled", print_exception=False) from exc
    except (ValueError, WeightError) as exc:  # ConditionError and StrokeError are ValueErrors
        raise gr.Error(str(exc), print_exception=False) from exc
    except OSError as exc:  # e.g. a full disk; strerror says what without naming server paths
        log.exception("file operation failed")
        raise gr.Error(f"The server could not read or write a file ({exc.strerror or type(exc).__name__}).") from exc
    except Exception as exc:
        log.exception("generation failed")
        raise gr.Error(f"The generation failed unexpectedly ({type(exc).__name__}); the error was logged.") from exc


def prompt_box(placeholder: str) -> gr.Textbox:
    """The prompt, saying what the embedded model can read (it notes other words when generating)."""
    return gr.Textbox(
        label="Prompt", lines=2, placeholder=placeholder,
        info=f"The embedded model reads only its synthetic world's words, e.g. '{EXAMPLE}'; other words get a note.",
    )


def show_warnings(warnings: list[str]) -> None:
    """Each as a toast, up long enough to read (the embedded model's vocabulary note is long)."""
    for warning in warnings:
        gr.Warning(warning, duration=max(10, len(warning) // 15))


def editor_picture(value: dict | None) -> np.ndarray | None:
    """The flattened picture of an ImageEditor (drawing on white), or None when nothing is in it."""
    if not value:
        return None
    return value.get("composite") if value.get("composite") is not None else value.get("background")


def editor_layers(value: dict | None) -> list:
    """The painted layers of an ImageEditor (each RGBA: paint = opaque)."""
    return list(value.get("layers") or []) if value else []


@dataclass
class SettingsControls:
    model: gr.Dropdown
    frames: gr.Slider
    steps: gr.Slider
    guidance: gr.Slider
    sampler: gr.Radio
    seed: gr.Number
    condition_guidance: gr.Dropdown
    keep_given: gr.Dropdown
    motion_hold: gr.Slider

    @property
    def inputs(self) -> list[gr.components.Component]:
        """In the order every tab's handler takes them, after its own inputs."""
        return [
            self.model, self.frames, self.steps, self.guidance, self.sampler, self.seed, self.condition_guidance, self.keep_given,
            self.motion_hold,
        ]


def settings_controls(ctx: AppContext, tab: str) -> SettingsControls:
    """The controls, with element ids ``{tab}-{name}`` (the browser test finds them by id)."""
    usable = ctx.usable_models
    with gr.Accordion("Settings", open=False, elem_id=f"{tab}-settings"):
        first = "embedded" if "embedded" in usable or not usable else usable[0]
        with gr.Row():
            model = gr.Dropdown(
                choices=usable or ["embedded"],
                value=first,
                label="Model",
                info=_model_note(ctx.models),
                elem_id=f"{tab}-model",
            )
            frames = gr.Slider(MIN_FRAMES, MAX_FRAMES, value=16, step=1, label="Frames", elem_id=f"{tab}-frames")
            steps = gr.Slider(1, 100, value=20, step=1, label="Sampling steps", elem_id=f"{tab}-steps")
        with gr.Row():
            guidance = gr.Slider(
                0, 20, value=ModelSpec.named(first).guide_scale, step=0.5, label="Guidance scale",
                info=f"Set to the model's own when you pick a model: {ModelSpec.guide_scales()}", elem_id=f"{tab}-guidance",
            )
            sampler = gr.Radio(SAMPLER_CHOICES, value="dpmpp_2m", label="Sampler", elem_id=f"{tab}-sampler")
            with gr.Column(min_width=160):
                seed = gr.Number(value=0, precision=0, minimum=0, maximum=SEED_MAX, label="Seed", elem_id=f"{tab}-seed")
                shuffle = gr.Button("Random seed", size="sm")
        with gr.Row():
            condition_guidance = gr.Dropdown(
                list(MODEL_DEFAULT_ON_OFF), value="model default", label="Guidance strengthens the conditions too",
                info="on: the unguided branch also drops the spatial conditions (embedded default); off: official behaviour",
                elem_id=f"{tab}-condition-guidance",
            )
            keep_given = gr.Dropdown(
                list(MODEL_DEFAULT_ON_OFF), value="model default", label="Keep what you gave",
                info="on: the video starts exactly at your image and unmasked pixels stay (embedded default); off: official behaviour",
                elem_id=f"{tab}-keep-given",
            )
            motion_hold = gr.Slider(
                0, 1, value=ModelSpec.named(first).motion_hold, step=0.05, label="Motion hold",
                info="With an image and motion: for this share of the sampling the image is held carried along the motion, so "
                "objects go where the motion says; given only one of them, a shorter first pass drafts the other (an image "
                "alone then keeps its objects' shapes). 0: the model alone; set to the model's own when you pick a model",
                elem_id=f"{tab}-motion-hold",
            )
    shuffle.click(lambda: random.randint(0, SEED_MAX), None, seed, queue=False, api_visibility="private")
    # each model has its own best guidance: choosing a model sets it (the user may change it after)
    model.change(
        lambda name: (ModelSpec.named(name).guide_scale, ModelSpec.named(name).motion_hold), model, [guidance, motion_hold],
        queue=False, api_visibility="private",
    )
    return SettingsControls(model, frames, steps, guidance, sampler, seed, condition_guidance, keep_given, motion_hold)


def _model_note(models: dict[str, str]) -> str:
    missing = [f"{name}: {reason.splitlines()[0]}" for name, reason in models.items() if reason]
    return "Not available — " + "; ".join(missing) if missing else "All models available."


MODEL_DEFAULT_ON_OFF = {"model default": None, "on": True, "off": False}


def settings(
    frames: float, steps: float, guidance: float, sampler: str, seed: float,
    condition_guidance: str = "model default", keep_given: str = "model default", motion_hold: float | None = None,
) -> tasks.Settings:
    """The controls' values as sampling settings. Gradio checks ranges, but API callers can still
    send NaN, infinity or nothing, which would otherwise fail later with a Python message."""
    return tasks.Settings(
        frames=int(_finite(frames, "Frames")), steps=int(_finite(steps, "Sampling steps")),
        guide_scale=_finite(guidance, "Guidance scale"), sampler=sampler, seed=int(_finite(seed, "Seed")),
        condition_guidance=_choice(condition_guidance, "Condition guidance"), keep_given=_choice(keep_given, "Keep what you gave"),
        motion_hold=motion_hold_setting(motion_hold),
    )


def motion_hold_setting(value: float | None) -> float | None:
    """The Motion hold slider's value, checked like the other settings (None: the model's)."""
    return None if value is None else _finite(value, "Motion hold")


def _choice(value: str, label: str) -> bool | None:
    if value not in MODEL_DEFAULT_ON_OFF:
        raise gr.Error(f"{label} must be one of {list(MODEL_DEFAULT_ON_OFF)}, got {value!r}.", print_exception=False)
    return MODEL_DEFAULT_ON_OFF[value]


def _finite(value: float | None, label: str) -> float:
    try:
        number = float(value)  # type: ignore[arg-type]  # None is what the check is for
    except (TypeError, ValueError):
        number = math.nan
    if not math.isfinite(number):
        raise gr.Error(f"{label} must be a finite number, got {value!r}.", print_exception=False)
    return number


@dataclass
class OutputPanel:
    generate: gr.Button
    cancel: gr.Button
    video: gr.Video
    gif: gr.File
    previews: gr.Gallery
    adherence: gr.JSON
    parameters: gr.JSON

    @property
    def outputs(self) -> list[gr.components.Component]:
        return [self.video, self.gif, self.previews, self.adherence, self.parameters]

    def wire(self, ctx: AppContext, handler: Callable, inputs: list, api_name: str) -> None:
        """Generate (queued, one at a time app-wide, on the GPU when on a Space) and cancel."""
        event = self.generate.click(
            on_gpu(handler),
            inputs=inputs,
            outputs=self.outputs,
            api_name=api_name,
            concurrency_id=GENERATION_GROUP,
            concurrency_limit=1,
        )

        def cancel(request: gr.Request) -> None:
            if ctx.cancels.cancel(request.session_hash):  # else it was only queued: `cancels` dropped it
                gr.Info("Stopping the generation at the next sampling step.")

        # not queued: it must get through while this session's generation holds the queue
        self.cancel.click(cancel, None, None, cancels=[event], queue=False, api_visibility="private")


def output_panel(tab: str) -> OutputPanel:
    """Generate / cancel buttons and the outputs, with element ids ``{tab}-{name}``."""
    with gr.Row():
        generate = gr.Button("Generate", variant="primary", scale=3, elem_id=f"{tab}-generate")
        cancel = gr.Button("Cancel", variant="stop", scale=1, elem_id=f"{tab}-cancel")
    video = gr.Video(label="Result", autoplay=True, loop=True, interactive=False, height=320, elem_id=f"{tab}-result")
    gif = gr.File(label="GIF", interactive=False, elem_id=f"{tab}-gif")
    previews = gr.Gallery(label="Conditions", columns=4, height=220, object_fit="contain", elem_id=f"{tab}-previews")
    gr.Markdown(
        "Motion adherence: mean end-point error between the optical flow of the result and the requested "
        "motion (pixels per frame; lower is better, a still video scores the requested speed)."
    )
    adherence = gr.JSON(label="Motion adherence", elem_id=f"{tab}-adherence")
    with gr.Accordion("Parameters (reproduce this result)", open=False):
        parameters = gr.JSON(label="Parameters", elem_id=f"{tab}-parameters")
    return OutputPanel(generate, cancel, video, gif, previews, adherence, parameters)
