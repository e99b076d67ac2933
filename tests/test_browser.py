"""The app in a real browser (Debian chromium driven by Playwright): draw a stroke with the mouse on
the motion canvas, generate, watch the video play; run each tab's first example. Screenshots of
every tab go to docs/screenshots/.

Needs `apt-get install chromium` and `pip install playwright` (never `playwright install`:
the system chromium is used), as .ci/run does.
"""
import shutil
import time
from pathlib import Path

import pytest

from tests.app_support import example, launch_app, model_under_test

sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed (pip install playwright)")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="no chromium executable (Debian: apt-get install chromium; .ci/run installs it)"
)
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[1] / "docs" / "screenshots"
GENERATION_TIMEOUT_MS = 300_000
FRAMES = 8


@pytest.fixture(scope="module")
def page():
    app = launch_app(model_under_test())
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1100})
        page.app = app
        yield page
        browser.close()
    app.demo.close()


def open_tab(page, title: str, name: str) -> None:
    """A fresh page (no state or messages left from an earlier test) on the given tab."""
    page.goto(page.app.url)
    page.get_by_role("tab", name=title).click()
    page.locator(f"#{name}-generate").wait_for()


def set_slider(page, tab: str, name: str, value: int) -> None:
    """Type into a slider's number box (retried: a box that is still mounting can drop the input)."""
    box, slider = page.locator(f"#{tab}-{name} input[type=number]"), page.locator(f"#{tab}-{name} input[type=range]")
    for _ in range(5):
        box.fill(str(value))
        box.press("Enter")
        if slider.input_value() == str(value):
            return
        time.sleep(0.5)
    raise AssertionError(f"could not set {tab} {name} to {value}")


def fast_settings(page, tab: str) -> None:
    """Few frames and steps: the browser test checks the interface, not the model."""
    if not page.locator(f"#{tab}-steps").is_visible():
        page.locator(f"#{tab}-settings").get_by_text("Settings").first.click()
    set_slider(page, tab, "frames", FRAMES)
    set_slider(page, tab, "steps", 2)


def generate_and_wait_until_playing(page, tab: str) -> None:
    """Click Generate; wait until the result plays (it has FRAMES frames at 8 fps)."""
    page.locator(f"#{tab}-generate").click()
    try:
        page.wait_for_function(
            """([tab, seconds]) => {
                const video = document.querySelector(`#${tab}-result video`);
                return video && video.readyState >= 2 && !video.paused && video.currentTime > 0 && !video.error
                    && Math.abs(video.duration - seconds) < 0.2;
            }""",
            arg=[tab, FRAMES / 8],
            timeout=GENERATION_TIMEOUT_MS,
        )
    except sync_api.TimeoutError:
        # Say what the page showed, so that a rare failure can be told apart from a slow run.
        state = page.evaluate(
            """(tab) => {
                const video = document.querySelector(`#${tab}-result video`);
                const shown = video && {src: video.currentSrc, readyState: video.readyState, paused: video.paused,
                    ended: video.ended, currentTime: video.currentTime, duration: video.duration,
                    error: video.error && video.error.message};
                const toasts = [...document.querySelectorAll("[data-testid=toast-body]")].map(t => t.innerText);
                return {video: shown, toasts};
            }""",
            tab,
        )
        raise AssertionError(f"the {tab} result did not play within {GENERATION_TIMEOUT_MS / 1000:.0f} s: {state}") from None


def drag(page, canvas, start: tuple[float, float], end: tuple[float, float], steps: int = 20) -> None:
    """A mouse drag between two points given as fractions of the canvas."""
    box = canvas.bounding_box()
    x0, y0 = box["x"] + start[0] * box["width"], box["y"] + start[1] * box["height"]
    x1, y1 = box["x"] + end[0] * box["width"], box["y"] + end[1] * box["height"]
    page.mouse.move(x0, y0)
    page.mouse.down()
    for i in range(1, steps + 1):
        page.mouse.move(x0 + (x1 - x0) * i / steps, y0 + (y1 - y0) * i / steps)
    page.mouse.up()


def screenshot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def test_draw_a_stroke_generate_and_play(page):
    open_tab(page, "Hand-drawn motion", "draw_motion")
    page.locator("#draw_motion-image input[type=file]").set_input_files(example("first_frame.png"))
    page.locator("img.vc-canvas-bg[src]").wait_for()  # the picture is under the canvas
    canvas = page.locator("canvas.vc-canvas")
    fast_settings(page, "draw_motion")

    # Undo leaves nothing drawn: generating then explains what is missing (and the app stays up).
    page.get_by_label("Draw motion").check()
    drag(page, canvas, (0.22, 0.68), (0.8, 0.68))
    page.get_by_role("button", name="↶ Undo").click()
    page.locator("#draw_motion-generate").click()
    page.get_by_text("Draw at least one stroke").first.wait_for(timeout=GENERATION_TIMEOUT_MS)
    page.locator("[data-testid=toast-close]").first.click()

    drag(page, canvas, (0.22, 0.68), (0.8, 0.68))
    page.get_by_role("button", name="▶ Preview motion").click()  # animated arrows before generating
    page.locator("#draw_motion-preview img[src]").wait_for(timeout=GENERATION_TIMEOUT_MS)
    started = time.perf_counter()
    generate_and_wait_until_playing(page, "draw_motion")
    print(f"draw_motion: {time.perf_counter() - started:.1f} s from click to playing video")
    # the server received the stroke from the canvas, not a preset
    page.locator("#draw_motion-previews").get_by_text("1 drawn stroke(s)").wait_for()
    screenshot(page, "draw_motion")


@pytest.mark.parametrize(
    "title, tab", [("Compose", "compose"), ("Video inpainting", "inpaint"), ("Motion transfer", "motion_transfer")]
)
def test_each_tab_runs_its_first_example(page, title, tab):
    open_tab(page, title, tab)
    page.locator(f"#tab-{tab} tbody tr").first.click()  # the first example fills the inputs
    fast_settings(page, tab)
    started = time.perf_counter()
    generate_and_wait_until_playing(page, tab)
    print(f"{tab}: {time.perf_counter() - started:.1f} s from click to playing video")
    screenshot(page, tab)


def test_cancel_stops_sampling_and_the_next_generation_runs(page):
    open_tab(page, "Hand-drawn motion", "draw_motion")
    page.locator("#tab-draw_motion tbody tr").nth(1).click()  # the 'circle' preset example
    page.locator("#draw_motion-settings").get_by_text("Settings").first.click()
    set_slider(page, "draw_motion", "frames", 32)  # long enough to be caught mid-run
    set_slider(page, "draw_motion", "steps", 100)
    page.locator("#draw_motion-generate").click()
    page.get_by_text("Sampling").first.wait_for(timeout=GENERATION_TIMEOUT_MS)  # the per-step progress bar
    page.locator("#draw_motion-cancel").click()
    # The pipeline holds its lock while sampling: released within a step or two, not after 100
    # (the whole run takes 5-10 s even with the miniature model).
    lock = page.app.pipe._lock
    assert lock.acquire(timeout=2), "sampling went on after Cancel"
    lock.release()
    fast_settings(page, "draw_motion")
    generate_and_wait_until_playing(page, "draw_motion")
