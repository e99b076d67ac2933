"""DDIM + classifier-free guidance reproduce the official sampler, alone and with the small UNet."""
import numpy as np
import pytest
import torch

from tests.reference import load_golden, max_abs_diff
from tests.test_unet_reference import SPATIAL, build
from vc_core.sampling import NoiseSchedule, cfg_eps_fn, ddim_sample

pytestmark = pytest.mark.reference


def stand_in_model(x, t, y):
    """The golden's analytic denoiser eps = 0.1·x + 0.001·t + mean(y), per batch element."""
    per_sample = (-1,) + (1,) * (x.dim() - 1)
    return 0.1 * x + 0.001 * t.float().view(per_sample) + y.mean(dim=tuple(range(1, y.dim()))).view(per_sample)


@pytest.fixture(scope="module")
def ddim():
    return load_golden("ddim_golden.npz")


def test_schedule_matches(ddim):
    schedule = NoiseSchedule.linear_sd(len(ddim["alphas_cumprod"]))
    np.testing.assert_array_equal(schedule.alphas_cumprod.numpy(), ddim["alphas_cumprod"])


@pytest.mark.parametrize("batched", [True, False])
def test_ddim_with_guidance(ddim, batched):
    schedule = NoiseSchedule.linear_sd(len(ddim["alphas_cumprod"]))
    counts = sorted(int(k.split("_")[1]) for k in ddim if k.startswith("timesteps_"))
    assert counts
    for n in counts:
        assert schedule.timesteps(n) == ddim[f"timesteps_{n}"].tolist()
        xs, x0s = [], []
        eps_fn = cfg_eps_fn(
            stand_in_model, {"y": torch.from_numpy(ddim["y_cond"])}, {"y": torch.from_numpy(ddim["y_uncond"])}, 9.0, batched
        )
        final = ddim_sample(eps_fn, torch.from_numpy(ddim["noise"]), schedule, n, callback=lambda i, N, t, x, x0: (xs.append(x), x0s.append(x0)))
        tol = dict(rtol=1e-5, atol=3e-4 if n >= 50 else 1e-4)
        np.testing.assert_allclose(final.numpy(), ddim[f"final_{n}"], **tol)
        np.testing.assert_allclose(torch.stack(xs).numpy(), ddim[f"traj_xt_{n}"], **tol)
        np.testing.assert_allclose(torch.stack(x0s).numpy(), ddim[f"traj_x0_{n}"], **tol)


def test_ddim_without_guidance(ddim):
    schedule = NoiseSchedule.linear_sd(len(ddim["alphas_cumprod"]))
    n = len(ddim["traj_xt_10"])
    final = ddim_sample(cfg_eps_fn(stand_in_model, {"y": torch.from_numpy(ddim["y_cond"])}, None, None), torch.from_numpy(ddim["noise"]), schedule, n)
    np.testing.assert_allclose(final.numpy(), ddim["final_10_noguide"], rtol=1e-5, atol=1e-4)


@pytest.mark.slow
def test_pipeline_small_end_to_end(capsys):
    """Small UNet + CFG + DDIM as in the official loop; the STC features are computed once and
    shared by both branches and all steps (same numbers as recomputing them every call)."""
    g = load_golden("pipeline_small_golden.npz")
    clip = load_golden("clip_golden.npz")
    unet_g = load_golden("unet_small_golden.npz")
    net = build("unet_small_manifest.json")
    guidances = [str(k) for k in g["guidances"]]
    spatial = {k: torch.from_numpy(unet_g[f"in_{k}"]) for k in SPATIAL if k in guidances}
    image = torch.from_numpy(clip["image_embed"])[:, None]
    with torch.no_grad():
        features = net.condition_features(**spatial)
        cond = {"y": torch.from_numpy(clip["text_penultimate_fox"]), "features": features}
        uncond = {"y": torch.from_numpy(clip["text_penultimate_empty"]), "features": features}
        if "image" in guidances:
            cond["image"], uncond["image"] = image, torch.zeros_like(image)
        final = ddim_sample(cfg_eps_fn(net, cond, uncond, 9.0), torch.from_numpy(g["noise"]), NoiseSchedule.linear_sd(), int(g["ddim_timesteps"]))
    with capsys.disabled():
        print(f"\npipeline_small final max|Δ| = {max_abs_diff(final, g['final']):.1e} (|ref| max {np.abs(g['final']).max():.0f})")
    np.testing.assert_allclose(final.numpy(), g["final"], rtol=1e-4, atol=2e-3)
