"""The app in a real browser: `python app.py` in a subprocess (tiny models, loopback only), driven by
Playwright in Debian's headless Chromium. Strokes are drawn with the mouse on the live canvases, photos
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
from app_harness import app_process, launch_chromium, make_tiny_models, require_chromium

TIMEOUT_MS = 120_000   # generous: the machine may be busy training

require_chromium()

from playwright.sync_api import Page  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    """`python app.py`, the README's command, on a free port with tiny models and a private runs folder."""
    tmp = tmp_path_factory.mktemp("browser")
    env = {"I2I_WEIGHTS_DIR": str(make_tiny_models(tmp / "weights")), "I2I_RUNS_DIR": str(tmp / "runs"),
           "I2I_DATA_ROOTS": str(DATASETS), "I2I_TRAIN_THREADS": "1", "I2I_TORCH_THREADS": "1",
           "GRADIO_TEMP_DIR": str(tmp / "gradio"), "SPACE_ID": None, "I2I_ENABLE_TRAINING": None}
    with app_process(env, tmp / "app.log") as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    with launch_chromium() as chromium:
        yield chromium


@pytest.fixture
def page(browser, app_url):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(app_url, wait_until="load")
    page.wait_for_selector("#sketch-canvas canvas.lc-canvas")
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


def canvas_state(page: Page, canvas: str) -> dict:
    """The live canvas's counters (demos/static/live_canvas.js): version (drawing changes), shown (the
    version whose photo is on screen), photos (shown so far), drawing ("1" while the pen is down)."""
    return page.evaluate("id => ({...document.querySelector(`#${id} .lc`).dataset})", canvas)


def wait_settled(page: Page, canvas: str) -> dict:
    """Wait until the photo of the newest drawing is on screen (or its blank hint); the counters then."""
    page.wait_for_function("id => { const d = document.querySelector(`#${id} .lc`).dataset;"
                           " return d.version && d.shown === d.version && !d.busy; }", arg=canvas)
    return canvas_state(page, canvas)


def stroke(page: Page, canvas: str, points: list[tuple[float, float]], steps: int = 4) -> None:
    """One pen stroke through `points`, given as fractions of the drawing area."""
    box = page.locator(f"#{canvas} canvas.lc-canvas").bounding_box()
    at = [(box["x"] + box["width"] * fx, box["y"] + box["height"] * fy) for fx, fy in points]
    page.mouse.move(*at[0])
    page.mouse.down()
    for x, y in at[1:]:
        page.mouse.move(x, y, steps=steps)
    page.mouse.up()


def canvas_pixel(page: Page, canvas: str, fx: float, fy: float) -> list[int]:
    """RGB of the drawing at (fx, fy), fractions of the canvas."""
    return page.evaluate("""([id, fx, fy]) => { const c = document.querySelector(`#${id} canvas.lc-canvas`);
        return Array.from(c.getContext('2d').getImageData(Math.floor(fx * c.width), Math.floor(fy * c.height), 1, 1)
                          .data.slice(0, 3)); }""", [canvas, fx, fy])


def click_tool(page: Page, canvas: str, selector: str) -> None:
    """Click the canvas's button at `selector`: [data-action=clear], [data-tool=eraser], [title=window]..."""
    page.locator(f"#{canvas} .lc button{selector}").click()


def photo_pixels(page: Page, canvas: str):
    return _image_pixels(page, f"#{canvas} img.lc-photo")


def _image_pixels(page: Page, selector: str):
    """The decoded pixels of the <img> at `selector`, fetched by the page itself."""
    import io

    data = page.evaluate("""async (sel) => {
        const response = await fetch(document.querySelector(sel).src);
        return Array.from(new Uint8Array(await response.arrayBuffer()));
    }""", selector)
    return np.asarray(Image.open(io.BytesIO(bytes(data))).convert("RGB"), dtype=np.float32)


def test_sketch_opens_with_a_photo_then_draw_undo_erase_clear_save(page):
    first = wait_settled(page, "sketch-canvas")
    assert int(first["photos"]) >= 1, "the tab does not open with its example's photo"
    assert "sketch_tiny" in page.inner_text("#sketch-info")

    click_tool(page, "sketch-canvas", "[data-action=clear]")
    wait_settled(page, "sketch-canvas")
    assert page.locator("#sketch-canvas img.lc-photo").is_hidden()
    assert "Draw something" in page.inner_text("#sketch-canvas .lc-hint")

    line = [(0.2, 0.5), (0.5, 0.5), (0.8, 0.5)]
    stroke(page, "sketch-canvas", line)
    drawn = wait_settled(page, "sketch-canvas")
    assert max(canvas_pixel(page, "sketch-canvas", 0.5, 0.5)) < 60, "the stroke left no ink"
    pixels = photo_pixels(page, "sketch-canvas")
    assert pixels.shape[:2] == (128, 128) and pixels.std() > 2.0, "the photo is blank"

    page.keyboard.press("Control+z")   # undo: blank again, no photo
    wait_settled(page, "sketch-canvas")
    assert min(canvas_pixel(page, "sketch-canvas", 0.5, 0.5)) > 200
    assert page.locator("#sketch-canvas img.lc-photo").is_hidden()
    page.keyboard.press("Control+Shift+z")   # redo: the line and a photo again
    wait_settled(page, "sketch-canvas")
    assert max(canvas_pixel(page, "sketch-canvas", 0.5, 0.5)) < 60

    click_tool(page, "sketch-canvas", "[data-tool=eraser]")
    stroke(page, "sketch-canvas", [(0.45, 0.5), (0.55, 0.5)])
    wait_settled(page, "sketch-canvas")
    assert min(canvas_pixel(page, "sketch-canvas", 0.5, 0.5)) > 200, "the eraser left ink"
    assert max(canvas_pixel(page, "sketch-canvas", 0.25, 0.5)) < 60, "the eraser took more than it touched"

    shown = photo_pixels(page, "sketch-canvas")
    with page.expect_download(timeout=TIMEOUT_MS) as download:   # Save gives the photo on screen, as PNG
        click_tool(page, "sketch-canvas", "[data-action=save]")
    saved = Image.open(download.value.path())
    assert saved.format == "PNG" and np.array_equal(np.asarray(saved.convert("RGB"), np.float32), shown)
    assert int(canvas_state(page, "sketch-canvas")["photos"]) > int(drawn["photos"])


def test_updates_arrive_while_the_pen_is_down(page):
    wait_settled(page, "sketch-canvas")
    box = page.locator("#sketch-canvas canvas.lc-canvas").bounding_box()
    before = int(canvas_state(page, "sketch-canvas")["photos"])
    page.mouse.move(box["x"] + 40, box["y"] + 40)
    page.mouse.down()
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    during = 0
    for i in range(10_000):   # keep drawing until two photos came while the pen is still down
        page.mouse.move(box["x"] + 40 + (i * 7) % (box["width"] - 80), box["y"] + 40 + (i * 3) % (box["height"] - 80))
        state = canvas_state(page, "sketch-canvas")
        during = int(state["photos"]) - before
        assert state.get("drawing") == "1"
        if during >= 2 or time.monotonic() > deadline:
            break
        page.wait_for_timeout(20)
    page.mouse.up()
    assert during >= 2, "no photos arrived while drawing"
    wait_settled(page, "sketch-canvas")


def test_touch_random_example_and_upload(page, tmp_path):
    wait_settled(page, "sketch-canvas")
    click_tool(page, "sketch-canvas", "[data-action=clear]")
    wait_settled(page, "sketch-canvas")
    page.evaluate("""() => {   // a finger: pointer events of type touch, as a phone sends them
        const canvas = document.querySelector('#sketch-canvas canvas.lc-canvas');
        const box = canvas.getBoundingClientRect();
        const at = (f) => ({clientX: box.left + box.width * f, clientY: box.top + box.height * 0.3,
                            pointerId: 7, pointerType: 'touch', isPrimary: true, bubbles: true, buttons: 1});
        canvas.dispatchEvent(new PointerEvent('pointerdown', at(0.2)));
        for (const f of [0.3, 0.4, 0.5, 0.6]) canvas.dispatchEvent(new PointerEvent('pointermove', at(f)));
        canvas.dispatchEvent(new PointerEvent('pointerup', at(0.6)));
    }""")
    wait_settled(page, "sketch-canvas")
    assert max(canvas_pixel(page, "sketch-canvas", 0.4, 0.3)) < 60, "a touch stroke left no ink"
    assert page.locator("#sketch-canvas img.lc-photo").is_visible()

    before = int(canvas_state(page, "sketch-canvas")["version"])
    click_tool(page, "sketch-canvas", "[data-action=example]")
    page.wait_for_function("([id, v]) => +document.querySelector(`#${id} .lc`).dataset.version > v",
                           arg=["sketch-canvas", before])
    wait_settled(page, "sketch-canvas")

    drawing = tmp_path / "drawing.png"   # a black square on white, wider than high: fitted, centred
    image = Image.new("RGB", (400, 200), "white")
    image.paste((0, 0, 0), (150, 50, 250, 150))
    image.save(drawing)
    page.locator("#sketch-canvas input[type=file]").set_input_files(str(drawing))
    page.wait_for_function("id => { const c = document.querySelector(`#${id} canvas.lc-canvas`);"
                           " return c.getContext('2d').getImageData(256, 256, 1, 1).data[0] < 60; }",
                           arg="sketch-canvas")
    assert min(canvas_pixel(page, "sketch-canvas", 0.5, 0.2)) > 200, "the upload was not fitted onto paper"
    wait_settled(page, "sketch-canvas")


def test_facade_painted_with_two_classes(page):
    from demos.examples import FACADE_COLORS

    _open_tab(page, "Facade labels")
    opened = wait_settled(page, "facade-canvas")
    assert int(opened["photos"]) >= 1 and "facades_tiny" in page.inner_text("#facade-info")
    click_tool(page, "facade-canvas", "[data-action=clear]")   # all wall
    wait_settled(page, "facade-canvas")
    wall = photo_pixels(page, "facade-canvas")
    click_tool(page, "facade-canvas", "[title=window]")
    stroke(page, "facade-canvas", [(0.2, 0.3), (0.4, 0.3)])
    click_tool(page, "facade-canvas", "[title=door]")
    stroke(page, "facade-canvas", [(0.5, 0.8), (0.5, 0.95)])
    wait_settled(page, "facade-canvas")
    assert tuple(canvas_pixel(page, "facade-canvas", 0.3, 0.3)) == FACADE_COLORS["window"]
    assert tuple(canvas_pixel(page, "facade-canvas", 0.5, 0.88)) == FACADE_COLORS["door"]
    assert tuple(canvas_pixel(page, "facade-canvas", 0.8, 0.5)) == FACADE_COLORS["wall"]
    painted = photo_pixels(page, "facade-canvas")
    assert painted.std() > 2.0 and np.abs(painted - wall).mean() > 0.5, "the photo did not follow the labels"


def test_photo_tabs_open_with_their_example_rendered(page):
    _open_tab(page, "Colorize: patch sizes")
    page.wait_for_function("() => document.querySelectorAll('#colorize-gallery img').length >= 7")
    assert "Original" in page.inner_text("#colorize-gallery")
    assert page.locator("#colorize-input img").count() == 1, "no example photo in the input"
    _open_tab(page, "Style (CycleGAN)")
    page.wait_for_selector("#style-input img")
    page.wait_for_function("() => document.querySelector('#style-output img')?.naturalWidth > 0")
    assert "style_tiny" in page.inner_text("#style-info")


def test_colorize_upload_shows_five_models(page, photo):
    _open_tab(page, "Colorize: patch sizes")
    page.wait_for_function("() => document.querySelectorAll('#colorize-gallery img').length >= 7")
    page.locator("#colorize-input input[type=file]").set_input_files(str(photo))
    page.locator("#colorize-run").click()
    page.wait_for_function("() => { const img = document.querySelector('#colorize-gallery img');"
                           " return img && img.naturalWidth === 320; }")   # the upload's, not the example's
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
    for output in ("#style-output img", "#style-reconstruction img"):   # the upload's size, not the example's
        page.wait_for_function("sel => document.querySelector(sel)?.naturalWidth === 320", arg=output)
    assert _image_pixels(page, "#style-output img").shape[:2] == (240, 320)
    assert "style_tiny" in page.inner_text("#style-info")


def test_training_curve_moves_then_stop(page):
    _open_tab(page, "Train")
    folder = page.locator("#train-dataroot textarea, #train-dataroot input").first
    assert folder.input_value() == "", "the dataset folder starts with a path of this machine"
    folder.fill(str(DATASETS / "facades"))
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
