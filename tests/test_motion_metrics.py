"""The evaluation's motion measures tell following the requested motion from not following it."""
import numpy as np

from vc_core.conditions.strokes import Stroke, stroke_to_motion
from vc_core.evaluate.__main__ import eval_scene
from vc_core.evaluate.motion import motion_adherence, path_error
from vc_core.world import render


def test_the_scene_itself_follows_its_path_and_its_frozen_first_frame_does_not():
    scene = eval_scene(1000, 128, 16, moving=True)  # a tuning scene, not one the evaluation reports
    obj, clip = scene.objects[0], render(scene)
    stroke = Stroke([tuple(p) for p in obj.positions], times=list(range(16)), radius=float(obj.sizes[0]))
    requested = stroke_to_motion(stroke, (128, 128), 16).maps
    frozen = np.repeat(clip.frames[:1], 16, axis=0)
    travelled = np.linalg.norm(obj.positions[1:] - obj.positions[0], axis=1).mean()
    assert path_error(clip.frames, obj.colour, obj.positions) < 0.5
    assert abs(path_error(frozen, obj.colour, obj.positions) - travelled) < 1
    assert motion_adherence(clip.frames, requested).epe < 0.5 * motion_adherence(frozen, requested).epe
    # a copy left where it started pulls the object's centre halfway back
    copy = clip.frames.copy()
    copy[:, clip.masks[0] >= 0] = clip.frames[0][clip.masks[0] >= 0]
    assert path_error(copy, obj.colour, obj.positions) > 0.3 * travelled
    # a video without the object counts half the frame size off
    assert path_error(np.zeros_like(clip.frames), obj.colour, obj.positions) == 64
