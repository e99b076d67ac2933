"""Pipeline plumbing on a miniature random model: shapes, seeds, progress, cancel, bad requests."""
import threading

import pytest
import torch

from tests.tiny import tiny_pipeline
from vc_core.config import ModelSpec
from vc_core.models.clip import preprocess_style_image
from vc_core.pipeline import DRAFT_SHARE, MODEL_DEFAULTS, GenerationRequest
from vc_core.sampling import GenerationCancelled


@pytest.fixture(scope="module")
def pipe():
    return tiny_pipeline()


def motion(frames: int, size: int) -> torch.Tensor:
    m = torch.zeros(1, 2, frames, size, size)
    m[:, 0, 1:, 8::16, 8::16] = 4.0  # 4 px/frame to the right at block centres
    return m


def test_generates_the_requested_frames_and_size(pipe):
    steps = []
    size = pipe.video_size
    req = GenerationRequest("a red star moving left", {"motion": motion(8, size)}, frames=8, steps=3, seed=1)
    out = pipe.generate(req, progress=lambda i, n: steps.append((i, n)))
    assert out.video.shape == (8, size, size, 3) and out.video.dtype == torch.uint8
    assert steps == [(1, 3), (2, 3), (3, 3)]
    assert set(out.timings) == {"encode_text_image", "condition_features", "sampling", "vae_decode"}
    assert out.parameters["seed"] == 1 and out.parameters["conditions"] == {"motion": [1, 2, 8, size, size]}


def test_same_seed_same_video_other_seed_other_video(pipe):
    a = pipe.generate(GenerationRequest("a blue circle", frames=8, steps=2, seed=5)).video
    b = pipe.generate(GenerationRequest("a blue circle", frames=8, steps=2, seed=5)).video
    c = pipe.generate(GenerationRequest("a blue circle", frames=8, steps=2, seed=6)).video
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_unset_settings_take_the_model_defaults(pipe):
    base = dict(prompt="a red star", conditions={"motion": motion(8, pipe.video_size)}, frames=8, steps=2, seed=3)
    default = pipe.generate(GenerationRequest(**base))
    model_own = {name: getattr(pipe.spec, name) for name in MODEL_DEFAULTS}
    assert {name: default.parameters[name] for name in MODEL_DEFAULTS} == model_own  # the result says what was used
    assert torch.equal(default.video, pipe.generate(GenerationRequest(**base, **model_own)).video)
    stronger = pipe.generate(GenerationRequest(**base, guide_scale=model_own["guide_scale"] + 3))
    assert stronger.parameters["guide_scale"] == model_own["guide_scale"] + 3 and not torch.equal(default.video, stronger.video)


def test_condition_guidance_follows_the_request_else_the_model_default(pipe):
    size = pipe.video_size
    base = dict(prompt="a red star", conditions={"motion": motion(8, size)}, frames=8, steps=2, seed=3)
    default = pipe.generate(GenerationRequest(**base))
    assert default.parameters["condition_guidance"] is pipe.spec.condition_guidance
    on = pipe.generate(GenerationRequest(**base, condition_guidance=True))
    off = pipe.generate(GenerationRequest(**base, condition_guidance=False))
    assert on.parameters["condition_guidance"] and not off.parameters["condition_guidance"]
    assert not torch.equal(on.video, off.video)


def test_keep_given_follows_the_request_else_the_model_default(pipe):
    image = torch.rand(1, 3, 8, pipe.spec.misc_size, pipe.spec.misc_size)
    base = dict(prompt="a red star", conditions={"local_image": image}, frames=8, steps=2, seed=3)
    default = pipe.generate(GenerationRequest(**base))
    assert default.parameters["keep_given"] is pipe.spec.keep_given
    on = pipe.generate(GenerationRequest(**base, keep_given=True))
    off = pipe.generate(GenerationRequest(**base, keep_given=False))
    assert on.parameters["keep_given"] and not off.parameters["keep_given"]
    assert not torch.equal(on.video[0], off.video[0])
    # nothing given to keep: the same video either way
    plain = dict(prompt="a red star", frames=8, steps=2, seed=3)
    assert torch.equal(pipe.generate(GenerationRequest(**plain, keep_given=True)).video, pipe.generate(GenerationRequest(**plain, keep_given=False)).video)


def test_motion_without_a_first_frame_has_the_model_draw_one_then_animate_it(pipe):
    size, steps = pipe.video_size, 5
    base = dict(prompt="a red star", frames=8, steps=steps, seed=3)
    calls = []
    held = pipe.generate(GenerationRequest(**base, conditions={"motion": motion(8, size)}, motion_hold=0.9), progress=lambda i, n: calls.append((i, n)))
    total = steps + round(steps * DRAFT_SHARE)
    assert calls == [(i, total) for i in range(1, total + 1)]  # one progress bar over both passes
    assert "first_frame" in held.parameters and "first_frame" in held.timings
    assert held.parameters["conditions"] == {"motion": [1, 2, 8, size, size]}  # what the user gave
    free = pipe.generate(GenerationRequest(**base, conditions={"motion": motion(8, size)}, motion_hold=0.0))
    assert "first_frame" not in free.parameters and not torch.equal(held.video, free.video)
    # a given first frame is animated as it is
    image = torch.rand(1, 3, 8, pipe.spec.misc_size, pipe.spec.misc_size)
    given = pipe.generate(GenerationRequest(**base, conditions={"motion": motion(8, size), "local_image": image}, motion_hold=0.9))
    assert "first_frame" not in given.parameters


def test_a_first_frame_without_motion_has_the_model_draft_the_motion_then_carry_the_frame(pipe):
    steps, image = 5, torch.rand(1, 3, 8, pipe.spec.misc_size, pipe.spec.misc_size)
    base = dict(prompt="a red star moving left", frames=8, steps=steps, seed=3)
    calls = []
    held = pipe.generate(GenerationRequest(**base, conditions={"local_image": image}, motion_hold=0.9), progress=lambda i, n: calls.append((i, n)))
    total = steps + round(steps * DRAFT_SHARE)
    assert calls == [(i, total) for i in range(1, total + 1)]  # one progress bar over both passes
    assert "drafted_motion" in held.parameters and "drafted_motion" in held.timings and "first_frame" not in held.parameters
    assert held.parameters["conditions"] == {"local_image": [1, 3, 8, pipe.spec.misc_size, pipe.spec.misc_size]}
    free = pipe.generate(GenerationRequest(**base, conditions={"local_image": image}, motion_hold=0.0))
    assert "drafted_motion" not in free.parameters and "drafted_motion" not in free.timings
    # a sketch sequence already draws every frame: nothing to draft
    sketch = torch.rand(1, 1, 8, pipe.spec.misc_size, pipe.spec.misc_size)
    sketched = pipe.generate(GenerationRequest(**base, conditions={"local_image": image, "sketch": sketch}, motion_hold=0.9))
    assert "drafted_motion" not in sketched.parameters


def test_style_image_and_dpmpp(pipe):
    from PIL import Image

    style = preprocess_style_image(Image.new("RGB", (300, 200), (200, 30, 30)))
    out = pipe.generate(GenerationRequest("", style_image=style, frames=8, steps=2, sampler="dpmpp_2m"))
    assert out.video.shape[0] == 8


def test_cancel_stops_sampling(pipe):
    cancel = threading.Event()
    with pytest.raises(GenerationCancelled):
        pipe.generate(GenerationRequest("x", frames=8, steps=10), progress=lambda i, n: cancel.set(), cancel=cancel)
    # and the pipeline still serves afterwards
    assert pipe.generate(GenerationRequest("x", frames=8, steps=1)).video.shape[0] == 8


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"prompt": "", "frames": 8}, "nothing to generate"),
        ({"prompt": "x", "frames": 64}, "frame count"),
        ({"prompt": "x", "frames": 8, "steps": 0}, "steps"),
        ({"prompt": "x", "frames": 8, "sampler": "euler"}, "sampler"),
        ({"prompt": "x", "frames": 8, "motion_hold": 1.5}, "motion hold must be between 0 and 1"),
        ({"prompt": "x", "frames": 8, "conditions": {"motion": torch.zeros(1, 2, 4, 16, 16)}}, "motion"),
        ({"prompt": "x", "frames": 8, "conditions": {"canny": torch.zeros(1, 1, 8, 16, 16)}}, "canny"),
    ],
)
def test_bad_requests_are_explained(pipe, kwargs, message):
    with pytest.raises(ValueError, match=message):
        pipe.generate(GenerationRequest(**kwargs))


def test_precision_choices_and_their_refusals():
    from vc_core.pipeline import load_pipeline, precision_dtype

    assert precision_dtype("auto", "cpu") == torch.float32 and precision_dtype("auto", "cuda") == torch.float16
    # on CUDA 'auto' is each model's own: fp16 for the official UNet, fp32 for the small embedded one
    official, embedded = ModelSpec.official(), ModelSpec.embedded()
    assert precision_dtype("auto", "cuda", official.cuda_precision) == torch.float16
    assert precision_dtype("auto", "cuda", embedded.cuda_precision) == torch.float32
    assert precision_dtype("bf16", "cpu") == torch.bfloat16
    with pytest.raises(ValueError, match="fp16 is not supported on the CPU"):
        precision_dtype("fp16", "cpu")
    with pytest.raises(ValueError, match="unknown precision 'half'"):
        load_pipeline("embedded", device="cpu", precision="half")  # refused before any loading


def test_bf16_pipeline_samples_close_to_fp32_and_says_so(pipe):
    low = tiny_pipeline("bf16")
    conv = next(m for m in low.unet.modules() if isinstance(m, torch.nn.Conv2d))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)  # the faster layout under bf16
    req = dict(prompt="a red star", conditions={"motion": motion(8, pipe.video_size)}, frames=8, steps=3, seed=2)
    a, b = pipe.generate(GenerationRequest(**req)), low.generate(GenerationRequest(**req))
    assert a.parameters["precision"] == "float32" and b.parameters["precision"] == "bfloat16"
    assert (a.video.float() - b.video.float()).abs().mean() < 6  # of 255; measured 2.8, unrelated videos ~47


def test_offload_runs_one_model_at_a_time_and_changes_nothing(pipe):
    """With offload each model goes to the compute device only for its own stage, so a small GPU
    holds one of them at a time. On this CPU-only machine the moves are recorded, not felt."""
    from PIL import Image

    slim = tiny_pipeline(offload=True)
    moves: list[str] = []
    for name in ("clip", "unet", "vae"):
        module = getattr(slim, name)
        move = module.to
        module.to = lambda device, _name=name, _move=move: (moves.append(_name), _move(device))[1]
    style = preprocess_style_image(Image.new("RGB", (300, 200), (30, 30, 200)))
    image = torch.rand(1, 3, 8, pipe.spec.misc_size, pipe.spec.misc_size)  # kept as frame 0: a VAE encode too
    conditions = {"motion": motion(8, pipe.video_size), "local_image": image}
    req = dict(prompt="a blue square", style_image=style, conditions=conditions, frames=8, steps=3, seed=4, keep_given=True)
    out = slim.generate(GenerationRequest(**req))
    # every move to the device is followed by that model's move back, before any other moves
    assert moves[0::2] == moves[1::2] and set(moves) == {"clip", "unet", "vae"}, moves
    assert torch.equal(out.video, pipe.generate(GenerationRequest(**req)).video)
