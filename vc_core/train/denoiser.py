"""Stage 3: the embedded UNet, text-to-video then compositional.

Conditions are built from the world clips with the app's own extraction code (codec motion
vectors at data time; Canny sketches, preset and object masks, first frame and style embedding
here) and dropped with the official scheme: each condition independently with ``misc_dropout``,
plus an all-dropped fraction ``p_all_zero`` and an all-kept fraction ``p_all_keep``.
The text tower is fine-tuned at a lower rate so it learns motion words. ``--image-batch`` adds
single frames with their captions to every step (joint image-video training, as official): a frame
costs a sixteenth of a clip, so the text sees many more objects per minute.
"""
from __future__ import annotations

import argparse
import copy
import json
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from vc_core.conditions.masks import irregular_mask, masked_video_condition, rectangle_mask, uncrop_mask
from vc_core.conditions.sketch import canny_edges
from vc_core.config import ModelSpec, UNetConfig
from vc_core.models.clip import CLIPEncoder
from vc_core.models.transformer import SpatialTransformer, TemporalTransformer
from vc_core.models.unet import UNet3D
from vc_core.models.vae import AutoencoderKL
from vc_core.sampling import NOISE_SCHEDULES, NoiseSchedule
from vc_core.train.common import SCHEDULE_FILE, UNET_CONFIG_FILE, BatchStream, World, adamw, run_stage, stage_noise_schedule, video_tensor, warmup
from vc_core.train.towers import style_batch
from vc_core.weights import read_checkpoint

SPATIAL = ("depth", "local_image", "motion", "sketch", "single_sketch", "masked")
TEXT_DROPOUT_T2V = 0.1


def load_stage(folder: Path, key: str, module: torch.nn.Module) -> torch.nn.Module:
    module.load_state_dict(read_checkpoint(folder / "ckpt.pt", f"{folder.name} checkpoint")[key])
    return module.eval()


def load_growing(unet: UNet3D, state: dict[str, torch.Tensor]) -> list[str]:
    """Load ``state`` into ``unet``, which may have attention at more latent scales than the UNet
    that saved it; returns the added layers. They start with a zero output projection, and as
    residual layers they then pass their input through: the grown UNet computes exactly what the
    saved one did, and training grows them from there."""
    missing, unexpected = unet.load_state_dict(state, strict=False)
    if unexpected:
        raise ValueError(f"the initial checkpoint has weights this UNet lacks ({len(unexpected)}, e.g. {unexpected[0]})")
    attention = (SpatialTransformer, TemporalTransformer)
    added = [n for n, m in unet.named_modules() if isinstance(m, attention) and f"{n}.proj_out.weight" in missing]
    unexplained = [k for k in missing if not k.startswith(tuple(f"{n}." for n in added))]
    if unexplained:
        raise ValueError(f"the initial checkpoint lacks weights other than whole added attention layers (e.g. {unexplained[0]})")
    with torch.no_grad():
        for name in added:
            unet.get_submodule(f"{name}.proj_out").weight.zero_()
            unet.get_submodule(f"{name}.proj_out").bias.zero_()
    return added


def encode_world(vae: AutoencoderKL, world: World, path: Path) -> np.ndarray:
    """Posterior means × scale_factor of every clip, cached in ``path``."""
    if path.exists():
        return np.load(path, mmap_mode="r")
    device = next(vae.parameters()).device
    # a GPU encodes many clips per call; a CPU one clip, 4 frames at a time (faster there)
    clips, chunk = (1, 4) if device.type == "cpu" else (16, 256)
    out = []
    with torch.no_grad():
        for start in range(0, len(world), clips):
            # uint8 to the device, float there: a quarter of the bytes to move
            frames = torch.from_numpy(np.array(world.frames[start : start + clips])).to(device)
            out.append(vae.encode_video(video_tensor(frames).transpose(1, 2), chunk=chunk).cpu().numpy())
    latents = np.concatenate(out).astype(np.float32)
    np.save(path, latents)
    return latents


def random_mask(rng: np.random.Generator, object_masks: np.ndarray, size: int) -> torch.Tensor:
    """(F, 1, H, W) hidden-region mask: preset shapes as in the app, or a moving object's mask."""
    kind = rng.random()
    if kind < 0.3:
        m = irregular_mask(int(rng.integers(1 << 31)), size)
    elif kind < 0.55:
        l, t = rng.uniform(0, 0.6, 2)
        m = rectangle_mask((l, t, l + rng.uniform(0.2, 0.4), t + rng.uniform(0.2, 0.4)), size)
    elif kind < 0.7:
        l = rng.uniform(0.1, 0.4)
        m = uncrop_mask((l, 0.0, l + rng.uniform(0.3, 0.5), 1.0), size)
    else:
        objects = np.unique(object_masks[object_masks >= 0])
        if len(objects) == 0:
            return random_mask(rng, object_masks, size) if kind < 0.99 else torch.zeros(object_masks.shape[0], 1, size, size)
        hidden = object_masks == rng.choice(objects)
        m = torch.from_numpy(hidden).float()[:, None]
        return F.max_pool2d(m, 9, 1, 4)  # a margin around the object
    return torch.from_numpy(m).float()[None, None].expand(object_masks.shape[0], 1, size, size)


def clip_windows(rng: np.random.Generator, batch: int, total: int, frames: int | None) -> list[slice]:
    """The frames each clip of a batch trains on: all ``total``, or a random run of ``frames``.

    A run of 8 frames costs a step 0.76–0.82 s instead of a 16-frame clip's 1.30 (2-core CPU; 0.99
    against 1.50 on a slower one), so the same minutes give 1.5–1.7× the steps; the UNet's
    temporal layers have no positional encoding and take any number of frames.
    """
    if frames is None or frames >= total:  # drawn only when asked, so full-clip runs keep their random streams
        return [slice(0, total)] * batch
    return [slice(s, s + frames) for s in rng.integers(total - frames + 1, size=batch)]


def windowed(array: np.ndarray, clips: np.ndarray, windows: list[slice]) -> np.ndarray:
    """(B, F, …): each clip's window of a world array (N, F, …)."""
    return np.stack([np.asarray(array[c][w]) for c, w in zip(clips, windows)])


def raw_conditions(world: World, clips: np.ndarray, windows: list[slice], rng: np.random.Generator) -> dict[str, torch.Tensor]:
    """What a batch's conditions are made of, compact (uint8 / float16, (B, F, …)) so that worker
    processes hand it over cheaply: frames, nearness, codec motion, Canny edges, hidden regions."""
    frames = windowed(world.frames, clips, windows)  # (B, F, H, W, 3)
    size = frames.shape[2]
    edges = [canny_edges(torch.from_numpy(f).movedim(-1, 1).float().div(255)) for f in frames]
    hidden = [random_mask(rng, np.asarray(world.masks[c][w]), size) for c, w in zip(clips, windows)]
    motion = windowed(world.motion, clips, windows)
    motion[:, 0] = 0  # a window's first frame keeps the codec's vector into it; a video's first has none
    return {
        "frames": torch.from_numpy(frames),
        "nearness": torch.from_numpy(windowed(world.nearness, clips, windows)),
        "motion": torch.from_numpy(motion),
        "sketch": torch.stack(edges).to(torch.uint8),
        "hidden": torch.stack(hidden).half(),
    }


def build_conditions(raw: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """All six spatial conditions, (B, C, F, H, W) float, on the device ``raw`` is on."""
    frames01 = raw["frames"].movedim(-1, 2).float().div(255)  # (B, F, 3, H, W)
    sketch = raw["sketch"].float()
    masked = masked_video_condition(frames01.flatten(0, 1), raw["hidden"].float().flatten(0, 1))
    per_frame = {
        "depth": raw["nearness"].float().div(255)[:, :, None],
        "local_image": frames01[:, :1].expand_as(frames01),
        "motion": raw["motion"].float(),
        "sketch": sketch,
        "single_sketch": sketch[:, :1].expand_as(sketch),
        "masked": masked.unflatten(0, frames01.shape[:2]),
    }
    return {k: v.transpose(1, 2) for k, v in per_frame.items()}


def sample_timesteps(rng: np.random.Generator, batch: int, total: int, high_fraction: float) -> np.ndarray:
    """Uniform steps, with ``high_fraction`` of them drawn from the noisiest 40 % instead.

    At high noise the eps error is multiplied by σ/α (≈ 10 at t = 950) in the x0 estimate the
    sampler starts from; uniform sampling left this small model worse there than eps = σ·x_t,
    and its samples stayed noise.
    """
    t = rng.integers(0, total, size=batch)
    high = rng.random(batch) < high_fraction
    t[high] = rng.integers(int(0.6 * total), total, size=int(high.sum()))
    return t


def object_weights(masks: np.ndarray, latent_size: int, weight: float) -> torch.Tensor:
    """(B, 1, F, h, w) loss weights from object masks (B, F, H, W): 1 on the background,
    1 + ``weight`` where an object is.

    Objects cover a few percent of a clip, so with a plain mean the background dominates the
    loss and the model learned it while leaving the objects, and with them all motion, unlearned.
    """
    objects = torch.from_numpy(masks >= 0).float()
    return 1 + weight * F.adaptive_max_pool2d(objects, latent_size)[:, None]


def kept_features(unet: UNet3D, conds: dict[str, torch.Tensor], keep: dict[str, np.ndarray], latent_shape) -> torch.Tensor:
    """STC features with dropped conditions left out: each branch runs only on the samples that
    keep it (a dropped condition contributes zero, as official, without paying for its branch)."""
    b, _, f, h, w = latent_shape
    device = next(unet.parameters()).device
    features = torch.zeros(b, unet.config.concat_dim, f, h, w, device=device)
    for name in SPATIAL:
        rows = torch.from_numpy(np.flatnonzero(keep[name])).to(device)
        if len(rows):
            features = features.index_add(0, rows, unet.condition_branch(name, conds[name][rows]))
    return features


# Per-frame conditions that also show where every object is in every frame.
REVEAL_POSITIONS = ("depth", "sketch", "masked")


def condition_keep_masks(
    cfg: UNetConfig, batch: int, rng: np.random.Generator, motion_focus: float = 0.0, text_focus: float = 0.0
) -> dict[str, np.ndarray]:
    """Official dropout: per condition Bernoulli(1 − misc_dropout); some samples all-zero, some all-kept.

    Then a ``motion_focus`` fraction keeps motion and drops the conditions that reveal the objects'
    positions anyway: under the official scheme motion was the only such cue in ~5 % of samples,
    and the small model learned to ignore it. A ``text_focus`` fraction (drawn from the rest) keeps
    the text alone: the official scheme gives text-only samples ~1 % of the time, too few for the
    text to have to carry the objects' shapes.
    """
    if motion_focus + text_focus > 1 or min(motion_focus, text_focus) < 0:
        raise ValueError(f"motion focus {motion_focus} and text focus {text_focus} are fractions of one batch: each ≥ 0, together ≤ 1")
    names = list(SPATIAL) + ["y", "image"]
    keep = {k: rng.random(batch) >= cfg.misc_dropout for k in names}
    u = rng.random(batch)
    all_zero, all_keep = u < cfg.p_all_zero, (u >= cfg.p_all_zero) & (u < cfg.p_all_zero + cfg.p_all_keep)
    for k in names:
        keep[k] = (keep[k] | all_keep) & ~all_zero
    focus = rng.random(batch) < motion_focus
    keep["motion"] |= focus
    for k in REVEAL_POSITIONS:
        keep[k] &= ~focus
    if text_focus:  # drawn only when asked, so runs without it keep their random streams
        text_only = ~focus & (rng.random(batch) * (1 - motion_focus) < text_focus)
        for k in names:
            keep[k] = np.where(text_only, k == "y", keep[k])
    return keep


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--stage", choices=["t2v", "compose"], required=True)
    p.add_argument("--world", type=Path, default=Path("runs/world"))
    p.add_argument("--runs", type=Path, default=Path("runs"))
    p.add_argument("--steps", type=int, default=6000)
    p.add_argument("--minutes", type=float, default=30)
    p.add_argument("--batch", type=int, default=3)
    p.add_argument("--lr", type=float, default=4e-4)
    p.add_argument("--text-lr", type=float, default=1e-4)
    p.add_argument("--seed", type=int, default=3)
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--workers", type=int, default=0, help="processes that make the batches (0: the training process itself)")
    p.add_argument("--high-t-fraction", type=float, default=0.3)
    p.add_argument("--object-weight", type=float, default=8.0, help="extra loss weight on object pixels")
    p.add_argument("--motion-focus", type=float, default=0.4, help="fraction of samples where motion is the only per-frame cue")
    p.add_argument("--text-focus", type=float, default=0.0, help="fraction of samples that keep the text alone")
    p.add_argument("--frames", type=int, help="train on random runs of this many frames of each clip (default: whole clips)")
    p.add_argument(
        "--image-batch", type=int, default=0,
        help="single frames (text only) trained beside each step's clips; temporal layers skip them",
    )
    p.add_argument(
        "--stc-input-size", type=int, help="pool conditions to N×N before the STC-encoder's first conv (default: as shipped, full size)"
    )
    p.add_argument(
        "--attn-scales", type=float, nargs="+", help="latent scales with attention (default: as shipped, 0.5 0.25; 1 adds the full latent size)"
    )
    p.add_argument(
        "--noise-schedule", choices=NOISE_SCHEDULES,
        help="default: the --init stage's (linear_sd from scratch); linear_sd_zero_snr leaves no signal at the last step, so layout and background come from the text",
    )
    p.add_argument(
        "--init", type=Path, help="checkpoint to start a new stage from (default: t2v for compose); it may lack attention scales the UNet adds"
    )
    p.add_argument("--out", type=Path, help="stage folder (default: <runs>/denoiser_<stage>)")
    args = p.parse_args()

    spec = ModelSpec.embedded()
    spec.unet = replace(spec.unet, stc_input_size=args.stc_input_size, attn_scales=args.attn_scales or spec.unet.attn_scales)
    world = World.load(args.world)
    device = torch.device(args.device)
    torch.set_float32_matmul_precision("high")  # TF32 on a GPU; no effect on a CPU
    vae = load_stage(args.runs / "autoencoder", "vae", AutoencoderKL(spec.vae)).to(device)
    vae.config.scale_factor = json.loads((args.runs / "autoencoder" / "stats.json").read_text())["scale_factor"]
    latents = encode_world(vae, world, args.runs / "latents.npy")
    del vae
    clip = load_stage(args.runs / "towers", "clip", CLIPEncoder(spec.clip))
    torch.manual_seed(args.seed)
    # no activation checkpointing: the small model fits in memory and recomputation costs ~10 %
    unet = UNet3D(replace(spec.unet, use_checkpoint=False))
    ema = copy.deepcopy(unet).requires_grad_(False)
    out = args.out or args.runs / f"denoiser_{args.stage}"
    init = args.init or (args.runs / "denoiser_t2v" / "ckpt.pt" if args.stage == "compose" else None)
    # a stage continues on the schedule its start was trained on unless told otherwise
    spec.noise_schedule = args.noise_schedule or (stage_noise_schedule(init.parent) if init else spec.noise_schedule)
    out.mkdir(parents=True, exist_ok=True)
    saved = out / UNET_CONFIG_FILE
    if (out / "ckpt.pt").exists() and saved.exists() and UNetConfig(**json.loads(saved.read_text())) != spec.unet:
        raise SystemExit(f"{out} was trained with another UNet config ({saved}); resume it with the same options")
    if (out / "ckpt.pt").exists() and stage_noise_schedule(out) != spec.noise_schedule:
        raise SystemExit(f"{out} was trained on the {stage_noise_schedule(out)} noise schedule; resume it with the same --noise-schedule")
    saved.write_text(json.dumps(asdict(spec.unet), indent=1))
    (out / SCHEDULE_FILE).write_text(json.dumps({"noise_schedule": spec.noise_schedule}))
    if init is not None and not (out / "ckpt.pt").exists():
        previous = read_checkpoint(init, "initial denoiser checkpoint")
        added = load_growing(unet, previous["unet"])
        load_growing(ema, previous["ema"])
        if added:
            print(f"added attention layers, starting as identities: {', '.join(added)}", flush=True)
        clip.load_state_dict(previous["clip"])
    unet, ema, clip = unet.to(device), ema.to(device), clip.to(device)
    unet.train()
    clip.model.transformer.train()
    text_params = [p for n, p in clip.model.named_parameters() if not n.startswith("visual")]
    clip.model.visual.requires_grad_(False)
    opt = adamw([{"params": unet.parameters(), "lr": args.lr}, {"params": text_params, "lr": args.text_lr}], lr=args.lr, weight_decay=0.01)
    schedule = NoiseSchedule.named(spec.noise_schedule)
    n = len(world)

    def make_batch(i: int) -> dict:
        """Step ``i``'s data, all of it drawn from a generator seeded by ``i`` (so workers can make it)."""
        rng = np.random.default_rng(args.seed * 7919 + i)
        clips = rng.choice(n, size=args.batch, replace=False)
        windows = clip_windows(rng, args.batch, latents.shape[2], args.frames)
        batch: dict = {"x0": torch.from_numpy(np.stack([latents[c][:, w] for c, w in zip(clips, windows)]))}
        if args.stage == "t2v":
            text_keep = rng.random(args.batch) >= TEXT_DROPOUT_T2V
        else:
            keep = condition_keep_masks(spec.unet, args.batch, rng, args.motion_focus, args.text_focus)
            text_keep = keep["y"]
            batch["keep"] = {k: torch.from_numpy(v) for k, v in keep.items()}
            batch["raw"] = raw_conditions(world, clips, windows, rng)
            batch["style"] = style_batch(world, clips, rng.integers(world.frames.shape[1], size=args.batch))
        batch["captions"] = [c if k else "" for c, k in zip((world.captions[c] for c in clips), text_keep)]
        batch["t"] = torch.from_numpy(sample_timesteps(rng, args.batch, schedule.num_timesteps, args.high_t_fraction))
        masks = windowed(world.masks, clips, windows)
        batch["weights"] = object_weights(masks, batch["x0"].shape[-1], args.object_weight)
        if args.image_batch:
            batch["images"] = image_batch(rng)
        return batch

    def image_batch(rng: np.random.Generator) -> dict:
        """Single frames of random clips with their captions (some dropped for guidance)."""
        clips = rng.choice(n, size=args.image_batch)
        frames = rng.integers(latents.shape[2], size=args.image_batch)
        keep = rng.random(args.image_batch) >= TEXT_DROPOUT_T2V
        masks = np.stack([np.asarray(world.masks[c][f : f + 1]) for c, f in zip(clips, frames)])
        x0 = torch.from_numpy(np.stack([latents[c][:, f : f + 1] for c, f in zip(clips, frames)]))
        return {
            "x0": x0,
            "captions": [world.captions[c] if k else "" for c, k in zip(clips, keep)],
            "t": torch.from_numpy(sample_timesteps(rng, args.image_batch, schedule.num_timesteps, args.high_t_fraction)),
            "weights": object_weights(masks, x0.shape[-1], args.object_weight),
        }

    batches = BatchStream(make_batch, args.workers)

    def denoising_loss(batch: dict, **kwargs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Object-weighted loss and plain mean squared error of one batch of clips or frames."""
        x0, t, weights = (batch[k].to(device, non_blocking=True) for k in ("x0", "t", "weights"))
        noise = torch.randn_like(x0)
        output = unet(schedule.add_noise(x0, noise, t), t, y=clip.encode_text(batch["captions"]), **kwargs)
        error = (output - schedule.target(spec.prediction, x0, noise, t)).square()
        return (error * weights).mean() / weights.mean(), error.mean()

    def step(i: int) -> dict[str, float]:
        batch = batches(i)
        kwargs: dict = {}
        if "raw" in batch:
            keep = {k: v.numpy() for k, v in batch["keep"].items()}
            conds = build_conditions({k: v.to(device, non_blocking=True) for k, v in batch["raw"].items()})
            kwargs["features"] = kept_features(unet, conds, keep, batch["x0"].shape)
            with torch.no_grad():
                image = clip.encode_image(batch["style"])
            kwargs["image"] = image * batch["keep"]["image"].to(device).float().view(-1, 1, 1)
        loss, mse = denoising_loss(batch, **kwargs)
        logged = {"loss": loss.item(), "mse": mse.item()}
        if "images" in batch:
            image_loss, _ = denoising_loss(batch["images"])
            logged["image_loss"] = image_loss.item()
            loss = (loss + image_loss) / 2
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(unet.parameters(), 1.0)
        opt.step()
        with torch.no_grad():
            decay = 0.999 if args.stage == "compose" else min(0.999, (1 + i) / (10 + i))
            torch._foreach_lerp_(list(ema.parameters()), list(unet.parameters()), 1 - decay)
        return logged

    run_stage(out.name, out, {"unet": unet, "ema": ema, "clip": clip}, opt, step, args.steps, args.minutes, args.seed, warmup(200))


if __name__ == "__main__":
    main()
