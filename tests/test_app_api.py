"""The Gradio app end to end through its API: launched in-process on a free 127.0.0.1 port with tiny
randomly initialized models (I2I_WEIGHTS_DIR), every named endpoint called with gradio_client, and a
tiny training job on facades started, watched and stopped."""
import json
import os
import time
from pathlib import Path

import sys

import numpy as np
import pytest

from conftest import DATASETS, REPO
from app_harness import make_tiny_models, running_app

if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

gradio = pytest.importorskip("gradio")
from gradio_client import handle_file  # noqa: E402
from gradio_client.exceptions import AppError  # noqa: E402
from PIL import Image  # noqa: E402

ENDPOINTS = ("/sketch", "/facade", "/colorize", "/compare_patches", "/stylize", "/train_start", "/train_status",
             "/train_stop")
FACADES = DATASETS / "facades"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("app")
    env = {"I2I_WEIGHTS_DIR": str(make_tiny_models(tmp / "weights")), "I2I_RUNS_DIR": str(tmp / "runs"),
           "I2I_DATA_ROOTS": os.pathsep.join([str(DATASETS), str(tmp / "data")]), "I2I_TRAIN_THREADS": "1",
           "SPACE_ID": None, "I2I_ENABLE_TRAINING": None}
    with running_app(env) as (url, _):
        yield {"url": url, "tmp": tmp}


@pytest.fixture(scope="module")
def inputs(server):
    from demos.examples import example_photo, random_doodle, random_facade

    folder = server["tmp"] / "inputs"
    folder.mkdir()
    paths = {
        "doodle1": random_doodle(1).resize((300, 200)),
        "doodle2": random_doodle(2).resize((300, 200)),
        "facade1": random_facade(1, size=(200, 256)),
        "facade2": random_facade(2, size=(200, 256)),
        "photo1": example_photo(1, size=(320, 240)),
        "photo2": example_photo(2, size=(320, 240)),
    }
    out = {}
    for name, image in paths.items():
        out[name] = folder / f"{name}.png"
        image.save(out[name])
    out["rgba"] = folder / "rgba.png"   # black ink on a transparent canvas: read as paper, not black
    ink = 255 - np.asarray(Image.open(out["doodle1"]).convert("L"))
    rgba = np.zeros(ink.shape + (4,), np.uint8)
    rgba[:, :, 3] = ink
    Image.fromarray(rgba, "RGBA").save(out["rgba"])
    out["bad"] = folder / "notes.png"
    out["bad"].write_text("this is not an image")
    out["truncated"] = folder / "truncated.png"
    out["truncated"].write_bytes(out["photo1"].read_bytes()[:200])
    return out


def _pixels(path) -> np.ndarray:
    image = Image.open(path)
    assert image.format == "PNG", f"{path} is {image.format}, not PNG"
    return np.asarray(image.convert("RGB"), dtype=np.float32)


def _assert_image(path, size, *, min_std=2.0) -> np.ndarray:
    pixels = _pixels(path)
    assert (pixels.shape[1], pixels.shape[0]) == size
    assert pixels.std() > min_std, "output is blank"
    return pixels


def _assert_clean_error(excinfo, *fragments):
    message = str(excinfo.value)
    assert "\n" not in message and "Traceback" not in message, message
    assert 0 < len(message) <= 300
    for fragment in fragments:
        assert fragment in message, message


def test_named_endpoints(client):
    named = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert set(ENDPOINTS) <= set(named), sorted(named)


def test_sketch(client, inputs):
    first = _assert_image(client.predict(handle_file(inputs["doodle1"]), api_name="/sketch"), (300, 200))
    second = _assert_image(client.predict(handle_file(inputs["doodle2"]), "sketch_tiny", api_name="/sketch"),
                           (300, 200))
    assert np.abs(first - second).mean() > 1.0, "the photo does not change with the drawing"
    rgba = _pixels(client.predict(handle_file(inputs["rgba"]), api_name="/sketch"))
    assert np.abs(rgba - first).mean() < 2.0, "a transparent canvas must read as white paper"


def test_facade(client, inputs):
    first = _assert_image(client.predict(handle_file(inputs["facade1"]), api_name="/facade"), (200, 256))
    second = _assert_image(client.predict(handle_file(inputs["facade2"]), api_name="/facade"), (200, 256))
    assert np.abs(first - second).mean() > 1.0


def test_colorize(client, inputs):
    first = _assert_image(client.predict(handle_file(inputs["photo1"]), api_name="/colorize"), (320, 240))
    second = _assert_image(client.predict(handle_file(inputs["photo2"]), "colorize_l1", api_name="/colorize"),
                           (320, 240))
    assert np.abs(first - second).mean() > 1.0


def test_compare_patches(client, inputs):
    gallery, caption = client.predict(handle_file(inputs["photo1"]), False, api_name="/compare_patches")
    captions = [item["caption"] for item in gallery]
    assert len(gallery) == 2 + 5 and captions[:2] == ["Original", "Input: lightness only"]
    order = ["L1 only", "1×1", "16×16", "70×70", "286×286"]
    for text, expected in zip(captions[2:], order):
        assert expected in text, captions
    for item in gallery:
        _assert_image(item["image"], (320, 240))
    for field in ("1×1", "16×16", "70×70", "286×286", "can penalize", "cannot penalize"):
        assert field in caption
    with_maps, caption_maps = client.predict(handle_file(inputs["photo1"]), True, api_name="/compare_patches")
    assert "D: real" in caption_maps
    plain_l1, maps_l1 = _pixels(gallery[2]["image"]), _pixels(with_maps[2]["image"])
    assert np.abs(plain_l1 - maps_l1).mean() < 1e-6, "an L1-only model has no discriminator map"
    plain, tinted = _pixels(gallery[5]["image"]), _pixels(with_maps[5]["image"])
    assert np.abs(plain - tinted).mean() > 5.0, "the 70x70 output is not overlaid with its patch map"


def test_stylize(client, inputs):
    fake, reverse, recon, info = client.predict(handle_file(inputs["photo1"]), api_name="/stylize")
    images = [_assert_image(p, (320, 240)) for p in (fake, reverse, recon)]
    assert "style_tiny" in info
    fake2, *_ = client.predict(handle_file(inputs["photo2"]), "style_tiny", "BtoA", api_name="/stylize")
    assert np.abs(_pixels(fake2) - images[0]).mean() > 1.0


@pytest.mark.parametrize("endpoint", ["/sketch", "/facade", "/colorize", "/stylize", "/compare_patches"])
def test_bad_upload_is_one_clean_line(client, inputs, endpoint):
    with pytest.raises(AppError) as excinfo:
        client.predict(handle_file(inputs["bad"]), api_name=endpoint)
    _assert_clean_error(excinfo, "notes.png")
    assert "/tmp" not in str(excinfo.value), "the message shows a server path"


def test_truncated_upload_and_unknown_model(client, inputs):
    with pytest.raises(AppError) as excinfo:
        client.predict(handle_file(inputs["truncated"]), api_name="/colorize")
    _assert_clean_error(excinfo, "truncated.png")
    with pytest.raises(AppError) as excinfo:
        client.predict(handle_file(inputs["doodle1"]), "no_such_model", api_name="/sketch")
    _assert_clean_error(excinfo, "no_such_model", "sketch_tiny")
    with pytest.raises(AppError) as excinfo:
        client.predict(handle_file(inputs["photo1"]), "", "sideways", api_name="/stylize")
    _assert_clean_error(excinfo, "direction")


def _status(client) -> dict:
    status, summary, _plot, _sample = client.predict(api_name="/train_status")
    assert isinstance(status, dict) and status["state"].upper() in summary
    return status


def _wait(client, until, timeout=40.0) -> dict:
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        status = _status(client)
        if not seen or seen[-1] != status["state"]:
            seen.append(status["state"])
        if until(status):
            return status
        time.sleep(0.3)
    raise AssertionError(f"training status never got there; states seen: {seen}; last: {json.dumps(status)}")


def test_training_start_status_stop(client):
    with pytest.raises(AppError) as excinfo:
        client.predict(dataroot="/etc", api_name="/train_start")
    _assert_clean_error(excinfo, "dataset folder must be inside")

    tiny = dict(task="pix2pix", dataroot=str(FACADES), preset="CPU-tiny", ngf=4, crop_size=64, net_g="unet_6",
                direction="BtoA", batch_size=1)
    status, *_ = client.predict(name="tiny", max_steps=4, api_name="/train_start", **tiny)
    assert status["state"] in ("starting", "running") and status["total_steps"] == 4
    done = _wait(client, lambda s: s["state"] not in ("starting", "running"))
    assert done["state"] == "done", done
    assert done["step"] == 4 and done["progress"] == 1.0 and done["device"]
    assert set(done["losses"]) >= {"G_GAN", "G_L1", "D_real", "D_fake"}
    assert done["model_dir"] and (Path(done["model_dir"]) / "config.json").is_file()
    _status_tuple = client.predict(api_name="/train_status")
    plot, sample = _status_tuple[2], _status_tuple[3]
    assert sample and Image.open(sample).size[0] > 64, "no sample grid"
    assert "G_L1" in json.dumps(plot), "the loss curve is empty"

    # a long job: it runs, a second one is queued meanwhile (and cancelled), and Stop ends it with a checkpoint
    status, *_ = client.predict(name="long", max_steps=100000, api_name="/train_start", **tiny)
    assert status["name"] == "long"
    queued, *_ = client.predict(name="other", max_steps=4, api_name="/train_start", **tiny)
    assert queued["state"] == "queued" and queued["name"] == "other" and queued["position"] == 1
    cancelled, *_ = client.predict(name="other", api_name="/train_stop")
    assert cancelled["state"] == "cancelled" and _status(client)["queue"] == []
    running = _wait(client, lambda s: s["state"] == "running" and s["step"] >= 5)
    assert running["eta_seconds"] is not None and running["eta_seconds"] > 0
    stopping, *_ = client.predict(api_name="/train_stop")
    assert stopping["state"] in ("stopping", "stopped")
    stopped = _wait(client, lambda s: s["state"] not in ("running", "stopping"))
    assert stopped["state"] == "stopped", stopped
    assert stopped["step"] < 100000 and stopped["model_dir"]
    again, *_ = client.predict(api_name="/train_stop")
    assert again["state"] == "stopped"


def test_failed_job_leaves_app_running(client, server):
    empty = server["tmp"] / "data" / "empty"
    empty.mkdir(parents=True)
    status, *_ = client.predict(task="colorization", dataroot=str(empty), max_steps=4, ngf=4, crop_size=64,
                                net_g="unet_6", api_name="/train_start")
    failed = _wait(client, lambda s: s["state"] not in ("starting", "running"))
    assert failed["state"] == "failed" and "no images" in failed["message"], failed
    assert "\n" not in failed["message"]
    _status(client)   # the app still answers


def test_training_disabled_on_spaces(monkeypatch):
    from demos.training import manager, training_enabled

    monkeypatch.setenv("SPACE_ID", "someone/studio")
    monkeypatch.delenv("I2I_ENABLE_TRAINING", raising=False)
    enabled, why = training_enabled()
    assert not enabled and "disabled" in why
    with pytest.raises(ValueError, match="disabled"):
        manager.start(dataroot=str(FACADES))
    monkeypatch.setenv("I2I_ENABLE_TRAINING", "1")
    assert training_enabled()[0]


def test_tabs_without_models_show_a_message(server, monkeypatch, tmp_path):
    from demos import colorize, sketch, style
    from demos.models import registry

    monkeypatch.setenv("I2I_WEIGHTS_DIR", str(tmp_path))
    registry.refresh()
    try:
        assert "No sketch model" in sketch.model_info("sketch", None)
        assert "No colorization model" in colorize.caption_table(colorize.sorted_models())
        assert style.stylize_ui(None, None, "AtoB")[3].startswith("**No style")
        # the example photo's change event on page load: the message, not an error toast
        assert style.stylize_ui(str(style.STYLE_EXAMPLE), None, "AtoB")[3].startswith("**No style")
        with pytest.raises(gradio.Error, match="no sketch model"):
            sketch.sketch_api(None)
    finally:
        monkeypatch.undo()
        registry.refresh()


def test_models_come_from_the_zoo_when_no_weights_dir_is_set(server, monkeypatch, tmp_path):
    zoo = pytest.importorskip("engine.zoo")
    from demos.models import registry

    manifest = tmp_path / "manifest.json"
    entries = [{"name": "zoo_sketch", "task": "pix2pix", "tab": "sketch", "title": "Zoo sketch",
                "path": str(server["tmp"] / "weights" / "sketch_tiny"), "source": "embedded"}]
    manifest.write_text(json.dumps({"format_version": 1, "models": entries}))
    monkeypatch.delenv("I2I_WEIGHTS_DIR")
    monkeypatch.setenv("I2I_MANIFEST", str(manifest))
    monkeypatch.setenv("I2I_CACHE_DIR", str(tmp_path / "cache"))
    registry.refresh()
    try:
        models = registry.models("sketch")
        assert [(m.name, m.title, m.source) for m in models][:1] == [("zoo_sketch", "Zoo sketch", "zoo")]
        from demos.examples import random_doodle
        assert registry.translator(models[0]).translate(random_doodle(3, size=128)).size == (128, 128)
    finally:
        monkeypatch.undo()
        registry.refresh()
        zoo.clear_memory_cache()


def test_random_sketch_draws_a_cat_for_a_cat_model(server, monkeypatch):
    from demos import sketch
    from demos.catface_drawings import DESIGNS, drawing
    from demos.examples import random_doodle
    from demos.models import registry

    entry = registry.get("sketch", None)
    monkeypatch.setattr(entry, "description", "Sketch -> cat photo")
    monkeypatch.setattr(sketch.random, "randrange", lambda _: 25)
    cat, other = np.asarray(drawing(25 % len(DESIGNS), seed=25)), np.asarray(random_doodle(25, 512))
    assert np.array_equal(np.asarray(sketch.random_sketch(entry.name)), cat)
    assert not np.array_equal(cat, np.asarray(drawing(25 % len(DESIGNS))))   # a new variation, not the eval set
    monkeypatch.setattr(entry, "description", "Sketch -> shoe photo")
    assert np.array_equal(np.asarray(sketch.random_sketch(entry.name)), other)
    assert sketch.random_sketch("no_such_model").size == (512, 512)


def test_canvas_follows_the_model_picker(server):
    """Choosing a model points the live canvas at it (name and input size) and describes it."""
    from demos import sketch
    from demos.models import registry

    entry = registry.get("facade", None)
    update, info, classes = sketch.select_model("facade", entry.name)
    assert (update.props["model"], update.props["size"]) == (entry.name, 128) and "facades_tiny" in info
    assert classes.visible is False   # a model without a class input hides the class picker
    update, info, classes = sketch.select_model("sketch", "no_such_model")
    assert update.props["model"] == "no_such_model" and "sketch_tiny" in info


def test_canvas_example_is_a_png_data_url():
    from demos.canvas import data_url, live_canvas

    canvas = live_canvas("sketch", model="m", size=128, example=lambda model: Image.new("RGB", (64, 64), "white"))
    url = canvas.random_example("m")
    assert url.startswith("data:image/png;base64,") and url == data_url(Image.new("RGB", (64, 64), "white"))
    assert (canvas.props["endpoint"], canvas.props["size"], canvas.props["mode"]) == ("sketch", 128, "ink")


def test_saved_results_are_pruned(monkeypatch, tmp_path):
    from demos import render

    monkeypatch.setattr(render, "_SAVE_DIR", tmp_path)
    monkeypatch.setattr(render, "_last_prune", 0.0)
    old, recent = tmp_path / "old", tmp_path / "recent"
    for folder, age in ((old, render.SAVED_TTL_S + 60), (recent, render.SAVED_TTL_S - 60)):
        folder.mkdir()
        (folder / "photo.png").write_bytes(b"png")
        os.utime(folder, (time.time() - age,) * 2)
    path = Path(render.save_png(Image.new("RGB", (8, 8)), "photo"))
    assert path.is_file() and not old.exists() and recent.exists()
    os.utime(recent, (time.time() - render.SAVED_TTL_S - 60,) * 2)
    render.save_png(Image.new("RGB", (8, 8)))   # within a minute of the last sweep: no new sweep
    assert recent.exists()


def test_app_cleans_gradio_cache():
    import app

    frequency, age = app.build_app().delete_cache
    assert 0 < frequency <= age
