"""Helpers shared by the tabs: offline environment, one-line errors, input images, small text bits."""
from __future__ import annotations

import functools
import io
import logging
import math
import os
import tempfile
import zlib
from pathlib import Path
from typing import Callable

OFFLINE_ENV = {
    "GRADIO_ANALYTICS_ENABLED": "False",
    "HF_HUB_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
}
DEFAULT_MAX_SIDE = 1024   # long side of photos the app works on (larger uploads are scaled down)
DEFAULT_MAX_UPLOAD_MB = 25   # every upload where training is off
MAX_UPLOAD_ENV = "I2I_MAX_UPLOAD_MB"

# Gradio recomputes its monitoring summary (a pandas table of up to 10000 past events, for the /monitoring
# page) after every event unless told otherwise: 1.3 ms per API call after 100 calls, 7.5 ms after 10000,
# on the event loop's worker threads. Every 100 events is enough for a dashboard (docs/benchmarks.md, #15).
SERVER_ENV = {"GRADIO_ANALYTICS_CACHE_FREQUENCY": "100"}
# PNGs the app writes: zlib level 1 with the run-length strategy, lossless like any PNG. On a 256x256 sketch
# photo 4.0 ms and 71 kB against level 1's 4.8 ms and 84 kB (level 6: 23 ms, 72 kB); photos within a few %.
PNG_OPTIONS = {"compress_level": 1, "compress_type": zlib.Z_RLE}

logger = logging.getLogger("demos")


def configure_environment() -> None:
    """The app never needs the network: no analytics, no Hub calls; Gradio's monitoring summary is refreshed
    every 100 events, not after each (set before gradio is imported; a variable already set wins)."""
    for key, value in {**OFFLINE_ENV, **SERVER_ENV}.items():
        os.environ.setdefault(key, value)


configure_environment()

import gradio as gr  # noqa: E402  (after the environment is set)
from gradio import processing_utils  # noqa: E402

from .models import registry  # noqa: E402
from .settings import (DEFAULT_DATASET_MB, REPO, data_roots, runs_dir, training_enabled,  # noqa: E402
                       weights_dir)


def save_pil_to_cache_atomically(img, cache_dir: str, name: str = "image", format: str = "webp") -> str:
    """Gradio's `processing_utils.save_pil_to_cache`, writing through a temporary file and a rename.

    Gradio names a cached output by the hash of its bytes, so concurrent requests with identical
    outputs share one path; its in-place rewrite made a download reading that file end short
    (truncated responses under load, see benchmarks/load_sketch.py). A rename never does.
    PNGs use PNG_OPTIONS (zlib level 1, run-length strategy): 4 ms instead of 23 ms (level 6) for a
    256x256 sketch photo, about as small (the largest share of a sketch stroke's round trip after the
    protocol, docs/benchmarks.md).
    """
    if format.lower() == "png":
        with io.BytesIO() as buffer:
            img.save(buffer, "png", pnginfo=processing_utils.get_pil_metadata(img), **PNG_OPTIONS)
            data = buffer.getvalue()
    else:
        data = processing_utils.encode_pil_to_bytes(img, format)
    folder = Path(cache_dir) / processing_utils.hash_bytes(data)
    folder.mkdir(exist_ok=True, parents=True)
    path = (folder / f"{name}.{format}").resolve()
    fd, staging = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.")
    with os.fdopen(fd, "wb") as file:
        file.write(data)
    os.replace(staging, path)
    return str(path)


processing_utils.save_pil_to_cache = save_pil_to_cache_atomically


def max_side() -> int:
    """$I2I_MAX_SIDE, else DEFAULT_MAX_SIDE: photos are scaled so their long side is at most this."""
    raw = os.environ.get("I2I_MAX_SIDE", "").strip()
    try:
        return max(64, int(raw)) if raw else DEFAULT_MAX_SIDE
    except ValueError:
        return DEFAULT_MAX_SIDE


def max_upload_bytes() -> int:
    """Gradio's limit for any upload, in bytes: $I2I_MAX_UPLOAD_MB megabytes (may be fractional), else
    25 MB, or 500 MB where training is enabled (dataset archives; decoding images is capped by pixels)."""
    raw = os.environ.get(MAX_UPLOAD_ENV, "").strip()
    default = DEFAULT_DATASET_MB if training_enabled()[0] else DEFAULT_MAX_UPLOAD_MB
    try:
        megabytes = float(raw) if raw else default
    except ValueError:
        megabytes = 0
    if not megabytes > 0:
        raise ValueError(f"{MAX_UPLOAD_ENV} must be a positive number of megabytes, got {raw!r}")
    return int(megabytes * 1024 * 1024)


def blocked_paths() -> list[str]:
    """Folders the app's file route must never serve, even if allowed elsewhere (GRADIO_ALLOWED_PATHS):
    the repository (source, weights/, runs/), the runs, weights and dataset folders, and
    $GRADIO_BLOCKED_PATHS. A folder holding the temporary directory (where Gradio keeps uploads and
    outputs) is left out, since blocking it would block every upload."""
    from gradio.utils import get_upload_folder, is_in_or_equal

    extra = [p.strip() for p in os.environ.get("GRADIO_BLOCKED_PATHS", "").split(",") if p.strip()]
    folders = [REPO, runs_dir(), weights_dir(), *data_roots(), *extra]
    working = [Path(get_upload_folder()).resolve(), Path(tempfile.gettempdir()).resolve()]
    blocked = []
    for folder in folders:
        folder = Path(folder).expanduser().resolve()
        if str(folder) not in blocked and not any(is_in_or_equal(w, folder) for w in working):
            blocked.append(str(folder))
    return blocked


def one_line(message: object) -> str:
    text = " ".join(str(message).split())
    return text if len(text) <= 300 else text[:297] + "..."


def user_error(message: object) -> gr.Error:
    """A gr.Error with a one-line message and no traceback in the client."""
    return gr.Error(one_line(message), print_exception=False)


def checked_number(value, name: str, lo: float = -math.inf, hi: float = math.inf, *, integer: bool = False) -> float:
    """An API argument as a finite number in [lo, hi] (an int if `integer`), else a one-line error."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise user_error(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(number) or not lo <= number <= hi or (integer and number != int(number)):
        def bound(x: float) -> str:
            return str(int(x)) if integer and math.isfinite(x) else f"{x:g}"
        bounded = math.isfinite(lo) or math.isfinite(hi)
        kind = "a whole number" if integer else "a number" if bounded else "a finite number"
        raise user_error(f"{name} must be {kind}" + (f" in [{bound(lo)}, {bound(hi)}]" if bounded else "")
                         + f", got {value!r}")
    return int(number) if integer else number


def guarded(fn: Callable) -> Callable:
    """Turn every failure of a handler into a one-line gr.Error (the traceback goes to the server log only)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except (ValueError, OSError, LookupError, RuntimeError, TypeError) as e:
            if isinstance(e, (ValueError, OSError, LookupError)):
                logger.info("%s: %s", fn.__name__, one_line(e))
            else:
                logger.exception("%s failed", fn.__name__)
            raise user_error(e.args[0] if isinstance(e, KeyError) and e.args else e) from None
        except Exception as e:  # noqa: BLE001 - the UI must never show a traceback
            logger.exception("%s failed", fn.__name__)
            raise user_error(f"internal error ({type(e).__name__}): {e}") from None

    return wrapper


def open_photo(source, *, what: str = "image", limit: int | None = None):
    """Any uploaded image (path, PIL, numpy) as RGB PIL with its long side capped, or a one-line error."""
    from engine.images import ImageError, open_image  # the engine's robust loader: any mode, EXIF, 16-bit

    if source is None or (isinstance(source, str) and not source.strip()):
        raise user_error(f"no {what} given: upload one (or press the example button)")
    try:
        image = open_image(source)
    except ImageError as e:   # name the upload by its file name, not the server's cache path
        name = Path(source).name if isinstance(source, (str, os.PathLike)) else None
        raise user_error(f"{name}: {e.reason}" if name else f"not a usable {what}: {e.reason}") from None
    return fit_side(image, limit or max_side())


def fit_side(image, limit: int):
    """Scale a PIL image down (never up) so that its long side is at most `limit`."""
    from PIL import Image

    long_side = max(image.size)
    if long_side <= limit:
        return image
    scale = limit / long_side
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(size, Image.Resampling.LANCZOS)


def no_model_message(tab: str, what: str, zoo_tab: str | None = None) -> str:
    text = (f"**No {what} model is installed.** The {tab} tab needs one in `{weights_dir()}` "
            "(a folder with `model.safetensors` + `config.json`, or an entry of `manifest.json`). "
            "Train one in the Train tab, or set `I2I_WEIGHTS_DIR` to a folder of models.")
    remote = registry.downloadable(zoo_tab) if zoo_tab else []
    if remote:
        text += (f" Published models to download (on a machine with internet): {', '.join(remote[:6])}, "
                 "with `python -m engine download-model NAME`.")
    return text


def theme():
    """The default theme with system fonts, so that the page asks no font server for anything."""
    return gr.themes.Default(
        font=["ui-sans-serif", "system-ui", "-apple-system", "Segoe UI", "Roboto", "sans-serif"],
        font_mono=["ui-monospace", "SFMono-Regular", "Menlo", "Consolas", "monospace"],
    )


CSS = """
.explain { font-size: 0.92em; }
.explain h3 { margin-top: 0.2em; }
"""
