"""The t-shirt toy and several answers per input through the API: the app launched in-process, /why_cgan_shirts
(the embedded shirt models: the issue's Done-when numbers on 200 held-out shirts) and /colorize_samples
(a tiny random noise colorizer next to the tiny dropout-only ones) called with gradio_client."""
import sys

import numpy as np
import pytest

from app_harness import make_tiny_models, running_app
from conftest import REPO

if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

gradio = pytest.importorskip("gradio")
from gradio_client import handle_file  # noqa: E402
from gradio_client.exceptions import AppError  # noqa: E402
from PIL import Image  # noqa: E402


def _tiny_noise_colorizer(root):
    import torch
    from torch import nn

    from engine import ModelConfig, save_model
    torch.manual_seed(1)
    cfg = ModelConfig(task="colorization", netG="unet_6", ngf=4, input_nc=1, output_nc=2, color_space="lab",
                      input_kind="gray", netD=None, crop_size=64, load_size=72, nz=4, name="colorize_noise_tiny")
    G = cfg.build_generator()
    for m in G.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.normal_(m.weight, 0.0, 0.3)
    save_model(root / "colorize_noise_tiny", cfg, {"G": G})


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("why_cgan_samples")
    weights = make_tiny_models(tmp / "weights")
    _tiny_noise_colorizer(weights)
    env = {"I2I_WEIGHTS_DIR": str(weights), "I2I_RUNS_DIR": str(tmp / "runs"), "I2I_ENABLE_TRAINING": "0",
           "SPACE_ID": None}
    with running_app(env) as (url, _):
        yield {"url": url, "tmp": tmp}


def test_endpoints_are_named_with_their_parameters(client):
    named = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert [p["parameter_name"] for p in named["/why_cgan_shirts"]["parameters"]] == ["retrain", "sample_seed"]
    assert len(named["/why_cgan_shirts"]["returns"]) == 3
    assert [p["parameter_name"] for p in named["/colorize_samples"]["parameters"]] == ["photo", "seed"]


def test_shirts_meet_the_issue_numbers(client):
    """L2 grey, the classifier mixes both colours in most shirts, the cGAN one colour with both colours."""
    figure, samples, numbers = client.predict(False, 0, api_name="/why_cgan_shirts")
    data, l2, classifier, cgan = (numbers[k] for k in ("data", "l2", "classifier", "cgan"))
    assert data["one_colour"] == 1.0 and 0.3 <= data["teal"] <= 0.7
    assert l2["saturation"] < 0.5 * data["saturation"] and l2["grey"] >= 0.9
    assert classifier["mixed"] >= 0.5
    assert cgan["one_colour"] >= 0.9 and 0.3 <= cgan["teal"] <= 0.7 and 0.3 <= cgan["pink"] <= 0.7
    sheet = Image.open(figure)
    assert sheet.format == "PNG" and sheet.width > 6 * 128 and sheet.height > 5 * 128
    answers = np.asarray(Image.open(samples).convert("RGB")).astype(int)
    assert answers.shape[1] > 4 * 128 and answers.std() > 10


def test_shirt_samples_change_with_the_seed(client):
    _, first, _ = client.predict(False, 0, api_name="/why_cgan_shirts")
    _, again, _ = client.predict(False, 0, api_name="/why_cgan_shirts")
    _, other, _ = client.predict(False, 5, api_name="/why_cgan_shirts")
    pixels = [np.asarray(Image.open(p).convert("RGB")) for p in (first, again, other)]
    assert np.array_equal(pixels[0], pixels[1]) and not np.array_equal(pixels[0], pixels[2])


def test_colorize_samples_noise_against_dropout(client, tmp_path):
    photo = tmp_path / "photo.png"
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (80, 96, 3), dtype=np.uint8)).save(photo)
    gallery, numbers = client.predict(handle_file(str(photo)), 3, api_name="/colorize_samples")
    assert [item["caption"] for item in gallery] == [f"z sample {i}" for i in range(1, 5)] + \
        [f"dropout only {i}" for i in range(1, 5)]
    assert numbers["noise_model"] == "colorize_noise_tiny" and numbers["dropout_model"] == "colorize_70x70"
    assert numbers["noise_diversity"] > 0 and numbers["seed"] == 3
    images = [Image.open(item["image"]) for item in gallery]
    assert all(image.size == (96, 80) for image in images)
    _, repeat = client.predict(handle_file(str(photo)), 3, api_name="/colorize_samples")
    assert repeat == numbers


@pytest.mark.parametrize("args, words", [((False, -1), ("-1",)), ((False, 2**31), ("sample_seed", "whole"))])
def test_bad_seed_gives_one_line(client, args, words):
    with pytest.raises(AppError) as error:
        client.predict(*args, api_name="/why_cgan_shirts")
    message = str(error.value)
    assert "\n" not in message.strip() and all(w in message for w in words)
