"""The evaluation's motion measures tell following the requested motion from not following it."""
import numpy as np

from vc_core.conditions.motion_vectors import extract_motion_maps
from vc_core.evaluate.__main__ import eval_scene, stroke_along_path
from vc_core.evaluate.motion import motion_adherence, path_error
from vc_core.world import render


def test_the_scene_itself_follows_its_path_and_its_frozen_first_frame_does_not():
    scene = eval_scene(1000, 128, 16, moving=True)  # a tuning scene, not one the evaluation reports
    obj, clip = scene.objects[0], render(scene)
    requested = stroke_along_path(obj, 128, 16)
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


def test_an_object_as_bright_as_its_background_is_seen_moving():
    # held-out scene 1: a blue diamond over olive ground under a brown sky; on grey alone the flow
    # read it as standing still (its own clip scored 4.1 px/frame against its own path)
    scene = eval_scene(1, 128, 16, moving=True)
    obj, clip = scene.objects[0], render(scene)
    assert obj.colour == "blue"
    requested = stroke_along_path(obj, 128, 16)
    frozen = np.repeat(clip.frames[:1], 16, axis=0)
    measured = motion_adherence(clip.frames, requested, obj.colour)
    assert measured.epe < 1.0
    assert measured.epe < 0.3 * motion_adherence(frozen, requested, obj.colour).epe


def test_a_perfect_video_scores_near_zero_on_its_object_though_the_codec_blocks_cover_background():
    errors = []
    for index in (100, 102, 103):  # held-out clip scenes whose blocks take in much background
        scene = eval_scene(index, 128, 16, moving=True)
        obj, clip = scene.objects[0], render(scene)
        requested = extract_motion_maps(clip.frames)
        on_object, on_blocks = motion_adherence(clip.frames, requested, obj.colour), motion_adherence(clip.frames, requested)
        assert on_object.points < on_blocks.points
        errors.append(on_object.epe)
    assert np.mean(errors) < 0.4, errors


def test_a_missing_object_counts_as_not_following_the_request():
    scene = eval_scene(1000, 128, 16, moving=True)
    obj, clip = scene.objects[0], render(scene)
    requested = stroke_along_path(obj, 128, 16)
    blank = np.full_like(clip.frames, 128)  # nothing there, nothing moves
    measured = motion_adherence(blank, requested, obj.colour)
    assert measured.points == int((np.abs(requested[1:]).sum(1) > 0).sum())  # every requested entry, none left out
    assert abs(measured.epe - measured.requested_speed) < 0.05
