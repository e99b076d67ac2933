"""Rasterise a :class:`Scene` into frames, a depth map and object masks.

Objects carry a texture fixed in their own coordinates and backgrounds a texture fixed in world
coordinates, so codec motion vectors (and optical flow) see real motion.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vc_core.world.scene import BACKGROUND_COLOURS, COLOURS, Scene

FAR, GROUND_NEAR = 0.05, 0.6  # nearness of the background (sky / far ground) and of the nearest ground


@dataclass
class RenderedClip:
    frames: np.ndarray  # (F, H, W, 3) uint8
    depth: np.ndarray  # (F, H, W) float32 nearness in [0, 1], 1 = nearest
    masks: np.ndarray  # (F, H, W) int8 index of the visible object, -1 = background


def render(scene: Scene) -> RenderedClip:
    n, s = scene.frames, scene.size
    frames = np.empty((n, s, s, 3), np.uint8)
    depth = np.empty((n, s, s), np.float32)
    masks = np.empty((n, s, s), np.int8)
    yy, xx = np.mgrid[0:s, 0:s].astype(np.float32)
    background_texture = _noise(np.random.default_rng(scene.background_seed), 3 * s)
    textures = [_object_texture(np.random.default_rng(o.texture_seed)) for o in scene.objects]
    for f in range(n):
        cam = scene.camera[f] if scene.camera is not None else np.zeros(2)
        image, near = _background(scene, xx + cam[0], yy + cam[1], background_texture)
        mask = np.full((s, s), -1, np.int8)
        for index, (obj, texture) in enumerate(zip(scene.objects, textures)):
            cx, cy = obj.positions[f] - cam
            u, v = (xx - cx) / obj.sizes[f], (yy - cy) / obj.sizes[f]
            inside = shape_mask(obj.shape, u, v)
            shade = texture(u, v)
            colour = np.asarray(COLOURS[obj.colour], np.float32)
            image[inside] = np.clip(colour * shade[inside, None], 0, 255)
            near[inside] = 1.0 - 0.7 * obj.depth
            mask[inside] = index
        frames[f] = image.astype(np.uint8)
        depth[f] = near
        masks[f] = mask
    return RenderedClip(frames, depth, masks)


def _background(scene: Scene, x: np.ndarray, y: np.ndarray, texture: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    s = scene.size
    c1 = np.asarray(BACKGROUND_COLOURS[scene.background_colour], np.float32)
    c2 = np.asarray(BACKGROUND_COLOURS[scene.background_colour2], np.float32)
    grain = _sample(texture, x + s, y + s)  # fine texture everywhere so camera pans are visible
    near = np.full(x.shape, FAR, np.float32)
    kind = scene.background
    if kind == "solid":
        weight = np.zeros_like(x)
    elif kind == "gradient":
        weight = np.clip(x / (2 * s) + y / (2 * s), 0, 1)
    elif kind == "stripes":
        weight = (np.floor(x / (s / 8)) % 2).astype(np.float32)
    elif kind == "noise":
        weight = np.clip(0.5 + 1.5 * _sample(texture, 0.25 * x + 2 * s, 0.25 * y + 2 * s), 0, 1)
    else:  # ground and sky: c1 ground below the horizon, c2 sky above
        horizon = 0.45 * s
        weight = (y < horizon).astype(np.float32)
        near = np.where(y < horizon, FAR, FAR + (GROUND_NEAR - FAR) * np.clip((y - horizon) / (s - horizon), 0, 1)).astype(np.float32)
    image = c1 * (1 - weight[..., None]) + c2 * weight[..., None]
    image = image * (1 + 0.18 * grain[..., None])
    return np.clip(image, 0, 255), near


def _noise(rng: np.random.Generator, size: int) -> np.ndarray:
    """Smooth-ish noise in about [-1, 1]: random values at 4-px spacing, bilinear upsampling."""
    coarse = rng.uniform(-1, 1, (size // 4 + 2, size // 4 + 2)).astype(np.float32)
    y, x = np.mgrid[0:size, 0:size].astype(np.float32) / 4
    return _sample(coarse, x, y)


def _sample(texture: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Bilinear lookup with wrap-around."""
    h, w = texture.shape
    x0, y0 = np.floor(x).astype(np.int64), np.floor(y).astype(np.int64)
    fx, fy = x - x0, y - y0
    x0, y0, x1, y1 = x0 % w, y0 % h, (x0 + 1) % w, (y0 + 1) % h
    top = texture[y0, x0] * (1 - fx) + texture[y0, x1] * fx
    bottom = texture[y1, x0] * (1 - fx) + texture[y1, x1] * fx
    return top * (1 - fy) + bottom * fy


def _object_texture(rng: np.random.Generator):
    """Brightness pattern in object coordinates: a checker of random cell size plus noise."""
    cells = rng.uniform(2.5, 5.0)
    noise = _noise(rng, 64)
    contrast = rng.uniform(0.12, 0.25)

    def shade(u: np.ndarray, v: np.ndarray) -> np.ndarray:
        checker = ((np.floor((u + 2) * cells) + np.floor((v + 2) * cells)) % 2) * 2 - 1
        return 1 + contrast * checker + 0.1 * _sample(noise, (u + 2) * 16, (v + 2) * 16)

    return shade


def shape_mask(shape: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Inside test in object coordinates (unit radius)."""
    if shape == "circle":
        return u * u + v * v <= 1
    if shape == "square":
        return (np.abs(u) <= 0.8) & (np.abs(v) <= 0.8)
    if shape == "diamond":
        return np.abs(u) + np.abs(v) <= 1
    if shape == "triangle":
        return (v <= 0.7) & (v >= -1 + 2 * np.abs(u) * 0.98) & (np.abs(u) <= 0.9)
    if shape == "heart":
        x, y = u * 1.15, -v * 1.15 + 0.15
        return (x * x + y * y - 0.6) ** 3 - x * x * y**3 * 0.9 <= 0
    if shape == "star":
        r = np.hypot(u, v)
        a = np.arctan2(v, u) + np.pi / 2
        spike = np.abs(((a * 5 / (2 * np.pi)) % 1) - 0.5) * 2  # 0 at a tip, 1 between tips
        return r <= 1 - 0.5 * spike
    raise ValueError(f"unknown shape {shape!r}")
