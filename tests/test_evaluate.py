"""Metrics on known images, and evaluate_dir on a tiny aligned folder."""
import numpy as np
import pytest
import torch
from PIL import Image

from engine import ModelConfig, save_model
from engine.evaluate import PSNR_CAP, evaluate_dir, l1, lab_histogram_intersection, psnr


def image(value, size=(16, 16)):
    return Image.fromarray(np.full((size[1], size[0], 3), value, np.uint8))


def test_identical_images():
    a = Image.fromarray(np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8))
    assert l1(a, a) == 0 and psnr(a, a) == PSNR_CAP
    assert lab_histogram_intersection([a], [a]) == pytest.approx({"L": 1.0, "a": 1.0, "b": 1.0})


def test_different_images():
    assert l1(image(0), image(255)) == pytest.approx(1.0)
    assert psnr(image(0), image(255)) == pytest.approx(0.0)
    assert psnr(image(100), image(110)) == pytest.approx(20 * np.log10(255 / 10), rel=1e-6)
    gray, red = image(128), Image.new("RGB", (16, 16), (200, 30, 30))
    hist = lab_histogram_intersection([gray], [red])
    assert hist["a"] < 0.1 and hist["b"] < 0.5


def test_evaluate_dir_on_aligned_pairs(tmp_path):
    val = tmp_path / "data" / "val"
    val.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(3):
        Image.fromarray(rng.integers(0, 256, (32, 64, 3), dtype=np.uint8)).save(val / f"{i}.png")
    config = ModelConfig(task="pix2pix", netG="unet_128", ngf=4, name="m")
    torch.manual_seed(0)
    save_model(tmp_path / "m", config, {"G": config.build_generator()})
    metrics = evaluate_dir(tmp_path / "m", tmp_path / "data", "val", size=32, progress=False)
    assert metrics["n"] == 3 and metrics["l1"] > 0 and 0 < metrics["psnr"] < PSNR_CAP
    assert all(0 <= metrics[k] <= 1 for k in ("hist_L", "hist_a", "hist_b"))
    with pytest.raises(ValueError):
        evaluate_dir(tmp_path / "m", tmp_path / "empty", "val", progress=False)
