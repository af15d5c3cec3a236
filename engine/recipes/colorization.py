"""Colorization: pix2pix in Lab space, L (1 channel) in, ab (2 channels) out; or, with colorization_loss
"classification", a per-pixel distribution over ab bins trained by rebalanced cross-entropy (Zhang et al.)."""
from __future__ import annotations

import torch

from ..ab_classes import empirical_prior, gamut_bins, rebalanced_cross_entropy, rebalancing_weights, soft_encode
from ..color import decode_lab
from .pix2pix import Pix2PixRecipe

PRIOR_ITEMS = 1000  # training crops the empirical ab prior is counted on


class ColorizationRecipe(Pix2PixRecipe):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.classification = self.cfg.colorization_loss == "classification"
        self.class_weights: torch.Tensor | None = None

    def prepare(self, dataset) -> None:
        """Classification: class weights from the ab prior of up to PRIOR_ITEMS seeded training crops."""
        if not self.classification:
            return
        count = min(PRIOR_ITEMS, len(dataset))
        indices = torch.linspace(0, len(dataset) - 1, count).round().long().tolist()

        def crops():
            for index in indices:
                dataset.reseed(index)
                yield dataset[index]["B"][None]

        prior = empirical_prior(crops(), gamut_bins())
        self.class_weights = rebalancing_weights(prior, self.cfg.rebalance).to(self.device)

    def train_step(self, batch):
        if not self.classification:
            return super().train_step(batch)
        if self.class_weights is None:
            raise RuntimeError("classification colorization needs prepare(dataset) before training")
        real_a, real_b = self.to_device(batch["A"]), self.to_device(batch["B"])
        opt_g = self.optimizers["G"]
        opt_g.zero_grad(set_to_none=True)
        with self.precision.autocast():
            logits = self.nets["G"](real_a, logits=True)
            targets = soft_encode(real_b, gamut_bins().to(self.device))
            loss = rebalanced_cross_entropy(logits, targets, self.class_weights)
        self.precision.backward(loss)
        self.precision.step(opt_g)
        self.precision.update()
        return {"G_CE": loss.detach()}

    def to_rgb(self, role, tensor, condition):
        if role == "input":
            return tensor.expand(-1, 3, -1, -1)
        return decode_lab(condition.float(), tensor.float()) * 2 - 1
