"""The bad-input corpus: files written into a folder and the API calls that use them.

``write_corpus(folder)`` writes every bad file once and returns the :class:`Case` list: one call of
one endpoint each, with only the bad part differing from a valid call. Files are small even when
the picture is huge (flat colour compresses to almost nothing), so the corpus is made in seconds.
``expect`` says what a correct server does: "error" (a clear message), "ok" (a valid video: the
input is odd but supported) or "either".
"""
from __future__ import annotations

import io
import json
import math
import os
import wave
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
from PIL import Image

from tests.app_support import drawing
from tests.media_factory import moving_object_frames, write_audio_only, write_video

FRAMES, STEPS = 8, 2  # every case asks for the cheapest generation, so only the bad part costs time


@dataclass(frozen=True)
class Upload:
    """A corpus file (relative to the corpus folder), sent as an upload."""

    name: str


@dataclass
class Case:
    name: str
    group: str  # what kind of bad input: video, image, mask, strokes, prompt, slider, raw
    endpoint: str
    inputs: dict[str, Any]  # the call's keyword arguments; Upload values become uploaded files
    expect: str = "error"  # "error", "ok" or "either"
    raw_body: bytes | None = None  # sent as the HTTP body instead of through gradio_client (non-JSON)


# ---- valid calls, which each case spoils in one place ----

SETTINGS = {"frames": FRAMES, "steps": STEPS, "seed": 7, "sampler": "ddim"}
# A valid request body per endpoint: what the driver sends as the health check, and the base of every case.
VALID: dict[str, Callable[[], dict[str, Any]]] = {
    "/compose": lambda: {"prompt": "a green square", "image": Upload("ok/picture.png"), "style": None, "sketch": None,
                         "video": None, **SETTINGS},
    "/inpaint": lambda: {"prompt": "a purple circle", "video": Upload("ok/clip.mp4"), "preset": "centre box",
                         "mask": editor(None), **SETTINGS},
    "/motion_transfer": lambda: {"prompt": "a square", "video": Upload("ok/clip.mp4"), "image": None, "style": None,
                                 **SETTINGS},
    "/draw_motion": lambda: {"prompt": "a square moving right", "image": None, "preset": "none (use my strokes)",
                             "strokes": drawing([[(100, 300), (400, 300)]]), **SETTINGS},
}


def editor(background: Upload | None, layers: tuple[Upload, ...] = ()) -> dict[str, Any]:
    """An ImageEditor value as API users send it."""
    return {"background": background, "layers": list(layers), "composite": background, "id": None}


def _case(name: str, group: str, endpoint: str, expect: str = "error", **changes: Any) -> Case:
    return Case(name, group, endpoint, VALID[endpoint]() | changes, expect)


# ---- files ----


def _flat_video(path: Path, width: int, height: int, frames: int, rate: Fraction | int = 4) -> Path:
    """A flat-colour H.264 clip: any resolution or duration in a few kilobytes."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=rate, options={"preset": "ultrafast", "crf": "40"})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        frame = av.VideoFrame.from_ndarray(np.full((height, width, 3), 90, np.uint8), format="rgb24")
        for _ in range(frames):
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def _wav(path: Path) -> Path:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(np.zeros(4000, np.int16).tobytes())
    return path


def _png_bytes(image: Image.Image, **options: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", **options)
    return buffer.getvalue()


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def write_valid_media(folder: Path) -> None:
    """The valid inputs of :data:`VALID` under ``folder/ok``."""
    ok = folder / "ok"
    ok.mkdir(parents=True, exist_ok=True)
    write_video(ok / "clip.mp4", moving_object_frames((4, 0), num_frames=12, size=(96, 128), start=(16, 16), object_size=32))
    Image.fromarray(moving_object_frames((0, 0), 1, size=(96, 96), start=(24, 24), object_size=48)[0]).save(ok / "picture.png")


def _bad_videos(folder: Path) -> dict[str, str]:
    """name → expected outcome; every file in ``folder/video``."""
    d = folder / "video"
    d.mkdir(parents=True, exist_ok=True)
    good = (folder / "ok" / "clip.mp4").read_bytes()
    rng = np.random.default_rng(0)
    corrupt = bytearray(good)
    corrupt[len(good) // 3 : len(good) // 3 + 2048] = rng.integers(0, 256, 2048, np.uint8).tobytes()
    png = (folder / "ok" / "picture.png").read_bytes()
    files: dict[str, tuple[bytes | Callable[[Path], Path], str]] = {
        "zero_bytes.mp4": (b"", "error"),
        "truncated_10pct.mp4": (good[: len(good) // 10], "error"),
        "truncated_half.mp4": (good[: len(good) // 2], "either"),  # the frames before the cut may decode
        "header_only.mp4": (good[:64], "error"),
        "corrupt_middle.mp4": (bytes(corrupt), "either"),
        "random_bytes.mp4": (rng.integers(0, 256, 20_000, np.uint8).tobytes(), "error"),
        "text.mp4": (b"this is a text file, not a video\n" * 50, "error"),
        "png_named.mp4": (png, "either"),  # FFmpeg reads a PNG as a one-frame video
        "html.mp4": (b"<html><script>alert(1)</script></html>", "error"),
        "audio_only.wav": (_wav, "error"),
        "audio_only_named.mp4": (lambda p: write_audio_only(p, seconds=0.5), "error"),
        "one_frame.mp4": (lambda p: _flat_video(p, 64, 64, 1), "ok"),
        "two_frames.mp4": (lambda p: _flat_video(p, 64, 64, 2), "ok"),
        "odd_size_17x33.mp4": (lambda p: _flat_video(p, 18, 34, 6), "ok"),
        "wide_4096x16.mp4": (lambda p: _flat_video(p, 4096, 16, 4), "ok"),
        "tall_16x4096.mp4": (lambda p: _flat_video(p, 16, 4096, 4), "ok"),
        "tiny_2x2.mp4": (lambda p: _flat_video(p, 2, 2, 4), "ok"),
        "8k_7680x4320.mp4": (lambda p: _flat_video(p, 7680, 4320, 2), "error"),  # over the 4096-px limit
        "16k_wide.mp4": (lambda p: _flat_video(p, 16384, 64, 2), "error"),
        "declared_2h.mp4": (lambda p: _flat_video(p, 32, 32, 12, rate=Fraction(1, 600)), "error"),  # 12 frames, 2 hours
        "long_3000_frames.mp4": (lambda p: _flat_video(p, 16, 16, 3000, rate=30), "error"),  # 100 s of tiny frames
        "just_under_limit.mp4": (lambda p: _flat_video(p, 16, 16, 236, rate=4), "ok"),  # 59 s
        "mkv_named.mp4": (lambda p: write_video(p, moving_object_frames((4, 0), 10, (64, 64), (0, 0), 16), container="mkv"), "ok"),
        "webm.webm": (lambda p: write_video(p, moving_object_frames((4, 0), 10, (64, 64), (0, 0), 16)), "ok"),
        "gif_one_frame.gif": (lambda p: write_video(p, moving_object_frames((0, 0), 1, (64, 64), (0, 0), 16)), "ok"),
        "raw_h264.h264": (lambda p: write_video(p, moving_object_frames((4, 0), 10, (64, 64), (0, 0), 16)), "ok"),
        "no_extension": (good, "either"),  # Gradio's Video component may insist on an extension
    }
    return _write_files(d, "video", files)


def _bad_images(folder: Path) -> dict[str, str]:
    d = folder / "image"
    d.mkdir(parents=True, exist_ok=True)
    picture = Image.open(folder / "ok" / "picture.png").convert("RGB")
    png = _png_bytes(picture)
    jpeg = io.BytesIO()
    picture.save(jpeg, format="JPEG")
    gradient16 = (np.linspace(0, 65535, 96 * 96).reshape(96, 96)).astype(np.uint16)
    transparent = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
    half_alpha = picture.convert("RGBA")
    half_alpha.putalpha(128)
    files: dict[str, tuple[bytes | Callable[[Path], Any], str]] = {
        "zero_bytes.png": (b"", "error"),
        "truncated.png": (png[: len(png) // 3], "error"),
        "truncated.jpg": (jpeg.getvalue()[: jpeg.tell() // 2], "either"),  # PIL may pad a cut JPEG
        "random_bytes.png": (np.random.default_rng(1).integers(0, 256, 5000, np.uint8).tobytes(), "error"),
        "text.png": (b"not a picture", "error"),
        "svg.svg": (b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>', "either"),
        "video_named.png": ((folder / "ok" / "clip.mp4").read_bytes(), "error"),
        "jpeg_named.png": (jpeg.getvalue(), "ok"),
        "grayscale_L.png": (lambda p: picture.convert("L").save(p), "ok"),
        "grayscale_alpha_LA.png": (lambda p: picture.convert("LA").save(p), "ok"),
        "rgba.png": (lambda p: half_alpha.save(p), "ok"),
        "fully_transparent.png": (lambda p: transparent.save(p), "ok"),
        "16bit_gray.png": (lambda p: Image.fromarray(gradient16).save(p), "ok"),
        "1bit.png": (lambda p: picture.convert("1").save(p), "ok"),
        "palette.png": (lambda p: picture.convert("P").save(p), "ok"),
        "cmyk.jpg": (lambda p: picture.convert("CMYK").save(p), "ok"),
        "float32.tiff": (lambda p: Image.fromarray(np.asarray(picture.convert("L"), np.float32) / 255).save(p), "either"),
        "animated.gif": (lambda p: picture.save(p, save_all=True, append_images=[picture.rotate(90)]), "ok"),
        "webp.webp": (lambda p: picture.save(p), "ok"),
        "bmp.bmp": (lambda p: picture.save(p), "ok"),
        "exif_rotated.jpg": (lambda p: _exif_rotated(picture, p), "ok"),
        "1x1.png": (lambda p: Image.new("RGB", (1, 1), (200, 0, 0)).save(p), "ok"),
        "white.png": (lambda p: Image.new("RGB", (64, 64), "white").save(p), "ok"),
        "wide_4000x2.png": (lambda p: Image.new("RGB", (4000, 2), (0, 200, 0)).save(p), "ok"),
        "tall_2x4000.png": (lambda p: Image.new("RGB", (2, 4000), (0, 0, 200)).save(p), "ok"),
        "8k_7680x4320.png": (lambda p: Image.new("RGB", (7680, 4320), (90, 90, 90)).save(p, optimize=True), "error"),
        "bomb_20000x20000.png": (lambda p: Image.new("1", (20000, 20000)).save(p), "error"),  # 400 Mpx
    }
    return _write_files(d, "image", files)


def _write_files(folder: Path, group: str, files: dict[str, tuple[bytes | Callable[[Path], Any], str]]) -> dict[str, str]:
    """Write each file (bytes, or a function that writes it); returns '<group>/<name>' → expected outcome."""
    expected = {}
    for name, (content, expect) in files.items():
        if callable(content):
            content(folder / name)
        else:
            _write(folder / name, content)
        expected[f"{group}/{name}"] = expect
    return expected


def _exif_rotated(picture: Image.Image, path: Path) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90° clockwise to display
    picture.save(path, exif=exif)


# ---- cases ----


def _video_cases(videos: dict[str, str]) -> list[Case]:
    cases = []
    for name, expect in videos.items():
        cases.append(_case(f"motion_transfer video {name}", "video", "/motion_transfer", expect, video=Upload(name)))
        cases.append(_case(f"inpaint video {name}", "video", "/inpaint", expect, video=Upload(name)))
        cases.append(_case(f"compose motion of {name}", "video", "/compose", expect, video=Upload(name), use_motion=True))
    cases.append(_case("compose video without ticking anything", "video", "/compose", "ok", video=Upload("video/one_frame.mp4")))
    cases.append(_case("compose motion without a video", "video", "/compose", "error", use_motion=True))
    cases.append(_case("motion_transfer without a video", "video", "/motion_transfer", "error", video=None))
    cases.append(_case("inpaint without a video", "video", "/inpaint", "error", video=None))
    for start, expect in ((-5.0, "error"), (1e12, "ok"), (2.5, "ok")):  # before, far after and near the end of the clip
        cases.append(_case(f"motion_transfer start {start:g} s", "slider", "/motion_transfer", expect, video=Upload("ok/clip.mp4"), video_start_s=start))
    return cases


def _image_cases(images: dict[str, str]) -> list[Case]:
    cases = []
    for name, expect in images.items():
        cases.append(_case(f"draw_motion picture {name}", "image", "/draw_motion", expect, image=Upload(name)))
        cases.append(_case(f"compose first frame {name}", "image", "/compose", expect, image=Upload(name)))
        cases.append(_case(f"compose style {name}", "image", "/compose", expect, image=None, style=Upload(name)))
        cases.append(_case(f"motion_transfer image {name}", "image", "/motion_transfer", expect, image=Upload(name)))
    for name in ("image/grayscale_L.png", "image/rgba.png", "image/zero_bytes.png", "image/truncated.png", "image/8k_7680x4320.png"):
        expect = images[name]
        cases.append(_case(f"compose sketch {name}", "image", "/compose", expect, image=None, sketch=editor(Upload(name))))
    return cases


def _mask_cases(images: dict[str, str]) -> list[Case]:
    painted = {"preset": "painted on the frame"}
    cases = [
        _case("inpaint painted mask but nothing painted", "mask", "/inpaint", "error", **painted),
        _case("inpaint unknown preset", "mask", "/inpaint", "error", preset="everything"),
        _case("inpaint fully transparent layer", "mask", "/inpaint", "error", mask=editor(None, (Upload("image/fully_transparent.png"),)), **painted),
        _case("inpaint whole picture masked", "mask", "/inpaint", "ok", mask=editor(None, (Upload("image/white.png"),)), **painted),
    ]
    for name in ("image/zero_bytes.png", "image/random_bytes.png", "image/truncated.png", "image/grayscale_L.png", "image/16bit_gray.png",
                 "image/wide_4000x2.png", "image/8k_7680x4320.png", "image/bomb_20000x20000.png"):
        cases.append(_case(f"inpaint mask layer {name}", "mask", "/inpaint", images[name] if images[name] == "error" else "either",
                           mask=editor(None, (Upload(name),)), **painted))
    return cases


def _canvas(strokes: Any, **extra: Any) -> str:
    return json.dumps({"width": 512, "height": 512, "strokes": strokes, **extra})


def _stroke_cases() -> list[Case]:
    line = [[100, 300], [400, 300]]
    spiral = [[256 + 200 * math.cos(t / 50) * t / 10_000, 256 + 200 * math.sin(t / 50) * t / 10_000] for t in range(10_000)]
    texts: dict[str, tuple[str, str]] = {
        "empty string": ("", "error"),
        "no strokes": (_canvas([]), "error"),
        "not JSON": ("{strokes: [", "error"),
        "JSON list": ("[1, 2, 3]", "error"),
        "JSON null": ("null", "error"),
        "JSON number": ("1e999", "error"),
        "strokes not a list": (_canvas({"a": 1}), "error"),
        "points missing": (_canvas([{"pts": line}]), "error"),
        "points as strings": (_canvas([{"points": [["a", "b"], ["c", "d"]]}]), "error"),
        "points not pairs": (_canvas([{"points": [1, 2, 3]}]), "error"),
        "empty point list": (_canvas([{"points": []}]), "error"),
        "NaN coordinate": (_canvas([{"points": [[float("nan"), 1], [2, 3]]}]), "error"),
        "Infinity coordinate": (_canvas([{"points": [[float("inf"), 1], [2, 3]]}]), "error"),
        "1e300 coordinate": (_canvas([{"points": [[1e300, 300], [100, 300]]}]), "either"),
        "-1e9 coordinate": (_canvas([{"points": [[-1e9, 300], [100, 300]]}]), "either"),
        "all points off canvas": (_canvas([{"points": [[-500, -500], [-400, -900]]}]), "either"),
        "single point": (_canvas([{"points": [[100, 100]]}]), "error"),
        "zero-length stroke": (_canvas([{"points": [[100, 100]] * 50}]), "error"),
        "10 000 points": (_canvas([{"points": spiral}]), "ok"),
        "10 001 points": (_canvas([{"points": spiral + [[0, 0]]}]), "error"),
        "100 000 points": (_canvas([{"points": spiral * 10}]), "error"),
        "11 strokes": (_canvas([{"points": line}] * 11), "error"),
        "10 strokes": (_canvas([{"points": [[20 + 40 * i, 50], [20 + 40 * i, 450]]} for i in range(10)]), "ok"),
        "times wrong length": (_canvas([{"points": line, "times": [0]}]), "error"),
        "times NaN": (_canvas([{"points": line, "times": [0, float("nan")]}]), "error"),
        "times decreasing": (_canvas([{"points": line, "times": [5, 1]}]), "error"),
        "times as strings": (_canvas([{"points": line, "times": ["a", "b"]}]), "error"),
        "canvas width 0": (json.dumps({"width": 0, "height": 512, "strokes": [{"points": line}]}), "error"),
        "canvas width negative": (json.dumps({"width": -512, "height": 512, "strokes": [{"points": line}]}), "error"),
        "canvas width NaN": (json.dumps({"width": float("nan"), "height": 512, "strokes": [{"points": line}]}), "error"),
        "canvas width text": (json.dumps({"width": "wide", "height": 512, "strokes": [{"points": line}]}), "error"),
        "canvas 1e-300 wide": (json.dumps({"width": 1e-300, "height": 1e-300, "strokes": [{"points": line}]}), "either"),
        "region radius 0": (_canvas([{"points": line}], regions=[{"points": [[100, 300]], "radius": 0}]), "error"),
        "region radius NaN": (_canvas([{"points": line}], regions=[{"points": [[100, 300]], "radius": float("nan")}]), "error"),
        "region radius 1e300": (_canvas([{"points": line}], regions=[{"points": [[100, 300]], "radius": 1e300}]), "either"),
        "region at 1e300": (_canvas([{"points": line}], regions=[{"points": [[1e300, 300]], "radius": 20}]), "either"),
        "region points missing": (_canvas([{"points": line}], regions=[{"radius": 20}]), "error"),
        "deeply nested": ("[" * 5000 + "]" * 5000, "error"),
        "1 MB of spaces": (" " * 1_000_000, "error"),
    }
    cases = [_case(f"strokes: {name}", "strokes", "/draw_motion", expect, strokes=text) for name, (text, expect) in texts.items()]
    cases.append(_case("unknown motion preset", "strokes", "/draw_motion", "error", preset="spin"))
    cases.append(_case("preset and strokes both", "strokes", "/draw_motion", "ok", preset="zoom_in"))
    return cases


PROMPTS: dict[str, tuple[str | None, str]] = {
    "empty": ("", "either"),  # fine with a condition, refused without one
    "whitespace only": (" \t\n " * 10, "either"),
    "None": (None, "either"),
    "10 000 characters": ("a red star " * 910, "ok"),
    "100 000 characters": ("x" * 100_000, "ok"),
    "control characters": ("\x00\x01\x07\x1b[31m red \x7f", "ok"),
    "right-to-left override": ("\u202ea red star\u202c", "ok"),
    "emoji and CJK": ("🌟 赤い星 ⭐ звезда", "ok"),
    "HTML and script": ("<script>alert(document.cookie)</script><img src=x onerror=alert(1)>", "ok"),
    "format strings": ("{0} {__class__} %s %n ${PATH} $(id)", "ok"),
    "path-like": ("../../../../etc/passwd", "ok"),
}


def _prompt_cases() -> list[Case]:
    cases = []
    for name, (prompt, expect) in PROMPTS.items():
        cases.append(_case(f"draw_motion prompt {name}", "prompt", "/draw_motion", expect, prompt=prompt))
        cases.append(_case(f"compose prompt {name} without conditions", "prompt", "/compose",
                           "error" if not (prompt or "").strip() else "ok", prompt=prompt, image=None))
    return cases


SLIDERS: dict[str, list[tuple[Any, str]]] = {
    "frames": [(0, "error"), (7, "error"), (33, "error"), (5000, "error"), (-8, "error"), (8.5, "ok"), ("many", "error"), (None, "error")],
    "steps": [(0, "error"), (-1, "error"), (101, "error"), (10**9, "error"), ("abc", "error"), (None, "error")],
    "guidance": [(-1, "error"), (21, "error"), (1e308, "error"), (0, "ok")],
    "seed": [(-1, "error"), (2**31, "error"), (2**63, "error"), (1.5, "ok"), ("seven", "error"), (None, "error")],
    "sampler": [("bogus", "error"), ("", "error"), (None, "error")],
    "model": [("official", "error"), ("../../etc/passwd", "error"), ("", "error")],
}


def _slider_cases() -> list[Case]:
    cases = []
    for endpoint in VALID:
        for control, values in SLIDERS.items():
            for value, expect in values:
                cases.append(_case(f"{endpoint[1:]} {control}={value!r}", "slider", endpoint, expect, **{control: value}))
    return cases


def _raw_cases() -> list[Case]:
    """Bodies gradio_client cannot send: invalid UTF-8, lone surrogates, NaN literals, broken JSON."""
    valid = VALID["/draw_motion"]()
    order = ["prompt", "image", "strokes", "preset", "model", "frames", "steps", "guidance", "sampler", "seed"]
    values = valid | {"model": "embedded", "guidance": 9.0}

    def body(**changes: Any) -> bytes:
        return json.dumps({"data": [(values | changes)[k] for k in order]}).encode()

    bodies = {
        "prompt with invalid UTF-8 bytes": body(prompt="PLACEHOLDER").replace(b"PLACEHOLDER", b"\xff\xfe\xc3\x28"),
        "prompt with a lone surrogate": body(prompt="PLACEHOLDER").replace(b"PLACEHOLDER", b"\\udcff a star"),
        "strokes with invalid UTF-8": body(strokes="PLACEHOLDER").replace(b"PLACEHOLDER", b"\x80\x81"),
        "steps NaN literal": body(steps=float("nan")),
        "guidance Infinity literal": body(guidance=float("inf")),
        "frames -Infinity literal": body(frames=float("-inf")),
        "truncated JSON": body()[:40],
        "data not a list": b'{"data": {"prompt": "x"}}',
        "too few inputs": json.dumps({"data": ["x"]}).encode(),
        "too many inputs": json.dumps({"data": [None] * 50}).encode(),
        "empty body": b"",
        "seed NaN literal": body(seed=float("nan")),
    }
    cases = [Case(f"raw: {name}", "raw", "/draw_motion", {}, "error", raw_body=data) for name, data in bodies.items()]
    # JSON must be UTF-8, but a lenient parser may decode a stray byte; either answer is fine
    return cases + [Case("raw: latin-1 body", "raw", "/draw_motion", {}, "either", raw_body=body(prompt="café").decode().encode("latin-1"))]


def write_corpus(folder: str | os.PathLike) -> list[Case]:
    """Write every bad file under ``folder`` and return the cases (≥ 200) that use them."""
    folder = Path(folder)
    write_valid_media(folder)
    videos, images = _bad_videos(folder), _bad_images(folder)
    cases = (
        _video_cases(videos) + _image_cases(images) + _mask_cases(images) + _stroke_cases()
        + _prompt_cases() + _slider_cases() + _raw_cases()
    )
    manifest = [{"name": c.name, "group": c.group, "endpoint": c.endpoint, "expect": c.expect} for c in cases]
    (folder / "cases.json").write_text(json.dumps(manifest, indent=1))
    return cases
