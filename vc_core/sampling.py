"""Noise schedule, classifier-free guidance and samplers (DDIM as official, DPM-Solver++ 2M).

Samplers see the model only through ``eps_fn(x, t) -> eps``; :func:`cfg_eps_fn` builds that
function from a model and the conditional / unconditional keyword arguments.
"""
from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from typing import Callable, Protocol

import torch

EpsFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
SAMPLERS = ("ddim", "dpmpp_2m")
PREDICTIONS = ("eps", "v")
# Keyword arguments the UNet broadcasts over the batch: passed once when both guidance branches
# hold the same tensor (the official sampler's conditions), stacked like the others otherwise.
SHARED_KWARGS = ("features",)


class GenerationCancelled(Exception):
    """Raised inside a sampler when its cancel event is set."""


class StepCallback(Protocol):
    def __call__(self, step: int, total: int, t: int, x: torch.Tensor, x0: torch.Tensor) -> None: ...


NOISE_SCHEDULES = ("linear_sd", "linear_sd_zero_snr")
# Top of the DPM-Solver++ log-SNR grid: a zero-terminal-SNR schedule reaches λ ≈ −8 at its last
# step, and a grid uniform from there spends a third of its steps where nothing forms yet.
LOG_SNR_TOP = -5.0


@dataclass(frozen=True)
class NoiseSchedule:
    """ᾱ_t tables (float64): the official 'linear_sd', or it rescaled to zero terminal SNR.

    ``trailing``: sampling starts at the last step T−1 (needed when x_T is pure noise in
    training too) instead of the official 1 + (steps − 1)·stride.
    """

    alphas_cumprod: torch.Tensor
    trailing: bool = False

    @classmethod
    def linear_sd(cls, num_timesteps: int = 1000, beta_start: float = 0.00085, beta_end: float = 0.012) -> "NoiseSchedule":
        betas = torch.linspace(beta_start**0.5, beta_end**0.5, num_timesteps, dtype=torch.float64) ** 2
        return cls(torch.cumprod(1.0 - betas, dim=0))

    @classmethod
    def named(cls, name: str) -> "NoiseSchedule":
        """A schedule by the name a model records (``ModelSpec.noise_schedule``)."""
        if name == "linear_sd":
            return cls.linear_sd()
        if name == "linear_sd_zero_snr":
            return cls.linear_sd().zero_terminal_snr()
        raise ValueError(f"unknown noise schedule {name!r}; choose one of {NOISE_SCHEDULES}")

    def zero_terminal_snr(self) -> "NoiseSchedule":
        """√ᾱ shifted and scaled so the last step holds no signal and the first is unchanged
        (Lin et al. 2023, "Common diffusion noise schedules and sample steps are flawed").

        linear_sd keeps √ᾱ = 0.068 of the clip at T; across 16 frames that shows the model the
        layout and background colours, so it never learns to make them from text (sampling
        starts from noise that holds none). ᾱ_T is set to 2⁻²⁴, not 0, so eps-based samplers
        can still recover x0 there.
        """
        root = self.alphas_cumprod.sqrt()
        root = (root - root[-1]) * root[0] / (root[0] - root[-1])
        alphas_cumprod = root.square()
        alphas_cumprod[-1] = 2.0**-24
        return NoiseSchedule(alphas_cumprod, trailing=True)

    @property
    def num_timesteps(self) -> int:
        return len(self.alphas_cumprod)

    def timesteps(self, steps: int) -> list[int]:
        """Decreasing steps: official t_k = 1 + k·(T // steps), or trailing T−1 − k·(T // steps)."""
        if not 1 <= steps <= self.num_timesteps:
            raise ValueError(f"steps must be in 1..{self.num_timesteps}, got {steps}")
        stride = self.num_timesteps // steps
        if self.trailing:
            return [self.num_timesteps - 1 - k * stride for k in range(steps)]
        return [min(max(1 + k * stride, 0), self.num_timesteps - 1) for k in range(steps)][::-1]

    def log_snr_timesteps(self, steps: int) -> list[int]:
        """Decreasing integer steps from T−1 to 1, uniform in λ = log(α/σ): the grid on which
        DPM-Solver++ is accurate at 20–25 steps (uniform-t grids waste steps at high noise).
        Below λ = ``LOG_SNR_TOP`` only T−1 is visited."""
        if not 1 <= steps < self.num_timesteps:
            raise ValueError(f"steps must be in 1..{self.num_timesteps - 1}, got {steps}")
        a = self.alphas_cumprod
        lam = 0.5 * torch.log(a / (1 - a))
        top = float(lam[-1])
        if top < LOG_SNR_TOP and steps > 1:
            top = LOG_SNR_TOP
            ts = [self.num_timesteps - 1]
        else:
            ts = []
        targets = torch.linspace(top, float(lam[1]), steps - len(ts), dtype=torch.float64)
        for target in targets:
            t = int((lam - target).abs().argmin())
            if ts and t >= ts[-1]:
                t = ts[-1] - 1  # keep the grid strictly decreasing where rounding collides
            ts.append(max(t, steps - len(ts)))
        return ts

    def alpha_bar(self, t: int, like: torch.Tensor) -> torch.Tensor:
        """ᾱ_t indexed in float64, then cast to the latent's dtype (as official)."""
        return self.alphas_cumprod[max(t, 0)].to(device=like.device, dtype=like.dtype)

    def _alpha_sigma(self, t: torch.Tensor, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # index the float64 table on the CPU: only the needed values travel (this runs every step)
        a = self.alphas_cumprod[t.cpu()].to(device=like.device, dtype=like.dtype).view(-1, *([1] * (like.dim() - 1)))
        return a.sqrt(), (1 - a).sqrt()

    def add_noise(self, x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """q(x_t | x_0) for training: √ᾱ_t·x0 + √(1−ᾱ_t)·noise, t per batch element."""
        alpha, sigma = self._alpha_sigma(t, x0)
        return alpha * x0 + sigma * noise

    def target(self, prediction: str, x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Training target of a model that predicts ``prediction`` ('eps' or 'v' = α·eps − σ·x0)."""
        if prediction == "eps":
            return noise
        if prediction == "v":
            alpha, sigma = self._alpha_sigma(t, x0)
            return alpha * noise - sigma * x0
        raise ValueError(f"unknown prediction {prediction!r}; choose one of {PREDICTIONS}")

    def eps_from(self, prediction: str, output: torch.Tensor, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """The eps a model output stands for: eps = σ·x_t + α·v for v-prediction."""
        if prediction == "eps":
            return output
        if prediction == "v":
            alpha, sigma = self._alpha_sigma(t.expand(x.shape[0]), x)
            return sigma * x + alpha * output
        raise ValueError(f"unknown prediction {prediction!r}; choose one of {PREDICTIONS}")


def as_eps_fn(model_fn: EpsFn, schedule: NoiseSchedule, prediction: str) -> EpsFn:
    """Samplers work in eps; a v-prediction model's (guided) output is converted per step.
    Guidance commutes with the conversion because eps is affine in v for a fixed x_t."""
    if prediction not in PREDICTIONS:
        raise ValueError(f"unknown prediction {prediction!r}; choose one of {PREDICTIONS}")
    if prediction == "eps":
        return model_fn
    return lambda x, t: schedule.eps_from(prediction, model_fn(x, t), x, t)


def cfg_eps_fn(
    model: Callable[..., torch.Tensor],
    cond: dict,
    uncond: dict | None,
    guide_scale: float | None,
    batched: bool = True,
) -> EpsFn:
    """eps = eps_u + s·(eps_c − eps_u); the two branches run as one batch when ``batched``.

    ``uncond`` must have the same keys as ``cond``. Without ``guide_scale`` (None) or ``uncond``
    only the conditional branch runs. For a v-prediction model wrap the result in :func:`as_eps_fn`.
    """
    if guide_scale is None or uncond is None:
        return lambda x, t: model(x, _batch_t(t, x), **cond)
    if set(cond) != set(uncond):
        raise ValueError(f"conditional keys {sorted(cond)} differ from unconditional keys {sorted(uncond)}")
    if not batched:

        def two_calls(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            tt = _batch_t(t, x)
            eps_c, eps_u = model(x, tt, **cond), model(x, tt, **uncond)
            return eps_u + guide_scale * (eps_c - eps_u)

        return two_calls

    both = {k: _stack(k, cond[k], uncond[k]) for k in cond}

    def one_call(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        eps_c, eps_u = model(torch.cat([x, x]), _batch_t(t, x).repeat(2), **both).chunk(2)
        return eps_u + guide_scale * (eps_c - eps_u)

    return one_call


def hold_known_eps_fn(
    eps_fn: EpsFn, schedule: NoiseSchedule, known: torch.Tensor, mask: torch.Tensor, from_t: int = 0
) -> EpsFn:
    """Hold part of the latents at given values: where ``mask`` is 1 the model's x0 estimate is
    replaced by ``known`` and eps recomputed from it — at every step with t ≥ ``from_t`` (0: all).

    Sampler-agnostic: DDIM and DPM-Solver++ only see eps, and with x0 held their iterate there is
    exactly ``known`` forward-noised with the noise the first x implies, so the model always sees
    the held part at its noise level and fits the rest around it. Released (t < ``from_t``), the
    held part is a layout the model refines rather than a value it must end on.
    """

    def held(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        eps = eps_fn(x, t)
        step = int(t.reshape(-1)[0])
        if step < from_t:
            return eps
        a = schedule.alpha_bar(step, x)
        alpha, sigma = torch.sqrt(a), torch.sqrt(1 - a)
        x0 = torch.lerp((x - sigma * eps) / alpha, known.to(x.dtype), mask.to(x.dtype))
        return (x - alpha * x0) / sigma

    return held


def _stack(key: str, c, u):
    if c is None or u is None:
        if c is not None or u is not None:
            raise ValueError(f"'{key}' is given for one guidance branch only")
        return None
    if key in SHARED_KWARGS and (c is u or torch.equal(c, u)):
        return c
    return torch.cat([c, u])


def _batch_t(t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return t.to(x.device).expand(x.shape[0])


def _check_cancel(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise GenerationCancelled("generation cancelled")


def ddim_sample(
    eps_fn: EpsFn,
    noise: torch.Tensor,
    schedule: NoiseSchedule,
    steps: int = 50,
    callback: StepCallback | None = None,
    cancel: threading.Event | None = None,
) -> torch.Tensor:
    """Deterministic DDIM (eta 0) exactly as the official ``ddim_sample_loop``: x0 is never
    clipped and the last step (t = 1) lands on ᾱ_prev = ᾱ_0, not on x0 itself."""
    x = noise
    stride = schedule.num_timesteps // steps
    ts = schedule.timesteps(steps)
    for i, t in enumerate(ts):
        _check_cancel(cancel)
        eps = eps_fn(x, torch.tensor([t], dtype=torch.long))
        a = schedule.alphas_cumprod[t]
        sqrt_recip = torch.sqrt(1.0 / a).to(x.dtype)
        sqrt_recipm1 = torch.sqrt(1.0 / a - 1).to(x.dtype)
        x0 = sqrt_recip * x - sqrt_recipm1 * eps
        eps = (sqrt_recip * x - x0) / sqrt_recipm1
        a_prev = schedule.alpha_bar(t - stride, x)
        x = torch.sqrt(a_prev) * x0 + torch.sqrt(1 - a_prev) * eps
        if callback is not None:
            callback(i, len(ts), t, x, x0)
    return x


def dpmpp_2m_sample(
    eps_fn: EpsFn,
    noise: torch.Tensor,
    schedule: NoiseSchedule,
    steps: int = 20,
    callback: StepCallback | None = None,
    cancel: threading.Event | None = None,
) -> torch.Tensor:
    """DPM-Solver++ (multistep, 2nd order, data prediction) on a log-SNR-uniform grid, ending,
    like DDIM, at ᾱ_0. The first step and, for fewer than 15 steps, the last are first order."""
    x = noise
    ts = schedule.log_snr_timesteps(steps)

    def coeffs(t: int) -> tuple[float, float, float]:
        a = float(schedule.alphas_cumprod[max(t, 0)])
        alpha, sigma = math.sqrt(a), math.sqrt(1 - a)
        return alpha, sigma, math.log(alpha / sigma)

    prev_x0, prev_h = None, None
    for i, t in enumerate(ts):
        _check_cancel(cancel)
        eps = eps_fn(x, torch.tensor([t], dtype=torch.long))
        alpha, sigma, lam = coeffs(t)
        alpha_n, sigma_n, lam_n = coeffs(ts[i + 1] if i + 1 < len(ts) else 0)
        x0 = (x - sigma * eps) / alpha
        h = lam_n - lam
        d = x0
        last_low_order = i == len(ts) - 1 and steps < 15
        if prev_x0 is not None and not last_low_order:
            r = prev_h / h
            d = (1 + 1 / (2 * r)) * x0 - (1 / (2 * r)) * prev_x0
        x = (sigma_n / sigma) * x - alpha_n * math.expm1(-h) * d
        prev_x0, prev_h = x0, h
        if callback is not None:
            callback(i, len(ts), t, x, x0)
    return x


def sample(
    sampler: str,
    eps_fn: EpsFn,
    noise: torch.Tensor,
    schedule: NoiseSchedule,
    steps: int,
    callback: StepCallback | None = None,
    cancel: threading.Event | None = None,
) -> torch.Tensor:
    """Run the named sampler (``ddim`` or ``dpmpp_2m``)."""
    if sampler == "ddim":
        return ddim_sample(eps_fn, noise, schedule, steps, callback, cancel)
    if sampler == "dpmpp_2m":
        return dpmpp_2m_sample(eps_fn, noise, schedule, steps, callback, cancel)
    raise ValueError(f"unknown sampler {sampler!r}; choose one of {SAMPLERS}")
