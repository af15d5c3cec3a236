"""Our networks reproduce the reference implementation key for key and output for output."""
import json

import numpy as np
import pytest
import torch

from engine.checkpoint import CheckpointError, load_weights, read_state_dict
from engine.networks import define_D, define_G, discriminator_name, receptive_field

FIXTURE_NAMES = ["colorization_unet128_instance", "cyclegan_resnet9_instance", "cyclegan_resnet9_instance_legacy",
                 "patchgan_basic_batch", "pix2pix_unet256_batch_dropout"]


def build_from_fixture(cfg: dict) -> torch.nn.Module:
    if cfg["kind"] == "G":
        return define_G(cfg["input_nc"], cfg["output_nc"], cfg["ngf"], cfg["netG"], cfg["norm"], cfg["use_dropout"])
    return define_D(cfg["input_nc"], cfg["ndf"], cfg["netD"], norm=cfg["norm"])


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_reference_fixture_output(fixtures_dir, name):
    cfg = json.loads((fixtures_dir / f"{name}.json").read_text())
    net = build_from_fixture(cfg)
    state = read_state_dict(fixtures_dir / f"{name}.pth")
    assert len(state) == cfg["keys"]
    load_weights(net, state, source=name).eval()
    assert sum(p.numel() for p in net.parameters()) == cfg["params"]
    x = torch.from_numpy(np.load(fixtures_dir / f"{name}.input.npy"))
    expected = np.load(fixtures_dir / f"{name}.output.npy")
    with torch.no_grad():
        out = net(x).numpy()
    assert out.shape == tuple(cfg["output_shape"])
    np.testing.assert_allclose(out, expected, atol=1e-4, rtol=0)


def test_non_legacy_fixtures_match_strictly_without_adaptation(fixtures_dir):
    for name in FIXTURE_NAMES:
        if name.endswith("legacy"):
            continue
        cfg = json.loads((fixtures_dir / f"{name}.json").read_text())
        net = build_from_fixture(cfg)
        state = torch.load(fixtures_dir / f"{name}.pth", weights_only=True)
        assert set(net.state_dict()) == set(state)
        net.load_state_dict(state, strict=True)


def test_legacy_instance_norm_stats_are_dropped(fixtures_dir):
    state = read_state_dict(fixtures_dir / "cyclegan_resnet9_instance_legacy.pth")
    assert any(k.endswith("running_mean") for k in state)
    net = define_G(3, 3, 8, "resnet_9blocks", "instance")
    with pytest.raises(RuntimeError):
        net.load_state_dict(state, strict=True)  # what a naive loader hits
    load_weights(net, state)


FULL_SIZE = {
    "unet_256 ngf=64 norm=batch dropout (official pix2pix models)": lambda: define_G(3, 3, 64, "unet_256", "batch", True),
    "resnet_9blocks ngf=64 norm=instance no_dropout (official CycleGAN models)":
        lambda: define_G(3, 3, 64, "resnet_9blocks", "instance", False),
    "basic PatchGAN ndf=64 norm=batch input_nc=6 (official pix2pix D)": lambda: define_D(6, 64, "basic", norm="batch"),
}


def test_full_size_keys_and_shapes(fixtures_dir):
    listing = json.loads((fixtures_dir / "full_size_state_dict_keys.json").read_text())
    assert set(listing) == set(FULL_SIZE)
    for title, build in FULL_SIZE.items():
        ours = {k: list(v.shape) for k, v in build().state_dict().items()}
        assert ours == listing[title], title


def test_mismatched_checkpoint_gives_a_helpful_error(fixtures_dir):
    state = read_state_dict(fixtures_dir / "pix2pix_unet256_batch_dropout.pth")
    wrong = define_G(3, 3, 8, "unet_256", "instance", True)
    with pytest.raises(CheckpointError, match="--norm"):
        load_weights(wrong, state)


@pytest.mark.parametrize("n_layers,field", [(1, 16), (2, 34), (3, 70), (4, 142), (5, 286)])
def test_receptive_field_formula_and_measured(n_layers, field):
    assert receptive_field("n_layers", n_layers) == field
    # Measure it: the gradient of one output patch w.r.t. the input covers exactly `field` pixels.
    net = define_D(1, 4, "n_layers", n_layers, norm="none")
    for m in net.modules():
        if isinstance(m, torch.nn.Conv2d):
            torch.nn.init.constant_(m.weight, 0.1)
    size = 320
    x = torch.zeros(1, 1, size, size, requires_grad=True)
    out = net(x)
    out[0, 0, out.shape[2] // 2, out.shape[3] // 2].backward()
    rows = (x.grad[0, 0].abs().sum(1) > 0).nonzero()
    assert rows.max() - rows.min() + 1 == field


def test_pixel_and_basic_names():
    assert receptive_field("pixel") == 1
    assert receptive_field("basic") == 70
    assert discriminator_name("pixel") == "1x1 PixelGAN"
    assert discriminator_name("n_layers", 5) == "286x286 PatchGAN"
    x = torch.randn(2, 6, 64, 64)
    assert define_D(6, 8, "pixel")(x).shape == (2, 1, 64, 64)


@pytest.mark.parametrize("netG,size", [("unet_128", 128), ("unet_256", 256), ("unet_6", 64),
                                       ("resnet_6blocks", 36), ("resnet_9blocks", 64)])
@pytest.mark.parametrize("norm", ["batch", "instance", "none"])
def test_generators_keep_size(netG, size, norm):
    net = define_G(3, 2, 4, netG, norm, use_dropout=True).eval()
    assert net(torch.randn(2, 3, size, size)).shape == (2, 2, size, size)


def test_unknown_names_are_rejected():
    with pytest.raises(ValueError, match="unknown generator"):
        define_G(3, 3, 8, "vgg")
    with pytest.raises(ValueError, match="n_layers_D"):
        define_D(6, 8, "n_layers", n_layers_D=7)
    with pytest.raises(ValueError, match="norm"):
        define_G(3, 3, 8, "unet_128", norm="group")


@pytest.mark.parametrize("netG", ["unet_128", "unet_6", "resnet_6blocks"])
@pytest.mark.parametrize("upsample", ["nearest", "bilinear"])
def test_resize_conv_decoders_keep_size_and_use_no_transposed_convs(netG, upsample):
    net = define_G(3, 3, 8, netG, upsample=upsample).eval()
    side = 128 if netG == "unet_128" else 64
    with torch.no_grad():
        assert net(torch.zeros(1, 3, side, side)).shape == (1, 3, side, side)
    assert not any(isinstance(m, torch.nn.ConvTranspose2d) for m in net.modules())
    assert define_G(3, 3, 8, netG).state_dict().keys() != net.state_dict().keys()


def test_transposed_decoder_is_the_default_and_unknown_upsampling_is_rejected():
    default = define_G(3, 3, 8, "unet_128")
    assert sum(isinstance(m, torch.nn.ConvTranspose2d) for m in default.modules()) == 7
    with pytest.raises(ValueError, match="upsample"):
        define_G(3, 3, 8, "unet_128", upsample="pixelshuffle")


def test_resize_conv_decoder_has_no_checkerboard_at_initialization():
    """With random weights and a flat input, a transposed-conv decoder already prints a 2-px grid; resize-conv does not."""
    from engine.evaluate import nyquist_share
    torch.manual_seed(0)
    shares = {}
    for upsample in ("transpose", "nearest"):
        net = define_G(3, 3, 16, "resnet_6blocks", norm="instance", upsample=upsample).eval()
        with torch.no_grad():
            out = net(torch.zeros(1, 3, 64, 64) + 0.3)[0]
        shares[upsample] = nyquist_share(((out + 1) * 127.5).clamp(0, 255).byte().permute(1, 2, 0).numpy())
    assert shares["nearest"] < 0.2 * shares["transpose"]


def test_spectral_norm_discriminator_has_unit_spectral_norm_and_exposes_features():
    torch.manual_seed(0)
    net = define_D(6, 8, "basic", spectral_norm=True).train()
    x = torch.randn(2, 6, 64, 64)
    for _ in range(20):   # power iterations run in training-mode forwards
        net(x)
    conv = net.model[0]
    sigma = torch.linalg.matrix_norm(conv.weight.detach().flatten(1), ord=2)
    assert sigma.item() == pytest.approx(1.0, abs=0.05)
    net.eval()   # no power iteration, running BatchNorm statistics: the same network twice
    features = net.features(x)
    assert len(features) == 5 and torch.allclose(features[-1], net(x))
    assert define_D(6, 8, "basic").state_dict().keys() != net.state_dict().keys()
