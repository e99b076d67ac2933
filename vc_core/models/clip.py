"""OpenCLIP ViT-H-14 text and image encoders as VideoComposer uses them, plus their preprocessing.

One open_clip ``CLIP`` model serves both towers. The text embedding is the official
'penultimate' one: all residual blocks but the last, then ``ln_final``, no projection. open_clip
3.x blocks take batch-first input while the official code (open_clip 2.0.2) permuted to
sequence-first itself; we follow whatever layout the installed library's transformer declares.
Models are built from open_clip's built-in configs or a config dict, never downloaded.
"""
from __future__ import annotations

import copy
import os

import numpy as np
import open_clip
import torch
import torch.nn as nn
from open_clip.constants import OPENAI_DATASET_MEAN, OPENAI_DATASET_STD
from PIL import Image

from vc_core.weights import OFFICIAL_FILES, WeightError, check_state_dict, read_checkpoint

ARCH = "ViT-H-14"
IMAGE_SIZE = 224  # vit_image_size of the official yaml configs


def model_config(arch: str | dict) -> dict:
    """A copy of the open_clip model config: a built-in name (e.g. 'ViT-H-14') or a config dict."""
    if isinstance(arch, dict):
        return copy.deepcopy(arch)
    if ":" in arch:  # 'hf-hub:' / 'local-dir:' schemas would fetch or read remote configs
        raise ValueError(f"CLIP arch {arch!r}: only built-in open_clip names or config dicts are accepted")
    cfg = open_clip.get_model_config(arch)
    if cfg is None:
        raise ValueError(f"unknown open_clip architecture {arch!r}")
    return cfg


class CLIPEncoder(nn.Module):
    """Holds one open_clip ``CLIP`` model; frozen text/image encoders in eval mode.

    ``empty=True`` builds the parameters on the meta device (no random init of ~1B weights);
    :meth:`load_weights` must then be called before use.
    """

    def __init__(self, arch: str | dict = ARCH, empty: bool = False):
        super().__init__()
        cfg = model_config(arch)
        if cfg.pop("custom_text", False) or "hf_model_name" in cfg.get("text_cfg", {}):
            raise ValueError("only open_clip's standard CLIP text tower is supported")
        if empty:
            with torch.device("meta"):
                self.model = open_clip.CLIP(**cfg)
        else:
            self.model = open_clip.CLIP(**cfg)
        self.tokenizer = open_clip.SimpleTokenizer(context_length=self.model.context_length)
        self._zero_y: torch.Tensor | None = None
        self.eval()

    @property
    def device(self) -> torch.device:
        return self.model.token_embedding.weight.device

    def load_weights(self, state_dict: dict[str, torch.Tensor], origin: str = "state dict") -> "CLIPEncoder":
        """Load open_clip names strictly (``attn_mask`` is not stored); freeze; eval.

        Missing, unexpected or mis-shaped tensors raise :class:`WeightError` naming ``origin``.
        """
        check_state_dict(self.model, state_dict, f"OpenCLIP weights ({origin})")
        weights = {k: v.to(torch.float32) for k, v in state_dict.items()}
        # assign=True: parameters take the given tensors (no second copy, works from meta)
        self.model.load_state_dict(weights, strict=True, assign=True)
        # the causal mask is a non-persistent buffer: rebuild it in case the model was on meta
        self.model.attn_mask = _causal_mask(self.model.context_length, self.device)
        self._zero_y = None
        return self.eval().requires_grad_(False)

    def tokenize(self, prompts: list[str]) -> torch.Tensor:
        """(B, 77) int64: SOT, BPE tokens, EOT, zero padding; too long → cut, last token EOT."""
        return self.tokenizer(list(prompts))

    def encode_text(self, prompts: list[str]) -> torch.Tensor:
        """Penultimate-layer text embedding (B, 77, width) for the UNet's cross-attention."""
        m = self.model
        tokens = self.tokenize(prompts).to(self.device)
        x = m.token_embedding(tokens) + m.positional_embedding
        seq_first = not getattr(m.transformer, "batch_first", True)
        if seq_first:
            x = x.transpose(0, 1)
        for block in m.transformer.resblocks[:-1]:
            x = block(x, attn_mask=m.attn_mask)
        if seq_first:
            x = x.transpose(0, 1)
        return m.ln_final(x)

    def encode_image(self, pixels: torch.Tensor) -> torch.Tensor:
        """Normalised pixels (B, 3, 224, 224) -> image embedding (B, 1, embed_dim), not L2-normalised."""
        weight = self.model.visual.conv1.weight
        return self.model.encode_image(pixels.to(weight.device, weight.dtype)).unsqueeze(1)

    def empty_text_embedding(self) -> torch.Tensor:
        """``zero_y``: the embedding of the empty prompt (1, 77, width), computed once."""
        if self._zero_y is None or self._zero_y.device != self.device:
            with torch.no_grad():
                self._zero_y = self.encode_text([""])
        return self._zero_y


def _causal_mask(n: int, device: torch.device) -> torch.Tensor:
    """Additive mask: -inf above the diagonal (a token sees itself and earlier tokens)."""
    return torch.full((n, n), float("-inf"), device=device).triu_(1)


def load_clip(path: str | os.PathLike, arch: str | dict = ARCH) -> CLIPEncoder:
    """Load ``open_clip_pytorch_model.bin`` (or a file with the same names) strictly; frozen, eval."""
    spec = OFFICIAL_FILES["clip"]
    state = read_checkpoint(path, spec.what, spec.source)
    encoder = CLIPEncoder(arch, empty=True)
    try:
        return encoder.load_weights(state, origin=f"{spec.what}: {path}")
    except WeightError as exc:
        raise WeightError(f"{exc} Get it from {spec.source}.") from None


# ---------------------------------------------------------------------------------------------
# Preprocessing (pure functions of a PIL image)

_MEAN = torch.tensor(OPENAI_DATASET_MEAN, dtype=torch.float32).view(3, 1, 1)
_STD = torch.tensor(OPENAI_DATASET_STD, dtype=torch.float32).view(3, 1, 1)


def _require_rgb(image: Image.Image) -> None:
    # mode conversion (alpha, 16-bit, palette …) is vc_core.conditions.images.load_rgb's job
    if image.mode != "RGB":
        raise ValueError(f"expected an RGB image, got mode {image.mode!r}; load it with vc_core.conditions.images.load_rgb")


def _to_normalised_tensor(image: Image.Image) -> torch.Tensor:
    """uint8 HWC -> (1, 3, H, W) float32, [0, 1] then CLIP mean/std (torchvision's order of ops)."""
    x = torch.from_numpy(np.array(image, dtype=np.uint8)).permute(2, 0, 1).float().div(255)
    return ((x - _MEAN) / _STD).unsqueeze(0)


def preprocess_style_image(image: Image.Image, size: int = IMAGE_SIZE) -> torch.Tensor:
    """open_clip's val transform: shorter side -> ``size`` (bicubic), centre crop, normalise."""
    _require_rgb(image)
    w, h = image.size
    # torchvision Resize(int): the shorter side becomes `size`, the longer one is truncated
    if w <= h:
        new_w, new_h = size, int(size * h / w)
    else:
        new_w, new_h = int(size * w / h), size
    image = image.resize((new_w, new_h), Image.Resampling.BICUBIC)
    # torchvision CenterCrop: offsets rounded half-to-even, as Python's round()
    left, top = int(round((new_w - size) / 2.0)), int(round((new_h - size) / 2.0))
    image = image.crop((left, top, left + size, top + size))
    return _to_normalised_tensor(image)


def preprocess_vit_frame(image: Image.Image, size: int = IMAGE_SIZE) -> torch.Tensor:
    """The dataset's vit transform: halve (BOX) while the short side ≥ 2·size, bicubic to ``size``,
    crop at ((w-size)//2, (h-size)//2), normalise."""
    _require_rgb(image)
    while min(image.size) >= 2 * size:
        image = image.resize(tuple(s // 2 for s in image.size), Image.Resampling.BOX)
    scale = size / min(image.size)
    image = image.resize(tuple(round(s * scale) for s in image.size), Image.Resampling.BICUBIC)
    w, h = image.size
    left, top = (w - size) // 2, (h - size) // 2
    image = image.crop((left, top, left + size, top + size))
    return _to_normalised_tensor(image)
