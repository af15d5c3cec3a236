"""Model zoo: named models for the app and the CLI, from the repository, a local cache or the network.

    from engine import zoo
    zoo.list_models(tab="style")                 # ModelEntry list (embedded, cached and downloadable models)
    translator = zoo.load("style_monet")         # a Translator, loaded once per process
    translator = zoo.load("hub:owner/repo")      # a model directory pushed to the Hugging Face Hub
    zoo.push_to_hub("runs/facades/model", "owner/facades-pix2pix")

Where a named model comes from, in this order:

1. embedded: an entry of `weights/manifest.json` with a `path` (a model directory under weights/);
2. the local cache: `$I2I_CACHE_DIR/<name>/` (default `~/.cache/i2i-studio/models/<name>/`);
3. a download: the published reference checkpoint (`engine/catalog.json`) from its official URL, or
   from a Hugging Face mirror (`$I2I_HUB_MIRROR` or the entry's `hub_repo`), verified, converted with
   `checkpoint.import_official` and stored in the cache. Entries with `source: hub` come from their
   Hub repository (`snapshot_download` of model.safetensors + config.json + README.md).

Offline (`HF_HUB_OFFLINE=1`, `I2I_OFFLINE=1`, or no connection) a model that is neither embedded nor
cached raises `ModelUnavailable` with a one-line message saying what to do.

Importing this module loads nothing (no torch, no huggingface_hub); models are loaded on first use and
kept in memory, one copy per process (a lock per model: concurrent first loads build it once).

This module is the public facade; the code lives in modules split by concern, each importing only
those before it:

    zoo_base      errors, environment, paths, file helpers
    downloads     download_file (streamed, size and sha256 checked)
    manifest      catalogue (catalog.json) and manifest (weights/manifest.json): read, find, write
    model_cache   loaded Translators kept in memory
    hub           Hugging Face Hub: hub_snapshot, load_from_hub, push_to_hub
    official      published reference models: download or mirror, verify, convert, cache
    zoo_models    list_models, get_entry, download_model, load
    zoo_cli       the `python -m engine` commands
"""
from __future__ import annotations

import logging

from .downloads import download_file
from .hub import hub_snapshot, load_from_hub, push_to_hub
from .manifest import (ARCH_KEYS, ENTRY_KEYS, add_to_manifest, catalog_entries, default_tab, read_manifest,
                       sync_manifest)
from .model_cache import clear_memory_cache
from .zoo_base import (BASE_URL_ENV, CACHE_ENV, CARD_FILE, CATALOG_FILE, CHUNK, CONFIG_FILE, DEFAULT_MANIFEST,
                       HUB_FILES, HUB_PREFIX, MANIFEST_ENV, MANIFEST_VERSION, MIRROR_ENV, MODEL_FILE, OFFLINE_ENV,
                       REPO, SOURCES, TABS, TASKS, ChecksumError, ConnectionFailed, DownloadError, ModelUnavailable,
                       Progress, UnknownModel, ZooError, cache_dir, is_offline, manifest_path, offline_reason,
                       sha256_file, with_base_url)
from .zoo_cli import register_cli
from .zoo_models import ModelEntry, download_model, get_entry, list_models, load

logger = logging.getLogger("engine.zoo")

__all__ = [
    "ARCH_KEYS", "BASE_URL_ENV", "CACHE_ENV", "CARD_FILE", "CATALOG_FILE", "CHUNK", "CONFIG_FILE", "DEFAULT_MANIFEST",
    "ENTRY_KEYS", "HUB_FILES", "HUB_PREFIX", "MANIFEST_ENV", "MANIFEST_VERSION", "MIRROR_ENV", "MODEL_FILE",
    "OFFLINE_ENV", "REPO", "SOURCES", "TABS", "TASKS",
    "ChecksumError", "ConnectionFailed", "DownloadError", "ModelEntry", "ModelUnavailable", "Progress",
    "UnknownModel", "ZooError",
    "add_to_manifest", "cache_dir", "catalog_entries", "clear_memory_cache", "default_tab", "download_file",
    "download_model", "get_entry", "hub_snapshot", "is_offline", "list_models", "load", "load_from_hub",
    "manifest_path", "offline_reason", "push_to_hub", "read_manifest", "register_cli", "sha256_file",
    "sync_manifest", "with_base_url",
]
