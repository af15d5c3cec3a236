"""Colorization as classification (engine.ab_classes) and generators with a noise input (engine.noise_input):
the gamut bins, soft targets, rebalancing, annealed mean, training, loading, and several samples per input."""
import json

import numpy as np
import pytest
import torch
from PIL import Image

from engine import TrainConfig, Trainer
from engine.ab_classes import (annealed_mean, empirical_prior, gamut_bins, rebalanced_cross_entropy,
                               rebalancing_weights, soft_encode)
from engine.color import AB_SCALE, rgb_to_lab
from engine.config import ModelConfig
from engine.inference import Translator
from engine.noise_input import NoiseInputGenerator, mean_pairwise_l1, mode_seeking_term


def test_gamut_bins_cover_srgb_and_nothing_outside():
    bins = gamut_bins()
    assert len(bins) == 262 and bins.shape == (262, 2)   # Zhang et al. count 313 for their wider gamut
    assert torch.all(bins % 10 == 0)
    grid = torch.linspace(0, 1, 24)
    rgb = torch.stack(torch.meshgrid(grid, grid, grid, indexing="ij")).reshape(3, -1, 1)
    ab = rgb_to_lab(rgb)[1:].reshape(2, -1).t()
    nearest = torch.cdist(ab, bins).min(1).values
    assert nearest.max() <= 5 * 2 ** 0.5 + 1e-4   # every sRGB colour falls in one of the bins' cells
    assert not any((bins == torch.tensor([100.0, 100.0])).all(1))   # far outside sRGB: not a bin


def test_soft_targets_and_annealed_mean():
    bins = gamut_bins()
    ab = torch.tensor([33.0, -22.0]).view(1, 2, 1, 1) / AB_SCALE
    targets = soft_encode(ab, bins)
    assert torch.allclose(targets.sum(1), torch.ones(1, 1, 1)) and (targets > 0).sum() == 5
    assert tuple(bins[targets[0, :, 0, 0].argmax()].tolist()) == (30.0, -20.0)
    decoded = annealed_mean(torch.log(targets + 1e-12), bins, 1.0) * AB_SCALE
    assert torch.allclose(decoded.flatten(), torch.tensor([33.0, -22.0]), atol=0.5)
    two_modes = torch.full((1, len(bins), 1, 1), -20.0)
    teal, pink = [int(torch.cdist(torch.tensor([c]), bins).argmin()) for c in ([-30.0, -10.0], [40.0, -10.0])]
    two_modes[0, teal], two_modes[0, pink] = 0.0, -0.2
    mean, annealed = annealed_mean(two_modes, bins, 1.0), annealed_mean(two_modes, bins, 0.38)
    assert abs(float(annealed[0, 0])) * AB_SCALE > abs(float(mean[0, 0])) * AB_SCALE   # sharper than the mean


def test_rebalancing_favours_rare_colours():
    bins = gamut_bins()
    grey = torch.zeros(1, 2, 8, 8)
    red = torch.tensor([60.0, 40.0]).view(1, 2, 1, 1).expand(1, 2, 2, 2) / AB_SCALE
    prior = empirical_prior([grey, grey, red], bins)
    assert abs(float(prior.sum()) - 1) < 1e-5
    weights = rebalancing_weights(prior, 0.5)
    assert abs(float((prior * weights).sum()) - 1) < 1e-5
    grey_bin, red_bin = [int(torch.cdist(torch.tensor([c]), bins).argmin()) for c in ([0.0, 0.0], [60.0, 40.0])]
    assert weights[red_bin] > weights[grey_bin]
    logits = torch.zeros(1, len(bins), 2, 2, requires_grad=True)
    loss = rebalanced_cross_entropy(logits, soft_encode(red, bins), weights)
    loss.backward()
    assert torch.isfinite(loss) and logits.grad.abs().sum() > 0


def test_old_configs_load_with_the_new_options_off():
    config = json.loads(open("weights/colorize_l1/config.json").read())
    assert "colorization_loss" not in config
    model = ModelConfig.from_dict(config)
    assert model.colorization_loss == "l1" and model.nz == 0
    with pytest.raises(ValueError, match="colorization_loss"):
        ModelConfig(task="colorization", colorization_loss="softmax")
    with pytest.raises(ValueError, match="netD none"):
        TrainConfig(model="colorization", colorization_loss="classification", max_steps=1)
    with pytest.raises(ValueError, match="lambda_ms"):
        TrainConfig(model="pix2pix", lambda_ms=1.0, max_steps=1)


def _tiny(datasets_dir, tmp_path, **overrides) -> TrainConfig:
    options = dict(dataroot=str(datasets_dir / "monet2photo" / "trainB"), model="colorization", netG="unet_6",
                   ngf=8, ndf=8, load_size=72, crop_size=64, max_items=6, max_steps=2, save_every=2,
                   sample_every=2, log_every=1, num_workers=0, checkpoints_dir=str(tmp_path), name="run", seed=1)
    options.update(overrides)
    return TrainConfig(**options)


def test_classification_colorizer_trains_and_translates(datasets_dir, tmp_path):
    cfg = _tiny(datasets_dir, tmp_path, colorization_loss="classification", netD="none", upsample="nearest")
    model_dir = Trainer(cfg, progress=False).run()
    config = json.loads((model_dir / "config.json").read_text())
    assert config["colorization_loss"] == "classification" and config["temperature"] == 0.38
    assert "G_CE" in (tmp_path / "run" / "metrics.jsonl").read_text()
    assert "rebalanced cross-entropy" in (model_dir / "README.md").read_text()
    translator = Translator.from_dir(model_dir, device="cpu")
    out = translator.translate(Image.new("RGB", (50, 40), (120, 90, 60)))
    assert out.size == (50, 40)
    logits = translator.nets["G"](torch.zeros(1, 1, 64, 64), logits=True)
    assert logits.shape == (1, len(gamut_bins()), 64, 64)


def test_noise_generator_trains_and_samples_differ(datasets_dir, tmp_path):
    cfg = _tiny(datasets_dir, tmp_path, nz=4, lambda_ms=1.0, lambda_L1=10.0, netD="basic")
    model_dir = Trainer(cfg, progress=False).run()
    assert "G_MS" in (tmp_path / "run" / "metrics.jsonl").read_text()
    translator = Translator.from_dir(model_dir, device="cpu")
    photo = Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8))
    first, again = translator.samples(photo, 3, seed=5), translator.samples(photo, 3, seed=5)
    assert [np.asarray(a).tolist() for a in first] == [np.asarray(a).tolist() for a in again]
    assert np.abs(np.asarray(first[0], float) - np.asarray(first[1], float)).max() > 0
    assert translator.translate(photo).size == (64, 64)   # eval without z: z = 0, deterministic


def test_dropout_samples_of_a_plain_colorizer_are_seeded():
    translator = Translator.from_dir("weights/colorize_l1", device="cpu")
    gray = Image.new("RGB", (64, 64), (128, 128, 128))
    a, b = translator.samples(gray, 2, seed=1), translator.samples(gray, 2, seed=1)
    assert np.asarray(a[1]).tolist() == np.asarray(b[1]).tolist()


def test_noise_input_and_diversity_helpers():
    net = NoiseInputGenerator(torch.nn.Conv2d(3, 2, 1), nz=2).eval()
    x = torch.zeros(2, 1, 4, 4)
    assert torch.equal(net(x), net(x))                       # eval: z = 0
    with pytest.raises(ValueError, match="z of shape"):
        net(x, torch.zeros(2, 3))
    same = torch.ones(3, 2, 4, 4)
    assert mean_pairwise_l1(same) == 0.0
    apart = torch.stack([torch.zeros(2, 4, 4), torch.ones(2, 4, 4)])
    assert mean_pairwise_l1(apart) == pytest.approx(1.0)
    far = mode_seeking_term(torch.zeros(1, 2, 4, 4), torch.ones(1, 2, 4, 4), torch.zeros(1, 2), torch.ones(1, 2))
    near = mode_seeking_term(torch.zeros(1, 2, 4, 4), torch.full((1, 2, 4, 4), 0.1), torch.zeros(1, 2),
                             torch.ones(1, 2))
    assert float(far) < float(near)
    stripes = torch.zeros(1, 2, 4, 4)
    stripes[..., ::2, :] = 1.0                                  # rows alternate: differs per pixel, not per block
    z_1, z_2 = torch.zeros(1, 2), torch.ones(1, 2)
    assert float(mode_seeking_term(torch.zeros(1, 2, 4, 4), stripes, z_1, z_2)) == pytest.approx(1.0 / 0.5, rel=1e-3)
    pooled = mode_seeking_term(torch.full((1, 2, 4, 4), 0.5), stripes, z_1, z_2, pool=2)
    assert float(pooled) > 1e4                                   # the same mean colour per 2x2 block: no credit



def test_reflect_padded_unet_draws_no_rings_from_a_constant_input():
    """A U-Net fed a constant map: zero padding makes its output vary near the borders, reflect does not."""
    from engine.networks import define_G
    torch.manual_seed(0)
    constant = torch.full((1, 3, 128, 128), 0.7)
    spread = {}
    for padding in ("zeros", "reflect"):
        net = define_G(3, 2, 8, "unet_128", norm="none", upsample="nearest", unet_padding=padding).eval()
        with torch.no_grad():
            spread[padding] = float(net(constant).std(dim=(2, 3)).max())   # over the image, per channel
    assert spread["reflect"] < 1e-5 < spread["zeros"]
    with pytest.raises(ValueError, match="reflect"):
        define_G(3, 2, 8, "unet_128", upsample="transpose", unet_padding="reflect")
    with pytest.raises(ValueError, match="unet_padding"):
        TrainConfig(model="colorization", unet_padding="reflect", max_steps=1)   # transpose decoder


def test_sample_checkerboard_is_measured_on_the_float_ab_of_the_samples(tmp_path, monkeypatch):
    """`engine diversity` reports the samples' a/b checkerboard: a planted 2-pixel grid in the network's
    output must show, smooth outputs must not."""
    from engine.diversity import sample_diversity
    rng = np.random.default_rng(0)
    for i in range(2):
        photo = np.kron(rng.integers(0, 230, (4, 4, 3)), np.ones((16, 16, 1))) + rng.integers(0, 25, (64, 64, 3))
        Image.fromarray(photo.astype(np.uint8)).save(tmp_path / f"{i}.png")
    yy, xx = np.mgrid[:64, :64]
    ramp = torch.from_numpy(np.stack([xx, yy]) / 64.0 - 0.5).float()
    grid = torch.from_numpy(((xx + yy) % 2 * 0.2)[None].repeat(2, 0)).float()
    measured = {}
    for name, output in (("smooth", ramp), ("grid", ramp + grid)):
        def planted(self, image, count=4, *, seed=0, size=None, output=output):
            from engine.images import open_image
            return output.expand(count, -1, -1, -1).clone(), open_image(image)
        monkeypatch.setattr(Translator, "sample_outputs", planted)
        measured[name] = sample_diversity("weights/colorize_samples", tmp_path, phase="val", count=2, size=64)
    assert measured["grid"]["checkerboard"] > 10 * measured["smooth"]["checkerboard"]
    assert measured["smooth"]["diversity"] == 0.0
