"""pix2pix: conditional GAN D(x, y) plus lambda * L1 (or L2); with netD 'none', pure regression.
With a class input (labels_csv), G(x, c) and D(x, c, y), c some items' class or none (label_dropout)."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..checkpoint import unwrap
from ..losses import GANLoss, gradient_penalty
from ..noise_input import broadcast_noise, label_planes, mode_seeking_term
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
        labels = self.dropped_labels(batch) if self.cfg.class_input else None
        if self.cfg.lambda_ms > 0:  # two noise samples per input, pushed apart by the mode-seeking term
            n = real_a.shape[0]
            real_a, real_b = torch.cat([real_a, real_a]), torch.cat([real_b, real_b])
            z = torch.randn(2 * n, self.cfg.nz, device=self.device)
        condition = self.condition(real_a, labels)
        with self.precision.autocast():
            fake_b = G(real_a, z) if self.cfg.lambda_ms > 0 else G(real_a, labels) if labels is not None else G(real_a)
        if D is not None:
            set_requires_grad([D], True)
            opt_d.zero_grad(set_to_none=True)
            with self.precision.autocast():
                fake_ab = torch.cat([condition, fake_b.detach()], 1)
                real_ab = torch.cat([condition, real_b], 1)
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
                fake_ab = torch.cat([condition, fake_b], 1)
                if self.cfg.lambda_feat > 0:
                    fake_features = unwrap(D).features(fake_ab)
                    losses["G_feat"] = self.feature_matching(fake_features, condition, real_b)
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

    def dropped_labels(self, batch) -> torch.Tensor:
        """The batch's class indices, each replaced by -1 (no class) with probability label_dropout."""
        labels = batch["label"].long()
        dropped = torch.rand(labels.shape[0]) < self.cfg.label_dropout
        return torch.where(dropped, torch.full_like(labels, -1), labels).to(self.device)

    def condition(self, real_a: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        """What D sees beside the output: the input x, with the class planes after it for a class input."""
        if labels is None:
            return real_a
        planes = label_planes(labels, len(self.cfg.domain_list), real_a.shape[0], real_a.device)
        return torch.cat([real_a, broadcast_noise(planes, real_a)], 1)

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
        G = unwrap(self.nets["G"])
        fake_b = (G(real_a, batch["label"].to(self.device)) if self.cfg.class_input else G(real_a)).float()
        return [("input", self.to_rgb("input", real_a, real_a)),
                ("output", self.to_rgb("output", fake_b, real_a)),
                ("target", self.to_rgb("output", real_b, real_a))]
