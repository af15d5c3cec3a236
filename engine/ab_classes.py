"""Colorization as classification (Zhang, Isola and Efros, "Colorful Image Colorization", 2016).

The ab plane is quantised into bins of 10 and only the bins that hold some sRGB colour (at some L) are
kept: `gamut_bins()` computes them from the Lab gamut of sRGB itself. Zhang et al. report 313 bins for
their gamut; the sRGB gamut gives 262 (its a spans -86..98, b -108..94: their extra bins lie outside it).
The network predicts a distribution over the bins at every pixel; training targets are soft-encoded
(5 nearest bins, Gaussian sigma 5) and weighted by class rebalancing, w ~ ((1 - lambda) p + lambda / Q)^-1
with p the empirical, smoothed prior of the training data; decoding is the annealed mean, the mean of
softmax(logits / T) (T = 0.38 in the paper: between the mean's grey and the mode's flipping).
"""
from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torch import nn

from .color import AB_SCALE, _D65_WHITE, _LAB_INVERSE_THRESHOLD, _LAB_KAPPA, _LAB_OFFSET, _XYZ_FROM_RGB

BIN_SIZE = 10.0
SOFT_NEIGHBOURS = 5
SOFT_SIGMA = 5.0
PRIOR_SIGMA = 5.0
DEFAULT_TEMPERATURE = 0.38
DEFAULT_REBALANCE = 0.5


def _in_srgb_gamut(lab: torch.Tensor) -> torch.Tensor:
    """Whether each Lab colour (channel dim 0, float64) maps to linear sRGB inside [0, 1] without clipping."""
    L, a, b = lab.unbind(0)
    fy = (L + 16.0) / 116.0
    f = torch.stack((a / 500.0 + fy, fy, fy - b / 200.0), 0)
    cube = torch.where(f > _LAB_INVERSE_THRESHOLD, f.clamp_min(0) ** 3, (f - _LAB_OFFSET) / _LAB_KAPPA)
    xyz = cube * torch.tensor(_D65_WHITE, dtype=lab.dtype).view(3, *[1] * (lab.dim() - 1))
    linear = torch.einsum("ij,j...->i...", torch.linalg.inv(torch.tensor(_XYZ_FROM_RGB, dtype=lab.dtype)), xyz)
    return ((linear >= 0) & (linear <= 1)).all(0)


@functools.lru_cache(maxsize=1)
def gamut_bins() -> torch.Tensor:
    """(Q, 2) ab centres (multiples of 10) of the bins whose 10x10 cell holds an sRGB colour at some L."""
    centres = torch.arange(-110.0, 111.0, BIN_SIZE, dtype=torch.float64)
    offsets = torch.linspace(-BIN_SIZE / 2, BIN_SIZE / 2, 5, dtype=torch.float64)
    values = (centres[:, None] + offsets[None]).reshape(-1)
    lightness = torch.linspace(0.0, 100.0, 101, dtype=torch.float64)
    L, a, b = torch.meshgrid(lightness, values, values, indexing="ij")
    inside = _in_srgb_gamut(torch.stack((L, a, b), 0)).any(0)
    n, k = len(centres), len(offsets)
    inside = inside.reshape(n, k, n, k).any(3).any(1)
    rows, cols = inside.nonzero(as_tuple=True)
    return torch.stack((centres[rows], centres[cols]), 1).float()


def soft_encode(ab_norm: torch.Tensor, centres: torch.Tensor) -> torch.Tensor:
    """(N, Q, H, W) soft targets of (N, 2, H, W) ab / 110: Gaussian weights on the 5 nearest bin centres."""
    ab = ab_norm.float().permute(0, 2, 3, 1) * AB_SCALE                      # N, H, W, 2
    distances = torch.cdist(ab.reshape(1, -1, 2), centres[None].to(ab))[0]  # pixels, Q
    nearest, index = distances.topk(SOFT_NEIGHBOURS, dim=1, largest=False)
    weights = torch.softmax(-nearest ** 2 / (2 * SOFT_SIGMA ** 2), dim=1)
    targets = torch.zeros_like(distances).scatter_(1, index, weights)
    n, h, w, _ = ab.shape
    return targets.reshape(n, h, w, -1).permute(0, 3, 1, 2)


def empirical_prior(ab_batches, centres: torch.Tensor) -> torch.Tensor:
    """(Q,) share of training pixels per bin (nearest centre), smoothed by a Gaussian of sigma 5 in ab."""
    counts = torch.zeros(len(centres), dtype=torch.float64)
    for ab_norm in ab_batches:
        ab = ab_norm.float().permute(0, 2, 3, 1).reshape(-1, 2) * AB_SCALE
        nearest = torch.cdist(ab[None], centres[None].to(ab))[0].argmin(1)
        counts += torch.bincount(nearest, minlength=len(centres)).double()
    prior = counts / counts.sum().clamp_min(1)
    kernel = torch.exp(-torch.cdist(centres.double(), centres.double()) ** 2 / (2 * PRIOR_SIGMA ** 2))
    smoothed = kernel @ prior
    return (smoothed / smoothed.sum()).float()


def rebalancing_weights(prior: torch.Tensor, mix: float = DEFAULT_REBALANCE) -> torch.Tensor:
    """(Q,) class weights w ~ ((1 - mix) p + mix / Q)^-1, normalised so that E_p[w] = 1 (the paper's eq. 4)."""
    weights = 1.0 / ((1 - mix) * prior + mix / len(prior))
    return weights / (prior * weights).sum()


def rebalanced_cross_entropy(logits: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Mean over pixels of -w[argmax target] * sum_q target_q log softmax(logits)_q."""
    log_probs = F.log_softmax(logits.float(), dim=1)
    pixel_weights = weights.to(logits.device)[targets.argmax(1)]
    return -(pixel_weights * (targets * log_probs).sum(1)).mean()


def annealed_mean(logits: torch.Tensor, centres: torch.Tensor, temperature: float) -> torch.Tensor:
    """(N, 2, H, W) ab / 110 decoded from (N, Q, H, W) logits: sum_q softmax(logits / T)_q * centre_q."""
    probs = torch.softmax(logits.float() / temperature, dim=1)
    return torch.einsum("nqhw,qc->nchw", probs, centres.to(probs)) / AB_SCALE


class ABClassifier(nn.Module):
    """A generator's features (no tanh) -> 1x1 conv -> logits over the gamut bins; forward decodes them.

    `forward(x)` returns ab / 110 by the annealed mean at `temperature`, like a regression colorizer, so
    inference, evaluation and ONNX export need nothing new; `forward(x, logits=True)` gives the logits.
    """

    def __init__(self, features: nn.Module, feature_channels: int, temperature: float = DEFAULT_TEMPERATURE):
        super().__init__()
        if temperature <= 0:
            raise ValueError(f"temperature must be positive, got {temperature}")
        self.features = features
        self.classify = nn.Conv2d(feature_channels, len(gamut_bins()), kernel_size=1)
        self.register_buffer("centres", gamut_bins().clone(), persistent=False)
        self.temperature = temperature
        self.size_multiple = getattr(features, "size_multiple", 1)
        self.min_side = getattr(features, "min_side", 1)

    def forward(self, x: torch.Tensor, logits: bool = False) -> torch.Tensor:
        scores = self.classify(self.features(x))
        return scores if logits else annealed_mean(scores, self.centres, self.temperature)
