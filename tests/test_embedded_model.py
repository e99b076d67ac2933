"""The shipped embedded model: its files load offline, match the code's config, stay within the
size budget, and are trained (they denoise held-out world clips far better than chance)."""
import json

import numpy as np
import pytest
import torch

from vc_core.config import ModelSpec, UNetConfig
from vc_core.pipeline import EMBEDDED_DIR, GenerationRequest, Pipeline
from vc_core.train.common import video_tensor
from vc_core.train.data import EVAL_SEED_BASE
from vc_core.weights import WeightError
from vc_core.world import caption, render, sample_scene


@pytest.fixture(scope="module")
def pipe():
    return Pipeline.from_embedded()


def test_shipped_files_match_the_config_and_the_size_budget(pipe):
    meta = json.loads((EMBEDDED_DIR / "model.json").read_text())
    spec = ModelSpec.embedded()
    assert UNetConfig(**meta["unet"]) == spec.unet == pipe.unet.config and meta["prediction"] == spec.prediction
    total = sum(p.stat().st_size for p in EMBEDDED_DIR.glob("*.safetensors"))
    assert total <= 60e6, f"{total / 1e6:.1f} MB"
    assert pipe.video_size == spec.video_size == 128


def test_a_model_folder_whose_config_this_code_cannot_build_is_named(tmp_path):
    meta = json.loads((EMBEDDED_DIR / "model.json").read_text())
    meta["unet"]["stc_input_size"] = 32  # below its stc_pool_size
    (tmp_path / "model.json").write_text(json.dumps(meta))
    with pytest.raises(WeightError, match="model.json: its UNet config does not fit.*stc_input_size"):
        Pipeline.from_embedded(tmp_path)
    meta = json.loads((EMBEDDED_DIR / "model.json").read_text()) | {"noise_schedule": "cosine"}
    (tmp_path / "model.json").write_text(json.dumps(meta))
    with pytest.raises(WeightError, match="model.json: unknown noise_schedule 'cosine'"):
        Pipeline.from_embedded(tmp_path)


def test_generates_offline_and_reproducibly(pipe):
    request = GenerationRequest("a red circle moving right over a solid blue background", frames=8, steps=4, seed=1)
    a, b = pipe.generate(request).video, pipe.generate(request).video
    assert a.shape == (8, 128, 128, 3) and torch.equal(a, b)


def test_the_autoencoder_round_trip_keeps_a_held_out_object(pipe):
    """What ``autoencode`` returns (the evaluation's text ceiling) shows the clip's object in its
    colour and shape, close to the rendered frames."""
    from vc_core.evaluate.appearance import colour_and_shape, psnr

    scene = sample_scene(np.random.default_rng(EVAL_SEED_BASE + 3), size=128, frames=4, max_objects=1)
    clip = render(scene).frames
    shown = pipe.autoencode(torch.from_numpy(clip)).numpy()
    assert shown.shape == clip.shape and shown.dtype == np.uint8
    assert psnr(shown, clip, np.ones(clip.shape, bool)) > 20
    obj = scene.objects[0]
    assert colour_and_shape(shown[0]) == (obj.colour, obj.shape)


def test_weights_are_trained_they_denoise_a_held_out_clip(pipe):
    """x0 predicted from a half-noised held-out clip is much closer to the clip than the noisy
    input's own estimate; random weights fail this by far."""
    scene = sample_scene(np.random.default_rng(EVAL_SEED_BASE + 7), size=128, frames=8, max_objects=1)
    clip = render(scene)
    with torch.no_grad():
        x0 = pipe.vae.encode_video(video_tensor(clip.frames).transpose(0, 1)[None])
        t = torch.tensor([500])
        noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(0))
        x_t = pipe.schedule.add_noise(x0, noise, t)
        out = pipe.unet(x_t, t, y=pipe.text_embedding(caption(scene)))
        eps = pipe.schedule.eps_from(pipe.spec.prediction, out, x_t, t)
    a = pipe.schedule.alphas_cumprod[500].item()
    x0_hat = (x_t - (1 - a) ** 0.5 * eps) / a**0.5
    naive = x_t / a**0.5  # the noisy input taken as the clip
    error, baseline = (x0_hat - x0).pow(2).mean().item(), (naive - x0).pow(2).mean().item()
    assert error < 0.2 * baseline, (error, baseline)


def _first_frame_and_inpainting(pipe, keep_given: bool) -> tuple[float, float]:
    """(first-frame SSIM to a given image, PSNR outside a hidden box) of one held-out scene each."""
    from vc_core.conditions.masks import masked_video_condition, rectangle_mask
    from vc_core.conditions.transforms import to_model_layout
    from vc_core.evaluate.appearance import psnr, ssim

    frames = 8
    clip = render(sample_scene(np.random.default_rng(EVAL_SEED_BASE + 11), size=128, frames=frames, max_objects=1)).frames
    clip01 = torch.from_numpy(clip).permute(0, 3, 1, 2).float().div(255)
    image = to_model_layout(clip01[:1].expand(frames, -1, -1, -1))
    # keep given alone: with motion hold the picture carried along a drafted motion holds it too
    request = dict(frames=frames, steps=10, seed=2, keep_given=keep_given, motion_hold=0.0)
    started = pipe.generate(GenerationRequest("", {"local_image": image}, **request)).video.numpy()
    hidden = rectangle_mask((0.3, 0.3, 0.7, 0.7), 128)
    masked = to_model_layout(masked_video_condition(clip01, torch.from_numpy(hidden).float()[None, None].expand(frames, 1, -1, -1)))
    filled = pipe.generate(GenerationRequest("", {"masked": masked}, **request)).video.numpy()
    return ssim(started[0], clip[0]), psnr(filled, clip, np.broadcast_to(~hidden[None, :, :, None], clip.shape))


def test_keeping_what_was_given_starts_at_the_image_and_keeps_the_visible_pixels(pipe):
    """The embedded default: the video starts at the given image (SSIM ≥ 0.7, the issue's bar)
    and an inpainted video keeps the visible region (raw decode, no pixels pasted back) far
    better than the model alone."""
    assert pipe.spec.keep_given
    kept_ssim, kept_psnr = _first_frame_and_inpainting(pipe, True)
    free_ssim, free_psnr = _first_frame_and_inpainting(pipe, False)
    assert kept_ssim >= 0.7 and kept_ssim > free_ssim + 0.05, (kept_ssim, free_ssim)
    # +1.9 dB at the default guidance 3, +4.2 dB at 9 (where the model alone keeps less)
    assert kept_psnr > free_psnr + 1, (kept_psnr, free_psnr)


def test_default_guidance_keeps_the_later_frames_like_the_scene(pipe):
    """Animating a held-out scene's first frame, frames 1… at the model's guidance (3) resemble
    the scene's own frames clearly more than at the official 9, which over-saturates this model.
    (With the default motion hold along a drafted motion: 0.73 against 0.69 when written.)"""
    from vc_core.conditions.transforms import to_model_layout
    from vc_core.evaluate.appearance import ssim

    frames = 8
    scene = sample_scene(np.random.default_rng(EVAL_SEED_BASE + 11), size=128, frames=frames, max_objects=1)
    clip = render(scene).frames
    image = to_model_layout(torch.from_numpy(clip[:1]).permute(0, 3, 1, 2).float().div(255).expand(frames, -1, -1, -1))

    def later_frames_ssim(guide_scale: float | None) -> float:
        # the model alone (no hold along a drafted motion), whose guidance this is about
        request = GenerationRequest(caption(scene), {"local_image": image}, frames=frames, steps=10, seed=2, guide_scale=guide_scale, motion_hold=0.0)
        video = pipe.generate(request).video.numpy()
        return float(np.mean([ssim(a, b) for a, b in zip(video[1:], clip[1:])]))

    assert pipe.spec.guide_scale < 9
    default, official = later_frames_ssim(None), later_frames_ssim(9.0)
    assert default >= 0.6 and default > official + 0.05, (default, official)


def test_a_drawn_stroke_moves_the_object_there_and_leaves_no_copy_behind(pipe):
    """The embedded default ``motion_hold``: an image animated along a stroke ends with its
    object at the stroke's end (1.4 px off when written) and none left where it started; with the
    hold off, the model alone ends further from it (6.3 px)."""
    from vc_core.conditions.strokes import Stroke, stroke_to_motion
    from vc_core.conditions.transforms import to_model_layout
    from vc_core.evaluate.appearance import colour_mask

    frames, size = 8, 128
    scene = sample_scene(np.random.default_rng(5), size=size, frames=frames, max_objects=1)  # a training seed: not held out
    obj = scene.objects[0]
    first = render(scene).frames[0]
    start = obj.positions[0]
    end = start + np.array([40.0 if start[0] < size / 2 else -40.0, 0.0])
    stroke = Stroke([tuple(start), tuple(end)], radius=float(obj.sizes[0]))
    motion = to_model_layout(torch.from_numpy(stroke_to_motion(stroke, (size, size), frames).maps))
    image = to_model_layout(torch.from_numpy(first[None]).permute(0, 3, 1, 2).float().div(255).expand(frames, -1, -1, -1))

    def last_frame_object(hold: float | None) -> tuple[np.ndarray, np.ndarray]:
        request = GenerationRequest(caption(scene), {"local_image": image, "motion": motion}, frames=frames, steps=10, seed=1, motion_hold=hold)
        result = pipe.generate(request)
        assert result.parameters["motion_hold"] == (pipe.spec.motion_hold if hold is None else hold)
        mask = colour_mask(result.video.numpy()[-1], obj.colour)
        ys, xs = np.nonzero(mask)
        return np.array([xs.mean(), ys.mean()]), mask

    assert pipe.spec.motion_hold > 0
    held, mask = last_frame_object(None)
    free, _ = last_frame_object(0.0)
    assert np.linalg.norm(held - end) < 4, (held, end)
    assert np.linalg.norm(held - end) < np.linalg.norm(free - end), (held, free, end)
    x0, y0 = np.round(start).astype(int)
    r = int(obj.sizes[0] // 2)
    assert mask[y0 - r : y0 + r, x0 - r : x0 + r].mean() < 0.1  # no copy at the start


def test_an_animated_picture_keeps_its_object_shape(pipe):
    """Image to video without motion: the default drafts the motion and carries the picture along
    it, so a held-out scene's heart is still a heart in the middle and last frames (drawn freely
    the model turned it into a circle there when written)."""
    from vc_core.conditions.transforms import to_model_layout
    from vc_core.evaluate.appearance import colour_and_shape

    frames = 16
    scene = sample_scene(np.random.default_rng(EVAL_SEED_BASE + 204), size=128, frames=frames, max_objects=1)
    obj = scene.objects[0]
    assert obj.shape == "heart"
    image = to_model_layout(torch.from_numpy(render(scene).frames[:1]).permute(0, 3, 1, 2).float().div(255).expand(frames, -1, -1, -1))
    result = pipe.generate(GenerationRequest(caption(scene), {"local_image": image}, frames=frames, steps=25, seed=204))
    assert "drafted_motion" in result.parameters
    video = result.video.numpy()
    assert [colour_and_shape(video[f]) for f in (frames // 2, frames - 1)] == [(obj.colour, "heart")] * 2
