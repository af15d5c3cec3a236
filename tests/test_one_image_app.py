"""The One image tab through the app's API: the primitive of a photo, a training job on one photo started
and watched to its end, the edited primitive rendered by the trained run; hosted-mode switches."""
import os
import time

import numpy as np
import pytest
from PIL import Image, ImageDraw

from app_harness import make_tiny_models, running_app
from conftest import DATASETS, REPO

gradio = pytest.importorskip("gradio")
from gradio_client import handle_file  # noqa: E402

EXAMPLE = REPO / "demos" / "one_image_examples" / "chelsea.jpg"


def make_one_image_run(runs_dir, photo_dir, name="one_image_tiny", size=64, steps=60):
    """A tiny run trained from one photo (chelsea) in `runs_dir`, as the tab makes them; its model directory."""
    from engine import TrainConfig, Trainer

    photo_dir.mkdir(parents=True, exist_ok=True)
    photo = photo_dir / "chelsea.png"
    Image.open(EXAMPLE).resize((size, size), Image.Resampling.BICUBIC).save(photo)
    cfg = TrainConfig(model="pix2pix", single_pair=str(photo), augment="tps", load_size=size, crop_size=size,
                      netG="unet_6", ngf=4, netD="none", no_dropout=True, upsample="nearest", lr=0.002, max_steps=steps,
                      save_every=steps, sample_every=steps, log_every=1, num_workers=0, device="cpu",
                      checkpoints_dir=str(runs_dir), name=name, seed=0)
    return Trainer(cfg, progress=False).run()


def test_hosted_mode_keeps_training_off_unless_enabled(monkeypatch):
    from demos.one_image import one_image_training

    monkeypatch.delenv("I2I_ENABLE_TRAINING", raising=False)
    monkeypatch.delenv("I2I_ONE_IMAGE_TRAINING", raising=False)
    monkeypatch.delenv("I2I_ONE_IMAGE_MAX_SECONDS", raising=False)
    monkeypatch.setenv("SPACE_ID", "someone/studio")
    allowed, why, cap = one_image_training()
    assert not allowed and "I2I_ONE_IMAGE_TRAINING=1" in why and cap == 600
    monkeypatch.setenv("I2I_ONE_IMAGE_TRAINING", "1")
    monkeypatch.setenv("I2I_ONE_IMAGE_MAX_SECONDS", "120")
    assert one_image_training() == (True, "", 120.0)
    monkeypatch.delenv("SPACE_ID")
    monkeypatch.setenv("I2I_ONE_IMAGE_TRAINING", "0")
    assert not one_image_training()[0]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("one_image_app")
    env = {"I2I_WEIGHTS_DIR": str(make_tiny_models(tmp / "weights")), "I2I_RUNS_DIR": str(tmp / "runs"),
           "I2I_DATA_ROOTS": str(DATASETS), "I2I_TRAIN_THREADS": "1", "SPACE_ID": None, "I2I_ENABLE_TRAINING": None,
           "I2I_ONE_IMAGE_TRAINING": None, "I2I_ONE_IMAGE_MAX_SECONDS": "300"}
    with running_app(env) as (url, _):
        yield {"url": url, "tmp": tmp}


def _pixels(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"), dtype=np.int16)


def test_primitive_of_a_photo(client):
    primitive = _pixels(client.predict(handle_file(str(EXAMPLE)), api_name="/one_image_primitive"))
    assert primitive.shape == (256, 256, 3)
    dark = (primitive.max(-1) < 128).mean()
    assert 0.005 < dark < 0.2, f"{dark:.3f} of the pixels are lines"


def test_train_on_one_photo_then_render_edits(client, server):
    status, *_ = client.predict(handle_file(str(EXAMPLE)), 3, "one_image_api", api_name="/one_image_train")
    assert status["state"] in ("starting", "running") and status["name"] == "one_image_api"
    deadline = time.time() + 400
    while status["state"] in ("starting", "running", "stopping") and time.time() < deadline:
        time.sleep(2)
        status, *_ = client.predict(api_name="/one_image_status")
    assert status["state"] == "done", status
    assert status["step"] == 3 and status["model_dir"]
    primitive_path = client.predict(handle_file(str(EXAMPLE)), api_name="/one_image_primitive")
    rebuilt = _pixels(client.predict(handle_file(primitive_path), "one_image_api", api_name="/one_image_render"))
    assert rebuilt.shape == (256, 256, 3)
    edited = Image.open(primitive_path).convert("RGB")
    ImageDraw.Draw(edited).line([(20, 200), (80, 230)], fill="black", width=3)
    edited_path = server["tmp"] / "edited.png"
    edited.save(edited_path)
    changed = _pixels(client.predict(handle_file(str(edited_path)), "", api_name="/one_image_render"))
    delta = np.abs(changed - rebuilt).max(-1)
    assert delta[190:240, 10:90].max() > 0, "the stroke did not change the photo"
    assert delta[:120, 130:].mean() < delta[190:240, 10:90].mean() + 1e-6


def test_render_names_a_missing_run(client):
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match="no one-image run"):
        client.predict(handle_file(str(EXAMPLE)), "nonexistent", api_name="/one_image_render")


def test_training_is_refused_when_disabled(client):
    from gradio_client.exceptions import AppError

    os.environ["I2I_ONE_IMAGE_TRAINING"] = "0"   # read per call; the app runs in this process
    try:
        with pytest.raises(AppError, match="disabled"):
            client.predict(handle_file(str(EXAMPLE)), 3, "", api_name="/one_image_train")
    finally:
        del os.environ["I2I_ONE_IMAGE_TRAINING"]
