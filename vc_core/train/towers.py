"""Stage 2b: CLIP-architecture text and image towers, trained contrastively on (frame, caption).

The towers use open_clip's architecture and tokenizer with a small config, so any English prompt
tokenizes. Single frames cannot show motion, so motion words are learned later, when the
denoiser stage fine-tunes the text tower.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from vc_core.config import ModelSpec
from vc_core.models.clip import CLIPEncoder, preprocess_style_image
from vc_core.train.common import World, run_stage


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
    args = p.parse_args()

    world = World.load(args.world)
    torch.manual_seed(args.seed)
    clip = CLIPEncoder(ModelSpec.embedded().clip).train()
    model = clip.model
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.05)
    n, f = world.frames.shape[:2]

    def step(i: int) -> dict[str, float]:
        for group in opt.param_groups:
            group["lr"] = float(args.lr * min(1.0, (i + 1) / 100) * 0.5 * (1 + np.cos(np.pi * min(i / args.steps, 1.0))))
        rng = np.random.default_rng(args.seed * 7919 + i)
        clips = rng.choice(n, size=args.batch, replace=False)
        images = style_batch(world, clips, rng.integers(f, size=args.batch))
        tokens = clip.tokenize([world.captions[c] for c in clips])
        img = F.normalize(model.encode_image(images), dim=-1)
        txt = F.normalize(model.encode_text(tokens), dim=-1)
        logits = model.logit_scale.exp().clamp(max=100) * img @ txt.T
        target = torch.arange(len(clips))
        loss = (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        accuracy = (logits.argmax(1) == target).float().mean().item()
        return {"loss": loss.item(), "acc": accuracy}

    run_stage("towers", args.out, {"clip": clip}, opt, step, args.steps, args.minutes, args.seed, every=25)


if __name__ == "__main__":
    main()
