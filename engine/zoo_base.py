"""The ground floor of the zoo modules: errors, environment, paths and small file helpers.

Imports nothing of the engine and neither torch nor huggingface_hub; every other zoo module
(downloads, manifest, hub, official, zoo_models) builds on it.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
import urllib.parse
from pathlib import Path
from typing import Any, Callable

REPO = Path(__file__).resolve().parents[1]
CATALOG_FILE = Path(__file__).with_name("catalog.json")
DEFAULT_MANIFEST = REPO / "weights" / "manifest.json"
MANIFEST_ENV = "I2I_MANIFEST"            # path of the manifest to use instead of weights/manifest.json
CACHE_ENV = "I2I_CACHE_DIR"              # folder of downloaded models (one sub-folder per model)
OFFLINE_ENV = "I2I_OFFLINE"
BASE_URL_ENV = "I2I_OFFICIAL_BASE_URL"   # replaces scheme://host[:port] of the official URLs (tests, mirrors)
MIRROR_ENV = "I2I_HUB_MIRROR"            # a Hub repo id holding the official <name>.pth files
HUB_PREFIX = "hub:"
MANIFEST_VERSION = 1

MODEL_FILE, CONFIG_FILE, CARD_FILE = "model.safetensors", "config.json", "README.md"  # as engine.checkpoint
HUB_FILES = (MODEL_FILE, CONFIG_FILE, CARD_FILE)
TASKS = ("pix2pix", "cycle_gan", "colorization", "stargan")
TABS = ("sketch", "facade", "colorize", "style", "coat")
SOURCES = ("embedded", "official", "hub")
CHUNK = 1 << 20

Progress = Callable[[int, "int | None"], None]   # progress(done_bytes, total_bytes or None)


# -- errors ----------------------------------------------------------------------------------------
class ZooError(RuntimeError):
    """A model of the zoo cannot be listed, fetched or loaded."""


class UnknownModel(ZooError, LookupError):
    """No model of that name."""


class ModelUnavailable(ZooError):
    """The model is not on this machine and cannot be downloaded now (offline, no connection)."""


class DownloadError(ZooError):
    """A download failed (HTTP error, truncated transfer, unreadable file)."""


class ConnectionFailed(DownloadError):
    """The server could not be reached at all (no network, DNS failure, refused connection)."""


class ChecksumError(DownloadError):
    """A file's sha256 differs from the one the catalogue or manifest records."""


# -- paths and environment -------------------------------------------------------------------------
def _truthy(value: str | None) -> bool:
    return (value or "").strip().upper() in ("1", "ON", "YES", "TRUE")


def offline_reason() -> str | None:
    """Why this process must not use the network ("HF_HUB_OFFLINE=1" / "I2I_OFFLINE=1"), or None."""
    for name in ("HF_HUB_OFFLINE", OFFLINE_ENV):
        if _truthy(os.environ.get(name)):
            return f"{name}={os.environ[name]}"
    return None


def is_offline() -> bool:
    return offline_reason() is not None


def cache_dir() -> Path:
    """Folder of downloaded models: `$I2I_CACHE_DIR` or ~/.cache/i2i-studio/models."""
    return Path(os.environ.get(CACHE_ENV) or "~/.cache/i2i-studio/models").expanduser()


def manifest_path() -> Path:
    return Path(os.environ.get(MANIFEST_ENV) or DEFAULT_MANIFEST).expanduser()


def with_base_url(url: str) -> str:
    """`url` with its scheme and host replaced by `$I2I_OFFICIAL_BASE_URL` when that is set."""
    base = os.environ.get(BASE_URL_ENV, "").strip()
    if not base:
        return url
    parts = urllib.parse.urlsplit(url)
    return base.rstrip("/") + parts.path + (f"?{parts.query}" if parts.query else "")


# -- files -----------------------------------------------------------------------------------------
def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def is_model_dir(path: Path | None) -> bool:
    """True for a folder holding model.safetensors + config.json."""
    return path is not None and (path / MODEL_FILE).is_file() and (path / CONFIG_FILE).is_file()


def write_json_atomic(path: Path, data: Any) -> None:
    """Write `data` as indented JSON through a temporary file and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
