"""pix2pix: conditional GAN D(x, y) plus lambda * L1 (or L2); with netD 'none', pure regression."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..checkpoint import unwrap
from ..losses import GANLoss, gradient_penalty
from ..noise_input import mode_seeking_term
from .base import Recipe, call, set_requires_grad


class Pix2PixRecipe(Recipe):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.gan_loss = GANLoss(self.cfg.gan_mode)
        self.regression = F.l1_loss if self.cfg.regression == "l1" else F.mse_loss

    def train_step(self, batch):
        real_a, real_b = self.to_device(batch["A"]), self.to_device(batch["B"])
        G, D = self.nets["G"], self.nets.get("D")
        opt_g, opt_d = self.optimizers["G"], self.optimizers.get("D")
        losses = {}
        if self.cfg.lambda_ms > 0:  # two noise samples per input, pushed apart by the mode-seeking term
            n = real_a.shape[0]
            real_a, real_b = torch.cat([real_a, real_a]), torch.cat([real_b, real_b])
            z = torch.randn(2 * n, self.cfg.nz, device=self.device)
        with self.precision.autocast():
            fake_b = G(real_a, z) if self.cfg.lambda_ms > 0 else G(real_a)
        if D is not None:
            set_requires_grad([D], True)
            opt_d.zero_grad(set_to_none=True)
            with self.precision.autocast():
                fake_ab = torch.cat([real_a, fake_b.detach()], 1)
                real_ab = torch.cat([real_a, real_b], 1)
                loss_d_fake = self.gan_loss(call(D, fake_ab, sync=False), False)
                loss_d_real = self.gan_loss(call(D, real_ab), True)
                loss_d = 0.5 * (loss_d_fake + loss_d_real)
                if self.cfg.gan_mode == "wgangp":
                    losses["D_gp"] = gradient_penalty(unwrap(D), real_ab, fake_ab, self.cfg.lambda_gp)
                    loss_d = loss_d + losses["D_gp"]
            self.precision.backward(loss_d)
            self.precision.step(opt_d)
            set_requires_grad([D], False)
            losses.update(D_real=loss_d_real, D_fake=loss_d_fake)
        opt_g.zero_grad(set_to_none=True)
        with self.precision.autocast():
            loss_g_reg = self.regression(fake_b.float(), real_b.float()) * self.cfg.lambda_L1
            loss_g = loss_g_reg
            if D is not None:
                # The frozen D is called unwrapped: its parameters get no gradients to sync here.
                fake_ab = torch.cat([real_a, fake_b], 1)
                if self.cfg.lambda_feat > 0:
                    fake_features = unwrap(D).features(fake_ab)
                    losses["G_feat"] = self.feature_matching(fake_features, real_a, real_b)
                    loss_g = loss_g + losses["G_feat"]
                    prediction = fake_features[-1]
                else:
                    prediction = unwrap(D)(fake_ab)
                loss_g_gan = self.gan_loss(prediction, True, for_discriminator=False)
                loss_g = loss_g + loss_g_gan
                losses["G_GAN"] = loss_g_gan
            if self.cfg.lambda_ms > 0:
                losses["G_MS"] = self.cfg.lambda_ms * mode_seeking_term(fake_b[:n], fake_b[n:], z[:n], z[n:],
                                                                        pool=self.cfg.ms_pool)
                loss_g = loss_g + losses["G_MS"]
        self.precision.backward(loss_g)
        self.precision.step(opt_g)
        self.precision.update()
        losses[f"G_{self.cfg.regression.upper()}"] = loss_g_reg
        return {k: v.detach() for k, v in losses.items()}

    def feature_matching(self, fake_features, real_a, real_b) -> torch.Tensor:
        """pix2pixHD's feature matching: lambda_feat * mean L1 between D's activations on the fake and
        the real pair, layer by layer (the final predictions excluded)."""
        with torch.no_grad():
            real_features = unwrap(self.nets["D"]).features(torch.cat([real_a, real_b], 1))
        pairs = list(zip(fake_features[:-1], real_features[:-1]))
        return self.cfg.lambda_feat * sum(F.l1_loss(f.float(), r.float()) for f, r in pairs) / len(pairs)

    def to_rgb(self, role: str, tensor: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        """Turn an input (role 'input') or output-space tensor into RGB [-1, 1] for a sample sheet."""
        return tensor.expand(-1, 3, -1, -1) if tensor.shape[1] == 1 else tensor

    def compute_visuals(self, batch):
        real_a, real_b = self.to_device(batch["A"]), self.to_device(batch["B"])
        fake_b = unwrap(self.nets["G"])(real_a).float()
        return [("input", self.to_rgb("input", real_a, real_a)),
                ("output", self.to_rgb("output", fake_b, real_a)),
                ("target", self.to_rgb("output", real_b, real_a))]
