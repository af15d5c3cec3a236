"""Loaded Translators kept in memory, one per key, built once even when threads ask at the same time."""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Callable

_memory: dict = {}
_build_locks: dict = {}
_guard = threading.Lock()


def key_lock(key) -> threading.Lock:
    """One lock per key (a model being built or fetched)."""
    with _guard:
        return _build_locks.setdefault(key, threading.Lock())


def memoized(key, build: Callable[[], Any]):
    """The value kept under `key`, built with `build()` by the first caller only."""
    with _guard:
        if key in _memory:
            return _memory[key]
    with key_lock(key):
        with _guard:
            if key in _memory:
                return _memory[key]
        value = build()
        with _guard:
            _memory[key] = value
        return value


def clear_memory_cache() -> None:
    """Forget every loaded model (the next `load` reads it from disk again)."""
    with _guard:
        _memory.clear()


def load_translator(path: Path, device, with_discriminators: bool, options: dict):
    """A Translator for the model directory `path` (imports torch on first use)."""
    from .inference import Translator
    return Translator.from_dir(path, device=device, with_discriminators=with_discriminators, **options)


def device_key(device) -> str:
    """The device a load would use, as text: part of the memory-cache key."""
    from .device import pick_device
    return str(pick_device(device) if isinstance(device, str) else device)
