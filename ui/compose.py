"""Compose tab: text plus any mix of first frame, style, one sketch and a reference video's
depth / sketch sequence / motion."""
from __future__ import annotations

import gradio as gr

from ui.common import AppContext, editor_picture, output_panel, prompt_box, settings, settings_controls
from ui.examples import example_path, example_prompt
from vc_core import tasks


def build(ctx: AppContext) -> None:
    depth_reason = ctx.tools.depth_unavailable()
    with gr.Row():
        with gr.Column():
            prompt = prompt_box("a red star moving right over a striped background")
            with gr.Row():
                image = gr.Image(type="filepath", label="First frame (optional)", height=200)
                style = gr.Image(type="filepath", label="Style image (optional)", height=200)
            sketch = gr.ImageEditor(
                type="numpy",
                label="Single sketch (optional): draw, or upload a drawing",
                sources=("upload", "clipboard"),
                brush=gr.Brush(colors=["#000000"], default_size=4, color_mode="fixed"),
                canvas_size=(512, 512),
                height=300,
            )
            sketch_is_photo = gr.Checkbox(label="The sketch is a photo: use its edges", value=False)
            with gr.Group():
                video = gr.Video(label="Reference video (optional)", sources=["upload"], include_audio=True, height=200)
                start = gr.Number(value=0, minimum=0, label="Start at (seconds)")
                with gr.Row():
                    use_depth = gr.Checkbox(
                        label="its depth", value=False, interactive=not depth_reason, info=depth_reason.splitlines()[0] or None
                    )
                    use_sketch = gr.Checkbox(label="its sketch sequence", value=False)
                    use_motion = gr.Checkbox(label="its motion", value=False)
            controls = settings_controls(ctx, "compose")
        with gr.Column():
            panel = output_panel("compose")

    def compose(
        prompt: str,
        image: str | None,
        style: str | None,
        sketch: dict | None,
        sketch_is_photo: bool,
        video: str | None,
        video_start_s: float | None,
        use_depth: bool,
        use_sketch: bool,
        use_motion: bool,
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
            lambda pipe: tasks.compose_request(
                pipe, ctx.tools, prompt, s, image=image, style=style, sketch=editor_picture(sketch),
                sketch_is_photo=sketch_is_photo, video=video, video_start_s=video_start_s or 0.0,
                use_depth=use_depth, use_sketch=use_sketch, use_motion=use_motion,
            ),
            model, request, progress,
        )

    inputs = [prompt, image, style, sketch, sketch_is_photo, video, start, use_depth, use_sketch, use_motion]
    panel.wire(ctx, compose, inputs + controls.inputs, "compose")
    gr.Examples(
        [
            [example_prompt("first_frame.png"), example_path("first_frame.png"), None, None, False, False, False, False],
            [example_prompt("moving_object.mp4"), None, example_path("style.png"), example_path("moving_object.mp4"), False, True, True, False],
        ],
        [prompt, image, style, video, use_depth, use_sketch, use_motion, sketch_is_photo],
        cache_examples=False,
        label="Examples (made from the project's synthetic world)",
    )
