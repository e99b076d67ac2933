"""The embedded model's training recipe runs end to end on a few steps, and its export loads.

Every stage is a real command (``python -m vc_core.train.<stage>``) on 4 rendered clips; the
result is meaningless but proves the recipe, the checkpoint format and the loader fit together.
"""
import json
import os
import subprocess
import sys

import pytest
import torch

from vc_core.pipeline import GenerationRequest, Pipeline
from vc_core.weights import read_checkpoint

pytestmark = pytest.mark.slow


def run(*args: str) -> None:
    env = os.environ | {"OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2")}
    done = subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]


def test_recipe_on_a_few_steps_then_generate(tmp_path):
    world, runs = tmp_path / "world", tmp_path / "runs"
    run("vc_core.train.data", "--out", str(world), "--clips", "4", "--workers", "1")
    common = ["--world", str(world), "--steps", "2", "--minutes", "5"]
    run("vc_core.train.autoencoder", *common, "--out", str(runs / "autoencoder"), "--batch", "2")
    run("vc_core.train.towers", *common, "--out", str(runs / "towers"), "--batch", "4")
    run("vc_core.train.denoiser", "--stage", "t2v", *common, "--runs", str(runs), "--batch", "2")
    run("vc_core.train.denoiser", "--stage", "compose", *common, "--runs", str(runs), "--batch", "2")
    # resuming a finished stage continues from its checkpoint instead of starting over
    run("vc_core.train.denoiser", "--stage", "compose", "--world", str(world), "--steps", "3", "--minutes", "5", "--runs", str(runs), "--batch", "2")
    assert (runs / "denoiser_compose" / "ckpt.pt").exists()
    # a decoder fine-tune keeps the encoder, so the latents the UNet learned and their scale
    run("vc_core.train.autoencoder", *common, "--out", str(runs / "decoder"), "--batch", "2", "--init", str(runs / "autoencoder"), "--decoder-only")
    before, after = (read_checkpoint(runs / name / "ckpt.pt", name)["vae"] for name in ("autoencoder", "decoder"))
    assert all(torch.equal(before[k], after[k]) for k in before if k.startswith(("encoder.", "quant_conv.")))
    assert any(not torch.equal(before[k], after[k]) for k in before if k.startswith("decoder."))
    scales = [json.loads((runs / name / "stats.json").read_text())["scale_factor"] for name in ("autoencoder", "decoder")]
    assert scales[0] == scales[1]
    run("vc_core.train.export", "--runs", str(runs), "--out", str(tmp_path / "embedded"), "--autoencoder", "decoder")
    pipe = Pipeline.from_embedded(tmp_path / "embedded")
    video = pipe.generate(GenerationRequest("a red star moving left", frames=8, steps=2)).video
    assert video.shape == (8, 128, 128, 3) and video.dtype == torch.uint8


def test_training_time_adds_up_over_resumed_runs():
    from vc_core.train.export import training_seconds

    log = [{"elapsed_s": 10}, {"elapsed_s": 20}, {"elapsed_s": 5}, {"elapsed_s": 15}]  # resumed after 20 s
    assert training_seconds(log) == 35


def test_loss_weights_put_the_extra_weight_on_the_objects_at_latent_resolution():
    import numpy as np

    from vc_core.train.common import World
    from vc_core.train.denoiser import object_weights

    masks = np.full((1, 2, 128, 128), -1, np.int8)
    masks[0, 1, 40:56, 64:80] = 0  # one object in frame 1 only
    world = World(frames=None, nearness=None, masks=masks, motion=None, captions=[""])
    w = object_weights(world, np.array([0]), 16, 8.0)
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


def test_recipe_runner_gives_compose_the_rest_of_the_budget_and_resumes(tmp_path, monkeypatch):
    from vc_core.train import recipe

    commands, failing = [], {"compose"}

    def fake_run(command, check):
        commands.append(command)
        name = "compose" if "compose" in command else command[2].rsplit(".", 1)[-1]
        return subprocess.CompletedProcess(command, 1 if name in failing else 0)

    monkeypatch.setattr(recipe.subprocess, "run", fake_run)
    monkeypatch.setattr(sys, "argv", ["recipe", "--runs", str(tmp_path), "--minutes", "60"])
    with pytest.raises(SystemExit, match="compose failed"):
        recipe.main()
    limits = {c[4] if c[2] == "vc_core.train.denoiser" else c[2]: c[c.index("--minutes") + 1] for c in commands if "--minutes" in c}
    assert limits == {"vc_core.train.autoencoder": "15.00", "vc_core.train.towers": "7.00", "t2v": "8.00", "compose": "58.00"}
    assert not any("vc_core.train.export" in c for c in commands)  # nothing after a failed stage

    # a rerun skips the finished stages and counts their time: compose gets what is left
    log = json.loads((tmp_path / "recipe.json").read_text())
    log["stages"]["autoencoder"]["minutes"] = 30.0
    (tmp_path / "recipe.json").write_text(json.dumps(log))
    commands.clear()
    failing.clear()
    recipe.main()
    assert [c[2] for c in commands] == ["vc_core.train.denoiser", "vc_core.train.export"]
    assert commands[0][commands[0].index("--minutes") + 1] == "28.00"
    assert all(s["finished"] for s in json.loads((tmp_path / "recipe.json").read_text())["stages"].values())
