"""sRGB <-> CIE Lab (D65, 2 degree observer) in torch, matching skimage.color.rgb2lab / lab2rgb.

All functions take (N, 3, H, W) or (3, H, W) float tensors (channel dim -3), run on any device and
are differentiable (branches are clamped so no NaN/inf gradients leak through `torch.where`).
Colorization normalizes Lab as the reference implementation: L_norm = L / 50 - 1, ab_norm = ab / 110.
"""
from __future__ import annotations

import torch

# skimage.color.colorconv constants: sRGB primaries, D65 white point.
_XYZ_FROM_RGB = (
    (0.412453, 0.357580, 0.180423),
    (0.212671, 0.715160, 0.072169),
    (0.019334, 0.119193, 0.950227),
)
_D65_WHITE = (0.95047, 1.0, 1.08883)
_LAB_EPSILON = 0.008856   # xyz2lab: cube root above, linear segment below
_LAB_KAPPA = 7.787
_LAB_OFFSET = 16.0 / 116.0
_LAB_INVERSE_THRESHOLD = 0.2068966  # lab2xyz switch point (cube root of _LAB_EPSILON)
_SRGB_ENCODE_THRESHOLD = 0.04045
_SRGB_DECODE_THRESHOLD = 0.0031308
L_SCALE = 50.0
AB_SCALE = 110.0


def _check(image: torch.Tensor) -> None:
    if image.dim() not in (3, 4) or image.shape[-3] != 3:
        raise ValueError(f"expected a (N, 3, H, W) or (3, H, W) tensor, got {tuple(image.shape)}")
    if not image.is_floating_point():
        raise TypeError(f"expected a floating-point tensor, got {image.dtype}")


def _matrix(rows, like: torch.Tensor) -> torch.Tensor:
    return torch.tensor(rows, dtype=like.dtype, device=like.device)


def _per_channel(values, like: torch.Tensor) -> torch.Tensor:
    return torch.tensor(values, dtype=like.dtype, device=like.device).view(3, 1, 1)


def _apply_matrix(matrix: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
    return torch.einsum("ij,...jhw->...ihw", matrix, image)


def rgb_to_lab(rgb: torch.Tensor) -> torch.Tensor:
    """Lab (L in [0, 100], a/b roughly [-110, 110]) of sRGB values in [0, 1]."""
    _check(rgb)
    rgb = rgb.clamp(0.0, 1.0)
    linear = torch.where(
        rgb > _SRGB_ENCODE_THRESHOLD,
        ((rgb.clamp_min(_SRGB_ENCODE_THRESHOLD) + 0.055) / 1.055) ** 2.4,
        rgb / 12.92,
    )
    xyz = _apply_matrix(_matrix(_XYZ_FROM_RGB, rgb), linear) / _per_channel(_D65_WHITE, rgb)
    f = torch.where(
        xyz > _LAB_EPSILON,
        xyz.clamp_min(_LAB_EPSILON) ** (1.0 / 3.0),
        _LAB_KAPPA * xyz + _LAB_OFFSET,
    )
    fx, fy, fz = f.unbind(-3)
    return torch.stack((116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)), dim=-3)


def lab_to_rgb(lab: torch.Tensor) -> torch.Tensor:
    """sRGB in [0, 1] (clamped, like skimage) of Lab values."""
    _check(lab)
    L, a, b = lab.unbind(-3)
    fy = (L + 16.0) / 116.0
    fx = a / 500.0 + fy
    fz = (fy - b / 200.0).clamp_min(0.0)  # skimage zeroes negative z
    f = torch.stack((fx, fy, fz), dim=-3)
    xyz = torch.where(
        f > _LAB_INVERSE_THRESHOLD,
        f.clamp_min(_LAB_INVERSE_THRESHOLD) ** 3,
        (f - _LAB_OFFSET) / _LAB_KAPPA,
    ) * _per_channel(_D65_WHITE, lab)
    rgb_from_xyz = torch.linalg.inv(_matrix(_XYZ_FROM_RGB, lab).double()).to(lab.dtype)
    linear = _apply_matrix(rgb_from_xyz, xyz)
    rgb = torch.where(
        linear > _SRGB_DECODE_THRESHOLD,
        1.055 * linear.clamp_min(_SRGB_DECODE_THRESHOLD) ** (1.0 / 2.4) - 0.055,
        12.92 * linear,
    )
    return rgb.clamp(0.0, 1.0)


def encode_lab(rgb01: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(L_norm, ab_norm) of sRGB in [0, 1]: L / 50 - 1 (1 channel, [-1, 1]) and ab / 110 (2 channels)."""
    lab = rgb_to_lab(rgb01)
    return lab[..., :1, :, :] / L_SCALE - 1.0, lab[..., 1:, :, :] / AB_SCALE


def decode_lab(L_norm: torch.Tensor, ab_norm: torch.Tensor) -> torch.Tensor:
    """sRGB in [0, 1] from normalized L (1 channel) and ab (2 channels), the inverse of encode_lab."""
    if L_norm.shape[-3] != 1 or ab_norm.shape[-3] != 2:
        raise ValueError(f"expected 1-channel L and 2-channel ab, got {tuple(L_norm.shape)} and {tuple(ab_norm.shape)}")
    return lab_to_rgb(torch.cat(((L_norm + 1.0) * L_SCALE, ab_norm * AB_SCALE), dim=-3))


def rgb_to_gray_L(rgb01: torch.Tensor) -> torch.Tensor:
    """Normalized lightness L / 50 - 1 of sRGB in [0, 1]: the colorization model's input."""
    return encode_lab(rgb01)[0]
