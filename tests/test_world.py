"""The synthetic world: deterministic scenes, truthful captions, depth/masks and visible motion."""
import numpy as np
import pytest

from vc_core.conditions.motion_vectors import extract_motion_maps
from vc_core.evaluate.appearance import colour_and_shape
from vc_core.world import COLOURS, SHAPES, caption, render, sample_scene
from vc_core.world.scene import direction_words
from vc_core.world.vocabulary import CAPTION_WORDS, prompt_notes, words


def test_same_seed_same_clip_other_seed_other_clip():
    a = render(sample_scene(np.random.default_rng(7)))
    b = render(sample_scene(np.random.default_rng(7)))
    c = render(sample_scene(np.random.default_rng(8)))
    assert np.array_equal(a.frames, b.frames) and not np.array_equal(a.frames, c.frames)
    assert a.frames.shape == (16, 128, 128, 3) and a.depth.shape == a.masks.shape == (16, 128, 128)


def test_world_has_variety():
    scenes = [sample_scene(np.random.default_rng(s)) for s in range(200)]
    objects = [o for s in scenes for o in s.objects]
    assert {o.shape for o in objects} == set(SHAPES) and {o.colour for o in objects} == set(COLOURS)
    assert len({s.background for s in scenes}) == 5
    assert {len(s.objects) for s in scenes} == {1, 2, 3}
    assert any(s.camera is not None for s in scenes)
    assert {o.motion for o in objects} >= {"straight", "curved", "bouncing", "accelerating", "still"}


def test_caption_names_what_is_drawn():
    for seed in range(30):
        scene = sample_scene(np.random.default_rng(seed), max_objects=1)
        obj = scene.objects[0]
        clip = render(scene)
        text = caption(scene)
        assert f"{obj.colour} {obj.shape}" in text
        # the colour/shape check used by the evaluation reads the rendered truth
        assert colour_and_shape(clip.frames[0]) == (obj.colour, obj.shape)
        # objects are nearer than the background and exactly where the mask says
        assert (clip.depth[0][clip.masks[0] >= 0] > clip.depth[0][clip.masks[0] < 0].max()).all() or scene.background == "ground and sky"


@pytest.mark.parametrize("displacement, words", [((10, 0), "moving right"), ((0, -9), "moving up"), ((-6, 5), "moving down and to the left"), ((0.5, 0), "standing still")])
def test_direction_words(displacement, words):
    assert direction_words(np.array(displacement, float)) == words


def test_codec_motion_follows_a_rightward_object():
    for seed in range(200):
        scene = sample_scene(np.random.default_rng(seed), max_objects=1)
        obj = scene.objects[0]
        step = np.diff(obj.positions, axis=0)
        if scene.camera is None and obj.motion == "straight" and step[0, 0] > 2 and abs(step[0, 1]) < 1:
            break
    maps = extract_motion_maps(render(scene).frames)
    on_object = np.abs(maps[1:]).sum(1) > 0
    assert (maps[1:, 0][on_object] > 0).mean() > 0.8
    assert abs(np.median(maps[1:, 0][on_object]) - step[0, 0]) < 1.0


def test_the_vocabulary_is_exactly_the_words_captions_use():
    used = {w for seed in range(3000) for w in words(caption(sample_scene(np.random.default_rng(seed))))}
    assert used == CAPTION_WORDS  # no caption word the notes would call unknown, no listed word never used


@pytest.mark.parametrize(
    "prompt, named",
    [
        ("a fluffy cat walking on the beach", ["fluffy, cat, walking, on, beach"]),
        ("a red star moving right over a blue background", ["blue only as an object colour"]),
        ("a navy star and a teal circle over a plain gray background", ["navy, teal only as background colours"]),
        ("two red stars", ["two, stars"]),
        ("une étoile rouge", ["une, étoile, rouge"]),
    ],
)
def test_prompt_notes_name_what_the_embedded_model_cannot_read(prompt, named):
    notes = prompt_notes(prompt)
    assert len(notes) == len(named) and all(n in note for n, note in zip(named, notes))


def test_world_captions_get_no_notes():
    for seed in range(200):
        assert prompt_notes(caption(sample_scene(np.random.default_rng(seed)))) == []
