"""Random scene descriptions and their captions.

A scene is a background plus 1–3 objects, each with a shape, a colour, a size and a trajectory
(positions per frame, in pixels of the rendered clip), optionally a camera pan. Everything is
drawn from one ``numpy.random.Generator`` so a seed names a scene.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

SHAPES = ("circle", "square", "triangle", "star", "diamond", "heart")
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40),
    "green": (40, 170, 60),
    "blue": (40, 80, 220),
    "yellow": (235, 215, 40),
    "purple": (140, 50, 180),
    "orange": (245, 140, 30),
    "white": (240, 240, 240),
    "cyan": (40, 200, 210),
}
BACKGROUND_COLOURS: dict[str, tuple[int, int, int]] = {
    "black": (20, 20, 24),
    "gray": (110, 110, 115),
    "brown": (110, 75, 45),
    "navy": (25, 35, 90),
    "olive": (95, 105, 40),
    "teal": (25, 90, 90),
    "maroon": (90, 25, 35),
    "slate": (75, 85, 100),
}
BACKGROUNDS = ("solid", "gradient", "stripes", "noise", "ground and sky")
MOTIONS = ("straight", "curved", "bouncing", "accelerating", "still")
# one object most often: single-object scenes teach the text binding fastest
_COUNT_WEIGHTS = {1: [1.0], 2: [0.6, 0.4], 3: [0.5, 0.3, 0.2]}


@dataclass
class SceneObject:
    shape: str
    colour: str
    depth: float  # 0 = nearest, 1 = farthest; drawing order and the depth map
    positions: np.ndarray  # (F, 2) centre x, y in pixels
    sizes: np.ndarray  # (F,) radius in pixels
    motion: str
    texture_seed: int


@dataclass
class Scene:
    size: int
    frames: int
    background: str
    background_colour: str
    background_colour2: str
    background_seed: int
    objects: list[SceneObject] = field(default_factory=list)
    camera: np.ndarray | None = None  # (F, 2) camera offset in pixels (pan), None = static


def sample_scene(rng: np.random.Generator, size: int = 128, frames: int = 16, max_objects: int = 3) -> Scene:
    """A random scene; trajectories keep objects mostly inside the frame."""
    bg_names = list(BACKGROUND_COLOURS)
    c1, c2 = rng.choice(len(bg_names), 2, replace=False)
    scene = Scene(
        size=size,
        frames=frames,
        background=str(rng.choice(BACKGROUNDS)),
        background_colour=bg_names[c1],
        background_colour2=bg_names[c2],
        background_seed=int(rng.integers(1 << 31)),
    )
    if rng.random() < 0.2:
        speed = rng.uniform(1.0, 3.0) * rng.choice([-1, 1])
        axis = rng.integers(2)
        scene.camera = np.zeros((frames, 2))
        scene.camera[:, axis] = speed * np.arange(frames)
    count = int(rng.choice(np.arange(1, max_objects + 1), p=_COUNT_WEIGHTS[max_objects]))
    colours = rng.choice(list(COLOURS), count, replace=False)
    for i in range(count):
        scene.objects.append(_sample_object(rng, str(colours[i]), size, frames, depth=(i + rng.random()) / count))
    scene.objects.sort(key=lambda o: -o.depth)  # far to near = drawing order
    return scene


def _sample_object(rng: np.random.Generator, colour: str, size: int, frames: int, depth: float) -> SceneObject:
    t = np.arange(frames, dtype=np.float64)
    motion = str(rng.choice(MOTIONS, p=[0.35, 0.2, 0.15, 0.15, 0.15]))
    radius = rng.uniform(0.09, 0.18) * size
    speed = rng.uniform(1.0, 4.0) * size / 128
    angle = rng.uniform(0, 2 * np.pi)
    velocity = speed * np.array([np.cos(angle), np.sin(angle)])
    # start where the straight path stays inside the frame
    travel = velocity * (frames - 1)
    low = np.maximum(radius, radius - travel)
    high = np.minimum(size - radius, size - radius - travel)
    start = np.where(low < high, rng.uniform(np.minimum(low, high), np.maximum(low, high)), size / 2)
    if motion == "still":
        positions = np.repeat(start[None], frames, 0)
    elif motion == "curved":
        normal = np.array([-velocity[1], velocity[0]]) / max(speed, 1e-6)
        wobble = rng.uniform(3, 8) * size / 128 * np.sin(2 * np.pi * t / frames * rng.uniform(0.5, 1.5))
        positions = start + t[:, None] * velocity + wobble[:, None] * normal
    elif motion == "accelerating":
        k = rng.uniform(-0.5, 1.0) / frames
        positions = start + (t + k * t**2)[:, None] * velocity / (1 + max(k, 0) * frames)
    elif motion == "bouncing":
        start = rng.uniform(radius, size - radius, 2)
        positions = _bounce(start + t[:, None] * velocity * 1.6, radius, size - radius)
    else:
        positions = start + t[:, None] * velocity
    growth = rng.uniform(-0.025, 0.025) if rng.random() < 0.25 else 0.0
    sizes = radius * (1 + growth * t)
    return SceneObject(SHAPES[rng.integers(len(SHAPES))], colour, depth, positions, sizes, motion, int(rng.integers(1 << 31)))


def _bounce(p: np.ndarray, low: float, high: float) -> np.ndarray:
    span = high - low
    q = np.mod(p - low, 2 * span)
    return low + np.where(q > span, 2 * span - q, q)


def direction_words(displacement: np.ndarray, still: float = 1.5) -> str:
    """'moving left', 'moving up and to the right', … from a total displacement (x right, y down)."""
    dx, dy = displacement
    if np.hypot(dx, dy) < still:
        return "standing still"
    horizontal = "right" if dx > 0 else "left"
    vertical = "down" if dy > 0 else "up"
    if abs(dx) > 2.2 * abs(dy):
        return f"moving {horizontal}"
    if abs(dy) > 2.2 * abs(dx):
        return f"moving {vertical}"
    return f"moving {vertical} and to the {horizontal}"


def article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def describe_object(obj: SceneObject) -> str:
    words = f"{article(obj.colour)} {obj.colour} {obj.shape}"
    if obj.motion == "bouncing":
        words += " bouncing around"
    else:
        words += " " + direction_words(obj.positions[-1] - obj.positions[0])
    if obj.sizes[-1] > obj.sizes[0] * 1.15:
        words += " and growing"
    elif obj.sizes[-1] < obj.sizes[0] * 0.87:
        words += " and shrinking"
    return words


def describe_background(scene: Scene) -> str:
    c1, c2 = scene.background_colour, scene.background_colour2
    return {
        "solid": f"a plain {c1} background",
        "gradient": f"a {c1} to {c2} gradient background",
        "stripes": f"a striped {c1} and {c2} background",
        "noise": f"a noisy {c1} background",
        "ground and sky": f"{c1} ground under {article(c2)} {c2} sky",
    }[scene.background]


def caption(scene: Scene) -> str:
    """E.g. 'a red star moving left and a blue circle standing still over a striped … background'."""
    text = " and ".join(describe_object(o) for o in sorted(scene.objects, key=lambda o: o.depth))
    text += " over " + describe_background(scene)
    if scene.camera is not None:
        shift = scene.camera[-1] - scene.camera[0]
        # the view moves opposite to what the camera does
        text += ", camera panning " + ("right" if shift[0] > 0 else "left" if shift[0] < 0 else "down" if shift[1] > 0 else "up")
    return text
