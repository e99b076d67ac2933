"""Find, check and load weight files — never unpickling arbitrary objects.

Official files are read with ``torch.load(..., weights_only=True)`` (tensors and plain containers
only) or with safetensors. Every failure names the file, what was expected and where to get it.
"""
from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping, TypeVar

import torch
from torch import nn

M = TypeVar("M", bound=nn.Module)


class WeightError(RuntimeError):
    """A weight file is missing, truncated, unsafe or does not hold what was expected."""


@dataclass(frozen=True)
class WeightFile:
    """One official weight file: its name, what it holds and where users get it."""

    filename: str
    what: str
    min_bytes: int
    source: str


HF_VC = "https://huggingface.co/damo-vilab/VideoComposer (model_weights/)"
OFFICIAL_FILES: dict[str, WeightFile] = {
    "unet": WeightFile("non_ema_228000.pth", "VideoComposer UNet (UNetSD_temporal)", 5_000_000_000, HF_VC),
    "clip": WeightFile(
        "open_clip_pytorch_model.bin",
        "OpenCLIP ViT-H-14 (laion2b_s32b_b79k)",
        3_500_000_000,
        "https://huggingface.co/laion/CLIP-ViT-H-14-laion2B-s32B-b79K",
    ),
    "vae": WeightFile(
        "v2-1_512-ema-pruned.ckpt",
        "Stable Diffusion 2.1 base (its first_stage_model is the VAE)",
        4_500_000_000,
        "https://huggingface.co/stabilityai/stable-diffusion-2-1-base",
    ),
    "midas": WeightFile("midas_v3_dpt_large.pth", "MiDaS v3.0 DPT-Large depth", 1_200_000_000, HF_VC),
    "pidinet": WeightFile("table5_pidinet.pth", "PiDiNet edge detector (table 5, bsd)", 2_000_000, HF_VC),
    "sketch": WeightFile(
        "sketch_simplification_gan.pth", "sketch simplification GAN generator", 150_000_000, HF_VC
    ),
}


def weights_dir(explicit: str | os.PathLike | None = None) -> Path | None:
    """The official weights folder: ``--weights DIR`` first, then ``$VC_WEIGHTS_DIR``."""
    value = explicit or os.environ.get("VC_WEIGHTS_DIR")
    return Path(value).expanduser() if value else None


def read_checkpoint(path: str | os.PathLike, what: str = "weights", source: str = "") -> dict:
    """Read a ``.pth``/``.ckpt``/``.bin``/``.safetensors`` file into a dict of tensors, safely.

    Pickled code is refused (``weights_only=True``); truncated or corrupt archives raise
    :class:`WeightError` naming the file.
    """
    path = Path(path)
    where = f" Get it from {source}." if source else ""
    if not path.is_file():
        raise WeightError(f"{what}: file not found: {path}.{where}")
    if path.stat().st_size == 0:
        raise WeightError(f"{what}: {path} is empty (0 bytes); the download is incomplete.{where}")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            return load_file(str(path))
        except Exception as exc:
            raise WeightError(f"{what}: {path} is not a valid safetensors file ({exc}).{where}") from exc
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True, mmap=zipfile.is_zipfile(path))
    except Exception as exc:
        text = str(exc)
        if "Weights only load failed" in text or "Unsupported global" in text:
            raise WeightError(
                f"{what}: {path} contains pickled Python objects beyond plain tensors; refusing to load it "
                f"(only tensor checkpoints are accepted).{where}"
            ) from exc
        raise WeightError(f"{what}: {path} is truncated or corrupt ({type(exc).__name__}: {text[:200]}).{where}") from exc
    if not isinstance(obj, dict):
        raise WeightError(f"{what}: {path} holds a {type(obj).__name__}, expected a dict of tensors.{where}")
    return obj

def check_state_dict(module: nn.Module, state: Mapping[str, torch.Tensor], origin: str) -> None:
    """Raise :class:`WeightError` unless ``state`` has exactly the module's names and shapes.

    ``origin`` names what was read (e.g. "VAE: /w/v2-1_512-ema-pruned.ckpt"); the message lists
    the first offending keys so a user can tell a wrong file from a truncated one.
    """
    expected = module.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    if missing or unexpected:
        raise WeightError(
            f"{origin} does not hold the expected weights: {len(missing)} missing (first: {missing[:5]}), "
            f"{len(unexpected)} unexpected (first: {unexpected[:5]})"
        )
    wrong = [(k, tuple(state[k].shape), tuple(v.shape)) for k, v in expected.items() if state[k].shape != v.shape]
    if wrong:
        raise WeightError(f"{origin} has {len(wrong)} tensors of the wrong shape (first: (name, file, expected) {wrong[:5]})")


def load_frozen(build: Callable[[], M], state: Mapping[str, torch.Tensor], origin: str) -> M:
    """Build the model without allocating weights, load ``state`` strictly, freeze it, eval().

    The module is created on the meta device and the checkpoint tensors are assigned directly,
    so a 1.4 GB model never exists twice in memory.
    """
    with torch.device("meta"):
        model = build()
    check_state_dict(model, state, origin)
    model.load_state_dict(state, strict=True, assign=True)
    # float(): a half-precision file would otherwise silently give a half-precision CPU model.
    return model.float().eval().requires_grad_(False)


def find_official_files(directory: str | os.PathLike | None, keys: tuple[str, ...] = tuple(OFFICIAL_FILES)) -> dict[str, Path]:
    """Paths of the official files in ``directory``; every missing or truncated file is named in
    one :class:`WeightError` with its expected size and where to get it."""
    folder = weights_dir(directory)
    if folder is None:
        raise WeightError("no official weights folder given: pass --weights DIR or set VC_WEIGHTS_DIR")
    if not folder.is_dir():
        raise WeightError(f"official weights folder {folder} does not exist")
    found, problems = {}, []
    for key in keys:
        spec = OFFICIAL_FILES[key]
        path = folder / spec.filename
        if not path.is_file():
            problems.append(f"- {spec.filename} ({spec.what}) is missing; get it from {spec.source}")
        elif path.stat().st_size < spec.min_bytes:
            problems.append(
                f"- {spec.filename} is {path.stat().st_size:,} bytes, expected at least {spec.min_bytes:,}: "
                f"truncated download? Get it again from {spec.source}"
            )
        else:
            found[key] = path
    if problems:
        raise WeightError(f"official weights in {folder} are incomplete:\n" + "\n".join(problems))
    return found
