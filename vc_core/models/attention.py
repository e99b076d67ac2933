"""The one attention function every attention layer calls.

Backends:
- ``"xformers"``: ``xformers.ops.memory_efficient_attention`` (CUDA only, used when xformers
  imports AND its kernels run: probed once per device and logged);
- ``"sdpa"``: ``torch.nn.functional.scaled_dot_product_attention``;
- ``"math"``: plain softmax(q·kᵀ/√d)·v in the input dtype, the exact form of the official
  CPU substitute, for bit-level comparisons;
- ``"auto"`` (default): xformers on CUDA when it works, else SDPA.

Choose with :func:`set_attention_backend` or the ``VC_ATTENTION`` environment variable.
"""
from __future__ import annotations

import functools
import logging
import os

import torch
import torch.nn.functional as F

log = logging.getLogger(__name__)

BACKENDS = ("auto", "sdpa", "math", "xformers")
_backend = os.environ.get("VC_ATTENTION", "auto").strip().lower() or "auto"
if _backend not in BACKENDS:
    raise ValueError(f"VC_ATTENTION={_backend!r}: expected one of {BACKENDS}")


def set_attention_backend(name: str) -> None:
    """Select the attention backend for all layers (``auto``, ``sdpa``, ``math``, ``xformers``)."""
    global _backend
    if name not in BACKENDS:
        raise ValueError(f"unknown attention backend {name!r}; expected one of {BACKENDS}")
    _backend = name


def get_attention_backend() -> str:
    return _backend


@functools.lru_cache(maxsize=None)
def xformers_works(device: str) -> bool:
    """True when xformers imports and its memory-efficient kernel runs on ``device`` (probed once)."""
    if not device.startswith("cuda"):
        return False
    try:
        import xformers.ops as xops  # optional: never a hard dependency

        q = torch.zeros(1, 8, 1, 64, device=device, dtype=torch.float16)
        xops.memory_efficient_attention(q, q, q)
    except Exception as exc:  # ImportError, missing kernels, unsupported GPU …
        log.info("attention: xformers unavailable on %s (%s); using SDPA", device, exc)
        return False
    log.info("attention: using xformers memory_efficient_attention on %s", device)
    return True


def resolve_backend(device: torch.device) -> str:
    """The backend that :func:`attention` uses for tensors on ``device``."""
    if _backend == "auto":
        return "xformers" if xformers_works(str(device)) else "sdpa"
    if _backend == "xformers" and not xformers_works(str(device)):
        raise RuntimeError(f"attention backend 'xformers' was requested but does not work on {device}")
    return _backend


def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Softmax attention over (batch, heads, tokens, head_dim) tensors, scale head_dim^-0.5."""
    backend = resolve_backend(q.device)
    if backend == "sdpa":
        return F.scaled_dot_product_attention(q, k, v)
    if backend == "xformers":
        import xformers.ops as xops

        # xformers wants (batch, tokens, heads, head_dim)
        out = xops.memory_efficient_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2))
        return out.transpose(1, 2)
    scores = torch.matmul(q * q.shape[-1] ** -0.5, k.transpose(-1, -2))
    return torch.matmul(scores.softmax(dim=-1), v)
