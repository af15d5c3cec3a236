"""Robust image input/output shared by every entry point.

`open_image` turns anything image-like (path, bytes, file object, PIL image, numpy array) into an
8-bit RGB PIL image or raises `ImageError` with a one-line message; `to_tensor` / `to_pil` convert
between PIL images and the engine's CHW float tensors in [-1, 1]; `image_grid` builds sample sheets.
"""
from __future__ import annotations

import io
import os
import re
import warnings
from pathlib import Path
from typing import BinaryIO, Union

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont, ImageOps, UnidentifiedImageError

DEFAULT_MAX_PIXELS = 40_000_000
MAX_PIXELS_ENV = "I2I_MAX_IMAGE_PIXELS"
GRID_GAP = 4
GRID_BACKGROUND = (255, 255, 255)

ImageSource = Union[str, os.PathLike, bytes, bytearray, memoryview, BinaryIO, Image.Image, np.ndarray]


class ImageError(ValueError):
    """An input that is not a usable image; the message is one line and names the file when known."""

    def __init__(self, reason: str, name: str | None = None):
        reason = " ".join(str(reason).split())
        super().__init__(f"{name}: {reason}" if name else reason)
        self.name = name
        self.reason = reason


def max_pixels_limit() -> int:
    """The pixel limit in force: $I2I_MAX_IMAGE_PIXELS when set, else DEFAULT_MAX_PIXELS."""
    raw = os.environ.get(MAX_PIXELS_ENV, "").strip()
    if not raw:
        return DEFAULT_MAX_PIXELS
    try:
        value = int(raw.replace("_", ""))
    except ValueError:
        value = 0
    if value <= 0:
        raise ValueError(f"{MAX_PIXELS_ENV} must be a positive integer, got {raw!r}")
    return value


def open_image(source: ImageSource, *, max_pixels: int | None = None) -> Image.Image:
    """Decode `source` into a new 8-bit RGB image, or raise ImageError.

    Accepts a path, bytes, a binary file object, a PIL image or a numpy array (HxW, HxWx1, HxWx3 or
    HxWx4; uint8, uint16 or float in [0, 1]). Applies EXIF orientation, takes the first frame of
    animations, composites transparency onto white, and scales 16-bit and 32-bit images (modes
    I;16, I, F, and uint16 arrays) to 8 bit by their actual range. Images with more than
    `max_pixels` pixels (default: `max_pixels_limit()`) are refused from their header, before decoding.
    """
    limit = max_pixels_limit() if max_pixels is None else max_pixels
    if isinstance(source, Image.Image):
        return _decoded_rgb(source, getattr(source, "filename", None) or None, limit)
    if isinstance(source, np.ndarray):
        return _from_array(source, limit)
    data, name = _read_bytes(source)
    return _decode(data, name, limit)


def _read_bytes(source) -> tuple[bytes, str | None]:
    """The encoded bytes of a path, bytes-like or binary file object, and a name for messages."""
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        name = str(path)
        if not path.exists():
            raise ImageError("file not found", name)
        if not path.is_file():
            raise ImageError("not a file", name)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ImageError(f"cannot read file ({exc.strerror or exc})", name) from exc
        return data, name
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source), None
    if hasattr(source, "read"):
        name = getattr(source, "name", None)
        name = str(name) if isinstance(name, (str, os.PathLike)) else None
        data = source.read()
        if not isinstance(data, (bytes, bytearray)):
            raise ImageError("file object must be opened in binary mode", name)
        return bytes(data), name
    raise TypeError(f"cannot open an image from {type(source).__name__}")


def _decode(data: bytes, name: str | None, limit: int) -> Image.Image:
    if not data:
        raise ImageError("file is empty (0 bytes)", name)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageError(_bomb_reason(exc, limit), name) from exc
    except UnidentifiedImageError as exc:
        raise ImageError("not a recognized image format", name) from exc
    except ValueError as exc:
        if "MAX_TEXT" in str(exc):   # PNG text chunks past Pillow's safety limits (a metadata bomb)
            raise ImageError("image metadata (PNG text chunks) is too large to read safely", name) from exc
        raise ImageError(f"image header is truncated or corrupt ({exc})", name) from exc
    except Exception as exc:  # Pillow's plugins raise many types on malformed headers
        raise ImageError(f"image header is truncated or corrupt ({exc})", name) from exc
    return _decoded_rgb(img, name, limit)


def _bomb_reason(exc: Exception, limit: int) -> str:
    """Pillow's decompression-bomb refusal (raised from the header) worded like `_check_size`."""
    match = re.search(r"\((\d+) pixels\)", str(exc))
    pixels = f"{int(match[1]):,} pixels" if match else "its pixel count"
    pillow_limit = Image.MAX_IMAGE_PIXELS or limit
    if limit < pillow_limit:
        bound = f"the limit of {limit:,} (set {MAX_PIXELS_ENV} to raise it)"
    else:
        bound = f"Pillow's limit of {pillow_limit:,} (PIL.Image.MAX_IMAGE_PIXELS)"
    return f"image is too large to open safely: {pixels}, more than {bound}"


def _decoded_rgb(img: Image.Image, name: str | None, limit: int) -> Image.Image:
    """Size check, then full decode (so corrupt data fails here), orientation and RGB conversion."""
    _check_size(img.size, limit, name)
    try:
        img.load()
    except Exception as exc:  # truncated or corrupt pixel data
        raise ImageError(f"image data is truncated or corrupt ({exc})", name) from exc
    return _to_rgb(_exif_transposed(img), name)


def _check_size(size: tuple[int, int], limit: int, name: str | None) -> None:
    width, height = size
    if width <= 0 or height <= 0:
        raise ImageError(f"image has zero size ({width}x{height})", name)
    if width * height > limit:
        raise ImageError(
            f"image is {width}x{height} = {width * height:,} pixels, more than the limit of {limit:,} "
            f"(set {MAX_PIXELS_ENV} to raise it)", name)


def _exif_transposed(img: Image.Image) -> Image.Image:
    """The image turned upright per its EXIF orientation; unchanged if the EXIF data is unusable."""
    try:
        return ImageOps.exif_transpose(img)
    except Exception:  # malformed EXIF must not make a decodable image unreadable
        return img


def _to_rgb(img: Image.Image, name: str | None) -> Image.Image:
    """A new RGB image: alpha composited onto white, high bit depths stretched to 8 bit."""
    mode = img.mode
    if mode in ("I", "F") or mode.startswith("I;16"):
        nominal_max = 65535 if mode.startswith("I;16") else 255
        return Image.fromarray(_stretch_to_uint8(np.asarray(img), nominal_max)).convert("RGB")
    try:
        if mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in img.info:
            rgba = img.convert("RGBA")
            white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            return Image.alpha_composite(white, rgba).convert("RGB")
        return img.convert("RGB") if mode != "RGB" else img.copy()
    except (ValueError, OSError) as exc:
        raise ImageError(f"unsupported image mode {mode!r} ({exc})", name) from exc


def _stretch_to_uint8(values: np.ndarray, nominal_max: float) -> np.ndarray:
    """Map the actual [min, max] of `values` onto [0, 255]; a constant image keeps its level
    relative to `nominal_max` (the full scale of its type)."""
    values = np.nan_to_num(values.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    low, high = float(values.min()), float(values.max())
    if high > low:
        scaled = (values - low) * (255.0 / (high - low))
    else:
        scaled = np.full_like(values, low * 255.0 / nominal_max)
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def _from_array(array: np.ndarray, limit: int) -> Image.Image:
    """RGB image from a numpy array: uint8 as is, uint16 stretched by its range, float in [0, 1]."""
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (3, 4)):
        raise ImageError(f"array of shape {array.shape} is not an image (expected HxW, HxWx3 or HxWx4)")
    _check_size((array.shape[1], array.shape[0]), limit, None)
    if array.dtype == np.uint8:
        pixels = array
    elif array.dtype == np.uint16:
        color, alpha = (array[..., :3], array[..., 3:]) if array.ndim == 3 else (array, None)
        pixels = _stretch_to_uint8(color, 65535)
        if alpha is not None and alpha.size:
            pixels = np.concatenate([pixels, np.rint(alpha / 257.0).astype(np.uint8)], axis=2)
    elif array.dtype == np.bool_ or np.issubdtype(array.dtype, np.floating):
        finite = np.nan_to_num(array.astype(np.float64), nan=0.0, posinf=1.0, neginf=0.0)
        pixels = np.clip(np.rint(finite * 255.0), 0, 255).astype(np.uint8)
    else:
        raise ImageError(f"unsupported array dtype {array.dtype} (use uint8, uint16 or float in [0, 1])")
    return _to_rgb(Image.fromarray(np.ascontiguousarray(pixels)), None)


def to_tensor(img: Image.Image, channels: int = 3) -> torch.Tensor:
    """CHW float32 tensor in [-1, 1] (ToTensor then Normalize(0.5, 0.5)); channels 1 = grayscale L."""
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels}")
    if img.mode not in ("RGB", "L"):
        img = open_image(img)
    img = img.convert("L" if channels == 1 else "RGB")
    array = np.asarray(img, dtype=np.uint8).reshape(img.height, img.width, channels)
    tensor = torch.from_numpy(array.copy()).permute(2, 0, 1).float().div(255.0)
    return tensor.sub(0.5).div(0.5)


def to_pil(tensor: torch.Tensor) -> Image.Image:
    """PIL image from a CHW or 1xCHW tensor in [-1, 1]: 1 channel gives L, 3 give RGB."""
    if tensor.dim() == 4 and tensor.shape[0] == 1:
        tensor = tensor[0]
    if tensor.dim() != 3 or tensor.shape[0] not in (1, 3):
        raise ValueError(f"expected a tensor of shape (1|3, H, W) or (1, 1|3, H, W), got {tuple(tensor.shape)}")
    values = torch.nan_to_num(tensor.detach().to("cpu", torch.float32), nan=-1.0)
    pixels = ((values + 1.0) * 127.5).round().clamp(0, 255).to(torch.uint8)
    array = pixels.permute(1, 2, 0).numpy()
    return Image.fromarray(array[:, :, 0] if array.shape[2] == 1 else array)


def image_grid(rows: list[list[Image.Image]], labels: list[str] | None = None) -> Image.Image:
    """A white RGB sample sheet: one row per list, equal cells sized to the largest image (smaller
    ones centered), a small gap, and optionally one text label under each column."""
    if not rows or not any(rows):
        raise ValueError("image_grid needs at least one image")
    n_cols = max(len(row) for row in rows)
    if labels is not None and len(labels) != n_cols:
        raise ValueError(f"got {len(labels)} labels for {n_cols} columns")
    cell_w = max(img.width for row in rows for img in row)
    cell_h = max(img.height for row in rows for img in row)
    font = ImageFont.load_default()
    label_h = 0
    if labels:
        probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
        label_h = max(probe.textbbox((0, 0), text or " ", font=font)[3] for text in labels) + GRID_GAP
    width = n_cols * cell_w + (n_cols + 1) * GRID_GAP
    height = len(rows) * cell_h + (len(rows) + 1) * GRID_GAP + label_h
    sheet = Image.new("RGB", (width, height), GRID_BACKGROUND)
    for r, row in enumerate(rows):
        for c, img in enumerate(row):
            x = GRID_GAP + c * (cell_w + GRID_GAP) + (cell_w - img.width) // 2
            y = GRID_GAP + r * (cell_h + GRID_GAP) + (cell_h - img.height) // 2
            sheet.paste(img.convert("RGB"), (x, y))
    if labels:
        draw = ImageDraw.Draw(sheet)
        top = height - label_h
        for c, text in enumerate(labels):
            center = GRID_GAP + c * (cell_w + GRID_GAP) + cell_w // 2
            draw.text((center, top), text, fill=(0, 0, 0), font=font, anchor="ma")
    return sheet
