"""Batched /sketch and /facade (Gradio batch=True, I2I_MAX_BATCH): concurrent API calls answered together,
each with the photo of its own drawing at its own size; in a batch a bad upload gets no photo instead of
failing the others, alone it gets its one-line error."""
import threading

import gradio
import numpy as np
import pytest
from PIL import Image

from app_harness import make_tiny_models, running_app


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sketch_batch")
    weights = make_tiny_models(tmp / "weights")
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
