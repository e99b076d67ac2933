"""Video inpainting tab: upload a video, paint the area to regenerate on its first frame (or pick a
preset), describe what should be there; optionally keep the source's motion and depth."""
from __future__ import annotations

import gradio as gr

from ui.common import AppContext, editor_layers, output_panel, prompt_box, settings, settings_controls, user_errors
from ui.examples import example_path, example_prompt
from vc_core import tasks

PAINTED = "painted on the frame"


def build(ctx: AppContext) -> None:
    depth_reason = ctx.tools.depth_unavailable()
    with gr.Row():
        with gr.Column():
            prompt = prompt_box("what the regenerated area should show")
            video = gr.Video(label="Video to inpaint", sources=["upload"], include_audio=True, height=220)
            start = gr.Number(value=0, minimum=0, label="Start at (seconds)")
            mask = gr.ImageEditor(
                type="numpy",
                label="Paint the area to regenerate (on the first frame, as the model crops it)",
                sources=(),
                brush=gr.Brush(colors=["#ff00ff"], default_size=24, color_mode="fixed"),
                layers=False,
                transforms=(),
                canvas_size=(512, 512),
                height=360,
            )
            preset = gr.Dropdown([PAINTED, *tasks.MASK_PRESETS], value=PAINTED, label="Mask")
            with gr.Row():
                keep_motion = gr.Checkbox(label="keep the source's motion", value=False)
                keep_depth = gr.Checkbox(
                    label="keep the source's depth", value=False, interactive=not depth_reason,
                    info=depth_reason.splitlines()[0] or None,
                )
                keep_unmasked = gr.Checkbox(
                    label="keep the source's pixels outside the mask", value=True,
                    info="off: the whole video is re-decoded by the model (softer outside the mask)",
                )
            controls = settings_controls(ctx, "inpaint")
        with gr.Column():
            panel = output_panel("inpaint")

    def show_first_frame(video: str | None, start_s: float | None):
        if video is None:
            return None
        with user_errors():
            return tasks.video_first_frame(video, start_s=start_s or 0.0)

    gr.on([video.change, start.submit], show_first_frame, [video, start], mask, api_visibility="private")

    def inpaint(
        prompt: str,
        video: str | None,
        video_start_s: float | None,
        mask: dict | None,
        preset: str,
        keep_motion: bool,
        keep_depth: bool,
        keep_unmasked: bool,
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
            lambda pipe: tasks.inpaint_request(
                pipe, ctx.tools, prompt, s, video=video, mask_layers=editor_layers(mask),
                preset=None if preset == PAINTED else preset, keep_motion=keep_motion, keep_depth=keep_depth,
                video_start_s=video_start_s or 0.0, keep_unmasked=keep_unmasked,
            ),
            model, request, progress,
        )

    panel.wire(ctx, inpaint, [prompt, video, start, mask, preset, keep_motion, keep_depth, keep_unmasked, *controls.inputs], "inpaint")
    gr.Examples(
        [
            ["a purple circle", example_path("moving_object.mp4"), "centre box", True],
            [example_prompt("camera_pan.mp4"), example_path("camera_pan.mp4"), "outpaint sides", False],
        ],
        [prompt, video, preset, keep_motion],
        cache_examples=False,
        label="Examples",
    )
