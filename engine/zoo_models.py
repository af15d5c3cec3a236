"""The zoo's models: list them, resolve one to a local model directory, load it.

Where a named model comes from, in this order: embedded (a manifest entry with a `path` under
weights/), the local cache (`$I2I_CACHE_DIR/<name>/`), a download (`official.fetch_official`, or the
Hub for `source: hub` entries). Loaded Translators are kept in memory (`model_cache`).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from .hub import hub_cached_dir, hub_snapshot, load_from_hub
from .manifest import all_specs, find_spec
from .model_cache import device_key, key_lock, load_translator, memoized
from .official import fetch_official
from .zoo_base import (CONFIG_FILE, HUB_PREFIX, MODEL_FILE, TABS, TASKS, ChecksumError, ModelUnavailable, Progress,
                       ZooError, cache_dir, is_model_dir, sha256_file)


# -- entries ---------------------------------------------------------------------------------------
@dataclass
class ModelEntry:
    """One model of the zoo, as the app's pickers and `list-models` show it."""

    name: str
    task: str
    tab: str | None
    title: str
    available_offline: bool = False
    description: str = ""
    source: str = "embedded"                 # embedded | official | hub
    path: Path | None = None                 # its local model directory, when there is one
    architecture: dict = field(default_factory=dict)
    direction: str = "AtoB"
    input_kind: str = "photo"
    output_kind: str = "photo"
    input_size: int | None = None
    sha256: str | None = None                # of model.safetensors, when known
    download_sha256: str | None = None       # of the published .pth, when known
    url: str | None = None
    hub_repo: str | None = None
    family: str | None = None
    official_name: str | None = None
    license: str = ""
    data: str = ""

    def to_dict(self) -> dict:
        data = dataclasses.asdict(self)
        data["path"] = str(self.path) if self.path else None
        return data


def _embedded_path(spec: dict) -> Path | None:
    if not spec.get("path"):
        return None
    path = Path(spec["path"]).expanduser()
    return path if path.is_absolute() else spec["_root"] / path


def _local_dir(spec: dict) -> Path | None:
    """The model directory already on this machine, if any (embedded, cached, or in the HF cache)."""
    embedded = _embedded_path(spec)
    if is_model_dir(embedded):
        return embedded
    if spec["source"] == "official":
        cached = cache_dir() / spec["name"]
        if is_model_dir(cached):
            return cached
    if spec.get("hub_repo") and spec["source"] != "official":
        return hub_cached_dir(spec["hub_repo"], spec.get("revision"))
    return None


def _entry(spec: dict) -> ModelEntry:
    local = _local_dir(spec)
    known = {f.name for f in dataclasses.fields(ModelEntry)}
    values = {k: v for k, v in spec.items() if k in known and k not in ("path", "available_offline")}
    values.setdefault("task", "pix2pix")
    values.setdefault("tab", None)
    return ModelEntry(**values, path=local, available_offline=local is not None)


def list_models(task: str | None = None, tab: str | None = None, include_remote: bool = True) -> list[ModelEntry]:
    """The zoo's models, manifest order then catalogue order, optionally filtered by task and tab.

    `include_remote=False` keeps only the models usable right now without a network (embedded or
    already downloaded): what an offline app should offer.
    """
    if task is not None and task not in TASKS:
        raise ValueError(f"unknown task {task!r}; choose one of {', '.join(TASKS)}")
    if tab is not None and tab not in TABS:
        raise ValueError(f"unknown tab {tab!r}; choose one of {', '.join(TABS)}")
    entries = [_entry(spec) for spec in all_specs()]
    return [e for e in entries if (task is None or e.task == task) and (tab is None or e.tab == tab)
            and (include_remote or e.available_offline)]


def get_entry(name: str) -> ModelEntry:
    """The entry of one model (same names as `load`)."""
    return _entry(find_spec(name))


# -- resolving and loading -------------------------------------------------------------------------
def _verify_embedded(path: Path, spec: dict) -> None:
    expected = spec.get("sha256")
    if not expected:
        return
    actual = sha256_file(path / MODEL_FILE)
    if actual == expected.lower():
        return
    with open(path / MODEL_FILE, "rb") as f:
        head = f.read(64)
    if head.startswith(b"version https://git-lfs"):
        raise ModelUnavailable(f"{spec['name']}: {path / MODEL_FILE} is a Git LFS pointer, not the weights; "
                               "run `git lfs pull`")
    raise ChecksumError(f"{spec['name']}: {path / MODEL_FILE} has sha256 {actual}, the manifest says {expected}; "
                        "restore the file or update the entry with zoo.add_to_manifest")


def _resolve_dir(spec: dict, progress: Progress | None = None, show_progress: bool = True,
                 force: bool = False) -> Path:
    """The local model directory of `spec`, downloading and converting it first when needed."""
    name = spec["name"]
    embedded = _embedded_path(spec)
    if is_model_dir(embedded):
        _verify_embedded(embedded, spec)
        return embedded
    if spec["source"] == "embedded":
        if not spec.get("hub_repo"):
            raise ModelUnavailable(f"embedded model {name} is missing: {embedded} has no {MODEL_FILE} + "
                                   f"{CONFIG_FILE} (train/export it, or run `git lfs pull`)")
    if spec["source"] in ("embedded", "hub"):
        if not spec.get("hub_repo"):
            raise ZooError(f"manifest entry {name} has source hub but no hub_repo")
        return hub_snapshot(spec["hub_repo"], revision=spec.get("revision"), name=name)
    with key_lock(("fetch", name)):
        cached = cache_dir() / name
        if is_model_dir(cached) and not force:
            return cached
        return fetch_official(spec, progress, show_progress, replace=force)


def download_model(name: str, *, progress: Progress | None = None, show_progress: bool = True,
                   force: bool = False) -> Path:
    """Make `name` available offline and return its local model directory (embedded, cached or HF cache)."""
    return _resolve_dir(find_spec(name), progress=progress, show_progress=show_progress, force=force)


def load(name: str, device="auto", *, with_discriminators: bool = False, progress: Progress | None = None,
         **options):
    """A `Translator` for a model of the zoo (or "hub:owner/repo"), loaded once per process.

    Resolution: embedded model in weights/ -> local cache -> download. `options` go to `Translator`
    (max_side, batch_size, amp, ...) and are part of the memory-cache key.
    """
    if name.startswith(HUB_PREFIX):
        return load_from_hub(name[len(HUB_PREFIX):], device, with_discriminators=with_discriminators, **options)
    spec = find_spec(name)
    key = ("zoo", spec["name"], device_key(device), with_discriminators, tuple(sorted(options.items())))
    return memoized(key, lambda: load_translator(_resolve_dir(spec, progress), device, with_discriminators,
                                                 options))
