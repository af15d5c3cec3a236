"""CycleGAN: G_A: A->B, G_B: B->A, D_A judges B, D_B judges A; LSGAN, cycle and identity losses, image pools."""
from __future__ import annotations

import random

import torch
import torch.nn.functional as F

from ..checkpoint import unwrap
from ..losses import GANLoss, gradient_penalty
from .base import Recipe, call, set_requires_grad


class ImagePool:
    """History of generated images (Shrivastava et al.): D sees a mix of current and past fakes."""

    def __init__(self, size: int, rng: random.Random):
        self.size = size
        self.rng = rng
        self.images: list[torch.Tensor] = []

    def query(self, images: torch.Tensor) -> torch.Tensor:
        if self.size == 0:
            return images
        out = []
        for image in images.detach():
            image = image.unsqueeze(0)
            if len(self.images) < self.size:
                self.images.append(image.clone())
                out.append(image)
            elif self.rng.random() > 0.5:
                index = self.rng.randint(0, self.size - 1)
                out.append(self.images[index].clone())
                self.images[index] = image.clone()
            else:
                out.append(image)
        return torch.cat(out, 0)


class CycleGANRecipe(Recipe):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.cfg.lambda_identity > 0 and self.cfg.input_nc != self.cfg.output_nc:
            raise ValueError("identity loss needs input_nc == output_nc; set lambda_identity 0")
        self.gan_loss = GANLoss(self.cfg.gan_mode)
        self.rng = random.Random(self.cfg.seed)
        self.pool_a = ImagePool(self.cfg.pool_size, self.rng)
        self.pool_b = ImagePool(self.cfg.pool_size, self.rng)

    def discriminator_loss(self, name, real, fake):
        D = self.nets[name]
        with self.precision.autocast():
            loss_fake = self.gan_loss(call(D, fake.detach(), sync=False), False)
            loss_real = self.gan_loss(call(D, real), True)
            loss = 0.5 * (loss_real + loss_fake)
            if self.cfg.gan_mode == "wgangp":
                loss = loss + gradient_penalty(unwrap(D), real, fake, self.cfg.lambda_gp)
        self.precision.backward(loss)
        return loss

    def train_step(self, batch):
        cfg = self.cfg
        real_a, real_b = self.to_device(batch["A"]), self.to_device(batch["B"])
        G_A, G_B = self.nets["G_A"], self.nets["G_B"]
        D_A, D_B = unwrap(self.nets["D_A"]), unwrap(self.nets["D_B"])
        losses = {}
        set_requires_grad([D_A, D_B], False)
        self.optimizers["G"].zero_grad(set_to_none=True)
        use_identity = cfg.lambda_identity > 0
        with self.precision.autocast():
            fake_b = call(G_A, real_a, sync=False)
            rec_a = call(G_B, fake_b, sync=False)
            fake_a = call(G_B, real_b, sync=not use_identity)
            rec_b = call(G_A, fake_a, sync=not use_identity)
            loss_g = 0
            if use_identity:
                losses["idt_A"] = F.l1_loss(G_A(real_b).float(), real_b.float()) * cfg.lambda_B * cfg.lambda_identity
                losses["idt_B"] = F.l1_loss(G_B(real_a).float(), real_a.float()) * cfg.lambda_A * cfg.lambda_identity
                loss_g = losses["idt_A"] + losses["idt_B"]
            losses["G_A"] = self.gan_loss(D_A(fake_b), True, for_discriminator=False)
            losses["G_B"] = self.gan_loss(D_B(fake_a), True, for_discriminator=False)
            losses["cycle_A"] = F.l1_loss(rec_a.float(), real_a.float()) * cfg.lambda_A
            losses["cycle_B"] = F.l1_loss(rec_b.float(), real_b.float()) * cfg.lambda_B
            loss_g = loss_g + losses["G_A"] + losses["G_B"] + losses["cycle_A"] + losses["cycle_B"]
        self.precision.backward(loss_g)
        self.precision.step(self.optimizers["G"])

        set_requires_grad([D_A, D_B], True)
        self.optimizers["D"].zero_grad(set_to_none=True)
        losses["D_A"] = self.discriminator_loss("D_A", real_b, self.pool_b.query(fake_b))
        losses["D_B"] = self.discriminator_loss("D_B", real_a, self.pool_a.query(fake_a))
        self.precision.step(self.optimizers["D"])
        self.precision.update()
        return {k: v.detach() for k, v in losses.items()}

    def compute_visuals(self, batch):
        real_a, real_b = self.to_device(batch["A"]), self.to_device(batch["B"])
        G_A, G_B = unwrap(self.nets["G_A"]), unwrap(self.nets["G_B"])
        fake_b, fake_a = G_A(real_a), G_B(real_b)
        return [("real A", real_a), ("fake B", fake_b), ("rec A", G_B(fake_b)),
                ("real B", real_b), ("fake A", fake_a), ("rec B", G_A(fake_a))]

    def state_dict(self):
        state = super().state_dict()
        state["pools"] = {"A": [t.cpu() for t in self.pool_a.images], "B": [t.cpu() for t in self.pool_b.images]}
        state["pool_rng"] = _encode_random_state(self.rng.getstate())
        return state

    def load_state_dict(self, state):
        super().load_state_dict(state)
        self.pool_a.images = [t.to(self.device) for t in state["pools"]["A"]]
        self.pool_b.images = [t.to(self.device) for t in state["pools"]["B"]]
        self.rng.setstate(_decode_random_state(state["pool_rng"]))


def _encode_random_state(state) -> list:
    """random.Random state as nested lists, storable under torch.load(weights_only=True)."""
    version, internal, gauss = state
    return [version, list(internal), gauss]


def _decode_random_state(data) -> tuple:
    version, internal, gauss = data
    return version, tuple(internal), gauss
