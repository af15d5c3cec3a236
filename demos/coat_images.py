"""The Coat colour tab's image work, without gradio: the square face crop and its preview, and a crop
recoloured into every coat by a StarGAN model, with the cat's own coat guessed when not given.

There is no face detector (this OpenCV has no Haar cascades and the cat-face ones are unreliable
anyway): the user frames the face with a square whose size (`zoom`) and centre are set by sliders or
by a click on the preview. zoom 1 is the largest square that fits in the photo.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageDraw

DISPLAY = 256          # side of the crop and of the coats as the tab shows them
PREVIEW_SIDE = 512     # long side of the framing preview
MAX_ZOOM = 4.0
EXAMPLE_FRAMING = (1.0, 52.0, 50.0)   # zoom, centre x %, centre y % of scikit-image's "chelsea": her face


def crop_box(size: tuple[int, int], zoom: float = 1.0, centre_x: float = 50.0, centre_y: float = 50.0
             ) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) of the square framing the face in an image of `size` (width, height).

    The square's side is the image's short side divided by `zoom` (1 to MAX_ZOOM); its centre is at
    (`centre_x`, `centre_y`) percent of the width and height, moved inwards where the square would
    leave the image."""
    if not 1.0 <= zoom <= MAX_ZOOM:
        raise ValueError(f"zoom must be between 1 and {MAX_ZOOM:g}, got {zoom}")
    if not (0.0 <= centre_x <= 100.0 and 0.0 <= centre_y <= 100.0):
        raise ValueError(f"the centre is in percent of the photo (0 to 100), got ({centre_x}, {centre_y})")
    width, height = size
    side = max(1, round(min(width, height) / zoom))
    left = min(max(round(centre_x / 100 * width - side / 2), 0), width - side)
    top = min(max(round(centre_y / 100 * height - side / 2), 0), height - side)
    return left, top, left + side, top + side


def square_crop(image: Image.Image, zoom: float = 1.0, centre_x: float = 50.0, centre_y: float = 50.0,
                side: int = DISPLAY) -> Image.Image:
    """The square of `crop_box`, resized to side x side."""
    box = crop_box(image.size, zoom, centre_x, centre_y)
    return image.crop(box).resize((side, side), Image.Resampling.LANCZOS)


def preview_size(size: tuple[int, int]) -> tuple[int, int]:
    """(width, height) of the framing preview of an image of `size`: its long side is PREVIEW_SIDE."""
    scale = PREVIEW_SIDE / max(size)
    return max(1, round(size[0] * scale)), max(1, round(size[1] * scale))


def crop_preview(image: Image.Image, zoom: float = 1.0, centre_x: float = 50.0, centre_y: float = 50.0
                 ) -> Image.Image:
    """The photo at `preview_size`, darkened outside the square, which is outlined."""
    preview = image.resize(preview_size(image.size), Image.Resampling.BILINEAR)
    scale = preview.width / image.width
    box = [round(v * scale) for v in crop_box(image.size, zoom, centre_x, centre_y)]
    shaded = Image.blend(preview, Image.new("RGB", preview.size, "black"), 0.55)
    shaded.paste(preview.crop(box), box[:2])
    draw = ImageDraw.Draw(shaded)
    draw.rectangle(box, outline=(255, 215, 0), width=3)
    return shaded


def centre_from_click(preview_size: tuple[int, int], x: float, y: float) -> tuple[float, float]:
    """The crop centre, in percent of the photo, for a click at (x, y) pixels of the preview."""
    width, height = preview_size
    return (round(min(max(x / width, 0.0), 1.0) * 100, 1), round(min(max(y / height, 0.0), 1.0) * 100, 1))


def coat_label(domain: str) -> str:
    return domain.replace("_", " ")


def _pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"), dtype=np.float64)


def psnr(a: Image.Image, b: Image.Image) -> float:
    """PSNR in dB of two same-size RGB images (8-bit range)."""
    mse = float(np.mean((_pixels(a) - _pixels(b)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


@dataclass
class Recoloring:
    """A crop in every coat and the round trips through each coat back to its own (`source`), at display size."""

    crop: Image.Image
    source: str
    guessed: bool                                          # source was guessed, not given
    coats: dict[str, Image.Image] = field(default_factory=dict)
    reconstructions: dict[str, Image.Image] = field(default_factory=dict)   # G(G(x, c), source) by coat c
    change: dict[str, float] = field(default_factory=dict)   # mean |G(x, c) - x| per coat, 0..255
    rec_psnr: dict[str, float] = field(default_factory=dict)  # PSNR of each round trip against x, dB


def recolor_crop(translator, crop: Image.Image, source: str | None = None) -> Recoloring:
    """`crop` in each of the translator's domains at the model's crop size, and G(G(x, c), source) for
    every coat c (the own coat too: there and back within it). Without `source`, the cat's own coat is
    guessed as the one whose translation changes the crop least (G(x, c_x) should leave x as it is).
    Outputs are scaled to the crop's size."""
    size = translator.config.crop_size
    small = crop.resize((size, size), Image.Resampling.LANCZOS) if crop.size != (size, size) else crop
    coats = translator.recolor(small)
    change = {name: float(np.abs(_pixels(image) - _pixels(small)).mean()) for name, image in coats.items()}
    guessed = source is None
    source = min(change, key=change.get) if guessed else source
    if source not in coats:
        raise ValueError(f"unknown coat {source!r}; this model knows {', '.join(coats)}")
    round_trips = dict(zip(coats, translator.translate(list(coats.values()), domain=source)))

    def shown(image: Image.Image) -> Image.Image:
        return image if image.size == crop.size else image.resize(crop.size, Image.Resampling.BICUBIC)

    return Recoloring(crop=crop, source=source, guessed=guessed,
                      coats={name: shown(image) for name, image in coats.items()},
                      reconstructions={name: shown(image) for name, image in round_trips.items()},
                      change=change, rec_psnr={name: psnr(image, small) for name, image in round_trips.items()})
