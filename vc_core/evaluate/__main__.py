"""``python -m vc_core.evaluate``: quality of a model on held-out synthetic scenes.

Scenes use seeds from ``EVAL_SEED_BASE`` on, a range never used in training. Every metric
generates with the conditions the app would build (strokes through ``stroke_to_motion``, clip
motion through the codec extraction, presets from ``vc_core.conditions.masks``) and prints one
line; ``--json`` writes them all.
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from vc_core.conditions.masks import irregular_mask, masked_video_condition, paste_outside_mask, rectangle_mask
from vc_core.conditions.motion_vectors import extract_motion_maps
from vc_core.conditions.sketch import canny_edges
from vc_core.conditions.strokes import Stroke, stroke_to_motion
from vc_core.conditions.transforms import to_model_layout
from vc_core.evaluate.appearance import colour_and_shape, colour_mask, edge_f1, psnr, ssim
from vc_core.evaluate.motion import motion_adherence, path_error
from vc_core.generate import on_off
from vc_core.models.clip import preprocess_style_image
from vc_core.pipeline import GenerationRequest, Pipeline, load_pipeline
from vc_core.train.data import EVAL_SEED_BASE
from vc_core.world import COLOURS, caption, render, sample_scene
from vc_core.world.scene import Scene, SceneObject

Frames = np.ndarray


def eval_scene(index: int, size: int, frames: int, moving: bool = False) -> Scene:
    """The index-th held-out one-object scene (with a clearly moving object if ``moving``)."""
    seed = EVAL_SEED_BASE + index
    while True:
        scene = sample_scene(np.random.default_rng(seed), size=size, frames=frames, max_objects=1)
        obj = scene.objects[0]
        travel = np.linalg.norm(obj.positions[-1] - obj.positions[0])
        if not moving or (scene.camera is None and obj.motion in ("straight", "curved", "accelerating") and travel > 15):
            return scene
        seed += 1_000_003


def stroke_along_path(obj: SceneObject, size: int, frames: int) -> np.ndarray:
    """The motion map (F, 2, size, size) of a stroke drawn along the object's path, one point a
    frame, as wide as the object — what a user tracing the object would draw."""
    stroke = Stroke([tuple(p) for p in obj.positions], times=list(range(frames)), radius=float(obj.sizes[0]))
    return stroke_to_motion(stroke, (size, size), frames).maps


def frames01(video: Frames) -> torch.Tensor:
    return torch.from_numpy(video).permute(0, 3, 1, 2).float().div(255)


class Evaluator:
    def __init__(
        self, pipe: Pipeline, scenes: int, steps: int, sampler: str, guide_scale: float | None = None, keep_given: bool | None = None,
        motion_hold: float | None = None,
    ):
        self.pipe, self.scenes, self.steps, self.sampler, self.guide_scale = pipe, scenes, steps, sampler, guide_scale
        self.keep_given, self.motion_hold = keep_given, motion_hold
        self.size, self.frames = pipe.spec.video_size, 16
        self.generated: list[Frames] = []

    def generate(self, prompt: str, seed: int, **conditions) -> Frames:
        request = GenerationRequest(
            prompt, {k: v for k, v in conditions.items() if v is not None}, frames=self.frames, steps=self.steps, sampler=self.sampler,
            guide_scale=self.guide_scale, seed=seed, keep_given=self.keep_given, motion_hold=self.motion_hold,
        )
        video = self.pipe.generate(request).video.numpy()
        self.generated.append(video)
        return video

    def motion_from_strokes(self) -> dict:
        """Animate the scene's first frame along its object's trajectory drawn as a stroke; also
        how much frames 1… look like the scene's own (SSIM), which moving the wrong pixels costs."""
        rows, likeness = [], []
        for i in range(self.scenes):
            scene = eval_scene(i, self.size, self.frames, moving=True)
            obj, clip = scene.objects[0], render(scene)
            requested = stroke_along_path(obj, self.size, self.frames)
            image = to_model_layout(frames01(clip.frames[:1]).expand(self.frames, -1, -1, -1))
            prompt = caption(scene)
            with_motion = self.generate(prompt, i, local_image=image, motion=to_model_layout(torch.from_numpy(requested)))
            without = self.generate(prompt, i, local_image=image)
            rows.append(self._motion_row(obj, clip.frames, requested, with_motion, without))
            likeness.append([np.mean([ssim(a, b) for a, b in zip(video[1:], clip.frames[1:])]) for video in (with_motion, without)])
        ssim_with, ssim_without = np.mean(likeness, axis=0)
        return _motion_summary("strokes", rows) | {"motion_strokes_ssim_to_scene": float(ssim_with), "motion_strokes_ssim_to_scene_without_motion": float(ssim_without)}

    def motion_from_clip(self) -> dict:
        """Motion transfer: codec vectors of a held-out clip + its caption."""
        rows = []
        for i in range(self.scenes):
            scene = eval_scene(100 + i, self.size, self.frames, moving=True)
            clip = render(scene)
            requested = extract_motion_maps(clip.frames)
            prompt = caption(scene)
            with_motion = self.generate(prompt, i, motion=to_model_layout(torch.from_numpy(requested)))
            rows.append(self._motion_row(scene.objects[0], clip.frames, requested, with_motion, self.generate(prompt, i)))
        return _motion_summary("clip", rows)

    def _motion_row(self, obj, clip: Frames, requested: np.ndarray, *generated: Frames) -> list[tuple[float, float]]:
        """(flow EPE, path error) of each generated video, the scene's own clip and that clip
        through the model's autoencoder."""
        videos = (*generated, clip, self.pipe.autoencode(torch.from_numpy(clip)).numpy())
        return [(motion_adherence(v, requested, obj.colour).epe, path_error(v, obj.colour, obj.positions)) for v in videos]

    def text(self) -> dict:
        """Colour and shape of the prompted object, in the generated video and — the ceiling of
        this check — in the scene's own clip after the model's autoencoder."""
        found: dict[str, list[bool]] = {}
        for i in range(self.scenes * 2):
            scene = eval_scene(200 + i, self.size, self.frames)
            obj = scene.objects[0]
            generated = self.generate(caption(scene), i)
            autoencoded = self.pipe.autoencode(torch.from_numpy(render(scene).frames)).numpy()
            for suffix, video in (("", generated), ("_autoencoded", autoencoded)):
                votes = [colour_and_shape(video[f]) for f in (0, self.frames // 2, self.frames - 1)]
                found.setdefault("text_colour_accuracy" + suffix, []).append(np.mean([c == obj.colour for c, _ in votes]) > 0.5)
                found.setdefault("text_shape_accuracy" + suffix, []).append(np.mean([s == obj.shape for _, s in votes]) > 0.5)
        return {name: float(np.mean(hits)) for name, hits in found.items()}

    def image_to_video(self) -> dict:
        """The first frame against the given image (SSIM), and whether the object keeps its shape
        in the middle and last frames — also, as the ceiling, in the scene's own clip after the
        model's autoencoder."""
        scores, kept = [], {"": [], "_autoencoded": []}
        later = (self.frames // 2, self.frames - 1)
        for i in range(self.scenes):
            scene = eval_scene(300 + i, self.size, self.frames)
            clip = render(scene).frames
            image = to_model_layout(frames01(clip[:1]).expand(self.frames, -1, -1, -1))
            video = self.generate(caption(scene), i, local_image=image)
            scores.append(ssim(video[0], clip[0]))
            for suffix, frames in (("", video), ("_autoencoded", self.pipe.autoencode(torch.from_numpy(clip)).numpy())):
                kept[suffix] += [colour_and_shape(frames[f])[1] == scene.objects[0].shape for f in later]
        return {"image_to_video_ssim_first_frame": float(np.mean(scores))} | {
            f"image_to_video_shape_kept{suffix}": float(np.mean(hits)) for suffix, hits in kept.items()
        }

    def inpainting(self) -> dict:
        """Hide a preset region; the rest must stay; a recoloured object prompt must show inside."""
        keep_psnr, pasted_psnr, follows = [], [], []
        colours = list(COLOURS)
        for i in range(self.scenes):
            scene = eval_scene(400 + i, self.size, self.frames)
            clip = render(scene)
            hidden = rectangle_mask((0.3, 0.3, 0.75, 0.75), self.size) if i % 2 else irregular_mask(i, self.size)
            m = torch.from_numpy(hidden).float()[None, None].expand(self.frames, 1, -1, -1)
            masked = to_model_layout(masked_video_condition(frames01(clip.frames), m))
            video = self.generate(caption(scene), i, masked=masked)
            kept = np.broadcast_to(~hidden[None, :, :, None], video.shape)
            keep_psnr.append(psnr(video, clip.frames, kept))
            pasted_psnr.append(psnr(paste_outside_mask(video, clip.frames, hidden), clip.frames, kept))
            # recolour: hide the object, ask for another colour of it
            obj = scene.objects[0]
            new = colours[(colours.index(obj.colour) + 3) % len(colours)]
            region = torch.from_numpy(clip.masks >= 0).float()[:, None]
            region = torch.nn.functional.max_pool2d(region, 9, 1, 4)
            masked = to_model_layout(masked_video_condition(frames01(clip.frames), region))
            video = self.generate(caption(scene).replace(obj.colour, new, 1), i, masked=masked)
            inside = region[:, 0].numpy() > 0
            follows.append(np.mean([colour_mask(v, new)[r].mean() > colour_mask(v, obj.colour)[r].mean() for v, r in zip(video, inside)]))
        return {
            "inpaint_psnr_unmasked_db": float(np.mean(keep_psnr)),  # the model's own decode
            "inpaint_psnr_unmasked_pasted_db": float(np.mean(pasted_psnr)),  # as the app shows it (keep_unmasked)
            "inpaint_prompt_colour_in_mask": float(np.mean(follows)),
        }

    def sketch_and_depth(self) -> dict:
        sketch_f1, depth_f1, free_f1 = [], [], []
        for i in range(self.scenes):
            scene = eval_scene(500 + i, self.size, self.frames)
            clip = render(scene)
            sketch = canny_edges(frames01(clip.frames))
            prompt = caption(scene)
            edges = lambda video: canny_edges(frames01(video))[:, 0].numpy() > 0.5  # noqa: E731
            ref = sketch[:, 0].numpy() > 0.5
            sketch_f1.append(np.mean([edge_f1(a, b) for a, b in zip(edges(self.generate(prompt, i, sketch=to_model_layout(sketch))), ref)]))
            free_f1.append(np.mean([edge_f1(a, b) for a, b in zip(edges(self.generate(prompt, i)), ref)]))
            nearness = torch.from_numpy(clip.depth)[:, None]
            depth_edges = canny_edges(nearness.expand(-1, 3, -1, -1))[:, 0].numpy() > 0.5
            video = self.generate(prompt, i, depth=to_model_layout(nearness))
            depth_f1.append(np.mean([edge_f1(a, b) for a, b in zip(edges(video), depth_edges)]))
        return {
            "sketch_edge_f1": float(np.mean(sketch_f1)),
            "sketch_edge_f1_without_sketch": float(np.mean(free_f1)),
            "depth_edge_f1": float(np.mean(depth_f1)),
        }

    def frame_consistency(self) -> dict:
        """Mean cosine similarity of consecutive frames' CLIP image embeddings (the paper's metric)."""
        from PIL import Image

        sims = []
        with torch.no_grad():
            for video in self.generated:
                pixels = torch.cat([preprocess_style_image(Image.fromarray(f)) for f in video])
                emb = torch.nn.functional.normalize(self.pipe.clip.encode_image(pixels)[:, 0], dim=-1)
                sims.append((emb[1:] * emb[:-1]).sum(-1).mean().item())
        return {"frame_consistency": float(np.mean(sims)), "videos_generated": len(self.generated)}


def _motion_summary(name: str, rows: list[list[tuple[float, float]]]) -> dict:
    """Per video kind (with motion, without, the scene's own clip, that clip autoencoded) the mean
    flow EPE and path error over scenes. The own clip is the floor of the flow metric (flow
    estimation and codec vectors are not exact), what a perfect generator would score; through
    the autoencoder, the floor for a generator in this latent space."""
    (epe, path), (epe_free, path_free), (epe_real, path_real), (epe_ae, _) = np.nanmean(np.array(rows), axis=0)
    return {
        f"motion_{name}_epe": float(epe), f"motion_{name}_epe_without_motion": float(epe_free),
        f"motion_{name}_improvement": float(epe_free / max(epe, 1e-6)),
        f"motion_{name}_epe_real_clip": float(epe_real), f"motion_{name}_epe_real_clip_autoencoded": float(epe_ae),
        f"motion_{name}_path_error_px": float(path), f"motion_{name}_path_error_px_without_motion": float(path_free),
        f"motion_{name}_path_error_px_real_clip": float(path_real),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--model", default="embedded")
    p.add_argument("--weights", default=None)
    p.add_argument("--scenes", type=int, default=8)
    p.add_argument("--steps", type=int, default=25)
    p.add_argument("--sampler", default="ddim")
    p.add_argument("--guide-scale", type=float, default=None, help="default: the model's")
    p.add_argument("--keep-given", choices=["on", "off"], default=None, help="hold the given first frame / visible pixels (default: the model's)")
    p.add_argument("--motion-hold", type=float, default=None, help="hold the first frame carried along the motion for this share of the diffusion time (default: the model's)")
    p.add_argument("--json", default=None)
    p.add_argument("--folder", default=None, help="an exported embedded model folder instead of assets/embedded")
    p.add_argument("--only", nargs="+", default=None, help="run only these metrics (method names)")
    args = p.parse_args()
    torch.set_grad_enabled(False)
    start = time.time()
    pipe = Pipeline.from_embedded(args.folder) if args.folder else load_pipeline(args.model, args.weights)
    # resolved once, the pipeline's way, so the results say which values were used
    used = pipe.with_model_defaults(
        GenerationRequest("", guide_scale=args.guide_scale, keep_given=on_off(args.keep_given, "--keep-given"), motion_hold=args.motion_hold)
    )
    ev = Evaluator(pipe, args.scenes, args.steps, args.sampler, used.guide_scale, used.keep_given, used.motion_hold)
    results: dict = {"model": args.folder or args.model, "scenes": args.scenes, "steps": args.steps, "sampler": args.sampler,
                     "guide_scale": used.guide_scale, "keep_given": used.keep_given, "motion_hold": used.motion_hold}
    metrics = (ev.motion_from_strokes, ev.motion_from_clip, ev.text, ev.image_to_video, ev.inpainting, ev.sketch_and_depth, ev.frame_consistency)
    for metric in metrics:
        if args.only and metric.__name__ not in args.only:
            continue
        t0 = time.time()
        part = metric()
        results |= part
        print(f"{metric.__name__:22s} " + "  ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in part.items()) + f"  ({time.time() - t0:.0f} s)", flush=True)
    results["seconds"] = round(time.time() - start)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
