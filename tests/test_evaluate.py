"""Metrics on known images, and evaluate_dir on a tiny aligned folder."""
import numpy as np
import pytest
import torch
from PIL import Image

from engine import ModelConfig, save_model
from engine.evaluate import (PSNR_CAP, checkerboard_ratio, checkerboard_share, describe_metrics, evaluate_dir,
                             evaluate_unpaired, l1, lab_histogram_intersection, nyquist_share, psnr)


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
    assert metrics["checkerboard"] > 0
    assert describe_metrics(metrics).endswith(f", checkerboard {metrics['checkerboard']:.2f}")
    with pytest.raises(ValueError):
        evaluate_dir(tmp_path / "m", tmp_path / "empty", "val", progress=False)


def test_metrics_accept_arrays_and_check_sizes():
    rng = np.random.default_rng(1)
    a = rng.integers(0, 256, (12, 10, 3), dtype=np.uint8)
    b = np.clip(a.astype(int) + 5, 0, 255).astype(np.uint8)
    assert l1(a, a.astype(np.float32) / 255) == pytest.approx(0.0, abs=1e-7)
    assert l1(Image.fromarray(a), b) == pytest.approx(np.abs(a.astype(float) - b).mean() / 255)
    assert psnr(a, b) == pytest.approx(10 * np.log10(255 ** 2 / ((a.astype(float) - b) ** 2).mean()))
    assert l1(a[:, :, 0], np.repeat(a[:, :, :1], 3, axis=2)) == 0  # HxW gray = gray RGB
    with pytest.raises(ValueError, match="differ in size"):
        l1(a, a[:5])


def test_histogram_intersection_pools_the_set():
    black, white = image(0), image(255)
    # the set {black, white} has the same distribution as {white, black}, even though no pair matches
    assert lab_histogram_intersection([black, white], [white, black])["L"] == pytest.approx(1.0)
    assert lab_histogram_intersection([black, white], [white, white])["L"] == pytest.approx(0.5)
    assert lab_histogram_intersection(black, white)["L"] == pytest.approx(0.0)
    half = lab_histogram_intersection([image(60)], [image(60), Image.new("RGB", (16, 16), (0, 200, 0))])
    assert half["a"] == pytest.approx(0.5) and half["L"] <= 0.5 + 1e-9


def _smooth(h=64, w=64, seed=0):
    """A smooth gray float image in [0.35, 0.65]: one low-frequency product of sinusoids."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w] / max(h, w)
    base = 0.5 + 0.15 * np.sin(2 * np.pi * (x + rng.random())) * np.cos(2 * np.pi * (y * 1.5 + rng.random()))
    return np.repeat(base[:, :, None], 3, axis=2)


@pytest.mark.parametrize("size", [(64, 64), (63, 65), (33, 31)])
def test_checkerboard_share(size):
    h, w = size
    clean = _smooth(h, w)
    y, x = np.mgrid[0:h, 0:w]
    assert checkerboard_share(clean) < 1e-3                       # smooth: no power at the 2-pixel period
    for pattern in ((-1.0) ** (x + y), (-1.0) ** x, (-1.0) ** y):
        gridded = clean + 0.05 * pattern[:, :, None]
        assert checkerboard_share(gridded) > 0.1 > 100 * checkerboard_share(clean)
        assert checkerboard_ratio([gridded], [clean]) > 100
    assert checkerboard_share(np.clip(clean + 0.5 * ((-1.0) ** x)[:, :, None], 0, 1)) > 0.5
    assert nyquist_share(image(128)) == 0.0 and nyquist_share(np.zeros((1, 5))) == 0.0   # flat, no even crop


def test_checkerboard_ratio_of_sets():
    rng = np.random.default_rng(2)
    photos = [Image.fromarray(rng.integers(0, 256, (32, 48, 3), dtype=np.uint8)) for _ in range(3)]
    assert checkerboard_ratio(photos, photos) == pytest.approx(1.0)
    assert checkerboard_ratio(photos, photos[::-1]) == pytest.approx(1.0)    # a ratio of set means, unpaired
    # white noise: the two Nyquist lines hold (H + W - 1) of the H * W - 1 non-DC frequencies
    assert checkerboard_share(photos) == pytest.approx((32 + 48 - 1) / (32 * 48 - 1), rel=0.3)
    assert checkerboard_share(photos[0]) == nyquist_share(photos[0])
    assert checkerboard_ratio([image(10)], [image(200)]) == 1.0
    with pytest.raises(ValueError):
        checkerboard_share([])


def _folder(path, n=3, size=(32, 32), seed=0):
    path.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(path / f"{i}.png")
    return path


def _model(tmp_path, name, **overrides):
    options = dict(task="pix2pix", netG="unet_128", ngf=4, name=name)
    options.update(overrides)
    config = ModelConfig(**options)
    torch.manual_seed(0)
    return save_model(tmp_path / name, config, {n: config.build_generator(n) for n in config.generator_names})


def test_evaluate_dir_directions_and_max_items(tmp_path):
    _folder(tmp_path / "data" / "test", n=4, size=(64, 32))
    model = _model(tmp_path, "m")
    ab = evaluate_dir(model, tmp_path / "data", "val", size=32, progress=False, max_items=2, batch_size=1)
    ba = evaluate_dir(model, tmp_path / "data", "test", size=32, progress=False, direction="BtoA")
    assert ab["n"] == 2 and ba["n"] == 4 and ab["direction"] == "AtoB" and ba["direction"] == "BtoA"
    assert ab["l1"] != ba["l1"]
    native = evaluate_dir(model, tmp_path / "data", "test", size=None, progress=False)
    assert native["n"] == 4 and native["size"] is None


def test_evaluate_dir_on_plain_photos(tmp_path):
    photos = _folder(tmp_path / "photos", n=2)
    color = _model(tmp_path, "c", task="colorization", input_nc=1, output_nc=2, color_space="lab", input_kind="gray")
    metrics = evaluate_dir(color, photos, "val", size=32, progress=False)
    assert metrics["n"] == 2 and 0 < metrics["l1"] < 1
    gray = _model(tmp_path, "g", input_nc=1, training={"derive": "gray"})
    assert evaluate_dir(gray, photos, "val", size=32, progress=False)["n"] == 2
    edges = _model(tmp_path, "e", input_kind="edges", training={"derive": "edges"})
    assert evaluate_dir(edges, photos, "val", size=32, progress=False)["n"] == 2


def test_evaluate_dir_cyclegan_needs_aligned_data(tmp_path):
    cyc = _model(tmp_path, "cy", task="cycle_gan", netG="resnet_6blocks", norm="instance", use_dropout=False)
    _folder(tmp_path / "unpaired" / "testA", n=1)
    with pytest.raises(ValueError, match="unpaired"):
        evaluate_dir(cyc, tmp_path / "unpaired", "test", progress=False)
    _folder(tmp_path / "aligned" / "test", n=2, size=(64, 32))
    for direction in ("AtoB", "BtoA"):
        assert evaluate_dir(cyc, tmp_path / "aligned", "test", size=32, progress=False, direction=direction)["n"] == 2


def _solid_folder(path, colors, size=(32, 32)):
    path.mkdir(parents=True)
    for i, color in enumerate(colors):
        Image.new("RGB", size, color).save(path / f"{i}.png")
    return path


def test_evaluate_unpaired_cyclegan(tmp_path):
    cyc = _model(tmp_path, "cy", task="cycle_gan", netG="resnet_6blocks", norm="instance", use_dropout=False)
    reds = [(200, 30, 30), (180, 40, 20)]
    blues = [(30, 40, 200), (20, 60, 180), (10, 10, 120)]
    _solid_folder(tmp_path / "data" / "testA", reds)
    _solid_folder(tmp_path / "data" / "testB", blues)
    metrics = evaluate_dir(cyc, tmp_path / "data", "val", size=32, progress=False)   # val falls back to test
    assert metrics["kind"] == "unpaired" and metrics["phase"] == "val"
    expected_input = lab_histogram_intersection([image(c) for c in reds], [image(c) for c in blues])
    for direction, n in (("AtoB", 2), ("BtoA", 3)):
        scores = metrics[direction]
        assert scores["n"] == n
        for channel in "Lab":
            assert scores[f"hist_{channel}_input"] == pytest.approx(expected_input[channel], abs=1e-4)
            assert 0.0 <= scores[f"hist_{channel}"] <= 1.0
        assert 0 < scores["cycle_l1"] < 1 and 0 < scores["cycle_psnr"] < PSNR_CAP
        assert scores["checkerboard"] > 0   # solid targets have share 0: inf unless the fakes are flat too
    text = describe_metrics(metrics)
    assert "AtoB (2 images" in text and "BtoA (3 images" in text and "cycle reconstruction" in text
    with pytest.raises(ValueError, match="testA"):
        evaluate_unpaired(cyc, tmp_path / "nowhere", "test", progress=False)
    pix = _model(tmp_path, "p")
    with pytest.raises(ValueError, match="CycleGAN"):
        evaluate_unpaired(pix, tmp_path / "data", "test", progress=False)


def test_ab_nyquist_share_sees_a_chroma_grid_that_luma_misses():
    from engine.evaluate import nyquist_share
    smooth = np.full((64, 64, 3), 0.5) + np.linspace(0, 0.2, 64)[None, :, None]
    grid = smooth.copy()
    checker = (np.indices((64, 64)).sum(0) % 2)[..., None]
    grid += (checker - 0.5) * np.array([0.06, -0.06 * 0.299 / 0.587, 0.0])   # red/green flips, same luminance
    assert nyquist_share(grid, "ab") > 20 * nyquist_share(smooth, "ab") + 1e-3
    assert nyquist_share(grid, "luma") < 0.05
    with pytest.raises(ValueError, match="channels"):
        nyquist_share(smooth, "rgb")


def test_colorizer_checkerboard_is_measured_before_8bit_rounding(tmp_path):
    """A flat a/b output has no grid; its RGB image's rounding noise must not be counted as one."""
    from engine import Translator
    photos = _folder(tmp_path / "photos", n=2)
    config = ModelConfig(task="colorization", netG="unet_128", ngf=4, name="flat", input_nc=1, output_nc=2,
                         color_space="lab", input_kind="gray")
    generator = config.build_generator("G")
    last = [m for m in generator.modules() if isinstance(m, torch.nn.modules.conv._ConvNd)][-1]
    with torch.no_grad():
        last.weight.zero_()
        last.bias.fill_(0.2)                                     # a constant, clearly coloured a and b
    model = save_model(tmp_path / "flat", config, {"G": generator})
    assert evaluate_dir(model, photos, "val", size=32, progress=False)["checkerboard"] == 0.0
    rounded = Translator.from_dir(model, device="cpu").translate(Image.open(next(photos.iterdir())))
    assert nyquist_share(rounded, "ab") > 0                    # what the 8-bit image alone would report
