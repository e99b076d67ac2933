"""A synthetic world for training and evaluating the embedded model: textured shapes moving over
varied backgrounds, with ground-truth depth, object masks, trajectories and captions."""
from vc_core.world.render import RenderedClip, render
from vc_core.world.scene import COLOURS, SHAPES, Scene, caption, sample_scene

__all__ = ["COLOURS", "SHAPES", "RenderedClip", "Scene", "caption", "render", "sample_scene"]
