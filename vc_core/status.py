"""A plain-text report of what the engine can run on this machine (shown by the app)."""
from __future__ import annotations

import platform

import torch

from vc_core.models.attention import get_attention_backend, resolve_backend
from vc_core.weights import WeightError, find_official_files


def engine_status(weights: str | None = None) -> list[str]:
    """Lines describing torch, the device, the attention backend and the official weights."""
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    lines = [
        f"Python {platform.python_version()}, torch {torch.__version__}, {torch.get_num_threads()} CPU threads",
        f"Device: {torch.cuda.get_device_name(0) if device.type == 'cuda' else 'CPU'}",
        f"Attention: {resolve_backend(device)} (setting '{get_attention_backend()}', VC_ATTENTION to change)",
    ]
    try:
        files = find_official_files(weights)
        lines.append("Official weights: all six files found (" + ", ".join(p.name for p in files.values()) + ")")
    except WeightError as exc:
        lines.append(f"Official weights: not usable. {exc}")
    return lines
