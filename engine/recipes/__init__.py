"""Training recipes: pix2pix, CycleGAN, colorization and StarGAN objectives on top of the networks and losses."""
from __future__ import annotations

import torch

from ..config import TrainConfig
from .base import Precision, Recipe
from .colorization import ColorizationRecipe
from .cyclegan import CycleGANRecipe
from .pix2pix import Pix2PixRecipe
from .stargan import StarGANRecipe

RECIPES = {"pix2pix": Pix2PixRecipe, "cycle_gan": CycleGANRecipe, "colorization": ColorizationRecipe,
           "stargan": StarGANRecipe}


def build_recipe(cfg: TrainConfig, device: torch.device, precision: Precision) -> Recipe:
    return RECIPES[cfg.model](cfg, device, precision)


__all__ = ["Precision", "Recipe", "build_recipe", "RECIPES"]
