"""Stage 4: write the trained embedded model to ``assets/embedded`` (fp16 safetensors + model.json).

Takes the EMA (or last) UNet and the fine-tuned CLIP towers of the last denoiser stage and the autoencoder
with its measured latent scale. The loader (``Pipeline.from_embedded``) casts back to fp32.
"""
from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path

import torch
from safetensors.torch import save_file

from vc_core.config import ModelSpec, UNetConfig
from vc_core.pipeline import EMBEDDED_DIR
from vc_core.train.common import LINEAGE_FILE, UNET_CONFIG_FILE, stage_noise_schedule
from vc_core.weights import read_checkpoint


def half(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: (v.half() if v.is_floating_point() else v).contiguous() for k, v in state.items()}


def training_seconds(records: list[dict]) -> float:
    """Total time of a stage's loss log; elapsed_s restarts from 0 at every resumed run."""
    total = 0.0
    for previous, record in zip(records, records[1:]):
        if record["elapsed_s"] < previous["elapsed_s"]:
            total += previous["elapsed_s"]
    return total + records[-1]["elapsed_s"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--runs", type=Path, default=Path("runs"))
    p.add_argument("--stage", default="denoiser_compose")
    p.add_argument("--out", type=Path, default=EMBEDDED_DIR)
    p.add_argument("--unet", choices=["ema", "unet"], default="ema", help="EMA or last raw UNet weights")
    p.add_argument("--autoencoder", default="autoencoder", help="the autoencoder stage (e.g. a decoder fine-tune of it)")
    p.add_argument(
        "--history", nargs="*", default=["denoiser_t2v", "denoiser_compose"],
        help="earlier denoiser stages the exported one continued from (--init), in order; their time is counted",
    )
    args = p.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    denoiser = read_checkpoint(args.runs / args.stage / "ckpt.pt", "denoiser checkpoint")
    autoencoder = read_checkpoint(args.runs / args.autoencoder / "ckpt.pt", "autoencoder checkpoint")
    stats = json.loads((args.runs / args.autoencoder / "stats.json").read_text())
    save_file(half(denoiser[args.unet]), args.out / "unet.safetensors")
    # open_clip's own names (the CLIPEncoder wrapper adds "model.")
    save_file(half({k.removeprefix("model."): v for k, v in denoiser["clip"].items()}), args.out / "clip.safetensors")
    save_file(half(autoencoder["vae"]), args.out / "vae.safetensors")
    spec = ModelSpec.embedded()
    trained_config = args.runs / args.stage / UNET_CONFIG_FILE
    if trained_config.exists():  # written by the denoiser stage: e.g. its --stc-input-size
        spec.unet = UNetConfig(**json.loads(trained_config.read_text()))
    lineage = args.runs / LINEAGE_FILE  # a model these runs continue (unpack): its stages come first
    inherited = json.loads(lineage.read_text()) if lineage.exists() else {}
    steps = dict(inherited)
    for stage in dict.fromkeys(["autoencoder", args.autoencoder, "towers", *args.history, args.stage]):
        log = args.runs / stage / "loss.jsonl"
        records = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
        if records:  # a stage named like one of the lineage's is another stage: both count
            key = f"{stage}@{args.runs.name}" if stage in inherited else stage
            steps[key] = {"steps": records[-1]["step"], "minutes": round(training_seconds(records) / 60, 1)}
    meta = {
        "vae_scale_factor": stats["scale_factor"],
        "autoencoder_psnr_db": stats["psnr_db"],
        "unet": asdict(spec.unet),
        "vae": asdict(spec.vae) | {"scale_factor": stats["scale_factor"]},
        "clip": spec.clip,
        "video_size": spec.video_size,
        "prediction": spec.prediction,
        "noise_schedule": stage_noise_schedule(args.runs / args.stage),
        "unet_weights": args.unet,
        "training": steps,
    }
    (args.out / "model.json").write_text(json.dumps(meta, indent=1))
    total = sum(f.stat().st_size for f in args.out.glob("*.safetensors"))
    print(f"wrote {args.out} ({total / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
