"""engine.color: torch Lab conversion against skimage, normalization, gradients, devices."""
import warnings

import numpy as np
import pytest
import torch
from skimage import color as skcolor

from engine.color import decode_lab, encode_lab, lab_to_rgb, rgb_to_gray_L, rgb_to_lab

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def random_rgb(shape=(2, 3, 24, 32), seed=0) -> np.ndarray:
    rgb = np.random.default_rng(seed).random(shape)
    rgb[0, :, 0, :4] = 0.0   # exact black and white and the sRGB / Lab breakpoints
    rgb[0, :, 1, :4] = 1.0
    rgb[0, :, 2, :4] = 0.04045
    rgb[0, :, 3, :4] = 0.02
    return rgb


def sk_rgb2lab(batch: np.ndarray) -> np.ndarray:
    return np.stack([skcolor.rgb2lab(image.transpose(1, 2, 0)).transpose(2, 0, 1) for image in batch])


def sk_lab2rgb(batch: np.ndarray) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # skimage warns about out-of-gamut values it clips
        return np.stack([skcolor.lab2rgb(image.transpose(1, 2, 0)).transpose(2, 0, 1) for image in batch])


@pytest.mark.parametrize("device", DEVICES)
def test_rgb_to_lab_matches_skimage(device):
    rgb = random_rgb()
    ours = rgb_to_lab(torch.tensor(rgb, dtype=torch.float32, device=device)).cpu().numpy()
    assert np.abs(ours - sk_rgb2lab(rgb)).max() < 1e-3


@pytest.mark.parametrize("device", DEVICES)
def test_lab_to_rgb_matches_skimage_in_and_out_of_gamut(device):
    rng = np.random.default_rng(1)
    in_gamut = sk_rgb2lab(random_rgb(seed=2))
    anything = np.concatenate([rng.uniform(0, 100, (2, 1, 24, 32)), rng.uniform(-110, 110, (2, 2, 24, 32))], axis=1)
    for lab in (in_gamut, anything):
        ours = lab_to_rgb(torch.tensor(lab, dtype=torch.float32, device=device)).cpu().numpy()
        assert np.abs(ours - sk_lab2rgb(lab)).max() < 1e-3
        assert ours.min() >= 0.0 and ours.max() <= 1.0


def test_unbatched_and_float64():
    rgb = random_rgb()[0]
    lab32 = rgb_to_lab(torch.tensor(rgb, dtype=torch.float32))
    lab64 = rgb_to_lab(torch.tensor(rgb))
    assert lab32.shape == (3, 24, 32) and lab64.dtype == torch.float64
    assert np.abs(lab64.numpy() - skcolor.rgb2lab(rgb.transpose(1, 2, 0)).transpose(2, 0, 1)).max() < 1e-8
    assert lab_to_rgb(lab64).dtype == torch.float64


def test_known_values():
    white_black = torch.tensor([[[1.0]] * 3, [[0.0]] * 3]).view(2, 3, 1, 1)
    lab = rgb_to_lab(white_black).view(2, 3)
    # skimage's matrix leaves white at a, b ~ 0.005, so compare loosely
    torch.testing.assert_close(lab, torch.tensor([[100.0, 0.0, 0.0], [0.0, 0.0, 0.0]]), atol=0.02, rtol=0)
    red = rgb_to_lab(torch.tensor([1.0, 0.0, 0.0]).view(3, 1, 1)).flatten()
    torch.testing.assert_close(red, torch.tensor([53.24, 80.09, 67.20]), atol=0.02, rtol=0)


def test_encode_decode_round_trip_and_ranges():
    rgb = torch.tensor(random_rgb(), dtype=torch.float32)
    L_norm, ab_norm = encode_lab(rgb)
    assert L_norm.shape == (2, 1, 24, 32) and ab_norm.shape == (2, 2, 24, 32)
    assert L_norm.min() >= -1 and L_norm.max() <= 1 + 1e-6 and ab_norm.abs().max() <= 1.0
    lab = torch.tensor(sk_rgb2lab(random_rgb()), dtype=torch.float32)
    torch.testing.assert_close(L_norm, lab[:, :1] / 50 - 1, atol=1e-4, rtol=0)
    torch.testing.assert_close(ab_norm, lab[:, 1:] / 110, atol=1e-4, rtol=0)
    torch.testing.assert_close(decode_lab(L_norm, ab_norm), rgb, atol=1e-4, rtol=0)
    torch.testing.assert_close(rgb_to_gray_L(rgb), L_norm)
    single_L, single_ab = encode_lab(rgb[0])
    assert single_L.shape == (1, 24, 32) and decode_lab(single_L, single_ab).shape == (3, 24, 32)


def test_gray_has_no_color():
    gray = torch.rand(1, 1, 8, 8).expand(1, 3, 8, 8)
    assert encode_lab(gray)[1].abs().max() < 1e-4


def test_gradients_are_finite_everywhere():
    rgb = torch.tensor(random_rgb(), dtype=torch.float32, requires_grad=True)
    L_norm, ab_norm = encode_lab(rgb)
    (L_norm.sum() + ab_norm.sum()).backward()
    assert torch.isfinite(rgb.grad).all() and rgb.grad.abs().sum() > 0
    lab = torch.cat([torch.rand(2, 1, 8, 8) * 100, torch.rand(2, 2, 8, 8) * 300 - 150], 1).requires_grad_(True)
    lab_to_rgb(lab).sum().backward()
    assert torch.isfinite(lab.grad).all()


def test_gradcheck():
    rgb = (torch.rand(1, 3, 2, 3, dtype=torch.float64) * 0.8 + 0.1).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda x: rgb_to_lab(x), (rgb,))
    lab = rgb_to_lab(rgb.detach()).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda x: lab_to_rgb(x), (lab,))


def test_bad_inputs():
    with pytest.raises(ValueError):
        rgb_to_lab(torch.rand(4, 8, 8))
    with pytest.raises(ValueError):
        lab_to_rgb(torch.rand(8, 8))
    with pytest.raises(TypeError):
        rgb_to_lab(torch.zeros(3, 4, 4, dtype=torch.uint8))
    with pytest.raises(ValueError):
        decode_lab(torch.zeros(2, 4, 4), torch.zeros(2, 4, 4))
