"""The example inputs shipped in assets/examples (made by scripts/make_examples.py)."""
from __future__ import annotations

import json
from functools import cache
from pathlib import Path

EXAMPLES_DIR = Path(__file__).resolve().parents[1] / "assets" / "examples"


@cache
def _meta() -> dict:
    return json.loads((EXAMPLES_DIR / "examples.json").read_text())


def example_path(name: str) -> str:
    return str(EXAMPLES_DIR / name)


def example_prompt(name: str) -> str:
    return _meta()[name]["caption"]
