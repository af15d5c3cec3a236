"""GAN objectives: vanilla (BCE with logits), lsgan, wgangp, hinge; and the WGAN-GP gradient penalty."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

GAN_MODES = ("vanilla", "lsgan", "wgangp", "hinge")


class GANLoss(nn.Module):
    """Loss of a discriminator's raw output (patch map of logits) against 'real' or 'fake'.

    `for_discriminator` matters only for hinge, whose generator loss is -D(G(x)).
    """

    def __init__(self, gan_mode: str, real_label: float = 1.0, fake_label: float = 0.0):
        super().__init__()
        if gan_mode not in GAN_MODES:
            raise ValueError(f"unknown gan_mode {gan_mode!r}; choose one of {', '.join(GAN_MODES)}")
        self.gan_mode = gan_mode
        self.real_label = real_label
        self.fake_label = fake_label

    def forward(self, prediction: torch.Tensor, target_is_real: bool, for_discriminator: bool = True):
        prediction = prediction.float()
        if self.gan_mode in ("vanilla", "lsgan"):
            target = torch.full_like(prediction, self.real_label if target_is_real else self.fake_label)
            if self.gan_mode == "vanilla":
                return F.binary_cross_entropy_with_logits(prediction, target)
            return F.mse_loss(prediction, target)
        if self.gan_mode == "wgangp":
            return -prediction.mean() if target_is_real else prediction.mean()
        if not for_discriminator:  # hinge, generator side
            return -prediction.mean()
        return F.relu(1.0 - prediction).mean() if target_is_real else F.relu(1.0 + prediction).mean()


def gradient_penalty(netD: nn.Module, real: torch.Tensor, fake: torch.Tensor, weight: float = 10.0,
                     constant: float = 1.0) -> torch.Tensor:
    """WGAN-GP: weight * E[(||grad D(x_hat)|| - constant)^2] on random interpolates of real and fake."""
    alpha = torch.rand(real.shape[0], 1, 1, 1, device=real.device, dtype=real.dtype)
    mixed = (alpha * real.detach() + (1 - alpha) * fake.detach()).requires_grad_(True)
    out = netD(mixed)
    grads, = torch.autograd.grad(out.sum(), mixed, create_graph=True)
    norms = grads.flatten(1).norm(2, dim=1)
    return weight * ((norms - constant) ** 2).mean()
