"""A generator with a noise input: z (nz numbers per image) broadcast over the image and concatenated to
its input channels, as the simplest of BicycleGAN's options. pix2pix's own noise is dropout alone, which
its authors found barely changes the output; with z and a mode-seeking term (Mao et al., "Mode Seeking
Generative Adversarial Networks", 2019) one input gets several different answers.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def broadcast_noise(z: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """(N, nz) noise as (N, nz, H, W) planes of the size of `like`."""
    return z.to(like)[:, :, None, None].expand(-1, -1, *like.shape[-2:])


def mode_seeking_term(fake_1: torch.Tensor, fake_2: torch.Tensor, z_1: torch.Tensor, z_2: torch.Tensor,
                      eps: float = 1e-5, pool: int = 1) -> torch.Tensor:
    """Mao et al.'s regulariser, to minimise: 1 / (mean|G(x, z1) - G(x, z2)| / mean|z1 - z2| + eps).

    pool > 1 compares the two outputs averaged over pool x pool blocks: differences finer than a block
    (pixel stripes, a 2-pixel grid) then earn no diversity, only different colours of regions do.
    """
    difference = fake_1.float() - fake_2.float()
    if pool > 1:   # the mean of a difference is the difference of the means
        difference = F.avg_pool2d(difference, pool, ceil_mode=True)
    ratio = difference.abs().mean() / (z_1 - z_2).abs().mean()
    return 1.0 / (ratio + eps)


def mean_pairwise_l1(samples: torch.Tensor) -> float:
    """Mean L1 between every pair of (K, C, H, W) samples of one input (0 when all are equal)."""
    k = samples.shape[0]
    if k < 2:
        return 0.0
    flat = samples.float().flatten(1)
    distances = torch.cdist(flat, flat, p=1) / flat.shape[1]
    return float(distances.sum() / (k * (k - 1)))


class NoiseInputGenerator(nn.Module):
    """Wraps a generator built for input_nc + nz channels; forward(x, z) with z of shape (N, nz).

    Without z, training mode draws z ~ N(0, I) (the global RNG, as dropout does) and eval mode uses
    z = 0, the prior's centre, so plain inference, evaluation and ONNX export stay deterministic.
    """

    def __init__(self, generator: nn.Module, nz: int):
        super().__init__()
        if nz < 1:
            raise ValueError(f"nz must be at least 1, got {nz}")
        self.generator = generator
        self.nz = nz
        self.size_multiple = getattr(generator, "size_multiple", 1)
        self.min_side = getattr(generator, "min_side", 1)

    def forward(self, x: torch.Tensor, z: torch.Tensor | None = None) -> torch.Tensor:
        if z is None:
            shape = (x.shape[0], self.nz)
            z = torch.randn(shape, device=x.device) if self.training else torch.zeros(shape, device=x.device)
        if z.shape != (x.shape[0], self.nz):
            raise ValueError(f"expected z of shape ({x.shape[0]}, {self.nz}), got {tuple(z.shape)}")
        return self.generator(torch.cat([x, broadcast_noise(z, x)], 1))


class LabelInputGenerator(NoiseInputGenerator):
    """A generator told a class, e.g. a cat's coat: forward(x, labels) with labels (N,) class indices,
    fed as one-hot planes concatenated to the input like z. Index -1 (or no labels) is all-zero planes:
    "no label", the model's own choice, which training teaches by dropping some labels."""

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return super().forward(x, label_planes(labels, self.nz, x.shape[0], x.device))


def label_planes(labels: torch.Tensor | None, classes: int, count: int, device: torch.device) -> torch.Tensor:
    """(count, classes) one-hot rows of class indices; -1 and None give zero rows."""
    if labels is None:
        return torch.zeros(count, classes, device=device)
    labels = torch.as_tensor(labels, device=device).long().reshape(-1)
    if labels.shape[0] != count or bool(((labels < -1) | (labels >= classes)).any()):
        raise ValueError(f"expected {count} class indices in [-1, {classes - 1}], got {labels.tolist()}")
    return F.one_hot(labels.clamp(min=0), classes).float() * (labels >= 0).float()[:, None]
