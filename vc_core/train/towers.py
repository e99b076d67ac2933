"""Stage 2b: CLIP-architecture text and image towers, trained contrastively on (frame, caption).

The towers use open_clip's architecture and tokenizer with a small config, so any English prompt
tokenizes. Single frames cannot show motion, so motion words are learned later, when the
denoiser stage fine-tunes the text tower.
"""
from __future__ import annotations

import argparse
import re
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from vc_core.config import ModelSpec
from vc_core.models.clip import CLIPEncoder, preprocess_style_image
from vc_core.train.common import World, adamw, run_stage, warmup_cosine
from vc_core.world import SHAPES

_SHAPE_WORD = re.compile(r"\b(" + "|".join(SHAPES) + r")\b")


def swap_shapes(caption: str, rng: np.random.Generator) -> str | None:
    """The caption with every shape word replaced by another shape (None if it names none).

    A hard negative: in a random batch the colours and background already tell the captions
    apart, so without it the text tower learns to ignore shape words.
    """
    if not _SHAPE_WORD.search(caption):
        return None
    return _SHAPE_WORD.sub(lambda m: str(rng.choice([s for s in SHAPES if s != m.group(1)])), caption)


def style_batch(world: World, clips: np.ndarray, frames: np.ndarray) -> torch.Tensor:
    """CLIP-preprocessed frames, through the same function the app uses for a style image."""
    return torch.cat([preprocess_style_image(Image.fromarray(np.asarray(world.frames[c, k]))) for c, k in zip(clips, frames)])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--world", type=Path, default=Path("runs/world"))
    p.add_argument("--out", type=Path, default=Path("runs/towers"))
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--minutes", type=float, default=8)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=2)
    p.add_argument(
        "--shape-negatives", action=argparse.BooleanOptionalAction, default=True,
        help="each caption with its shape words swapped as an extra negative (shape_acc: the image prefers its own caption)",
    )
    args = p.parse_args()

    world = World.load(args.world)
    torch.manual_seed(args.seed)
    clip = CLIPEncoder(ModelSpec.embedded().clip).train()
    model = clip.model
    opt = adamw(model.parameters(), lr=args.lr, weight_decay=0.05)
    n, f = world.frames.shape[:2]

    def step(i: int) -> dict[str, float]:
        rng = np.random.default_rng(args.seed * 7919 + i)
        clips = rng.choice(n, size=args.batch, replace=False)
        images = style_batch(world, clips, rng.integers(f, size=args.batch))
        captions = [world.captions[c] for c in clips]
        twins = [swap_shapes(c, rng) or c for c in captions]  # a caption without a shape is its own twin
        img = F.normalize(model.encode_image(images), dim=-1)
        txt = F.normalize(model.encode_text(clip.tokenize(captions + twins)), dim=-1)
        own, twin = txt[: len(clips)], txt[len(clips) :]
        scale = model.logit_scale.exp().clamp(max=100)
        logits = scale * img @ own.T
        target = torch.arange(len(clips))
        # the twins are extra negatives for the images only: no image shows them
        image_logits = torch.cat([logits, scale * img @ twin.T], 1) if args.shape_negatives else logits
        loss = (F.cross_entropy(image_logits, target) + F.cross_entropy(logits.T, target)) / 2
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        named = torch.tensor([t != c for t, c in zip(twins, captions)])
        shape_acc = ((img * own).sum(-1) > (img * twin).sum(-1))[named].float().mean().item()
        return {"loss": loss.item(), "acc": (logits.argmax(1) == target).float().mean().item(), "shape_acc": shape_acc}

    run_stage("towers", args.out, {"clip": clip}, opt, step, args.steps, args.minutes, args.seed, warmup_cosine(100), every=25)


if __name__ == "__main__":
    main()
