"""Training from one image (DeepSIM): a photo and its primitive, augmented by identical TPS warps.

The primitive is the photo's edges (`engine.edges`) unless a label map or drawing is given; with
`primitive_edges` a given primitive also gets the photo's edges as one more channel. Both images are
center-cropped to a square and resized to `load_size`; every sample is then one random TPS warp
(`engine.warp.tps_warp_tensors`, on tensors), applied to both, a random `crop_size` crop and a flip.
`render` runs a trained generator on an (edited) primitive.
"""
from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

from .config import AUGMENTATIONS
from .edges import extract_lines, normalize_drawing
from .images import ImageSource, open_image, to_pil, to_tensor
from .warp import tps_warp_tensors

EPOCH_ITEMS = 100        # items per "epoch": each is a new random warp of the one pair


def square(image: Image.Image, size: int, resample=Image.Resampling.BICUBIC) -> Image.Image:
    """The centered square of `image`, resized to size x size."""
    side = min(image.size)
    left, top = (image.width - side) // 2, (image.height - side) // 2
    return image.crop((left, top, left + side, top + side)).resize((size, size), resample)


def edge_primitive(photo: Image.Image) -> Image.Image:
    """The photo's edges as a primitive: mode L, black 1-px lines on white (as engine.edges draws them)."""
    lines = extract_lines(np.asarray(photo.convert("RGB")))
    return Image.fromarray(np.where(lines, 0, 255).astype(np.uint8))


def encode_primitive(primitive: Image.Image, edges: Image.Image | None = None) -> torch.Tensor:
    """CHW tensor in [-1, 1]: the primitive in RGB, plus the edges as a 4th channel when given."""
    tensor = to_tensor(primitive.convert("RGB"), 3)
    return tensor if edges is None else torch.cat([tensor, to_tensor(edges, 1)])


def load_pair(photo: ImageSource, primitive: ImageSource | None = None, size: int = 256,
              primitive_edges: bool = False) -> tuple[Image.Image, Image.Image, Image.Image | None]:
    """(photo, primitive, extra edges or None) as squares of `size`; the primitive defaults to the edges."""
    photo = square(open_image(photo), size)
    if primitive is None:
        return photo, edge_primitive(photo), None
    given = square(open_image(primitive), size, Image.Resampling.NEAREST)
    return photo, given, edge_primitive(photo) if primitive_edges else None


class SinglePairDataset(torch.utils.data.Dataset):
    """EPOCH_ITEMS random augmentations of one (primitive -> photo) pair: A = primitive, B = photo."""

    def __init__(self, photo: str | Path, primitive: str | Path | None = None, *, load_size: int = 256,
                 crop_size: int = 256, no_flip: bool = False, augment: str | None = "tps", tps_grid: int = 4,
                 tps_strength: float = 0.04, primitive_edges: bool = False, seed: int | None = None):
        if crop_size > load_size:
            raise ValueError(f"crop_size ({crop_size}) must not exceed load_size ({load_size})")
        if augment not in (None, *AUGMENTATIONS):
            raise ValueError(f"augment must be one of {', '.join(AUGMENTATIONS)} or none, got {augment!r}")
        self.photo_path = str(photo)
        photo_image, primitive_image, edges = load_pair(photo, primitive, load_size, primitive_edges)
        self.A = encode_primitive(primitive_image, edges)
        self.B = to_tensor(photo_image, 3)
        # a given primitive may be a label map: nearest keeps its colors; edges and photo are interpolated
        self.modes = ["nearest" if primitive is not None else "bilinear", "bilinear"]
        self.crop_size, self.no_flip = crop_size, no_flip
        self.augment, self.tps_grid, self.tps_strength = augment, tps_grid, tps_strength
        self.rng = random.Random(seed)
        self.bad_files: dict[str, str] = {}

    def reseed(self, seed: int) -> None:
        self.rng.seed(seed)

    def __len__(self) -> int:
        return EPOCH_ITEMS

    def __getitem__(self, index: int) -> dict:
        A, B = self.A, self.B
        if self.augment == "tps":
            A, B = tps_warp_tensors([A, B], self.tps_grid, self.tps_strength, self.rng, self.modes)
        side = A.shape[-1]
        x, y = self.rng.randint(0, side - self.crop_size), self.rng.randint(0, side - self.crop_size)
        A, B = (t[:, y:y + self.crop_size, x:x + self.crop_size] for t in (A, B))
        if not self.no_flip and self.rng.random() > 0.5:
            A, B = A.flip(-1), B.flip(-1)
        return {"A": A.contiguous(), "B": B.contiguous(), "A_path": self.photo_path, "B_path": self.photo_path}


def drawn_primitive(canvas: ImageSource, size: int) -> Image.Image:
    """An edited edge primitive (any stroke width, on a canvas of any size) as 1-px lines at size x size."""
    return normalize_drawing(canvas, size=(size, size), thin=True)


@torch.no_grad()
def render(generator: nn.Module, primitive: Image.Image, edges: Image.Image | None = None) -> Image.Image:
    """The photo a trained single-pair generator paints for `primitive` (eval mode, the primitive's size)."""
    generator.eval()
    device = next(generator.parameters()).device
    batch = encode_primitive(primitive, edges)[None].to(device)
    return to_pil(generator(batch)[0].clamp(-1, 1))
