"""The real app with the embedded models: a cat face drawn stroke by stroke with the mouse on the Sketch
canvas, in Debian's headless Chromium, comes back as a cat-face photo from the default model, with
photos arriving while the pen is down; it paints the coat picked in the Class picker, which a model
without a class input hides.

Unlike tests/test_browser.py (tiny models), this runs `python app.py` on weights/ as a user gets it.
"""
import math
import re

import numpy as np
import pytest

from app_harness import app_process, launch_chromium, require_chromium

TIMEOUT_MS = 120_000   # generous: the machine may be busy training
DEFAULT_SKETCH_MODEL = "sketch2catface_coats"

require_chromium()


from test_browser import click_tool, photo_pixels, stroke, wait_settled  # noqa: E402

pytestmark = pytest.mark.slow


def _ellipse(cx, cy, rx, ry, start=0.0, end=2 * math.pi, n=28):
    return [(cx + rx * math.cos(start + (end - start) * i / n), cy + ry * math.sin(start + (end - start) * i / n))
            for i in range(n + 1)]


# A cat face as a person draws it, in fractions of the canvas: head, ears, eyes, nose, mouth, whiskers.
CAT_FACE_STROKES = [
    _ellipse(0.5, 0.56, 0.33, 0.28, math.radians(-55), math.radians(235)),   # head, open at the ears
    [(0.31, 0.34), (0.24, 0.10), (0.43, 0.29)],                              # left ear
    [(0.57, 0.29), (0.76, 0.10), (0.69, 0.34)],                              # right ear
    [(0.43, 0.29), (0.57, 0.29)],                                            # top of the head
    _ellipse(0.38, 0.50, 0.055, 0.045, n=16),                                # eyes
    _ellipse(0.62, 0.50, 0.055, 0.045, n=16),
    [(0.47, 0.62), (0.53, 0.62), (0.50, 0.66), (0.47, 0.62)],               # nose
    [(0.50, 0.66), (0.50, 0.70), (0.45, 0.73)], [(0.50, 0.70), (0.55, 0.73)],  # mouth
    [(0.36, 0.64), (0.12, 0.60)], [(0.36, 0.67), (0.13, 0.70)],              # whiskers
    [(0.64, 0.64), (0.88, 0.60)], [(0.64, 0.67), (0.87, 0.70)],
]


def _assert_face_unlike_background(pixels):
    """A cat in front of a background: the face region's mean colour differs from the left and right
    borders'. Returns the face's mean colour."""
    height, width, _ = pixels.shape
    face = pixels[height * 2 // 5: height * 4 // 5, width // 3: width * 2 // 3].reshape(-1, 3).mean(0)
    border = np.concatenate([pixels[:, : width // 12].reshape(-1, 3), pixels[:, -width // 12:].reshape(-1, 3)]).mean(0)
    assert np.abs(face - border).max() > 12, f"face {face} and background {border} look the same"
    return face


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("browser_catface")
    env = {"I2I_WEIGHTS_DIR": None, "I2I_RUNS_DIR": str(tmp / "runs"), "GRADIO_TEMP_DIR": str(tmp / "gradio"),
           "I2I_TORCH_THREADS": "1", "SPACE_ID": None, "I2I_ENABLE_TRAINING": None}
    with app_process(env, tmp / "app.log") as url:
        with launch_chromium() as browser:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(TIMEOUT_MS)
            page.goto(url, wait_until="load")
            page.wait_for_selector("#sketch-canvas canvas.lc-canvas")
            yield page


def test_a_drawn_cat_face_becomes_a_cat_face_photo(page):
    assert int(wait_settled(page, "sketch-canvas")["photos"]) >= 1, "the tab opens without its example's photo"
    click_tool(page, "sketch-canvas", "[data-action=clear]")
    wait_settled(page, "sketch-canvas")
    page.evaluate("""() => { const lc = document.querySelector('#sketch-canvas .lc');
        window.__photosWhileDrawing = 0;
        new MutationObserver(() => { if (lc.dataset.drawing) window.__photosWhileDrawing += 1; })
            .observe(lc, {attributes: true, attributeFilter: ['data-photos']}); }""")
    for points in CAT_FACE_STROKES:   # stroke by stroke, each one slow enough for the photo to follow
        stroke(page, "sketch-canvas", points, steps=6)
    wait_settled(page, "sketch-canvas")
    during = page.evaluate("() => window.__photosWhileDrawing")   # photos shown while the pen was down
    assert during >= 3, f"only {during} photos arrived while the pen was down"
    assert DEFAULT_SKETCH_MODEL in page.inner_text("#sketch-info")
    pixels = photo_pixels(page, "sketch-canvas")
    height, width, _ = pixels.shape
    assert height >= 128 and pixels.std() > 20, "a flat photo"
    face = _assert_face_unlike_background(pixels)
    # colored like a photo, not grey: some pixels carry real chroma
    chroma = pixels.max(-1) - pixels.min(-1)
    assert np.percentile(chroma, 90) > 25, "a grey photo"
    # the drawn lines are not painted back as white streaks: pixels on the eyes' outlines are not brighter
    # than the face around them
    eye_ring = [(int(y * height), int(x * width)) for x, y in CAT_FACE_STROKES[4][::4]]
    ring = np.mean([pixels[y, x].mean() for y, x in eye_ring])
    assert ring < face.mean() + 10, f"drawn eye lines came out light ({ring:.0f} vs face {face.mean():.0f})"


def test_the_coat_picked_is_the_coat_painted_and_a_model_without_coats_hides_the_picker(page):
    """The default model opens with its Class picker at the black coat; the white coat for the same drawing,
    made in the page, comes back as a clearly lighter cat face. Picking sketch2catface (no class input) in
    the Model menu hides the picker."""
    wait_settled(page, "sketch-canvas")
    picker = page.locator("#sketch-class")
    assert picker.is_visible() and picker.get_by_label("black").is_checked()
    page.wait_for_function("() => document.querySelector('#sketch-canvas .lc-where').innerText"
                           " === 'running in your browser'")
    wait_settled(page, "sketch-canvas")
    faces = {"black": _assert_face_unlike_background(photo_pixels(page, "sketch-canvas"))}
    version = int(page.locator("#sketch-canvas .lc").get_attribute("data-version"))
    picker.get_by_label("white").check()
    page.wait_for_function("([v]) => Number(document.querySelector('#sketch-canvas .lc').dataset.version) > v",
                           arg=[version])
    assert wait_settled(page, "sketch-canvas")["where"] == "browser"
    faces["white"] = _assert_face_unlike_background(photo_pixels(page, "sketch-canvas"))
    assert faces["white"].mean() > faces["black"].mean() + 30, faces

    page.locator("#sketch-model input").click()
    page.get_by_role("option", name=re.compile(r"^Sketch → cat face \(pix2pix")).click()
    page.wait_for_function("() => document.querySelector('#sketch-info').innerText.includes('(`sketch2catface`)')"
                           " || document.querySelector('#sketch-info').innerText.includes('(sketch2catface)')")
    picker.wait_for(state="hidden")
    wait_settled(page, "sketch-canvas")
    _assert_face_unlike_background(photo_pixels(page, "sketch-canvas"))
