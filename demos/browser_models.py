"""In-browser inference, server side: which models a visitor's browser can run, and the files it needs.

A sketch or facade model can run in the page (demos/static/in_browser.js, onnxruntime-web) when its
directory holds `browser.onnx` + `browser.json` (scripts/export_browser_models.py) made from its
current `model.safetensors` (browser.json's `weights_sha256`). The app serves, as extra routes of
Gradio's FastAPI app (`launch(app_kwargs={"routes": routes()})`):

- `/i2i/ort/VERSION/FILE`: the vendored onnxruntime-web files (demos/static/ort/); the WebAssembly
  binary is stored gzipped and sent as it is with `Content-Encoding: gzip`;
- `/i2i/models/NAME/DIGEST.onnx`: a model's browser.onnx, gzipped once in memory; DIGEST (the first 16
  hex digits of the file's sha256) changes with the file, so both are cached as immutable for a year;
- `/i2i/in_browser.js`: the page's module, revalidated on every load (it changes with the app).

Already-compressed responses pass Gradio's Brotli middleware untouched, so no visitor's download costs
the server a compression. `I2I_BROWSER_INFERENCE=0` turns in-browser inference off (every canvas then
calls the server); `?inference=server` in the page's URL does the same for one visitor.
"""
from __future__ import annotations

import gzip
import hashlib
import json
import logging
import os
import threading
from pathlib import Path
from typing import Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .examples import FACADE_CLASSES
from .models import ModelEntry, registry

logger = logging.getLogger("demos.browser_models")

STATIC = Path(__file__).resolve().parent / "static"
ORT_DIR = STATIC / "ort"
MODULE = STATIC / "in_browser.js"
ENABLE_ENV = "I2I_BROWSER_INFERENCE"
TABS = ("sketch", "facade")
IMMUTABLE = "public, max-age=31536000, immutable"
CONTENT_TYPES = {".mjs": "text/javascript", ".js": "text/javascript", ".wasm": "application/wasm",
                 ".onnx": "application/octet-stream"}
_lock = threading.Lock()
_weights_digests: dict[tuple[str, int, int], str] = {}   # (path, size, mtime_ns) -> sha256
_gzipped: dict[str, bytes] = {}                           # sha256 of a served file -> its gzip bytes


def enabled() -> bool:
    return os.environ.get(ENABLE_ENV, "").strip() != "0"


def ort_version() -> str:
    return json.loads((ORT_DIR / "VERSION.json").read_text())["version"]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _weights_digest(path: Path) -> str:
    """sha256 of a model.safetensors, computed once per file version."""
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    with _lock:
        if key not in _weights_digests:
            _weights_digests[key] = _sha256(path)
        return _weights_digests[key]


def _about(entry: ModelEntry) -> dict | None:
    """The model's browser.json when its browser.onnx exists and was made from its current weights."""
    if entry.path is None or entry.tab not in TABS:
        return None
    folder = Path(entry.path)
    try:
        about = json.loads((folder / "browser.json").read_text())
        onnx_path = folder / about["file"]
        if not onnx_path.is_file() or about["weights_sha256"] != _weights_digest(folder / "model.safetensors"):
            return None
        return about
    except (OSError, ValueError, KeyError, TypeError):
        return None


def browser_model(entry: ModelEntry | None) -> dict | None:
    """What the page needs to run `entry` itself (URL, size in bytes, input size and kind, preprocessing),
    or None: the canvas then calls the server."""
    about = _about(entry) if entry is not None and enabled() else None
    if about is None:
        return None
    spec = {"name": entry.name, "url": f"i2i/models/{entry.name}/{about['sha256'][:16]}.onnx",
            "bytes": about["bytes"], "size": about["size"], "input_nc": about["input_nc"],
            "output_nc": about["output_nc"], "preprocess": preprocessing(entry.tab, about["input_kind"]),
            "thin_drawings": bool(about.get("thin_drawings")), "classes": about.get("classes", []),
            "session_config": about.get("session_config", {}),
            "runtime": f"i2i/ort/{ort_version()}/", "module": "i2i/in_browser.js"}
    if spec["preprocess"] == "labels":
        spec["palette"] = [list(rgb) for _, rgb in FACADE_CLASSES]
    return spec


def preprocessing(tab: str, input_kind: str) -> str:
    """What the server does to a canvas before the model, by endpoint: /facade snaps label colours
    (demos.sketch.facade_input), /sketch normalizes drawings for models of drawn input
    (Translator.encode); "labels", "drawing" or "none"."""
    if tab == "facade":
        return "labels"
    return "drawing" if input_kind == "edges" else "none"


def _accepts_gzip(request: Request) -> bool:
    return "gzip" in request.headers.get("accept-encoding", "").lower()


def _compressed(data_id: str, read: Callable[[], bytes]) -> bytes:
    with _lock:
        if data_id not in _gzipped:
            _gzipped[data_id] = gzip.compress(read(), compresslevel=6, mtime=0)
        return _gzipped[data_id]


def _ort_file(request: Request) -> Response:
    version, name = request.path_params["version"], request.path_params["name"]
    path = ORT_DIR / name
    packed = ORT_DIR / f"{name}.gz"
    if version != ort_version() or "/" in name or name.startswith(".") or not (path.is_file() or packed.is_file()):
        return Response("not found", status_code=404)
    headers = {"Cache-Control": IMMUTABLE, "Vary": "Accept-Encoding"}
    media_type = CONTENT_TYPES.get(Path(name).suffix, "application/octet-stream")
    if path.is_file():
        return Response(path.read_bytes(), media_type=media_type, headers=headers)
    if _accepts_gzip(request):
        return Response(packed.read_bytes(), media_type=media_type, headers={**headers, "Content-Encoding": "gzip"})
    return Response(gzip.decompress(packed.read_bytes()), media_type=media_type, headers=headers)


def _model_file(request: Request) -> Response:
    name, digest = request.path_params["name"], request.path_params["digest"]
    entry = next((e for tab in TABS for e in registry.models(tab) if e.name == name), None)
    about = _about(entry) if entry is not None and enabled() else None
    if about is None or about["sha256"][:16] != digest:
        return Response("no browser model of that name and version", status_code=404)
    path = Path(entry.path) / about["file"]
    headers = {"Cache-Control": IMMUTABLE, "Vary": "Accept-Encoding"}
    if not _accepts_gzip(request):
        return Response(path.read_bytes(), media_type=CONTENT_TYPES[".onnx"], headers=headers)
    body = _compressed(about["sha256"], path.read_bytes)
    return Response(body, media_type=CONTENT_TYPES[".onnx"], headers={**headers, "Content-Encoding": "gzip"})


def _module(request: Request) -> Response:
    return Response(MODULE.read_bytes(), media_type="text/javascript", headers={"Cache-Control": "no-cache"})


def routes() -> list[Route]:
    """The extra routes for Gradio's FastAPI app (see the module's docstring); plain functions, which
    Starlette runs in its thread pool, so a first gzip of a model never blocks the event loop."""
    return [Route("/i2i/ort/{version}/{name}", _ort_file), Route("/i2i/models/{name}/{digest}.onnx", _model_file),
            Route("/i2i/in_browser.js", _module)]
