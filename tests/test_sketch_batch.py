"""Batched /sketch and /facade (Gradio batch=True, I2I_MAX_BATCH): concurrent API calls answered together,
each with the photo of its own drawing at its own size; in a batch a bad upload gets no photo instead of
failing the others, alone it gets its one-line error. The load generator's HTTP-API client
(benchmarks/load_sketch.py --client http) gets the same photos; the app's PNGs stay lossless; Gradio's
monitoring summary is not rebuilt after every call (issue #15's API throughput)."""
import os
import threading
import time
import zlib
from pathlib import Path

import gradio
import numpy as np
import pytest
from PIL import Image

from app_harness import make_tiny_class_sketch_model, make_tiny_models, running_app


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sketch_batch")
    weights = make_tiny_models(tmp / "weights")
    make_tiny_class_sketch_model(weights)
    from demos import sketch

    batch = sketch.BATCH
    sketch.BATCH = 4   # the app built below batches up to 4 concurrent calls
    try:
        with running_app({"I2I_WEIGHTS_DIR": str(weights), "I2I_RUNS_DIR": str(tmp / "runs")}) as (url, demo):
            yield {"url": url, "tmp": tmp, "demo": demo}
    finally:
        sketch.BATCH = batch


def drawing(tmp, seed: int, size: tuple[int, int]) -> str:
    from demos.examples import random_doodle

    path = tmp / f"doodle{seed}.png"
    random_doodle(seed, size=256).resize(size).save(path)
    return str(path)


def test_a_batch_answers_every_call_with_its_own_photo(server):
    from demos import sketch

    sizes = [(300, 200), (128, 128), (200, 260)]
    paths = [drawing(server["tmp"], seed, size) for seed, size in enumerate(sizes)]
    [photos] = sketch.sketch_batch(paths, ["", "sketch_tiny", ""])
    assert [Image.open(p).size for p in photos] == sizes
    alone = Image.open(sketch.sketch_api(paths[0]))
    assert np.array_equal(np.asarray(alone), np.asarray(Image.open(photos[0])))   # batching changes nothing


def test_a_class_input_model_paints_the_class_each_call_asks_for(server):
    """A sketch model with a class input (a coat): each call of a batch gets its own class, "" the model's
    own choice; the picker offers the classes; a class the model lacks is a one-line error."""
    from demos import sketch

    path = drawing(server["tmp"], 5, (128, 128))
    [photos] = sketch.sketch_batch([path] * 3, ["sketch_tiny_coats"] * 3, ["ginger", "", "white"])
    ginger, none, white = (np.asarray(Image.open(p), float) for p in photos)
    assert np.abs(ginger - none).max() > 0 and np.abs(ginger - white).max() > 0
    alone = np.asarray(Image.open(sketch.sketch_api(path, "sketch_tiny_coats", "ginger")), float)
    assert np.abs(alone - ginger).mean() < np.abs(white - ginger).mean() / 20   # batch arithmetic aside, the same
    _, _, picker = sketch.select_model("sketch", "sketch_tiny_coats")
    assert picker.visible is True and [value for _, value in picker.choices] == ["", *sketch.model_classes(
        "sketch", "sketch_tiny_coats")] and picker.value == sketch.OPENING_CLASS == "black"
    assert sketch.select_class("sketch", "sketch_tiny_coats", "white").props["model_class"] == "white"
    with pytest.raises(gradio.Error, match="has no class 'tortoiseshell' \\(one of black, ginger"):
        sketch.sketch_api(path, "sketch_tiny_coats", "tortoiseshell")
    with pytest.raises(gradio.Error, match="it takes no class"):
        sketch.sketch_api(path, "sketch_tiny", "ginger")


def test_a_bad_call_fails_alone_and_spoils_no_batch(server):
    from demos import sketch

    good = drawing(server["tmp"], 7, (128, 128))
    [photos] = sketch.sketch_batch([good, good], ["", "no_such_model"])
    assert Image.open(photos[0]).size == (128, 128) and photos[1] is None
    with pytest.raises(gradio.Error, match="no_such_model"):
        sketch.sketch_batch([good], ["no_such_model"])
    with pytest.raises(gradio.Error, match="missing.png: file not found"):
        sketch.facade_api(str(server["tmp"] / "missing.png"))


def test_concurrent_api_calls_all_succeed(server):
    from gradio_client import Client, handle_file

    [sketch_event] = [fn for fn in server["demo"].fns.values() if fn.api_name == "sketch"]
    assert sketch_event.batch and sketch_event.max_batch_size == 4

    paths = [drawing(server["tmp"], seed, (160 + 8 * seed, 128)) for seed in range(6)]
    results: dict[int, tuple[int, int]] = {}

    def call(index: int) -> None:
        client = Client(server["url"], verbose=False, download_files=str(server["tmp"] / f"out{index}"))
        results[index] = Image.open(client.predict(handle_file(paths[index]), api_name="/sketch")).size

    threads = [threading.Thread(target=call, args=(i,)) for i in range(len(paths))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(300)
    assert results == {i: (160 + 8 * i, 128) for i in range(len(paths))}



def test_http_api_clients_get_the_same_photos(server, tmp_path):
    """benchmarks/load_sketch.py's `--client http`: Gradio's HTTP API (upload, /gradio_api/call/sketch with a
    session hash, server-sent events, file route) from 6 concurrent clients; every call gets the PNG a
    direct call makes (within one level: same-size calls batched together run as one float batch).
    A bad client kind is refused."""
    from benchmarks.load_sketch import process_cpu_s, run_load
    from demos import sketch

    path = Path(drawing(server["tmp"], 11, (200, 150)))
    cpu = process_cpu_s(os.getpid())
    result = run_load(server["url"], "/sketch", path, clients=6, calls=3, deadline=time.monotonic() + 120,
                      downloads=tmp_path / "http", client_kind="http")
    assert result["errors"] == [] and len(result["latencies"]) == 18, result["errors"][:3]
    assert process_cpu_s(os.getpid()) > cpu   # the server here is this process: its CPU is counted
    expected = np.asarray(Image.open(sketch.sketch_api(str(path))), np.int16)
    photos = sorted((tmp_path / "http").rglob("*.png"))
    assert len(photos) == 18
    for photo in photos:
        with Image.open(photo) as image:
            assert image.format == "PNG" and image.size == (200, 150)
            assert np.abs(np.asarray(image, np.int16) - expected).max() <= 1
    with pytest.raises(ValueError, match="client_kind"):
        run_load(server["url"], "/sketch", path, 1, 1, time.monotonic() + 5, tmp_path, client_kind="curl")


def test_png_options_are_lossless(tmp_path):
    """The app's PNGs (zlib level 1, run-length strategy) decode to the very pixels written."""
    from demos.common import PNG_OPTIONS, save_pil_to_cache_atomically
    from demos.render import save_png

    assert PNG_OPTIONS == {"compress_level": 1, "compress_type": zlib.Z_RLE}
    rng = np.random.default_rng(0)
    smooth = np.cumsum(rng.integers(-3, 4, (96, 128, 3)), axis=1).clip(0, 255).astype(np.uint8)
    for image in (Image.fromarray(smooth), Image.fromarray(rng.integers(0, 256, (40, 30, 3), np.uint8))):
        for path in (save_png(image, "photo"), save_pil_to_cache_atomically(image, str(tmp_path), "photo", "png")):
            with Image.open(path) as saved:
                assert saved.format == "PNG"
                assert np.array_equal(np.asarray(saved.convert("RGB")), np.asarray(image))


def test_monitoring_summary_is_not_recomputed_after_every_event(server, monkeypatch):
    """Gradio rebuilds a pandas table of up to 10000 past events after each event unless
    GRADIO_ANALYTICS_CACHE_FREQUENCY says otherwise; the app sets every 100 (a value already set wins)."""
    from demos.common import SERVER_ENV, configure_environment

    every = int(SERVER_ENV["GRADIO_ANALYTICS_CACHE_FREQUENCY"])
    assert every > 1 and server["demo"]._queue.ANAYLTICS_CACHE_FREQUENCY == every
    monkeypatch.setenv("GRADIO_ANALYTICS_CACHE_FREQUENCY", "7")
    configure_environment()
    assert os.environ["GRADIO_ANALYTICS_CACHE_FREQUENCY"] == "7"


def test_calls_run_on_one_thread_whichever_thread_takes_them(server, monkeypatch):
    """/sketch and /facade run on one worker thread of their own (one malloc arena for the batches' large
    tensors: memory stays flat under load), whichever of Gradio's threads takes the call."""
    from demos import sketch

    seen, original = [], sketch.sketch_input

    def recording(source, model="", label=""):
        seen.append(threading.get_ident())
        return original(source, model, label)

    monkeypatch.setattr(sketch, "sketch_input", recording)
    path = drawing(server["tmp"], 3, (128, 128))
    callers = [threading.Thread(target=sketch.sketch_api, args=(path,)) for _ in range(3)]
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join(60)
    sketch.sketch_api(path)
    assert len(seen) == 4 and len(set(seen)) == 1
    assert threading.get_ident() not in seen and seen[0] not in {caller.ident for caller in callers}
