"""Motion transfer tab: the motion of a reference video on the appearance of an image."""
from __future__ import annotations

import gradio as gr

from ui.common import AppContext, output_panel, prompt_box, settings, settings_controls
from ui.examples import example_path, example_prompt
from vc_core import tasks


def build(ctx: AppContext) -> None:
    with gr.Row():
        with gr.Column():
            prompt = prompt_box("what the video shows (the reference clip gives the motion)")
            video = gr.Video(label="Reference video (its motion)", sources=["upload"], include_audio=True, height=220)
            start = gr.Number(value=0, minimum=0, label="Start at (seconds)")
            with gr.Row():
                image = gr.Image(type="filepath", label="Appearance (first frame)", height=220)
                style = gr.Image(type="filepath", label="Style image (optional)", height=220)
            controls = settings_controls(ctx, "motion_transfer")
        with gr.Column():
            panel = output_panel("motion_transfer")

    def motion_transfer(
        prompt: str,
        video: str | None,
        video_start_s: float | None,
        image: str | None,
        style: str | None,
        model: str,
        frames: float,
        steps: float,
        guidance: float,
        sampler: str,
        seed: float,
        condition_guidance: str,
        keep_given: str,
        motion_hold: float,
        request: gr.Request,
        progress: gr.Progress = gr.Progress(),
    ):
        s = settings(frames, steps, guidance, sampler, seed, condition_guidance, keep_given, motion_hold)
        yield from ctx.run(
            lambda pipe: tasks.motion_transfer_request(
                pipe, ctx.tools, prompt, s, video=video, image=image, style=style, video_start_s=video_start_s or 0.0
            ),
            model, request, progress,
        )

    panel.wire(ctx, motion_transfer, [prompt, video, start, image, style, *controls.inputs], "motion_transfer")
    gr.Examples(
        [[example_prompt("first_frame.png").replace("standing still", "moving left"), example_path("moving_object.mp4"), example_path("first_frame.png")]],
        [prompt, video, image],
        cache_examples=False,
        label="Examples",
    )
