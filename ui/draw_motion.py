"""Hand-drawn motion tab: strokes drawn on a picture (or a blank canvas) say what moves where;
presets for people who would rather not draw; an animated preview before generating."""
from __future__ import annotations

import gradio as gr

from ui.canvas import CANVAS_SIZE, background_update, motion_canvas
from ui.common import AppContext, motion_hold_setting, output_panel, prompt_box, settings, settings_controls, show_warnings, user_errors
from ui.examples import example_path, example_prompt
from vc_core import tasks
from vc_core.video_io import request_dir, write_gif

NO_PRESET = "none (use my strokes)"


def build(ctx: AppContext) -> None:
    with gr.Row():
        with gr.Column():
            prompt = prompt_box("a red star over a plain navy background (the strokes say how it moves)")
            image = gr.Image(
                type="filepath", label="Picture to animate (optional; blank canvas without)", height=200, elem_id="draw_motion-image"
            )
            canvas = motion_canvas()
            with gr.Row():
                preset = gr.Dropdown([NO_PRESET, *tasks.MOTION_PRESETS], value=NO_PRESET, label="Motion preset")
                preview_button = gr.Button("▶ Preview motion", size="sm")
            preview = gr.Image(
                label="Requested motion (arrows per frame; with motion hold, over your picture carried along it)", interactive=False,
                height=240, elem_id="draw_motion-preview",
            )
            controls = settings_controls(ctx, "draw_motion")
        with gr.Column():
            panel = output_panel("draw_motion")

    def show_picture(image: str | None) -> gr.HTML:
        with user_errors():
            return background_update(None if image is None else tasks.square_picture(image, CANVAS_SIZE))

    image.change(show_picture, image, canvas, api_visibility="private")

    def preview_motion(image: str | None, drawing: str | None, preset: str, model: str, frames: float, motion_hold: float):
        with user_errors(), request_dir() as folder:
            frames_, warnings = tasks.motion_preview(
                ctx.pipeline(model), int(frames), image, drawing, None if preset == NO_PRESET else preset,
                motion_hold=motion_hold_setting(motion_hold),
            )
            show_warnings(warnings)
            yield str(write_gif(frames_, folder / "motion.gif"))

    preview_button.click(
        preview_motion, [image, canvas, preset, controls.model, controls.frames, controls.motion_hold], preview, api_visibility="private"
    )

    def draw_motion(
        prompt: str,
        image: str | None,
        strokes: str | None,
        preset: str,
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
            lambda pipe: tasks.draw_motion_request(
                pipe, ctx.tools, prompt, s, image=image, drawing=strokes, preset=None if preset == NO_PRESET else preset
            ),
            model, request, progress,
        )

    panel.wire(ctx, draw_motion, [prompt, image, canvas, preset, *controls.inputs], "draw_motion")
    gr.Examples(
        [
            [example_prompt("first_frame.png").replace("standing still", "moving right"), example_path("first_frame.png"), "pan_left"],
            ["a red circle over a plain gray background", None, "circle"],
        ],
        [prompt, image, preset],
        cache_examples=False,
        label="Examples",
    )
