"""The words of the world's captions, and notes on a prompt that strays from them.

The embedded model's text tower learned these captions and nothing else: another word reaches the
UNet as a token it never trained on, and a colour in the wrong role (a "blue background", where
backgrounds come in dark colours only) gives whatever background the model likes. Saying which
words it knows beats a silent, random-looking result.
"""
from __future__ import annotations

import re
from collections.abc import Iterable

from vc_core.world.scene import BACKGROUND_COLOURS, COLOURS, SHAPES, article

# The words ``caption`` and its helpers write around the colours and shapes (tests/test_world.py
# checks both ways against many sampled scenes).
TEMPLATE_WORDS = frozenset(
    "a an and to the over moving standing still bouncing around growing shrinking left right up down "
    "plain gradient striped noisy background ground under sky camera panning".split()
)
CAPTION_WORDS = TEMPLATE_WORDS | set(COLOURS) | set(BACKGROUND_COLOURS) | set(SHAPES)
EXAMPLE = "a red star moving right over a striped navy and teal background"


def words(text: str) -> list[str]:
    """Lower-case words (letters of any script), in order; digits and punctuation split them."""
    return re.findall(r"[^\W\d_]+", text.lower())


def prompt_notes(prompt: str) -> list[str]:
    """What in ``prompt`` the embedded model cannot read as asked; empty when it can all be."""
    said = words(prompt)
    unknown = _distinct(w for w in said if w not in CAPTION_WORDS)
    notes = []
    if unknown:
        notes.append(
            f"The embedded model knows only its synthetic world's words, so it ignores or misreads: {', '.join(unknown)}. "
            f"Shapes: {', '.join(SHAPES)}. Object colours: {', '.join(COLOURS)}. Background colours: "
            f"{', '.join(BACKGROUND_COLOURS)}. Backgrounds: plain, noisy, striped, gradient, or ground under a sky. "
            f"Motions: moving left/right/up/down, standing still, bouncing around, growing, shrinking. E.g. '{EXAMPLE}'."
        )
    # captions name the objects, then 'over', then the background
    cut = said.index("over") if "over" in said else len(said)
    misplaced_background = _distinct(w for w in said[:cut] if w in BACKGROUND_COLOURS)
    misplaced_object = _distinct(w for w in said[cut + 1 :] if w in COLOURS)
    if misplaced_background:
        notes.append(
            f"The embedded model knows {_only_as(misplaced_background, 'background colour')}: its objects come in "
            f"{', '.join(COLOURS)}, and the background is named after 'over' (e.g. '{EXAMPLE}')."
        )
    if misplaced_object:
        notes.append(
            f"The embedded model knows {_only_as(misplaced_object, 'object colour')}: the background (named after 'over') "
            f"comes in {', '.join(BACKGROUND_COLOURS)}."
        )
    return notes


def _only_as(names: list[str], role: str) -> str:
    """'navy only as a background colour', 'navy, teal only as background colours'."""
    return f"{', '.join(names)} only as " + (f"{article(role)} {role}" if len(names) == 1 else f"{role}s")


def _distinct(names: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(names))
