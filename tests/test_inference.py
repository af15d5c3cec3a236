"""Translator: any size and mode, batching, reference test-time mode, colorization, CycleGAN, D maps."""
import numpy as np
import pytest
import torch
from PIL import Image

from engine import ModelConfig, Translator, save_model
from engine.color import encode_lab
from engine.images import to_pil, to_tensor


def make_model(tmp_path, name="m", with_d=False, only=None, **overrides):
    options = dict(task="pix2pix", netG="unet_128", ngf=4, norm="batch", use_dropout=True,
                   netD="basic" if with_d else None, ndf=4, name=name)
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


@pytest.fixture(scope="module")
def pix2pix_dir(tmp_path_factory):
    """One small pix2pix model (unet_128, batch norm, dropout) shared by the read-only tests."""
    return make_model(tmp_path_factory.mktemp("shared"))


def photo(width, height, mode="RGB", seed=0):
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8)).convert(mode)


@pytest.mark.parametrize("width,height", [(300, 203), (1, 1), (1, 500), (128, 128), (257, 129)])
def test_output_has_input_size(pix2pix_dir, width, height):
    translator = Translator.from_dir(pix2pix_dir, device="cpu")
    assert translator.translate(photo(width, height)).size == (width, height)


@pytest.mark.parametrize("mode", ["L", "RGBA", "P", "CMYK", "I;16"])
def test_any_mode(pix2pix_dir, mode):
    translator = Translator.from_dir(pix2pix_dir, device="cpu")
    image = photo(40, 30, "L").convert(mode) if mode == "I;16" else photo(40, 30, mode)
    out = translator.translate(image)
    assert out.mode == "RGB" and out.size == (40, 30)


def test_large_images_are_capped_and_restored(tmp_path):
    translator = Translator(*__import__("engine").load_model(make_model(tmp_path)), device="cpu", max_side=256)
    assert translator.translate(photo(1500, 400)).size == (1500, 400)


def test_batch_equals_singles(pix2pix_dir):
    translator = Translator.from_dir(pix2pix_dir, device="cpu")
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


# -- lower level, padding, threads, inputs ----------------------------------------------------------------
def test_translate_tensor_batch_equals_singles(pix2pix_dir):
    translator = Translator.from_dir(pix2pix_dir, device="cpu")
    torch.manual_seed(1)
    batch = torch.rand(3, 3, 48, 40) * 2 - 1
    batched = translator.translate_tensor(batch)
    singles = torch.cat([translator.translate_tensor(batch[i:i + 1]) for i in range(3)])
    assert batched.shape == (3, 3, 48, 40)
    torch.testing.assert_close(batched, singles, rtol=0, atol=1e-5)
    torch.testing.assert_close(translator.translate_tensor(batch[0]), batched[0], rtol=0, atol=1e-5)
    with pytest.raises(ValueError, match="expected a"):
        translator.translate_tensor(torch.zeros(1, 1, 8, 8))


@pytest.mark.parametrize("height,width,multiple,min_side", [(200, 300, 256, 1), (1, 500, 128, 1), (3, 2, 4, 1),
                                                            (10, 12, 1, 70), (128, 128, 256, 1)])
def test_pad_to_multiple_keeps_the_image_centered(height, width, multiple, min_side):
    from engine.inference import pad_to_multiple
    batch = torch.rand(2, 3, height, width)
    padded, (top, left) = pad_to_multiple(batch, multiple, min_side)
    h, w = padded.shape[-2:]
    assert h % multiple == 0 and w % multiple == 0 and h >= max(height, min_side) and w >= max(width, min_side)
    assert torch.equal(padded[..., top:top + height, left:left + width], batch)
    if height > 1 and w > width:  # reflection (not zeros, not edge replication) next to the image
        assert torch.equal(padded[..., top:top + height, left - 1], batch[..., :, 1])


def test_unet_256_pads_odd_sizes(tmp_path):
    translator = Translator.from_dir(make_model(tmp_path, netG="unet_256", ngf=2), device="cpu")
    assert translator.translate_tensor(torch.zeros(1, 3, 200, 300)).shape == (1, 3, 200, 300)
    assert translator.translate(photo(300, 200)).size == (300, 200)


def test_sixteen_bit_inputs(pix2pix_dir, tmp_path):
    translator = Translator.from_dir(pix2pix_dir, device="cpu")
    ramp = (np.linspace(0, 65535, 37 * 23).reshape(23, 37)).astype(np.uint16)
    path = tmp_path / "ramp16.png"
    Image.fromarray(ramp).save(path)
    assert Image.open(path).mode.startswith("I")
    outs = translator.translate([path, ramp, np.stack([ramp] * 3, axis=2)])
    assert [o.size for o in outs] == [(37, 23)] * 3 and all(o.mode == "RGB" for o in outs)


def test_gray_input_model_and_size_option(tmp_path):
    translator = Translator.from_dir(make_model(tmp_path, input_nc=1, output_nc=1), device="cpu")
    out = translator.translate(photo(70, 45, "RGBA"), size=32)
    assert out.mode == "RGB" and out.size == (70, 45)
    assert translator.translate([]) == []


def test_concurrent_eval_and_reference_calls(tmp_path):
    import threading
    translator = Translator.from_dir(make_model(tmp_path), device="cpu")
    net = translator.nets["G"]
    stats = {k: v.clone() for k, v in net.state_dict().items()}
    torch.manual_seed(2)
    batch = torch.rand(1, 3, 64, 64) * 2 - 1
    expected = translator.translate_tensor(batch)
    errors, mismatches = [], []

    def worker(reference):
        try:
            for _ in range(6):
                out = translator.translate_tensor(batch, reference_mode=reference)
                if not reference and not torch.equal(out, expected):
                    mismatches.append(float((out - expected).abs().max()))
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(i % 2 == 0,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and not mismatches
    for key, value in net.state_dict().items():
        assert torch.equal(value, stats[key]), key
    assert not net.training


def test_reference_mode_matches_train_mode_batch_statistics(tmp_path):
    # no dropout, so train mode is deterministic: reference mode == a train-mode copy of the network
    import copy
    translator = Translator.from_dir(make_model(tmp_path, use_dropout=False), device="cpu")
    torch.manual_seed(3)
    batch = torch.rand(2, 3, 128, 128) * 2 - 1  # a multiple of 128: no padding
    twin = copy.deepcopy(translator.nets["G"]).train()
    with torch.no_grad():
        expected = twin(batch)
    torch.testing.assert_close(translator.translate_tensor(batch, reference_mode=True), expected)


def test_colorization_of_a_large_image_uses_full_resolution_L(tmp_path):
    from engine import load_model
    model = make_model(tmp_path, task="colorization", input_nc=1, output_nc=2, color_space="lab", input_kind="gray")
    translator = Translator(*load_model(model), device="cpu", max_side=48)
    image = photo(150, 100, seed=4)
    out = translator.translate(image)
    assert out.size == (150, 100)
    L_in = encode_lab(to_tensor(image).add(1).div(2))[0] * 50
    L_out = encode_lab(to_tensor(out).add(1).div(2))[0] * 50
    assert (L_in - L_out).abs().mean() < 2.0  # not a 48-px L upsampled: that would blur noise away


def test_colorizer_turns_a_color_photo_gray_first(tmp_path):
    model = make_model(tmp_path, task="colorization", input_nc=1, output_nc=2, color_space="lab", input_kind="gray")
    translator = Translator.from_dir(model, device="cpu")
    image = photo(32, 32, seed=5)
    x = translator.encode(image)
    assert x.shape == (1, 32, 32)
    torch.testing.assert_close(x, encode_lab(to_tensor(image).add(1).div(2))[0])


def test_edges_model_normalizes_drawings(tmp_path):
    from engine.edges import normalize_drawing
    translator = Translator.from_dir(make_model(tmp_path, input_kind="edges"), device="cpu")
    canvas = Image.new("RGBA", (64, 48), (0, 0, 0, 0))
    from PIL import ImageDraw
    ImageDraw.Draw(canvas).line([(5, 5), (60, 40)], fill=(30, 90, 255, 255), width=3)
    out = translator.translate(canvas)
    translator.normalize_drawings = False
    expected = translator.translate(normalize_drawing(canvas))
    assert np.array_equal(np.asarray(out), np.asarray(expected))


def test_cycle_reconstruction_uses_both_generators(tmp_path):
    config = dict(task="cycle_gan", netG="resnet_6blocks", norm="instance", use_dropout=False)
    translator = Translator.from_dir(make_model(tmp_path, **config), device="cpu")
    image = photo(24, 20, seed=6)
    fake, rec = translator.cycle(image)
    x = to_tensor(image).unsqueeze(0)
    expected = translator.translate_tensor(translator.translate_tensor(x), direction="BtoA")
    assert np.abs(np.asarray(rec, np.int16) - np.asarray(to_pil(expected), np.int16)).max() <= 1
    assert np.array_equal(np.asarray(fake), np.asarray(translator.translate(image)))
    fake_b, rec_b = translator.cycle(image, direction="BtoA")
    assert fake_b.size == rec_b.size == (24, 20)
    pix2pix = Translator.from_dir(make_model(tmp_path, "p"), device="cpu")
    with pytest.raises(ValueError, match="needs a CycleGAN"):
        pix2pix.cycle(image)
    with pytest.raises(ValueError, match="no BtoA generator"):
        pix2pix.translate(image, direction="BtoA")


def test_discriminator_maps_for_every_task(tmp_path):
    small = Translator.from_dir(make_model(tmp_path, "p", with_d=True), device="cpu", with_discriminators=True)
    assert small.discriminator_map(photo(10, 7), photo(10, 7, seed=1)).shape == (7, 10)  # below the 70px field
    color = Translator.from_dir(make_model(tmp_path, "c", with_d=True, task="colorization", input_nc=1, output_nc=2,
                                           color_space="lab", input_kind="gray"),
                                device="cpu", with_discriminators=True)
    realness = color.discriminator_map(photo(90, 60), photo(90, 60, seed=1), size=64)
    assert realness.shape == (60, 90) and realness.dtype == np.float32
    cyc = Translator.from_dir(make_model(tmp_path, "cy", with_d=True, task="cycle_gan", netG="resnet_6blocks",
                                         training={"gan_mode": "lsgan"}),
                              device="cpu", with_discriminators=True)
    for direction in ("AtoB", "BtoA"):
        realness = cyc.discriminator_map(None, photo(33, 41), direction=direction)
        assert realness.shape == (41, 33) and 0 <= realness.min() <= realness.max() <= 1


def test_devices():
    from engine.device import describe_device, pick_device
    assert pick_device("cpu") == torch.device("cpu")
    assert pick_device("auto").type in ("cuda", "mps", "cpu")
    assert describe_device(torch.device("cpu")).startswith("CPU (")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA"):
            pick_device("cuda")
        with pytest.raises(ValueError, match="no CUDA"):
            Translator.from_dir("unused", device="cuda")


def test_resnet_generator_on_images_a_few_pixels_across():
    """A ResNet generator's residual blocks pad by reflection at 1/4 resolution: tiny inputs are padded
    to its smallest side first, and the output keeps the input's size."""
    from engine import ModelConfig, Translator

    config = ModelConfig(task="cycle_gan", netG="resnet_6blocks", ngf=4, norm="instance", use_dropout=False)
    translator = Translator(config, {n: config.build_generator(n) for n in config.generator_names})
    for size in ((1, 1), (1, 300), (300, 1), (4, 4), (5, 3)):
        image = Image.new("RGB", size, (200, 100, 50))
        assert translator.translate(image).size == size
        assert translator.translate(image, direction="BtoA").size == size
