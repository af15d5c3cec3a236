"""Translator: any size and mode, batching, reference test-time mode, colorization, CycleGAN, D maps."""
import numpy as np
import pytest
import torch
from PIL import Image

from engine import ModelConfig, Translator, save_model
from engine.color import encode_lab
from engine.images import to_tensor


def make_model(tmp_path, name="m", with_d=False, only=None, **overrides):
    options = dict(task="pix2pix", netG="unet_128", ngf=4, norm="batch", use_dropout=True, netD="basic" if with_d else None,
                   ndf=4, name=name)
    options.update(overrides)
    config = ModelConfig(**options)
    torch.manual_seed(0)
    names = list(only or config.generator_names) + (list(config.discriminator_names) if with_d else [])
    nets = {}
    for net_name in names:
        net = config.build_generator(net_name) if net_name.startswith("G") else config.build_discriminator(net_name)
        for module in net.modules():  # non-trivial running stats
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.1, 0.1)
                module.running_var.uniform_(0.5, 1.5)
        nets[net_name] = net
    return save_model(tmp_path / name, config, nets)


def photo(width, height, mode="RGB", seed=0):
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8)).convert(mode)


@pytest.mark.parametrize("width,height", [(300, 203), (1, 1), (1, 500), (128, 128), (257, 129)])
def test_output_has_input_size(tmp_path, width, height):
    translator = Translator.from_dir(make_model(tmp_path), device="cpu")
    assert translator.translate(photo(width, height)).size == (width, height)


@pytest.mark.parametrize("mode", ["L", "RGBA", "P", "CMYK", "I;16"])
def test_any_mode(tmp_path, mode):
    translator = Translator.from_dir(make_model(tmp_path), device="cpu")
    image = photo(40, 30, "L").convert(mode) if mode == "I;16" else photo(40, 30, mode)
    out = translator.translate(image)
    assert out.mode == "RGB" and out.size == (40, 30)


def test_large_images_are_capped_and_restored(tmp_path):
    translator = Translator(*__import__("engine").load_model(make_model(tmp_path)), device="cpu", max_side=256)
    assert translator.translate(photo(1500, 400)).size == (1500, 400)


def test_batch_equals_singles(tmp_path):
    translator = Translator.from_dir(make_model(tmp_path), device="cpu")
    images = [photo(64, 48, seed=s) for s in range(3)]
    batched = translator.translate(images)
    singles = [translator.translate(image) for image in images]
    for a, b in zip(batched, singles):
        assert np.abs(np.asarray(a, np.int16) - np.asarray(b, np.int16)).max() <= 1
    mixed = translator.translate([photo(64, 48), photo(30, 20)])
    assert [m.size for m in mixed] == [(64, 48), (30, 20)]


def test_reference_mode_uses_batch_stats_and_keeps_running_stats(tmp_path):
    translator = Translator.from_dir(make_model(tmp_path), device="cpu")
    before = {k: v.clone() for k, v in translator.nets["G"].state_dict().items()}
    image = photo(128, 128)
    eval_out = np.asarray(translator.translate(image), np.int16)
    ref_out = np.asarray(translator.translate(image, reference_mode=True), np.int16)
    assert np.abs(eval_out - ref_out).mean() > 1
    for key, value in translator.nets["G"].state_dict().items():
        if "num_batches_tracked" not in key:
            torch.testing.assert_close(value, before[key], rtol=0, atol=0)
    assert not translator.nets["G"].training


def test_colorization_keeps_full_resolution_L(tmp_path):
    model = make_model(tmp_path, task="colorization", input_nc=1, output_nc=2, color_space="lab", input_kind="gray")
    translator = Translator.from_dir(model, device="cpu")
    image = photo(200, 150)
    out = translator.translate(image, size=64)
    assert out.size == (200, 150)
    L_in = encode_lab(to_tensor(image).add(1).div(2))[0]
    L_out = encode_lab(to_tensor(out).add(1).div(2))[0]
    assert (L_in - L_out).abs().mean() * 50 < 2.0  # Lab units


def test_cyclegan_cycle_and_missing_direction(tmp_path):
    config = dict(task="cycle_gan", netG="resnet_6blocks", norm="instance", use_dropout=False)
    both = Translator.from_dir(make_model(tmp_path, "both", **config), device="cpu")
    fake, rec = both.cycle(photo(50, 34))
    assert fake.size == rec.size == (50, 34)
    one = Translator.from_dir(make_model(tmp_path, "one", only=["G_A"], **config), device="cpu")
    assert one.directions == ("AtoB",)
    with pytest.raises(ValueError, match="no BtoA generator"):
        one.translate(photo(8, 8), direction="BtoA")


def test_discriminator_map(tmp_path):
    translator = Translator.from_dir(make_model(tmp_path, with_d=True), device="cpu", with_discriminators=True)
    realness = translator.discriminator_map(photo(100, 80, seed=1), photo(100, 80, seed=2))
    assert realness.shape == (80, 100) and 0 <= realness.min() <= realness.max() <= 1
    without = Translator.from_dir(make_model(tmp_path, "nod"), device="cpu")
    with pytest.raises(ValueError, match="without its discriminator"):
        without.discriminator_map(photo(10, 10), photo(10, 10))
