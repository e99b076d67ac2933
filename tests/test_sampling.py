"""Sampler behaviour beyond the goldens: batched CFG, DPM-Solver++, progress, cancel, bf16."""
import math
import threading

import pytest
import torch

from tests.reference import load_golden
from tests.test_unet_reference import SPATIAL, build
from vc_core.sampling import (
    GenerationCancelled,
    NoiseSchedule,
    as_eps_fn,
    cfg_eps_fn,
    ddim_sample,
    dpmpp_2m_sample,
    hold_known_eps_fn,
    sample,
)

SCHEDULE = NoiseSchedule.linear_sd()


def gaussian_data_eps(mu: float, s: float):
    """Exact eps-prediction for data ~ N(mu, s²): lets us know the true ODE solution."""

    def eps(x, t):
        a = SCHEDULE.alphas_cumprod[int(t[0])].item()
        alpha, sigma = math.sqrt(a), math.sqrt(1 - a)
        x0 = mu + alpha * s**2 / (alpha**2 * s**2 + sigma**2) * (x - alpha * mu)
        return (x - alpha * x0) / sigma

    return eps


def exact_flow(noise, mu, s, t_start, t_end):
    """The probability-flow ODE keeps the standardised value of x: map x at ᾱ[t_start] to ᾱ[t_end]."""
    a_T, a_0 = SCHEDULE.alphas_cumprod[t_start].item(), SCHEDULE.alphas_cumprod[t_end].item()
    z = (noise - math.sqrt(a_T) * mu) / math.sqrt(a_T * s**2 + 1 - a_T)
    return math.sqrt(a_0) * mu + math.sqrt(a_0 * s**2 + 1 - a_0) * z


def test_dpmpp_2m_solves_the_ode_better_than_ddim_at_20_steps():
    noise = torch.randn(4096, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    mu, s = 0.5, 0.3
    dpm = dpmpp_2m_sample(gaussian_data_eps(mu, s), noise, SCHEDULE, 20)
    err_dpm = (dpm - exact_flow(noise, mu, s, SCHEDULE.log_snr_timesteps(20)[0], 0)).abs().max().item()
    ddim = ddim_sample(gaussian_data_eps(mu, s), noise, SCHEDULE, 20)
    err_ddim = (ddim - exact_flow(noise, mu, s, SCHEDULE.timesteps(20)[0], 0)).abs().max().item()
    assert err_dpm < 0.01, err_dpm
    assert err_dpm < err_ddim / 3, (err_dpm, err_ddim)


def test_a_zero_terminal_snr_schedule_starts_from_pure_noise_and_samples_the_data():
    """On linear_sd the first step still holds 8.5 % of the clip, which pure noise lacks; the
    rescaled schedule holds none, and both samplers, starting there, end on the data's law."""
    zero = NoiseSchedule.named("linear_sd_zero_snr")
    a = zero.alphas_cumprod
    assert a[-1] < 1e-7 and torch.isclose(a[0], SCHEDULE.alphas_cumprod[0]) and bool((a[1:] < a[:-1]).all())
    assert SCHEDULE.alphas_cumprod[SCHEDULE.timesteps(25)[0]].sqrt() > 0.06  # the signal left on linear_sd
    assert zero.timesteps(25)[0] == zero.log_snr_timesteps(20)[0] == zero.num_timesteps - 1
    noise = torch.randn(20000, generator=torch.Generator().manual_seed(3))  # float32, as the pipeline samples
    mu, s = 0.5, 0.3
    mean, std = math.sqrt(a[0]) * mu, math.sqrt(a[0] * s**2 + 1 - a[0])

    def v_model(x, t):  # the exact v of data ~ N(mu, s²), as the embedded (v) model would give it
        a_t = zero.alphas_cumprod[int(t[0])].item()
        alpha, sigma = math.sqrt(a_t), math.sqrt(1 - a_t)
        x0 = mu + alpha * s**2 / (alpha**2 * s**2 + sigma**2) * (x - alpha * mu)
        return alpha * (x - alpha * x0) / sigma - sigma * x0

    # float32 through the v → eps → x0 conversions, where α is 2.4e-4 at the first step
    def spread(sampler: str, steps: int) -> float:
        out = sample(sampler, as_eps_fn(v_model, zero, "v"), noise, zero, steps)
        assert torch.isfinite(out).all() and abs(out.mean().item() - mean) < 0.01
        return out.std().item()

    assert abs(spread("dpmpp_2m", 20) - std) < 0.01
    # DDIM is first order: from zero SNR it narrows the spread (by 15 % at 25 steps), less with more steps
    ddim_25, ddim_100 = spread("ddim", 25), spread("ddim", 100)
    assert abs(ddim_100 - std) < min(0.015, abs(ddim_25 - std) / 2)


def test_v_prediction_target_and_conversion_round_trip():
    g = torch.Generator().manual_seed(1)
    x0, noise = torch.randn(4, 3, 5, generator=g, dtype=torch.float64), torch.randn(4, 3, 5, generator=g, dtype=torch.float64)
    t = torch.tensor([0, 300, 700, 999])
    v = SCHEDULE.target("v", x0, noise, t)
    x_t = SCHEDULE.add_noise(x0, noise, t)
    for i in range(4):  # the sampler passes one t for the whole batch
        eps = SCHEDULE.eps_from("v", v[i : i + 1], x_t[i : i + 1], t[i : i + 1])
        torch.testing.assert_close(eps, noise[i : i + 1])
    assert SCHEDULE.target("eps", x0, noise, t) is noise
    with pytest.raises(ValueError, match="prediction"):
        as_eps_fn(lambda x, t: x, SCHEDULE, "x0")


def test_a_v_prediction_model_samples_the_same_as_its_eps_twin():
    """The exact v-model of Gaussian data, through as_eps_fn, reaches the eps-model's result."""
    eps_model = gaussian_data_eps(0.5, 0.3)

    def v_model(x, t):
        a = SCHEDULE.alphas_cumprod[int(t[0])].item()
        alpha, sigma = math.sqrt(a), math.sqrt(1 - a)
        return (eps_model(x, t) - sigma * x) / alpha  # eps = σ·x + α·v

    noise = torch.randn(512, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    for sampler in (ddim_sample, dpmpp_2m_sample):
        expected = sampler(eps_model, noise, SCHEDULE, 20)
        torch.testing.assert_close(sampler(as_eps_fn(v_model, SCHEDULE, "v"), noise, SCHEDULE, 20), expected)


def test_progress_callback_every_step_and_cancel():
    calls = []
    eps = gaussian_data_eps(0.0, 1.0)
    x = torch.randn(8, dtype=torch.float64)
    for fn in (ddim_sample, dpmpp_2m_sample):
        calls.clear()
        fn(eps, x, SCHEDULE, 7, callback=lambda i, n, t, xt, x0: calls.append((i, n, t)))
        assert [c[0] for c in calls] == list(range(7)) and all(c[1] == 7 for c in calls)
        grid = SCHEDULE.timesteps(7) if fn is ddim_sample else SCHEDULE.log_snr_timesteps(7)
        assert [c[2] for c in calls] == grid
    cancel = threading.Event()
    with pytest.raises(GenerationCancelled):
        sample("ddim", eps, x, SCHEDULE, 10, callback=lambda i, *a: cancel.set() if i == 2 else None, cancel=cancel)
    with pytest.raises(ValueError, match="unknown sampler"):
        sample("euler", eps, x, SCHEDULE, 10)


@pytest.fixture(scope="module")
def small():
    return build("unet_small_manifest.json"), load_golden("unet_small_golden.npz")


@pytest.mark.reference
def test_batched_cfg_equals_two_separate_calls(small):
    net, g = small
    x, t = torch.from_numpy(g["in_x"]), torch.from_numpy(g["in_t"])
    y, image = torch.from_numpy(g["in_y"]), torch.from_numpy(g["in_image"])
    with torch.no_grad():
        features = net.condition_features(**{k: torch.from_numpy(g[f"in_{k}"]) for k in SPATIAL})
        cond = {"y": y, "image": image, "features": features}
        uncond = {"y": torch.zeros_like(y), "image": torch.zeros_like(image), "features": features}
        one = cfg_eps_fn(net, cond, uncond, 9.0, batched=True)(x, t)
        two = cfg_eps_fn(net, cond, uncond, 9.0, batched=False)(x, t)
        # condition guidance: the unconditional branch without the spatial conditions
        unguided = uncond | {"features": torch.zeros_like(features)}
        one_guided = cfg_eps_fn(net, cond, unguided, 9.0, batched=True)(x, t)
        two_guided = cfg_eps_fn(net, cond, unguided, 9.0, batched=False)(x, t)
    assert (one - two).abs().max().item() < 1e-4
    assert (one_guided - two_guided).abs().max().item() < 1e-4
    assert (one_guided - one).abs().max().item() > 1e-2  # it does change the guidance


@pytest.mark.reference
def test_bf16_on_cpu_stays_close_to_fp32(small):
    """Stated bound: bf16 autocast on CPU moves the eps prediction by ≤ 3 % (relative L2)."""
    net, g = small
    x, t = torch.from_numpy(g["in_x"]), torch.from_numpy(g["in_t"])
    kwargs = {k: torch.from_numpy(g[f"in_{k}"]) for k in ["y", "image", *SPATIAL]}
    with torch.no_grad():
        ref = net(x, t, **kwargs)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = net(x, t, **kwargs)
    assert low.dtype == torch.bfloat16
    rel = ((low.float() - ref).norm() / ref.norm()).item()
    assert rel < 0.03, rel


@pytest.mark.parametrize("sampler,steps", [("ddim", 25), ("dpmpp_2m", 20)])
def test_held_latents_end_at_the_given_values_and_the_rest_is_untouched(sampler, steps):
    """What keep_given relies on: the held part ends where it was told (as noised as the
    sampler's last level, ᾱ_0), and an element-wise model leaves every other element as it was."""
    g = torch.Generator().manual_seed(0)
    noise = torch.randn(1, 4, 3, 8, 8, generator=g)
    known = torch.randn(1, 4, 3, 8, 8, generator=g)
    mask = torch.zeros(1, 1, 3, 8, 8)
    mask[:, :, 0] = 1  # the first frame, as for a given image
    eps_fn = gaussian_data_eps(0.3, 0.8)
    free = sample(sampler, eps_fn, noise, SCHEDULE, steps)
    held = sample(sampler, hold_known_eps_fn(eps_fn, SCHEDULE, known, mask), noise, SCHEDULE, steps)
    first = (SCHEDULE.timesteps(steps) if sampler == "ddim" else SCHEDULE.log_snr_timesteps(steps))[0]
    a_first, a0 = SCHEDULE.alphas_cumprod[first].item(), SCHEDULE.alphas_cumprod[0].item()
    implied_noise = (noise - math.sqrt(a_first) * known) / math.sqrt(1 - a_first)  # what x_T says the noise is
    expected = math.sqrt(a0) * known + math.sqrt(1 - a0) * implied_noise
    assert torch.allclose(held[:, :, 0], expected[:, :, 0], atol=1e-4)
    assert torch.allclose(held[:, :, 1:], free[:, :, 1:], atol=1e-6)
    assert (held[:, :, 0] - free[:, :, 0]).abs().mean() > 0.3


def test_a_hold_released_part_way_starts_the_held_part_and_lets_the_model_finish_it():
    """What motion_hold relies on: holding only while t ≥ from_t steers the held part early
    (it ends far from the unheld run) but does not pin its end value; never holding changes nothing."""
    g = torch.Generator().manual_seed(1)
    noise = torch.randn(1, 4, 3, 8, 8, generator=g)
    known = torch.randn(1, 4, 3, 8, 8, generator=g) * 2
    mask = torch.zeros(1, 1, 3, 8, 8)
    mask[:, :, 1:] = 1
    eps_fn = gaussian_data_eps(0.3, 0.8)

    def run(from_t: int) -> torch.Tensor:
        return sample("ddim", hold_known_eps_fn(eps_fn, SCHEDULE, known, mask, from_t=from_t), noise, SCHEDULE, 25)

    free, always, released, never = sample("ddim", eps_fn, noise, SCHEDULE, 25), run(0), run(500), run(SCHEDULE.num_timesteps)
    assert torch.equal(never, free)
    assert torch.allclose(released[:, :, 0], free[:, :, 0], atol=1e-6)
    steered = (released - free)[:, :, 1:].abs().mean()
    unpinned = (released - always)[:, :, 1:].abs().mean()
    assert steered > 0.3 and unpinned > 0.5, (steered, unpinned)
