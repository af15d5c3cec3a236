"""The app in a real browser: `python app.py` in a subprocess (tiny models, loopback only), driven by
Playwright in Debian's headless Chromium. Strokes are drawn with the mouse on the sketch canvas, photos
are uploaded through the file inputs, buttons are clicked, exactly as a person would.

Chromium is `/usr/bin/chromium` (or `$I2I_CHROMIUM`); `.ci/run` installs it. Without it these tests are
skipped on a developer machine and fail in CI (CI=true), so CI can never pass without running them.
"""
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import DATASETS
from app_harness import (CHROMIUM, CHROMIUM_FLAGS, make_tiny_models, require_chromium, start_app_process,
                         stop_app_process)

TIMEOUT_MS = 60_000

require_chromium()

from playwright.sync_api import Page, sync_playwright  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    """`python app.py`, the README's command, on a free port with tiny models and a private runs folder."""
    tmp = tmp_path_factory.mktemp("browser")
    env = {"I2I_WEIGHTS_DIR": str(make_tiny_models(tmp / "weights")), "I2I_RUNS_DIR": str(tmp / "runs"),
           "I2I_DATA_ROOTS": str(DATASETS), "I2I_TRAIN_THREADS": "1", "I2I_TORCH_THREADS": "1",
           "GRADIO_TEMP_DIR": str(tmp / "gradio"), "SPACE_ID": None, "I2I_ENABLE_TRAINING": None}
    process, url, _ = start_app_process(env, tmp / "app.log")
    try:
        yield url
    finally:
        stop_app_process(process)


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, app_url):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(app_url, wait_until="load")
    page.wait_for_selector("#sketch-canvas canvas")
    yield page
    context.close()


@pytest.fixture(scope="module")
def photo(tmp_path_factory) -> Path:
    from demos.examples import example_photo

    path = tmp_path_factory.mktemp("photos") / "garden.png"
    example_photo(5, size=(320, 240)).save(path)
    return path


def _open_tab(page: Page, name: str) -> None:
    page.get_by_role("tab", name=name).click()


def _src(page: Page, selector: str) -> str | None:
    element = page.query_selector(selector)
    return element.get_attribute("src") if element else None


def _wait_new_src(page: Page, selector: str, old: str | None) -> str:
    page.wait_for_function(
        "([sel, old]) => { const img = document.querySelector(sel); return img && img.src && img.src !== old; }",
        arg=[selector, old])
    return _src(page, selector)


def _stroke(page: Page, points: list[tuple[float, float]]) -> None:
    """One pen stroke through `points`, given as fractions of the drawing area."""
    box = page.locator("#sketch-canvas canvas").first.bounding_box()
    x, y = (box["x"] + box["width"] * points[0][0], box["y"] + box["height"] * points[0][1])
    page.mouse.move(x, y)
    page.mouse.down()
    for fx, fy in points[1:]:
        page.mouse.move(box["x"] + box["width"] * fx, box["y"] + box["height"] * fy, steps=8)
    page.mouse.up()


def _image_pixels(page: Page, selector: str):
    """The decoded pixels of the <img> at `selector`, fetched by the page itself."""
    import io

    data = page.evaluate("""async (sel) => {
        const response = await fetch(document.querySelector(sel).src);
        return Array.from(new Uint8Array(await response.arrayBuffer()));
    }""", selector)
    return np.asarray(Image.open(io.BytesIO(bytes(data))).convert("RGB"), dtype=np.float32)


def test_drawing_strokes_updates_the_photo(page):
    assert _src(page, "#sketch-photo img") is None, "a photo is shown before anything was drawn"
    _stroke(page, [(0.3, 0.3), (0.5, 0.4), (0.7, 0.3)])
    first = _wait_new_src(page, "#sketch-photo img", None)
    pixels = _image_pixels(page, "#sketch-photo img")
    assert pixels.shape[0] >= 128 and pixels.std() > 2.0, "the photo is blank"
    assert "sketch_tiny" in page.inner_text("#sketch-info")

    _stroke(page, [(0.3, 0.6), (0.5, 0.8), (0.7, 0.6), (0.3, 0.6)])
    second = _wait_new_src(page, "#sketch-photo img", first)
    shown = _image_pixels(page, "#sketch-photo img")
    assert abs(shown - pixels).mean() > 0.5, "the photo did not change"
    with page.expect_download(timeout=TIMEOUT_MS) as download:   # Save gives the photo on screen, as PNG
        page.click("#sketch-save")
    saved = Image.open(download.value.path())
    assert saved.format == "PNG" and np.array_equal(np.asarray(saved.convert("RGB"), np.float32), shown)

    page.get_by_role("button", name="Undo").first.click()
    _wait_new_src(page, "#sketch-photo img", second)
    page.get_by_role("button", name="Clear canvas").first.click()
    page.wait_for_function("() => !document.querySelector('#sketch-photo img')")
    assert "Draw something" in page.inner_text("#sketch-info")


def test_colorize_upload_shows_five_models(page, photo):
    _open_tab(page, "Colorize: patch sizes")
    page.locator("#colorize-input input[type=file]").set_input_files(str(photo))
    page.locator("#colorize-run").click()
    page.wait_for_function("() => document.querySelectorAll('#colorize-gallery img').length >= 7")
    captions = page.inner_text("#colorize-gallery")
    for text in ("Original", "L1 only", "1×1", "16×16", "70×70", "286×286"):
        assert text in captions, captions
    assert "cannot penalize" in page.inner_text("#colorize-caption")


def test_style_pick_and_stylize(page, photo):
    _open_tab(page, "Style (CycleGAN)")
    page.wait_for_selector("#style-gallery img")
    page.locator("#style-gallery img").first.click()
    page.locator("#style-input input[type=file]").set_input_files(str(photo))
    _wait_new_src(page, "#style-output img", None)
    _wait_new_src(page, "#style-reconstruction img", None)
    assert _image_pixels(page, "#style-output img").shape[:2] == (240, 320)
    assert "style_tiny" in page.inner_text("#style-info")


def test_training_curve_moves_then_stop(page):
    _open_tab(page, "Train")
    assert "facades" in page.locator("#train-dataroot textarea, #train-dataroot input").first.input_value()
    page.locator("#train-start").click()
    page.wait_for_function("() => /RUNNING/.test(document.querySelector('#train-status').innerText)")
    step_of = """() => { const m = document.querySelector('#train-status').innerText.match(/step (\\d+) \\//);
                         return m ? +m[1] : -1; }"""
    page.wait_for_function(f"() => ({step_of})() >= 10", timeout=120_000)
    plot = page.locator("#train-plot")
    plot.locator("canvas, svg").first.wait_for()
    before = plot.screenshot()
    step = page.evaluate(step_of)
    page.wait_for_function(f"() => ({step_of})() >= {step + 10}", timeout=120_000)
    time.sleep(2.0)   # the next timer tick redraws the plot with the new points
    assert plot.screenshot() != before, "the loss curve did not move"
    assert "CPU" in page.inner_text("#train-status")

    page.locator("#train-stop").click()
    page.wait_for_function("() => /STOPPED/.test(document.querySelector('#train-status').innerText)",
                           timeout=120_000)
    page.wait_for_selector("#train-sample img")
