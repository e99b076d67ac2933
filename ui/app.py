"""build_app(): the Gradio Blocks of VideoComposer Studio — four tabs over ``vc_core``.

The model loader and the model list are parameters so tests (and other deployments) can inject
their own; by default models come from ``vc_core.pipeline`` (loaded once per process).
"""
from __future__ import annotations

from collections.abc import Callable

import gradio as gr

from ui import compose, draw_motion, inpaint, motion_transfer
from ui.common import AppContext, Loader
from vc_core import tasks
from vc_core.conditions import DEFAULT_LIMITS
from vc_core.pipeline import available_models, default_device, load_pipeline
from vc_core.status import engine_status

MAX_QUEUE = 32  # waiting generations beyond this are refused with "queue is full" (20 concurrent users fit)
# Passed to launch(): uploads above the engine's own file limit are refused before they are stored;
# show_error passes the message of errors raised while Gradio decodes an upload (an undecodable
# image, say) to the user. Errors inside the handlers are turned into messages by ui.common.
LAUNCH_OPTIONS: dict = {"max_file_size": DEFAULT_LIMITS.max_file_bytes, "show_error": True}

_INTRO = """# VideoComposer Studio
Compositional video synthesis with motion control. Every tab shows the conditions the model saw
next to the result, the parameters to reproduce it, and (with motion) how closely the result
follows the requested motion. API: `/compose`, `/inpaint`, `/motion_transfer`, `/draw_motion`
(see "Use via API" at the bottom of the page)."""


def build_app(
    weights: str | None = None,
    loader: Loader = lambda name, weights: load_pipeline(name, weights),
    available: Callable[[str | None], dict[str, str]] = available_models,
) -> gr.Blocks:
    """The app. ``loader(name, weights)`` returns a (cached) Pipeline; ``available(weights)`` maps
    model names to '' when usable or the reason they are not."""
    ctx = AppContext(weights, loader, available(weights), tasks.Toolbox(weights, device=default_device()))
    # delete_cache: results copied into Gradio's cache are removed after an hour, checked every 30 min
    with gr.Blocks(title="VideoComposer Studio", delete_cache=(1800, 3600)) as demo:
        gr.Markdown(_INTRO)
        with gr.Accordion("Engine status", open=False):
            gr.Markdown("\n".join(f"- {line}" for line in engine_status(weights)))
        with gr.Tabs():
            for title, tab in (
                ("Compose", compose),
                ("Video inpainting", inpaint),
                ("Motion transfer", motion_transfer),
                ("Hand-drawn motion", draw_motion),
            ):
                name = tab.__name__.rsplit(".", 1)[-1]
                with gr.Tab(title, id=name, elem_id=f"tab-{name}"):
                    tab.build(ctx)
    return demo.queue(default_concurrency_limit=1, max_size=MAX_QUEUE)
