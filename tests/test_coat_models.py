"""StarGAN models in the zoo and the app's registry (the Coat colour tab), and the tab's image work
without gradio: the square face crop, its preview, recolouring with the own coat guessed."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from app_harness import COATS, make_tiny_stargan
from conftest import REPO

if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from demos.coat_images import (MAX_ZOOM, PREVIEW_SIDE, centre_from_click, crop_box, crop_preview,  # noqa: E402
                               recolor_crop, square_crop)
from engine import ModelConfig, Translator, save_model, zoo  # noqa: E402
from engine.networks import stargan_receptive_field  # noqa: E402

EXAMPLE = REPO / "demos" / "assets" / "chelsea.jpg"


@pytest.fixture
def manifest_env(tmp_path, monkeypatch):
    weights = tmp_path / "weights"
    weights.mkdir()
    monkeypatch.setenv("I2I_MANIFEST", str(weights / "manifest.json"))
    monkeypatch.setenv("I2I_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    zoo.clear_memory_cache()
    yield weights
    zoo.clear_memory_cache()


def test_stargan_model_in_the_manifest_is_listed_and_loads(manifest_env):
    model_dir = make_tiny_stargan(manifest_env, "catcoats")
    entry = zoo.add_to_manifest(model_dir, title="Cat coat colour (StarGAN)", license="ours")
    assert entry["task"] == "stargan" and entry["tab"] == "coat" and entry["path"] == "catcoats"
    assert entry["architecture"]["receptive_field"] is None and not entry["architecture"]["discriminator_included"]
    listed = zoo.list_models(task="stargan", tab="coat", include_remote=False)
    assert [e.name for e in listed] == ["catcoats"] and listed[0].path == model_dir
    translator = zoo.load("catcoats", device="cpu")
    assert translator.domains == COATS
    assert translator.translate(Image.new("RGB", (40, 30), "orange"), domain="white").size == (40, 30)


def test_stargan_discriminator_receptive_field_in_the_manifest(manifest_env):
    config = ModelConfig(task="stargan", netG="resnet_2blocks", ngf=4, ndf=4, norm="instance", use_dropout=False,
                         netD="basic", domains=COATS, crop_size=32, name="with_d")
    torch.manual_seed(0)
    save_model(manifest_env / "with_d", config, {"G": config.build_generator(), "D": config.build_discriminator()})
    entry = zoo.add_to_manifest(manifest_env / "with_d")
    assert entry["architecture"]["receptive_field"] == stargan_receptive_field(32)
    assert entry["architecture"]["discriminator_included"]


def test_list_models_cli_knows_the_task_and_tab(manifest_env):
    zoo.add_to_manifest(make_tiny_stargan(manifest_env, "catcoats"))
    result = subprocess.run([sys.executable, "-m", "engine", "list-models", "--task", "stargan", "--tab", "coat",
                             "--offline", "--json"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert [m["name"] for m in json.loads(result.stdout)] == ["catcoats"]


def test_app_registry_puts_stargan_models_in_the_coat_tab(tmp_path, monkeypatch):
    from demos.models import registry, tab_for

    make_tiny_stargan(tmp_path / "weights")
    monkeypatch.setenv("I2I_WEIGHTS_DIR", str(tmp_path / "weights"))
    monkeypatch.setenv("I2I_RUNS_DIR", str(tmp_path / "runs"))
    registry.refresh()
    try:
        entry = registry.get("coat", None)
        assert entry.name == "coat_tiny" and tab_for("stargan") == "coat"
        assert "domains black, ginger, grey_tabby, white" in entry.summary()
        assert registry.translator(entry).domains == COATS
    finally:
        registry.refresh()


# -- framing -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("size, framing, box", [
    ((451, 300), (1.0, 50.0, 50.0), (76, 0, 376, 300)),       # the largest centred square
    ((451, 300), (1.0, 0.0, 50.0), (0, 0, 300, 300)),         # moved inwards at the border
    ((451, 300), (2.0, 100.0, 100.0), (301, 150, 451, 300)),
    ((300, 451), (1.5, 50.0, 20.0), (50, 0, 250, 200)),
    ((640, 480), (4.0, 25.0, 75.0), (100, 300, 220, 420)),
])
def test_crop_box(size, framing, box):
    assert crop_box(size, *framing) == box


@pytest.mark.parametrize("framing", [(0.5, 50, 50), (MAX_ZOOM + 0.1, 50, 50), (1, -1, 50), (1, 50, 101)])
def test_crop_box_refuses_bad_framing(framing):
    with pytest.raises(ValueError):
        crop_box((100, 100), *framing)


def test_square_crop_and_preview():
    photo = Image.open(EXAMPLE).convert("RGB")
    crop = square_crop(photo, 2.0, 25.0, 50.0, side=64)
    assert crop.size == (64, 64)
    expected = photo.crop(crop_box(photo.size, 2.0, 25.0, 50.0)).resize((64, 64), Image.Resampling.LANCZOS)
    assert np.array_equal(np.asarray(crop), np.asarray(expected))
    preview = crop_preview(photo, 2.0, 25.0, 50.0)
    assert max(preview.size) == PREVIEW_SIDE
    pixels = np.asarray(preview, dtype=float)
    scale = PREVIEW_SIDE / photo.width
    left, top, right, bottom = (round(v * scale) for v in crop_box(photo.size, 2.0, 25.0, 50.0))
    inside = pixels[top + 5:bottom - 5, left + 5:right - 5].mean()
    outside = pixels[:, right + 5:].mean()
    assert inside > 1.5 * outside, "outside the square is not darkened"
    assert centre_from_click(preview.size, preview.width / 4, preview.height / 2) == (25.0, 50.0)
    assert centre_from_click(preview.size, -3, 10 ** 6) == (0.0, 100.0)


# -- recolouring ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_translator(tmp_path_factory):
    return Translator.from_dir(make_tiny_stargan(tmp_path_factory.mktemp("coat")), device="cpu")


def test_recolor_crop_guesses_the_coat_changed_least(tiny_translator):
    crop = square_crop(Image.open(EXAMPLE).convert("RGB"), 1.0, 52.0, 50.0, side=96)
    result = recolor_crop(tiny_translator, crop)
    assert result.guessed and result.source == min(result.change, key=result.change.get)
    assert list(result.coats) == COATS and all(image.size == (96, 96) for image in result.coats.values())
    assert list(result.reconstructions) == COATS
    assert all(image.size == (96, 96) for image in result.reconstructions.values())
    assert all(np.isfinite(v) and v > 0 for v in result.rec_psnr.values())
    first, second = (np.asarray(result.coats[c], dtype=float) for c in ("black", "white"))
    assert np.abs(first - second).mean() > 1.0, "the coats do not differ"


def test_recolor_crop_with_a_given_coat(tiny_translator):
    crop = Image.new("RGB", (32, 32), (200, 120, 40))
    result = recolor_crop(tiny_translator, crop, source="ginger")
    assert not result.guessed and result.source == "ginger" and list(result.rec_psnr) == COATS
    with pytest.raises(ValueError, match="unknown coat"):
        recolor_crop(tiny_translator, crop, source="purple")


def test_sample_sheet_script(tmp_path):
    model_dir = make_tiny_stargan(tmp_path / "weights")
    out = tmp_path / "sheet.jpg"
    result = subprocess.run([sys.executable, "docs/make_stargan_sheet.py", "--model", str(model_dir), "--source",
                             "grey_tabby", "--out", str(out)], cwd=REPO, capture_output=True, text=True, timeout=300,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr
    assert "own coat grey tabby;" in result.stdout and result.stdout.count(" dB") == 4
    sheet = Image.open(out)
    assert sheet.format == "JPEG" and sheet.width > 5 * 256 and 2 * 256 < sheet.height < 3 * 256
