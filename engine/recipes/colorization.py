"""Colorization: pix2pix in Lab space, L (1 channel) in, ab (2 channels) out."""
from __future__ import annotations

import torch

from ..color import decode_lab
from .pix2pix import Pix2PixRecipe


class ColorizationRecipe(Pix2PixRecipe):
    def to_rgb(self, role, tensor, condition):
        if role == "input":
            return tensor.expand(-1, 3, -1, -1)
        return decode_lab(condition.float(), tensor.float()) * 2 - 1
