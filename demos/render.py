"""Running models for the tabs: translation wrappers, label snapping, overlays, PNG saving."""
from __future__ import annotations

import contextlib
import shutil
import tempfile
import threading
import time
import uuid
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from .common import PNG_OPTIONS
from .examples import FACADE_CLASSES
from .models import ModelEntry, registry

_SAVE_DIR: Path | None = None


def network_size(entry: ModelEntry) -> int | None:
    """The square size a fixed-size model (sketch, facade) was trained at, e.g. 256."""
    size = entry.info.get("crop_size")
    return int(size) if size else None


def translate(entry: ModelEntry, image: Image.Image, *, direction: str = "AtoB", size: int | None = None
              ) -> Image.Image:
    return registry.translator(entry).translate(image, direction=direction, size=size)


_PALETTE = np.array([rgb for _, rgb in FACADE_CLASSES], np.int32)


def snap_labels(image: Image.Image) -> Image.Image:
    """Every pixel to the nearest facade class color (brush antialiasing and JPEG make in-between colors)."""
    array = np.asarray(image.convert("RGB"), np.int32)
    distances = ((array[:, :, None, :] - _PALETTE[None, None]) ** 2).sum(-1)
    return Image.fromarray(_PALETTE[distances.argmin(-1)].astype(np.uint8))


def overlay_map(image: Image.Image, realness: np.ndarray, alpha: float = 0.45) -> Image.Image:
    """Tint an image by a discriminator map: green where D says real, red where it says fake."""
    rgb = np.asarray(image.convert("RGB"), np.float32)
    d = np.clip(realness, 0, 1)[:, :, None]
    tint = d * np.array([40, 200, 60], np.float32) + (1 - d) * np.array([230, 40, 40], np.float32)
    return Image.fromarray(np.clip(rgb * (1 - alpha) + tint * alpha, 0, 255).astype(np.uint8))


def draw_receptive_field(image: Image.Image, field: int | None, label: str | None = None) -> Image.Image:
    """Outline one discriminator patch (field x field pixels) in the bottom-right corner."""
    if not field:
        return image
    out = image.convert("RGB").copy()
    draw = ImageDraw.Draw(out)
    side = min(field, out.width, out.height)
    x1, y1 = out.width - 3, out.height - 3
    x0, y0 = max(0, x1 - side), max(0, y1 - side)
    if side <= 3:
        x0, y0 = x1 - 4, y1 - 4
    draw.rectangle([x0 - 1, y0 - 1, x1 + 1, y1 + 1], outline=(0, 0, 0), width=1)
    draw.rectangle([x0, y0, x1, y1], outline=(255, 255, 255), width=1)
    if label:
        tx, ty = max(2, x0), max(2, y0 - 13)
        draw.text((tx + 1, ty + 1), label, fill=(0, 0, 0))
        draw.text((tx, ty), label, fill=(255, 255, 255))
    return out


SAVED_TTL_S = 600          # Gradio copies every returned file into its own cache at once: ours are a hand-over
_PRUNE_EVERY_S = 60
_last_prune = 0.0
_prune_lock = threading.Lock()


def save_png(image: Image.Image | None, stem: str = "result") -> str | None:
    """Write an image to a PNG in the app's temporary folder (PNG_OPTIONS: fast, as for Gradio's own
    outputs); its path, for an image output or a download button. Files older than SAVED_TTL_S go."""
    global _SAVE_DIR
    if image is None:
        return None
    if isinstance(image, np.ndarray):
        image = Image.fromarray(image)
    if _SAVE_DIR is None:
        _SAVE_DIR = Path(tempfile.mkdtemp(prefix="i2i_app_"))
    _prune_saved(_SAVE_DIR)
    folder = _SAVE_DIR / uuid.uuid4().hex[:12]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{stem}.png"
    image.save(path, format="PNG", **PNG_OPTIONS)
    return str(path)


def _prune_saved(root: Path) -> None:
    """Delete the result folders older than SAVED_TTL_S (at most once a minute), so a long-running public
    app does not fill its disk with one PNG per stroke."""
    global _last_prune
    now = time.time()
    with _prune_lock:
        if now - _last_prune < _PRUNE_EVERY_S:
            return
        _last_prune = now
    for folder in root.iterdir():
        with contextlib.suppress(OSError):
            if now - folder.stat().st_mtime > SAVED_TTL_S:
                shutil.rmtree(folder, ignore_errors=True)
