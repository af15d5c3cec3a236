"""StarGAN (Choi et al., 2018): one generator G(x, c) for every domain, D with real/fake and domain heads.

Each step is one discriminator step: adversarial on real images against G(x, c_target), domain
classification (cross-entropy) of the real images' labels and, with wgangp, the gradient penalty.
Every `n_critic`-th step is also a generator step: adversarial, classification of G(x, c_target) as
c_target, and the reconstruction L1 of G(G(x, c_target), c_x) against x. Losses are logged unweighted;
the generator's are those of its last step.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..checkpoint import unwrap
from ..losses import GANLoss, gradient_penalty
from .base import Recipe, call, set_requires_grad


class StarGANRecipe(Recipe):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.gan_loss = GANLoss(self.cfg.gan_mode)
        self.iteration = 0
        self.last_g_losses: dict[str, torch.Tensor] = {}

    def train_step(self, batch):
        cfg = self.cfg
        real = self.to_device(batch["A"])
        label, target = batch["label"].to(self.device), batch["target"].to(self.device)
        losses = self.discriminator_step(real, label, target)
        self.iteration += 1
        if self.generator_steps_now():
            self.last_g_losses = self.generator_step(real, label, target)
        self.precision.update()
        return {k: v.detach() for k, v in {**losses, **self.last_g_losses}.items()}

    def generator_steps_now(self) -> bool:
        """Steps 1, 1 + n_critic, 1 + 2 n_critic, ... (the first step too: G's optimizer steps before its scheduler)."""
        return (self.iteration - 1) % self.cfg.n_critic == 0

    def discriminator_step(self, real, label, target) -> dict[str, torch.Tensor]:
        cfg = self.cfg
        D = self.nets["D"]
        set_requires_grad([D], True)
        self.optimizers["D"].zero_grad(set_to_none=True)
        with self.precision.autocast():
            with torch.no_grad():
                fake = unwrap(self.nets["G"])(real, target)
            fake_patches, _ = call(D, fake, sync=False)
            real_patches, real_classes = call(D, real)
            losses = {"D_real": self.gan_loss(real_patches, True), "D_fake": self.gan_loss(fake_patches, False),
                      "D_cls": F.cross_entropy(real_classes.float(), label)}
            loss = losses["D_real"] + losses["D_fake"] + cfg.lambda_cls * losses["D_cls"]
            if cfg.gan_mode == "wgangp":
                losses["D_gp"] = gradient_penalty(lambda x: unwrap(D)(x)[0], real, fake, cfg.lambda_gp)
                loss = loss + losses["D_gp"]
        self.precision.backward(loss)
        self.precision.step(self.optimizers["D"])
        return losses

    def generator_step(self, real, label, target) -> dict[str, torch.Tensor]:
        cfg = self.cfg
        G, D = self.nets["G"], unwrap(self.nets["D"])  # the frozen D needs no gradient sync
        set_requires_grad([D], False)
        self.optimizers["G"].zero_grad(set_to_none=True)
        with self.precision.autocast():
            fake = call(G, real, target, sync=False)
            fake_patches, fake_classes = D(fake)
            reconstruction = call(G, fake, label)
            losses = {"G_GAN": self.gan_loss(fake_patches, True, for_discriminator=False),
                      "G_cls": F.cross_entropy(fake_classes.float(), target),
                      "G_rec": F.l1_loss(reconstruction.float(), real.float())}
            loss = losses["G_GAN"] + cfg.lambda_cls * losses["G_cls"] + cfg.lambda_rec * losses["G_rec"]
        self.precision.backward(loss)
        self.precision.step(self.optimizers["G"])
        set_requires_grad([D], True)
        return {k: v.detach() for k, v in losses.items()}

    def update_ema(self) -> None:
        """Average the generator after its own steps only (not after discriminator-only steps)."""
        if self.generator_steps_now():
            super().update_ema()

    def compute_visuals(self, batch):
        real = self.to_device(batch["A"])
        G = unwrap(self.nets["G"])
        labels = [torch.full((real.shape[0],), i, device=self.device) for i in range(len(self.model_config.domains))]
        return [("input", real)] + [(name, G(real, c)) for name, c in zip(self.model_config.domains, labels)]

    def state_dict(self):
        state = super().state_dict()
        state["iteration"] = self.iteration
        state["last_g_losses"] = {k: v.cpu() for k, v in self.last_g_losses.items()}
        return state

    def load_state_dict(self, state):
        super().load_state_dict(state)
        self.iteration = int(state["iteration"])
        self.last_g_losses = {k: v.to(self.device) for k, v in state["last_g_losses"].items()}
