"""The embedded model's training recipe runs end to end on a few steps, and its export loads.

Every stage is a real command (``python -m vc_core.train.<stage>``) on 4 rendered clips; the
result is meaningless but proves the recipe, the checkpoint format and the loader fit together.
"""
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from vc_core.pipeline import GenerationRequest, Pipeline
from vc_core.weights import read_checkpoint

pytestmark = pytest.mark.slow


def run(*args: str, fails_with: str | None = None) -> None:
    env = os.environ | {"OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2")}
    done = subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, env=env, timeout=600)
    if fails_with:
        assert done.returncode != 0 and fails_with in done.stderr, done.stderr[-2000:]
    else:
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]


def test_recipe_on_a_few_steps_then_generate(tmp_path):
    world, runs = tmp_path / "world", tmp_path / "runs"
    run("vc_core.train.data", "--out", str(world), "--clips", "4", "--workers", "1")
    common = ["--world", str(world), "--steps", "2", "--minutes", "5"]
    run("vc_core.train.autoencoder", *common, "--out", str(runs / "autoencoder"), "--batch", "2")
    run("vc_core.train.towers", *common, "--out", str(runs / "towers"), "--batch", "4")
    run("vc_core.train.denoiser", "--stage", "t2v", *common, "--runs", str(runs), "--batch", "2", "--noise-schedule", "linear_sd_zero_snr",
        "--frames", "8")  # runs of 8 of the clips' 16 frames, as the recipe trains
    compose = ["vc_core.train.denoiser", "--stage", "compose", "--runs", str(runs), "--batch", "2", "--frames", "8", "--stc-input-size", "64"]
    run(*compose, *common)
    # resuming a finished stage continues from its checkpoint instead of starting over, with the
    # UNet config it was trained with
    resume = ["--world", str(world), "--steps", "3", "--minutes", "5"]
    run(*compose[:-2], *resume, fails_with="trained with another UNet config")
    run(*compose, *resume, "--workers", "1")  # batches made by a worker process, as on a GPU
    assert read_checkpoint(runs / "denoiser_compose" / "ckpt.pt", "compose")["step"] == 3
    # a decoder fine-tune keeps the encoder, so the latents the UNet learned and their scale
    run("vc_core.train.autoencoder", *common, "--out", str(runs / "decoder"), "--batch", "2", "--init", str(runs / "autoencoder"), "--decoder-only")
    before, after = (read_checkpoint(runs / name / "ckpt.pt", name)["vae"] for name in ("autoencoder", "decoder"))
    assert all(torch.equal(before[k], after[k]) for k in before if k.startswith(("encoder.", "quant_conv.")))
    assert any(not torch.equal(before[k], after[k]) for k in before if k.startswith("decoder."))
    scales = [json.loads((runs / name / "stats.json").read_text())["scale_factor"] for name in ("autoencoder", "decoder")]
    assert scales[0] == scales[1]
    run("vc_core.train.export", "--runs", str(runs), "--out", str(tmp_path / "embedded"), "--autoencoder", "decoder")
    pipe = Pipeline.from_embedded(tmp_path / "embedded")
    # the exported model says how it was trained: compose continued on its start's schedule
    assert pipe.unet.config.stc_input_size == 64 and pipe.spec.noise_schedule == "linear_sd_zero_snr"
    video = pipe.generate(GenerationRequest("a red star moving left", frames=8, steps=2)).video
    assert video.shape == (8, 128, 128, 3) and video.dtype == torch.uint8


def _numbered_batch(i: int) -> dict:
    return {"x": torch.from_numpy(__import__("numpy").random.default_rng(i).random(4)), "step": i}


def test_worker_processes_make_the_same_batches_and_leave_the_training_noise_alone():
    from vc_core.train.common import BatchStream

    torch.manual_seed(7)
    noise = torch.rand(3)
    torch.manual_seed(7)
    stream = BatchStream(_numbered_batch, workers=2)
    made = [stream(i) for i in range(5, 9)]  # a run resumed at step 5
    assert torch.equal(torch.rand(3), noise)  # starting the workers drew nothing from the global generator
    assert [b["step"] for b in made] == [5, 6, 7, 8]
    assert all(torch.equal(b["x"], _numbered_batch(b["step"])["x"]) for b in made)
    with pytest.raises(RuntimeError, match="out of step"):
        stream(20)


def test_conditions_built_from_a_compact_batch_are_the_app_layout():
    import numpy as np

    from vc_core.train.common import World
    from vc_core.train.data import make_clip
    from vc_core.train.denoiser import build_conditions, raw_conditions

    clips = [make_clip(seed, frames=8) for seed in (3, 4)]
    world = World(**{k: np.stack([c[k] for c in clips]) for k in ("frames", "nearness", "masks", "motion")}, captions=["", ""])
    raw = raw_conditions(world, np.array([1, 0]), [slice(0, 8)] * 2, np.random.default_rng(0))
    assert raw["frames"].dtype == raw["sketch"].dtype == torch.uint8  # compact for the trip from a worker
    conds = build_conditions(raw)
    channels = {"depth": 1, "local_image": 3, "motion": 2, "sketch": 1, "single_sketch": 1, "masked": 4}
    assert {k: v.shape for k, v in conds.items()} == {k: (2, c, 8, 128, 128) for k, c in channels.items()}
    first = torch.from_numpy(clips[1]["frames"][0]).permute(2, 0, 1).float() / 255  # batch row 0 is clip 1
    assert torch.allclose(conds["local_image"][0], first[:, None].expand(-1, 8, -1, -1))
    assert torch.equal(conds["single_sketch"][0], conds["sketch"][0, :, :1].expand(-1, 8, -1, -1))
    assert torch.equal(conds["motion"][1], torch.from_numpy(clips[0]["motion"]).float().transpose(0, 1))
    hidden = raw["hidden"].float().transpose(1, 2)  # (B, 1, F, H, W)
    assert torch.equal(conds["masked"][:, 3:], 1 - hidden)  # the keep channel
    assert torch.all(conds["masked"][:, :3][(hidden > 0).expand(-1, 3, -1, -1, -1)] == 0)  # hidden pixels show nothing


def test_a_window_of_a_clip_is_a_video_of_its_own():
    """Training on runs of frames: the window's own first frame is the still image, its motion
    starts at zero as a video's does, and every condition covers the same frames."""
    import numpy as np

    from vc_core.train.common import World
    from vc_core.train.data import make_clip
    from vc_core.train.denoiser import build_conditions, clip_windows, raw_conditions

    clip = make_clip(5, frames=12)
    world = World(**{k: clip[k][None] for k in ("frames", "nearness", "masks", "motion")}, captions=[""])
    rng = np.random.default_rng(1)
    assert clip_windows(rng, 2, 12, None) == clip_windows(rng, 2, 12, 12) == [slice(0, 12)] * 2
    windows = clip_windows(rng, 40, 12, 5)
    assert all(w.stop - w.start == 5 and 0 <= w.start <= 7 for w in windows) and len({w.start for w in windows}) > 4
    start = next(w.start for w in windows if w.start > 1 and np.abs(clip["motion"][w.start]).sum() > 0)
    conds = build_conditions(raw_conditions(world, np.array([0]), [slice(start, start + 5)], rng))
    assert all(v.shape[2] == 5 for v in conds.values())
    first = torch.from_numpy(clip["frames"][start]).permute(2, 0, 1).float() / 255
    assert torch.allclose(conds["local_image"][0, :, 0], first)
    assert not conds["motion"][0, :, 0].any()  # the codec's vector into the window's first frame is dropped
    assert torch.equal(conds["motion"][0, :, 1:], torch.from_numpy(clip["motion"][start + 1 : start + 5]).float().transpose(0, 1))
    assert torch.equal(conds["depth"][0, 0], torch.from_numpy(clip["nearness"][start : start + 5]).float() / 255)


def test_training_time_adds_up_over_resumed_runs():
    from vc_core.train.export import training_seconds

    log = [{"elapsed_s": 10}, {"elapsed_s": 20}, {"elapsed_s": 5}, {"elapsed_s": 15}]  # resumed after 20 s
    assert training_seconds(log) == 35


def test_loss_weights_put_the_extra_weight_on_the_objects_at_latent_resolution():
    import numpy as np

    from vc_core.train.denoiser import object_weights

    masks = np.full((1, 2, 128, 128), -1, np.int8)
    masks[0, 1, 40:56, 64:80] = 0  # one object in frame 1 only
    w = object_weights(masks, 16, 8.0)
    assert w.shape == (1, 1, 2, 16, 16)
    assert torch.all(w[0, 0, 0] == 1)  # no object: plain weight
    assert torch.all(w[0, 0, 1, 5:7, 8:10] == 9) and (w[0, 0, 1] == 9).sum() == 4


def test_motion_focus_leaves_motion_as_the_only_per_frame_position_cue():
    import numpy as np

    from vc_core.config import ModelSpec
    from vc_core.train.denoiser import REVEAL_POSITIONS, condition_keep_masks

    cfg = ModelSpec.embedded().unet
    official = condition_keep_masks(cfg, 4000, np.random.default_rng(0))
    alone = official["motion"] & ~np.any([official[k] for k in REVEAL_POSITIONS], axis=0)
    assert 0.03 < alone.mean() < 0.08  # why the focus exists: rarely the only cue
    focused = condition_keep_masks(cfg, 4000, np.random.default_rng(0), motion_focus=0.4)
    alone = focused["motion"] & ~np.any([focused[k] for k in REVEAL_POSITIONS], axis=0)
    assert 0.4 < alone.mean() < 0.5
    assert abs(focused["local_image"].mean() - official["local_image"].mean()) < 0.03  # others unchanged


def test_text_focus_keeps_the_text_alone_and_leaves_the_other_draws_as_they_were():
    import numpy as np

    from vc_core.config import ModelSpec
    from vc_core.train.denoiser import condition_keep_masks

    cfg = ModelSpec.embedded().unet
    plain = condition_keep_masks(cfg, 4000, np.random.default_rng(0), motion_focus=0.4)
    focused = condition_keep_masks(cfg, 4000, np.random.default_rng(0), motion_focus=0.4, text_focus=0.3)
    others = [k for k in focused if k != "y"]
    text_only = focused["y"] & ~np.any([focused[k] for k in others], axis=0)
    assert 0.27 < text_only.mean() < 0.33
    assert np.all(focused["motion"][plain["motion"] & ~text_only])  # motion-focus samples untouched
    unchanged = ~text_only
    assert all(np.array_equal(plain[k][unchanged], focused[k][unchanged]) for k in focused)
    # no text focus: not one extra random draw, so earlier runs resume on the same samples
    again = condition_keep_masks(cfg, 4000, np.random.default_rng(0), motion_focus=0.4, text_focus=0.0)
    assert all(np.array_equal(plain[k], again[k]) for k in plain)
    with pytest.raises(ValueError, match="together ≤ 1"):
        condition_keep_masks(cfg, 8, np.random.default_rng(0), motion_focus=0.6, text_focus=0.5)


def test_a_unet_grown_with_attention_at_the_full_latent_size_starts_as_the_one_it_grew_from():
    from dataclasses import replace

    from tests.tiny import TINY_UNET
    from vc_core.models.unet import UNet3D
    from vc_core.train.denoiser import load_growing

    torch.manual_seed(0)
    small = UNet3D(replace(TINY_UNET, attn_scales=[0.5])).eval()
    grown = UNet3D(TINY_UNET).eval()  # attention at scales 1 and 0.5
    added = load_growing(grown, small.state_dict())
    assert added and all(name.endswith((".1", ".2")) for name in added)  # a spatial and a temporal layer each
    x, t, y = torch.randn(1, 4, 3, 8, 8), torch.tensor([500]), torch.randn(1, 77, 64)
    with torch.no_grad():
        assert torch.equal(grown(x, t, y=y), small(x, t, y=y))
    grown.train()
    grown(x, t, y=y).square().mean().backward()
    assert all(grown.get_submodule(f"{name}.proj_out").weight.grad.abs().sum() > 0 for name in added)  # and they learn
    with pytest.raises(ValueError, match="weights this UNet lacks"):
        load_growing(UNet3D(replace(TINY_UNET, attn_scales=[0.5])), grown.state_dict())
    with pytest.raises(ValueError, match="attn_scales"):
        replace(TINY_UNET, attn_scales=[1.0, 0.3])  # a scale no level has would add nothing
    partial = {k: v for k, v in small.state_dict().items() if k != "out.2.weight"}
    with pytest.raises(ValueError, match="other than whole added attention layers.*out.2.weight"):
        load_growing(UNet3D(TINY_UNET), partial)


def test_shape_swapped_twins_differ_from_their_caption_only_in_the_shapes():
    import numpy as np

    from vc_core.train.towers import swap_shapes

    rng = np.random.default_rng(0)
    caption = "a red star moving left and a blue circle standing still over a striped blue and white background"
    for _ in range(20):
        twin = swap_shapes(caption, rng).split()
        changed = [(a, b) for a, b in zip(caption.split(), twin) if a != b]
        assert len(twin) == len(caption.split()) and [a for a, _ in changed] == ["star", "circle"]
        assert all(b in ("circle", "square", "triangle", "star", "diamond", "heart") for _, b in changed)
    assert swap_shapes("a plain red background", rng) is None


def test_the_shipped_model_unpacks_fine_tunes_and_exports_with_its_lineage(tmp_path):
    from safetensors.torch import load_file

    from vc_core.pipeline import EMBEDDED_DIR
    from vc_core.train.common import stage_noise_schedule

    world, runs, out = tmp_path / "world", tmp_path / "runs", tmp_path / "embedded"
    run("vc_core.train.unpack", "--runs", str(runs))
    run("vc_core.train.unpack", "--runs", str(runs), fails_with="already hold(s) a checkpoint")  # trained stages are kept
    # unpacked and exported again untouched: the same tensors, the same record
    run("vc_core.train.export", "--runs", str(runs), "--stage", "shipped", "--history", "--out", str(out))
    for name in ("unet", "vae", "clip"):
        shipped, back = load_file(EMBEDDED_DIR / f"{name}.safetensors"), load_file(out / f"{name}.safetensors")
        assert shipped.keys() == back.keys() and all(torch.equal(shipped[k], back[k]) for k in shipped), name
    meta, shipped_meta = (json.loads((d / "model.json").read_text()) for d in (out, EMBEDDED_DIR))
    assert meta == shipped_meta and meta["noise_schedule"] == "linear_sd_zero_snr"
    # one fine-tuning step with text focus, single frames and attention grown to the full latent size, on the
    # shipped model's zero terminal SNR schedule (taken from the stage it starts from), exported:
    # the lineage comes first, then the new stage; the model loads with the grown config and
    # samples on the schedule it trained on
    run("vc_core.train.data", "--out", str(world), "--clips", "2", "--workers", "1")
    tune = ["--world", str(world), "--runs", str(runs), "--init", str(runs / "shipped" / "ckpt.pt"), "--out", str(runs / "denoiser_compose")]
    grow = ["--attn-scales", "1", "0.5", "0.25"]
    run("vc_core.train.denoiser", "--stage", "compose", *tune, *grow, "--batch", "2", "--steps", "1", "--text-focus", "0.5", "--minutes", "5",
        "--image-batch", "3")  # with single frames beside the clips
    assert stage_noise_schedule(runs / "denoiser_compose") == "linear_sd_zero_snr"
    linear = ["--noise-schedule", "linear_sd"]
    run("vc_core.train.denoiser", "--stage", "compose", *tune, *grow, *linear, "--steps", "2", fails_with="linear_sd_zero_snr noise schedule")
    run("vc_core.train.export", "--runs", str(runs), "--stage", "denoiser_compose", "--history", "shipped", "--out", str(out))
    training = json.loads((out / "model.json").read_text())["training"]
    # (the new stage is named like one of the lineage's: both are kept)
    assert list(training) == [*shipped_meta["training"], "denoiser_compose@runs"]
    assert training["denoiser_compose@runs"]["steps"] == 1 and training["denoiser_compose"] == shipped_meta["training"]["denoiser_compose"]
    tuned_pipe = Pipeline.from_embedded(out)
    assert tuned_pipe.unet.config.attn_scales == [1.0, 0.5, 0.25] and tuned_pipe.schedule.timesteps(25)[0] == 999
    start, tuned = (read_checkpoint(runs / name / "ckpt.pt", name)["unet"]["out.2.weight"] for name in ("shipped", "denoiser_compose"))
    assert 0 < (tuned - start).abs().max() < 1e-3  # one small step from the shipped weights


def test_recipe_runner_gives_compose_the_rest_of_the_budget_and_resumes(tmp_path, monkeypatch):
    from vc_core.train import recipe

    commands, failing = [], {"compose"}

    class FakeStage:  # the stage commands, exiting at once
        def __init__(self, command):
            commands.append(command)
            self.code = 1 if "compose" in command and "compose" in failing else 0

        def wait(self):
            return self.code

    monkeypatch.setattr(recipe.subprocess, "Popen", FakeStage)
    monkeypatch.setattr(sys, "argv", ["recipe", "--runs", str(tmp_path), "--minutes", "60"])
    with pytest.raises(SystemExit, match="compose failed"):
        recipe.main()
    limits = {c[4] if c[2] == "vc_core.train.denoiser" else c[2]: c[c.index("--minutes") + 1] for c in commands if "--minutes" in c}
    assert limits == {"vc_core.train.autoencoder": "30.00", "vc_core.train.towers": "7.00", "t2v": "8.00", "compose": "58.00"}
    assert not any("vc_core.train.export" in c for c in commands)  # nothing after a failed stage
    # from scratch on the noise schedule the shipped model samples on (compose continues on it)
    t2v = next(c for c in commands if "t2v" in c)
    shipped = json.loads((Path(__file__).parents[1] / "assets/embedded/model.json").read_text())["noise_schedule"]
    assert t2v[t2v.index("--noise-schedule") + 1] == shipped

    # a rerun skips the finished stages and counts their time; a stage stopped part-way gets the
    # rest of its share, compose what is left of the budget
    log = json.loads((tmp_path / "recipe.json").read_text())
    log["stages"]["autoencoder"]["minutes"] = 30.0
    log["stages"]["towers"] = {"minutes": 5.0, "finished": False}
    (tmp_path / "recipe.json").write_text(json.dumps(log))
    commands.clear()
    failing.clear()
    recipe.main()
    assert [c[2] for c in commands] == ["vc_core.train.towers", "vc_core.train.denoiser", "vc_core.train.export"]
    assert [c[c.index("--minutes") + 1] for c in commands[:2]] == ["2.00", "23.00"]
    assert all(s["finished"] for s in json.loads((tmp_path / "recipe.json").read_text())["stages"].values())


def test_stopping_the_recipe_keeps_the_stage_for_a_later_sitting(tmp_path, monkeypatch):
    import signal

    from vc_core.train import recipe

    class StoppedStage:  # SIGTERM arrives while the stage runs; the stage saves and exits 0
        def __init__(self, command):
            self.terminated = False

        def wait(self):
            os.kill(os.getpid(), signal.SIGTERM)
            assert self.terminated  # the runner passed the stop on to the stage
            return 0

        def terminate(self):
            self.terminated = True

    monkeypatch.setattr(recipe.subprocess, "Popen", StoppedStage)
    monkeypatch.setattr(sys, "argv", ["recipe", "--runs", str(tmp_path)])
    handler = signal.getsignal(signal.SIGTERM)
    with pytest.raises(SystemExit, match="stopped during world"):
        recipe.main()
    assert signal.getsignal(signal.SIGTERM) == handler
    assert json.loads((tmp_path / "recipe.json").read_text())["stages"]["world"]["finished"] is False


def test_a_stage_stopped_by_sigterm_saves_its_checkpoint(tmp_path):
    # no periodic checkpoint would come for 10 000 steps: only the stop can write one
    script = f"""
import time, torch
from pathlib import Path
from vc_core.train.common import run_stage, warmup
m = torch.nn.Linear(2, 2)
opt = torch.optim.SGD(m.parameters(), lr=0.1)
def step(i):
    time.sleep(0.02)
    return {{"loss": 1.0}}
run_stage("t", Path({str(tmp_path)!r}), {{"m": m}}, opt, step, 10**9, 5, 0, warmup(1), every=1000)
"""
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while not (tmp_path / "loss.jsonl").exists() and time.time() < deadline:  # the loop has begun
        time.sleep(0.1)
    time.sleep(0.5)
    child.terminate()
    out, _ = child.communicate(timeout=30)
    assert child.returncode == 0 and "stopped at step" in out
    step = read_checkpoint(tmp_path / "ckpt.pt", "stopped stage")["step"]
    assert step > 0
    # and its loss log counts those steps and their time, though no periodic record was due
    last = json.loads((tmp_path / "loss.jsonl").read_text().splitlines()[-1])
    assert last["step"] == step and last["elapsed_s"] > 0.4 and last["loss"] == 1.0


def test_a_stage_whose_steps_do_not_fit_its_minutes_still_decays_its_rate_by_the_end(tmp_path):
    """On a machine slower than the one a stage's step count was sized for, the cosine schedule
    follows the minutes: the rate reaches ~0 when time is up, and a resumed sitting continues
    from the time already spent instead of restarting the decay."""
    from vc_core.train.common import run_stage, warmup_cosine

    model = torch.nn.Linear(2, 2)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    rates: list[float] = []

    def step(i: int) -> dict[str, float]:
        rates.append(opt.param_groups[0]["lr"])
        time.sleep(0.02)
        return {"loss": 1.0}

    first = run_stage("t", tmp_path, {"m": model}, opt, step, 10**6, 0.05, 0, warmup_cosine(1), every=10**6)
    assert 0 < first < 10**6  # stopped by time, far from its step count
    assert rates[0] == pytest.approx(0.1, rel=0.02) and rates[-1] < 0.01
    assert all(a >= b for a, b in zip(rates, rates[1:]))
    rates.clear()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)  # a new process: the rate given on the command line
    second = run_stage("t", tmp_path, {"m": model}, opt, step, 10**6, 0.05, 0, warmup_cosine(1), every=10**6)
    assert second > first
    assert 0.03 < rates[0] < 0.07 and rates[-1] < 0.01  # half the time spent: half-way down the cosine
