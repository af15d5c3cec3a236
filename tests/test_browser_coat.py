"""The Coat colour tab in a real browser: `python app.py` with a tiny random StarGAN, in Debian's headless
Chromium. The example is rendered when the tab opens, a click on the framing preview moves the square,
and an uploaded photo starts from the largest centred square."""
import time

import numpy as np
import pytest
from PIL import Image

from app_harness import app_process, launch_chromium, make_tiny_stargan, require_chromium

TIMEOUT_MS = 120_000   # generous: the machine may be busy training

require_chromium()


pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("browser_coat")
    make_tiny_stargan(tmp / "weights")
    env = {"I2I_WEIGHTS_DIR": str(tmp / "weights"), "I2I_RUNS_DIR": str(tmp / "runs"), "I2I_TORCH_THREADS": "1",
           "GRADIO_TEMP_DIR": str(tmp / "gradio"), "SPACE_ID": None, "I2I_ENABLE_TRAINING": "0"}
    with app_process(env, tmp / "app.log") as url:
        with launch_chromium() as browser:
            page = browser.new_page(viewport={"width": 1400, "height": 1300})
            page.set_default_timeout(TIMEOUT_MS)
            page.goto(url, wait_until="load")
            page.get_by_role("tab", name="Coat colour (StarGAN)").click()
            page.tmp = tmp
            yield page


def _number(page, elem_id: str) -> float:
    return float(page.locator(f"#{elem_id} input[type=number]").input_value())


def _crop_source(page) -> str:
    return page.locator("#coat-crop img").get_attribute("src")


def _wait_for_new_crop(page, old: str) -> None:
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    while _crop_source(page) == old:
        assert time.monotonic() < deadline, "the crop was not redrawn"
        time.sleep(0.2)


def test_the_example_is_rendered_when_the_tab_opens(page):
    page.wait_for_function("document.querySelectorAll('#coat-coats img').length >= 4")
    assert page.locator("#coat-reconstructions img").count() >= 4
    assert "coat_tiny" in page.locator("#coat-info").inner_text()
    page.wait_for_selector("#coat-preview img", state="visible")
    assert _crop_source(page)


def test_a_click_on_the_preview_centres_the_square(page):
    before = _crop_source(page)
    preview = page.locator("#coat-preview img")
    box = preview.bounding_box()
    natural = preview.evaluate("img => [img.naturalWidth, img.naturalHeight]")
    scale = min(box["width"] / natural[0], box["height"] / natural[1])     # object-fit: contain
    width, height = natural[0] * scale, natural[1] * scale
    left, top = box["x"] + (box["width"] - width) / 2, box["y"] + (box["height"] - height) / 2
    page.mouse.click(left + width * 0.8, top + height * 0.3)
    page.wait_for_function("Math.abs(Number(document.querySelector('#coat-centre-x input[type=number]').value)"
                           " - 80) < 2")
    assert _number(page, "coat-centre-y") == pytest.approx(30, abs=2)
    _wait_for_new_crop(page, before)


def test_an_uploaded_photo_starts_from_the_centred_square(page):
    pixels = np.zeros((200, 300, 3), np.uint8)
    pixels[:, :150] = (230, 140, 40)
    pixels[:, 150:] = (30, 30, 30)
    path = page.tmp / "two_tone.png"
    Image.fromarray(pixels).save(path)
    before = _crop_source(page)
    page.locator("#coat-input input[type=file]").set_input_files(str(path))
    _wait_for_new_crop(page, before)
    assert (_number(page, "coat-zoom"), _number(page, "coat-centre-x"), _number(page, "coat-centre-y")) == (1, 50, 50)
