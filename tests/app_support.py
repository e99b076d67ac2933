"""Shared by the app tests: the model under test, a launched app, and reading MP4 results.

The model is the trained embedded one when ``assets/embedded/model.json`` exists, else the random
miniature of ``tests/tiny.py`` (plumbing only). Quality assertions are marked ``real_model_only``.
"""
from __future__ import annotations

import json
import socket
import tempfile
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import pytest

from tests.tiny import tiny_pipeline
from ui.common import Loader
from vc_core.pipeline import EMBEDDED_DIR, Pipeline, load_pipeline

EXAMPLES = Path(__file__).resolve().parents[1] / "assets" / "examples"
EMBEDDED_READY = (EMBEDDED_DIR / "model.json").is_file()
real_model_only = pytest.mark.skipif(
    not EMBEDDED_READY,
    reason="needs the trained embedded model (assets/embedded/model.json); the random test model makes meaningless videos",
)
# Small and fast for plumbing; the real model gets enough steps to make sense.
FAST = {"frames": 8, "steps": 2 if not EMBEDDED_READY else 4}


def model_under_test() -> Pipeline:
    return load_pipeline("embedded", device="cpu") if EMBEDDED_READY else tiny_pipeline()


def pipeline_named(name: str) -> Pipeline:
    """'tiny' (random miniature, fast plumbing) or 'embedded' (the trained model, for real figures)."""
    return tiny_pipeline() if name == "tiny" else load_pipeline(name, device="cpu")


def example(name: str) -> str:
    return str(EXAMPLES / name)


def example_meta(name: str) -> dict:
    return json.loads((EXAMPLES / "examples.json").read_text())[name]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class RunningApp:
    url: str
    pipe: Pipeline
    demo: object


def launch_app(
    pipe: Pipeline,
    max_queue: int | None = None,
    loader: Loader | None = None,
    models: dict[str, str] | None = None,
    **launch_options,
) -> RunningApp:
    """The real app serving ``pipe`` as its only model, or ``models`` (name → '' or why unusable)
    through ``loader``; ``max_queue`` and ``launch_options`` override the app's own settings (a
    tiny queue or upload limit makes overflow tests cheap)."""
    from ui.app import LAUNCH_OPTIONS, build_app

    demo = build_app(
        loader=loader or (lambda name, weights: pipe),
        available=lambda weights: models if models is not None else {"embedded": ""},
    )
    if max_queue is not None:
        demo.queue(default_concurrency_limit=1, max_size=max_queue)
    port = free_port()
    options = LAUNCH_OPTIONS | launch_options
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, **options)
    return RunningApp(f"http://127.0.0.1:{port}/", pipe, demo)


@dataclass
class DecodedVideo:
    frames: np.ndarray  # (F, H, W, 3) uint8
    codec: str
    pix_fmt: str


def read_video(path: str | Path) -> DecodedVideo:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = np.stack([f.to_ndarray(format="rgb24") for f in container.decode(stream)])
        return DecodedVideo(frames, stream.codec_context.name, stream.codec_context.pix_fmt)


def request_dirs() -> set[str]:
    """The per-request folders currently in the temp dir (all must be gone after each request)."""
    return {p.name for p in Path(tempfile.gettempdir()).glob("vc_request_*")}


def drawing(strokes: list[list[tuple[float, float]]], size: int = 512, regions: list | None = None) -> str:
    """Canvas JSON as the browser sends it."""
    return json.dumps(
        {"width": size, "height": size, "strokes": [{"points": s} for s in strokes], "regions": regions or []}
    )
