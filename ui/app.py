"""build_app(): the Gradio Blocks of VideoComposer Studio."""
from __future__ import annotations

import gradio as gr

from vc_core.status import engine_status


def build_app(weights: str | None = None) -> gr.Blocks:
    with gr.Blocks(title="VideoComposer Studio") as demo:
        gr.Markdown("# VideoComposer Studio\nCompositional video synthesis with motion control.")
        gr.Markdown("### Engine status\n" + "\n".join(f"- {line}" for line in engine_status(weights)))
    return demo
