"""The inverse of export: stage folders made from a model folder, so a shipped model can be fine-tuned.

Writes ``<runs>/autoencoder`` (VAE + latent scale), ``<runs>/towers`` (CLIP) and ``<runs>/<stage>``
(UNet as both the raw and the EMA weights, CLIP) with the checkpoint keys the stages read, and
``<runs>/lineage.json``: the model's training record, which export puts before the new stages.
The weights are the folder's fp16 values in fp32, exactly what the app runs.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from vc_core.config import OFFICIAL_NOISE_SCHEDULE
from vc_core.pipeline import EMBEDDED_DIR
from vc_core.train.common import LINEAGE_FILE, SCHEDULE_FILE, UNET_CONFIG_FILE
from vc_core.weights import read_checkpoint


def unpack(model: Path, runs: Path, stage: str) -> None:
    """Write the stage folders of ``model`` into ``runs``; refuses to overwrite a trained stage."""
    taken = [runs / name for name in ("autoencoder", "towers", stage) if (runs / name / "ckpt.pt").exists()]
    if taken:
        raise SystemExit(f"{', '.join(map(str, taken))} already hold(s) a checkpoint: unpack into another --runs folder")
    meta = json.loads((model / "model.json").read_text())
    state = {key: {k: v.float() for k, v in read_checkpoint(model / f"{key}.safetensors", f"{model.name} {key}").items()}
             for key in ("unet", "vae", "clip")}
    clip = {f"model.{k}": v for k, v in state["clip"].items()}  # the CLIPEncoder wrapper's names
    folders = {
        "autoencoder": {"vae": state["vae"]},
        "towers": {"clip": clip},
        stage: {"unet": state["unet"], "ema": state["unet"], "clip": clip},
    }
    for name, checkpoint in folders.items():
        (runs / name).mkdir(parents=True, exist_ok=True)
        torch.save(checkpoint, runs / name / "ckpt.pt")
    stats = {"scale_factor": meta["vae_scale_factor"], "psnr_db": meta["autoencoder_psnr_db"]}
    (runs / "autoencoder" / "stats.json").write_text(json.dumps(stats, indent=1))
    (runs / stage / UNET_CONFIG_FILE).write_text(json.dumps(meta["unet"], indent=1))
    (runs / stage / SCHEDULE_FILE).write_text(json.dumps({"noise_schedule": meta.get("noise_schedule", OFFICIAL_NOISE_SCHEDULE)}))
    (runs / LINEAGE_FILE).write_text(json.dumps(meta["training"], indent=1))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--model", type=Path, default=EMBEDDED_DIR)
    p.add_argument("--runs", type=Path, default=Path("runs"))
    p.add_argument("--stage", default="shipped", help="folder name for the denoiser (start a new stage with --init <runs>/<stage>/ckpt.pt)")
    args = p.parse_args()
    unpack(args.model, args.runs, args.stage)
    print(f"unpacked {args.model} into {args.runs} (denoiser: {args.runs / args.stage})")


if __name__ == "__main__":
    main()
