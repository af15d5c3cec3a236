"""The One image tab in Debian's headless Chromium: a run trained from one photo opens on the live canvas
with its own edges and their photo; a drawn stroke changes the photo near it; 🎲 puts the edges back."""
import numpy as np
import pytest

from app_harness import app_process, launch_chromium, make_tiny_models, require_chromium
from test_one_image_app import make_one_image_run

TIMEOUT_MS = 180_000   # generous: the machine may be busy training
CANVAS = "one-image-canvas"

require_chromium()


from test_browser import click_tool, photo_pixels, stroke, wait_settled  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("browser_one_image")
    make_one_image_run(tmp / "runs", tmp / "photos", name="one_image_browser", size=128)   # 128 px: it has edges
    env = {"I2I_WEIGHTS_DIR": str(make_tiny_models(tmp / "weights")), "I2I_RUNS_DIR": str(tmp / "runs"),
           "GRADIO_TEMP_DIR": str(tmp / "gradio"), "I2I_TORCH_THREADS": "1", "SPACE_ID": None,
           "I2I_ENABLE_TRAINING": None}
    with app_process(env, tmp / "app.log", timeout=240) as url:
        with launch_chromium() as browser:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(TIMEOUT_MS)
            page.goto(url, wait_until="load")
            page.get_by_role("tab", name="One image").click()
            page.wait_for_selector(f"#{CANVAS} canvas.lc-canvas")
            yield page


def test_drawing_on_the_trained_run_changes_its_photo(page):
    state = wait_settled(page, CANVAS)
    assert int(state.get("photos", 0)) >= 1, f"the run's own edges were not rendered: {state}, " \
                                              f"{page.inner_text(f'#{CANVAS} .lc-status')!r}"
    before = photo_pixels(page, CANVAS).astype(np.int16)
    page.locator(f"#{CANVAS} canvas.lc-canvas").scroll_into_view_if_needed()   # below the training row
    stroke(page, CANVAS, [(0.15, 0.85), (0.35, 0.75), (0.55, 0.88)], steps=6)
    wait_settled(page, CANVAS)
    after = photo_pixels(page, CANVAS).astype(np.int16)
    assert after.shape == before.shape
    height, width, _ = after.shape
    delta = np.abs(after - before).max(-1)
    near = delta[int(0.65 * height):int(0.95 * height), int(0.1 * width):int(0.6 * width)]
    assert near.max() > 4, "the stroke did not change the photo"
    far = delta[: int(0.3 * height), int(0.7 * width):]
    assert far.mean() < near.mean(), "the change is not near the stroke"
    version = int(wait_settled(page, CANVAS)["version"])
    click_tool(page, CANVAS, "[data-action=example]")     # the run's own edges again
    page.wait_for_function("([id, v]) => Number(document.querySelector(`#${id} .lc`).dataset.version) > v",
                           arg=[CANVAS, version])
    wait_settled(page, CANVAS)
    again = photo_pixels(page, CANVAS).astype(np.int16)
    assert np.abs(again - before).mean() < np.abs(after - before).mean()
