"""In-browser inference (issue #15): the vendored onnxruntime-web and the models' browser.onnx served with
caching headers; in headless Chromium a drawing's photo made by the page itself, with no request to the
server, the same picture (within the int8 weights' tolerance) as the server's when the page is forced to
the server with ?inference=server; the page's preprocessing equal to engine.edges.normalize_drawing.

Tiny random models (tests/app_harness.py) with browser files from scripts/export_browser_models.py, their
weights packed as fp16: the tiny models' random weights make int8 packing's error large, and this test is
about the page computing what the server computes (the embedded models' int8 agreement is in their
browser.json).
"""
import gzip
import json
import re
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from app_harness import app_process, launch_chromium, make_tiny_class_sketch_model, make_tiny_models, require_chromium

TIMEOUT_MS = 120_000   # generous: the machine may be busy training
REPO = Path(__file__).resolve().parents[1]
ORT = REPO / "demos" / "static" / "ort"
DRAWINGS = sorted((REPO / "tests" / "data" / "catface_drawings").glob("*.png"))
STROKES = [[(0.2, 0.25), (0.5, 0.2), (0.8, 0.3)], [(0.3, 0.5), (0.5, 0.75), (0.7, 0.5)], [(0.25, 0.8), (0.75, 0.8)]]

require_chromium()

from playwright.sync_api import Page  # noqa: E402

from test_browser import canvas_state, click_tool, photo_pixels, stroke, wait_settled  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> Path:
    from scripts.export_browser_models import export_for_browser

    root = make_tiny_models(tmp_path_factory.mktemp("browser_inference") / "weights")
    make_tiny_class_sketch_model(root)
    for name in ("sketch_tiny", "facade_tiny", "sketch_tiny_coats"):
        export_for_browser(root / name, packing="fp16")
    return root


@pytest.fixture(scope="module")
def app_url(weights):
    tmp = weights.parent
    env = {"I2I_WEIGHTS_DIR": str(weights), "I2I_RUNS_DIR": str(tmp / "runs"), "I2I_TORCH_THREADS": "1",
           "GRADIO_TEMP_DIR": str(tmp / "gradio"), "SPACE_ID": None, "I2I_ENABLE_TRAINING": None,
           "I2I_BROWSER_INFERENCE": None}
    with app_process(env, tmp / "app.log") as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    with launch_chromium() as chromium:
        yield chromium


def open_page(browser, url: str) -> tuple[Page, list[str]]:
    """A fresh page (empty cache) on `url` with the sketch canvas on screen; the URLs it requests."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.goto(url, wait_until="load")
    page.wait_for_selector("#sketch-canvas canvas.lc-canvas")
    return page, requests


def wait_inference(page: Page, mode: str, canvas: str = "sketch-canvas") -> None:
    page.wait_for_function("([id, mode]) => document.querySelector(`#${id} .lc`).dataset.inference === mode",
                           arg=[canvas, mode])


def server_calls(requests: list[str]) -> list[str]:
    return [url for url in requests if "/gradio_api/call/" in url or "/gradio_api/upload" in url]


def draw_fresh(page: Page, canvas: str = "sketch-canvas") -> dict:
    """Clear the canvas, draw STROKES, wait for the photo of the last one; the counters then."""
    click_tool(page, canvas, "[data-action=clear]")
    wait_settled(page, canvas)
    for points in STROKES:
        stroke(page, canvas, points, steps=5)
    return wait_settled(page, canvas)


def fetch(url: str, gzip_ok: bool = True):
    request = urllib.request.Request(url, headers={"Accept-Encoding": "gzip"} if gzip_ok else {})
    with urllib.request.urlopen(request, timeout=60) as response:
        return response.headers, response.read()


def test_the_vendored_runtime_is_the_pinned_wasm_build():
    from scripts.vendor_onnxruntime_web import FILES, VERSION

    about = json.loads((ORT / "VERSION.json").read_text())
    assert about["version"] == VERSION and about["license"] == "MIT"
    on_disk = {p.name: p.stat().st_size for p in ORT.iterdir() if p.name != "VERSION.json"}
    assert on_disk == about["files"]
    assert set(on_disk) == {name + ".gz" if name.endswith(".wasm") else name for name in FILES}
    assert not any("jsep" in name or "webgpu" in name for name in on_disk)
    assert sum(on_disk.values()) < 4_500_000   # measured 3.75 MB
    assert gzip.decompress((ORT / "ort-wasm-simd-threaded.wasm.gz").read_bytes())[:4] == b"\0asm"


def test_runtime_and_model_are_served_with_caching_headers(app_url, weights):
    from demos.browser_models import ort_version

    base = f"{app_url}i2i/ort/{ort_version()}/"
    headers, body = fetch(base + "ort-wasm-simd-threaded.wasm")
    assert headers["Content-Encoding"] == "gzip" and headers["Content-Type"] == "application/wasm"
    assert "immutable" in headers["Cache-Control"] and "max-age=31536000" in headers["Cache-Control"]
    assert gzip.decompress(body)[:4] == b"\0asm"
    headers, body = fetch(base + "ort-wasm-simd-threaded.wasm", gzip_ok=False)
    assert "Content-Encoding" not in headers and body[:4] == b"\0asm"
    headers, body = fetch(base + "ort.wasm.bundle.min.mjs")
    assert headers["Content-Type"].startswith("text/javascript") and "immutable" in headers["Cache-Control"]

    about = json.loads((weights / "sketch_tiny" / "browser.json").read_text())
    model_url = f"{app_url}i2i/models/sketch_tiny/{about['sha256'][:16]}.onnx"
    headers, body = fetch(model_url)
    assert headers["Content-Encoding"] == "gzip" and "immutable" in headers["Cache-Control"]
    assert gzip.decompress(body) == (weights / "sketch_tiny" / "browser.onnx").read_bytes()
    headers, _ = fetch(f"{app_url}i2i/in_browser.js")
    assert headers["Cache-Control"] == "no-cache"
    for missing in (f"{app_url}i2i/models/sketch_tiny/0123456789abcdef.onnx", f"{app_url}i2i/models/nope/x.onnx",
                    f"{app_url}i2i/ort/0.0.1/ort.wasm.bundle.min.mjs", base + "VERSION.json.gz", base + "..%2Fcanvas.py"):
        with pytest.raises(urllib.error.HTTPError, match="404"):
            fetch(missing)


def test_a_model_is_offered_only_with_browser_files_of_its_current_weights(weights, monkeypatch, tmp_path):
    import shutil

    from demos.browser_models import ENABLE_ENV, browser_model
    from demos.models import ModelEntry

    copy = tmp_path / "sketch_tiny"
    shutil.copytree(weights / "sketch_tiny", copy)
    entry = ModelEntry(name="sketch_tiny", task="pix2pix", tab="sketch", title="", path=copy)
    spec = browser_model(entry)
    assert spec["url"].startswith("i2i/models/sketch_tiny/") and spec["size"] == 128
    assert spec["thin_drawings"] is True and spec["preprocess"] == "drawing"
    facade = ModelEntry(name="facade_tiny", task="pix2pix", tab="facade", title="", path=weights / "facade_tiny")
    assert browser_model(facade)["preprocess"] == "labels" and len(browser_model(facade)["palette"]) == 12
    monkeypatch.setenv(ENABLE_ENV, "0")
    assert browser_model(entry) is None
    monkeypatch.delenv(ENABLE_ENV)
    with open(copy / "model.safetensors", "ab") as f:   # retrained: the ONNX file is stale
        f.write(b"\0")
    assert browser_model(entry) is None


def test_a_drawing_becomes_a_photo_in_the_page_without_the_server(browser, app_url):
    page, requests = open_page(browser, app_url)
    wait_inference(page, "browser")
    assert page.inner_text("#sketch-canvas .lc-where") == "running in your browser"
    wait_settled(page, "sketch-canvas")
    before = canvas_state(page, "sketch-canvas")
    calls_before = len(server_calls(requests))
    after = draw_fresh(page)
    assert after["where"] == "browser" and int(after["photos"]) >= int(before["photos"]) + 3
    assert server_calls(requests)[calls_before:] == [], "the server was asked for a photo"
    in_page = photo_pixels(page, "sketch-canvas")

    server_page, server_requests = open_page(browser, app_url + "?inference=server")
    wait_inference(server_page, "server")
    assert server_page.inner_text("#sketch-canvas .lc-where") == "running on the server"
    assert draw_fresh(server_page)["where"] == "server"
    assert len(server_calls(server_requests)) >= 2 * len(STROKES)   # an upload and a call per photo at least
    assert not any("/i2i/models/" in url for url in server_requests)
    from_server = photo_pixels(server_page, "sketch-canvas")
    assert in_page.shape == from_server.shape
    difference = np.abs(in_page - from_server)
    assert difference.mean() < 0.5 and np.percentile(difference, 99) < 3, (difference.mean(), difference.max())
    page.context.close()
    server_page.context.close()


def test_a_coat_picked_for_a_class_model_is_painted_in_the_page_as_on_the_server(browser, app_url):
    """The Class picker appears for a model with a class input; the page feeds the picked coat's one-hot
    planes to the model itself, and paints what the server paints for that coat."""
    photos = {}
    for mode, query in (("browser", ""), ("server", "?inference=server")):
        page, requests = open_page(browser, app_url + query)
        assert not page.locator("#sketch-class").is_visible()
        page.locator("#sketch-model input").click()
        page.get_by_role("option", name=re.compile("sketch tiny coats")).click()
        page.wait_for_function("() => document.querySelector('#sketch-info').innerText.includes('sketch_tiny_coats')")
        wait_inference(page, mode)
        page.locator("#sketch-class").get_by_label("the model's choice").wait_for()
        draw_fresh(page)
        own_choice = photo_pixels(page, "sketch-canvas")
        calls_before = len(server_calls(requests))
        version = int(canvas_state(page, "sketch-canvas")["version"])
        page.locator("#sketch-class").get_by_label("ginger").check()
        page.wait_for_function("([v]) => Number(document.querySelector('#sketch-canvas .lc').dataset.version) > v",
                               arg=[version])
        assert wait_settled(page, "sketch-canvas")["where"] == mode
        assert (len(server_calls(requests)) == calls_before) == (mode == "browser")
        photos[mode] = photo_pixels(page, "sketch-canvas")
        assert np.abs(photos[mode] - own_choice).mean() > 5, "the photo did not change with the coat"
        page.context.close()
    difference = np.abs(photos["browser"] - photos["server"])
    assert difference.mean() < 0.5 and np.percentile(difference, 99) < 3, (difference.mean(), difference.max())


def test_a_facade_label_map_is_painted_in_the_page_as_on_the_server(browser, app_url):
    photos = {}
    for mode, query in (("browser", ""), ("server", "?inference=server")):
        page, requests = open_page(browser, app_url + query)
        page.get_by_role("tab", name="Facade labels").click()
        wait_inference(page, mode, "facade-canvas")
        wait_settled(page, "facade-canvas")
        calls_before = len(server_calls(requests))
        click_tool(page, "facade-canvas", "[title=door]")
        assert draw_fresh(page, "facade-canvas")["where"] == mode
        assert (len(server_calls(requests)) == calls_before) == (mode == "browser")
        photos[mode] = photo_pixels(page, "facade-canvas")
        page.context.close()
    difference = np.abs(photos["browser"] - photos["server"])
    assert difference.mean() < 0.5 and np.percentile(difference, 99) < 3, (difference.mean(), difference.max())


@pytest.mark.parametrize("thin", [False, True])
def test_the_page_normalizes_drawings_as_the_server_does(browser, app_url, thin):
    from engine.edges import normalize_drawing

    page, _ = open_page(browser, app_url)
    for path in DRAWINGS[:4]:
        drawing = Image.open(path).convert("RGB").resize((128, 128), Image.Resampling.BICUBIC)
        rgba = np.asarray(drawing.convert("RGBA")).ravel().tolist()
        in_page = page.evaluate("""async ([rgba, thin]) => {
            const module = await import(new URL('i2i/in_browser.js', location.href).href);
            return Array.from(module.normalizeDrawing(Uint8ClampedArray.from(rgba), 128, 128, thin)); }""",
                                [rgba, thin])
        expected = np.asarray(normalize_drawing(drawing, thin=thin)).ravel()
        assert np.array_equal(np.asarray(in_page, np.uint8), expected), path.name
    page.context.close()


def test_with_in_browser_inference_off_the_server_draws_and_the_badge_says_so(browser, weights):
    tmp = weights.parent
    env = {"I2I_WEIGHTS_DIR": str(weights), "I2I_RUNS_DIR": str(tmp / "runs_off"), "I2I_TORCH_THREADS": "1",
           "GRADIO_TEMP_DIR": str(tmp / "gradio_off"), "SPACE_ID": None, "I2I_ENABLE_TRAINING": None,
           "I2I_BROWSER_INFERENCE": "0"}
    with app_process(env, tmp / "app_off.log") as url:
        page, requests = open_page(browser, url)
        wait_inference(page, "server")
        badge = page.locator("#sketch-canvas .lc-where")
        assert badge.inner_text() == "running on the server"
        assert badge.get_attribute("title") == "this model has no in-browser version"
        assert draw_fresh(page)["where"] == "server" and server_calls(requests)
        assert not any("/i2i/" in request for request in requests)
        page.context.close()
