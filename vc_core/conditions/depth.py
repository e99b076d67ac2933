"""Depth sequence: MiDaS on the misc frames, post-processed as official, a few frames at a time.

The network is injected (``vc_core.models.annotators.MiDaS`` or any callable with its contract):
it takes (N,3,H,W) images in model space ``frame * 2 - 1`` and returns raw relative inverse depth
(N,1,H,W) or (N,H,W). An ``nn.Module`` receives its input on its own device and dtype (the official
code runs it in fp16 on a GPU). ``vc_core.models.annotators.depth_condition`` is the same formula
for one batch of a real MiDaS; this function adds batching over a clip and accepts any callable.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from vc_core.conditions.transforms import run_in_batches
from vc_core.models.annotators.midas import DEPTH_CLAMP, DEPTH_STD

DepthModel = Callable[[torch.Tensor], torch.Tensor]


def _midas(misc_frames: torch.Tensor, midas: DepthModel, batch_size: int) -> torch.Tensor:
    depth = run_in_batches(midas, misc_frames * 2.0 - 1.0, batch_size)
    return depth.unsqueeze(1) if depth.dim() == 3 else depth


def depth_condition(misc_frames: torch.Tensor, midas: DepthModel, batch_size: int = 4) -> torch.Tensor:
    """The depth condition (N,1,384,384): ``clamp(midas(frame * 2 - 1) / 20, 0, 10)``."""
    return (_midas(misc_frames, midas, batch_size) / DEPTH_STD).clamp_(0.0, DEPTH_CLAMP)


def nearness_condition(misc_frames: torch.Tensor, midas: DepthModel, batch_size: int = 4) -> torch.Tensor:
    """MiDaS output rescaled per clip to [0, 1] (1 = near): the convention of models trained on
    rendered nearness (``ModelSpec.depth_from == 'nearness'``, the embedded model)."""
    raw = _midas(misc_frames, midas, batch_size)
    return (raw - raw.amin()) / (raw.amax() - raw.amin()).clamp_min(1e-6)
