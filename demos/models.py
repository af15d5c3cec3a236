"""The one place the tabs get their models from.

Models are found, in order of preference:

1. `engine.zoo` when it is importable and no `I2I_WEIGHTS_DIR` override is set: the zoo's models
   usable offline (embedded in `weights/manifest.json` or already downloaded), plus any other model
   directory under `weights/` (the app never downloads; see `ModelRegistry.downloadable`);
2. otherwise the folder `$I2I_WEIGHTS_DIR` (default: the repository's `weights/`): its
   `manifest.json` when there is one (entries: name, task, tab, title, path), then every model
   directory below it (`*/config.json` + `model.safetensors`, one or two levels deep);
3. in both cases, the exported models of training runs (`$I2I_RUNS_DIR/NAME/model/`), so that a model
   trained in the Train tab shows up in the other tabs (`registry.rescan()` after a job ends).

Each model belongs to one tab: `sketch` (drawing -> photo), `facade` (label map -> photo),
`colorize`, `style` (CycleGAN) and `coat` (StarGAN: one generator for every coat colour). Loaded
`Translator`s are cached (thread-safe) per model and per with/without discriminators.
"""
from __future__ import annotations

import inspect
import json
import logging
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

from .settings import WEIGHTS_ENV, runs_dir, weights_dir

logger = logging.getLogger("demos.models")

TABS = ("sketch", "facade", "colorize", "style", "coat")
DEVICE_ENV = "I2I_DEVICE"


@dataclass
class ModelEntry:
    name: str
    task: str
    tab: str | None
    title: str
    path: Path | None = None
    description: str = ""
    info: dict = field(default_factory=dict)   # the model's config.json, when readable
    source: str = "scan"                        # "zoo", "manifest", "scan" or "run"

    @property
    def label(self) -> str:
        return self.title or self.name

    @property
    def receptive_field(self) -> int | None:
        """The discriminator's receptive field in pixels, None for a regression-only (L1) model."""
        netD = self.info.get("netD")
        if not netD:
            return None
        from engine import receptive_field
        try:
            return receptive_field(netD, int(self.info.get("n_layers_D", 3)))
        except ValueError:
            return None

    @property
    def discriminator(self) -> str:
        netD = self.info.get("netD")
        if not netD:
            return "none (L1 only)"
        from engine import discriminator_name
        try:
            return discriminator_name(netD, int(self.info.get("n_layers_D", 3)))
        except ValueError:
            return str(netD)

    def summary(self) -> str:
        """One Markdown line naming the model and how it is built."""
        parts = [f"**{self.label}** (`{self.name}`)"]
        bits = []
        if self.info.get("netG"):
            bits.append(f"{self.info.get('task', self.task)}, G {self.info['netG']} ngf {self.info.get('ngf', '?')}")
        if self.task == "stargan" and self.info.get("domains"):
            bits.append("domains " + ", ".join(self.info["domains"]))
        elif self.task != "cycle_gan" and self.info:
            bits.append(f"D {self.discriminator}")
            if self.info.get("domains"):   # a class input
                bits.append("classes " + ", ".join(self.info["domains"]))
        training = self.info.get("training") or {}
        if training.get("steps"):
            bits.append(f"{training['steps']} steps")
        if bits:
            parts.append(" - " + ", ".join(bits))
        if self.description:
            parts.append(f". {self.description.strip()}")
        return "".join(parts)


def tab_for(task: str, input_kind: str = "", text: str = "") -> str | None:
    """Which tab a model belongs to, from its config."""
    text = text.lower()
    if task == "cycle_gan":
        return "style"
    if task == "colorization":
        return "colorize"
    if task == "stargan":
        return "coat"
    if task == "pix2pix":
        if input_kind == "edges" or "sketch" in text:
            return "sketch"
        if input_kind == "labels" or "facade" in text or "label" in text:
            return "facade"
    return None


def _read_config(path: Path) -> dict:
    try:
        data = json.loads((path / "config.json").read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _entry_from_dir(path: Path, source: str = "scan", **overrides) -> ModelEntry | None:
    info = _read_config(path)
    if not info and source == "scan":
        return None
    task = overrides.get("task") or info.get("task", "pix2pix")
    name = overrides.get("name") or info.get("name") or path.name
    description = overrides.get("description") or info.get("description", "")
    tab = overrides.get("tab") or tab_for(task, info.get("input_kind", ""), f"{name} {description} {path.name}")
    title = overrides.get("title") or name.replace("_", " ")
    return ModelEntry(name=name, task=task, tab=tab, title=title, path=path, description=description,
                      info=info, source=source)


def _manifest_entries(root: Path) -> list[ModelEntry]:
    manifest = root / "manifest.json"
    if not manifest.is_file():
        return []
    try:
        data = json.loads(manifest.read_text())
    except (OSError, ValueError) as e:
        logger.warning("ignoring unreadable %s: %s", manifest, e)
        return []
    items = data.get("models", []) if isinstance(data, dict) else data
    entries = []
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict) or not item.get("name"):
            continue
        path = Path(item.get("path") or item["name"])
        path = path if path.is_absolute() else root / path
        if not (path / "config.json").is_file():
            continue   # listed but not downloaded / not built yet
        entry = _entry_from_dir(path, "manifest", **{k: item.get(k) for k in ("name", "task", "tab", "title",
                                                                             "description")})
        if entry is not None:
            entries.append(entry)
    return entries


def _scan(root: Path) -> list[ModelEntry]:
    entries = _manifest_entries(root)
    seen = {e.path.resolve() for e in entries if e.path}
    names = {e.name for e in entries}
    if root.is_dir():
        for config in sorted(list(root.glob("*/config.json")) + list(root.glob("*/*/config.json"))):
            path = config.parent
            if path.resolve() in seen or not (path / "model.safetensors").is_file():
                continue
            entry = _entry_from_dir(path)
            if entry is None or entry.name in names:
                continue
            seen.add(path.resolve())
            names.add(entry.name)
            entries.append(entry)
    return entries


def _zoo():
    if os.environ.get(WEIGHTS_ENV):
        return None
    try:
        from engine import zoo
    except ImportError:
        return None
    return zoo if hasattr(zoo, "list_models") else None


def _field(item, key, default=None):
    if isinstance(item, dict):
        return item.get(key, default)
    return getattr(item, key, default)


def _zoo_entries(zoo, include_remote: bool = False) -> list[ModelEntry]:
    """The zoo's models usable offline (embedded or already downloaded); with include_remote, all of them."""
    params = inspect.signature(zoo.list_models).parameters
    items = zoo.list_models(include_remote=include_remote) if "include_remote" in params else zoo.list_models()
    entries = []
    for item in items:
        name = _field(item, "name")
        if not name:
            continue
        raw_path = _field(item, "path")
        path = Path(raw_path) if raw_path else None
        if path is not None and not path.is_absolute():
            path = weights_dir() / path
        if not include_remote and (path is None or not (path / "config.json").is_file()):
            continue
        info = _read_config(path) if path else {}
        if not info:
            info = dict(_field(item, "architecture", None) or {}, task=_field(item, "task"))
            if _field(item, "input_size", None):
                info["crop_size"] = _field(item, "input_size")
        task = _field(item, "task") or info.get("task", "pix2pix")
        description = _field(item, "description") or info.get("description", "")
        input_kind = _field(item, "input_kind", None) or info.get("input_kind", "")
        entries.append(ModelEntry(
            name=name, task=task,
            tab=_field(item, "tab") or tab_for(task, input_kind, f"{name} {description}"),
            title=_field(item, "title") or name.replace("_", " "), path=path, description=description,
            info=info, source="zoo"))
    return entries


def _with_local_models(entries: list[ModelEntry], root: Path) -> list[ModelEntry]:
    """Add the model directories under `root` that the zoo does not list (e.g. a run copied into weights/)."""
    seen = {e.path.resolve() for e in entries if e.path}
    names = {e.name for e in entries}
    for entry in _scan(root):
        if entry.path and entry.path.resolve() not in seen and entry.name not in names:
            entries.append(entry)
    return entries


def _with_run_models(entries: list[ModelEntry], root: Path) -> list[ModelEntry]:
    """Add the exported models of the training runs under `root` (`NAME/model/`) not already listed."""
    seen = {e.path.resolve() for e in entries if e.path}
    names = {e.name for e in entries}
    for config in sorted(root.glob("*/model/config.json")) if root.is_dir() else []:
        path = config.parent
        if path.resolve() in seen or not (path / "model.safetensors").is_file():
            continue
        entry = _entry_from_dir(path, "run", title=f"{path.parent.name} (trained here)")
        if entry is not None and entry.name not in names:
            names.add(entry.name)
            entries.append(entry)
    return entries


class ModelRegistry:
    """Finds models once, loads them on first use and keeps them (thread-safe)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._entries: list[ModelEntry] | None = None
        self._loaded: dict[tuple[str, bool], object] = {}
        self._loading: dict[tuple[str, bool], threading.Lock] = {}

    def entries(self) -> list[ModelEntry]:
        with self._lock:
            if self._entries is None:
                zoo = _zoo()
                try:
                    if zoo is not None:
                        self._entries = _with_local_models(_zoo_entries(zoo), weights_dir())
                    else:
                        self._entries = _scan(weights_dir())
                except Exception as e:  # noqa: BLE001 - a broken zoo must not take the app down
                    logger.warning("model zoo failed (%s); scanning %s instead", e, weights_dir())
                    self._entries = _scan(weights_dir())
                self._entries = _with_run_models(self._entries, runs_dir())
            return list(self._entries)

    def refresh(self) -> None:
        """Forget the list and every loaded model."""
        with self._lock:
            self._entries = None
            self._loaded.clear()

    def rescan(self) -> None:
        """Find the models again (e.g. after a training job); only trained runs' models are reloaded."""
        with self._lock:
            runs = {e.name for e in self._entries or [] if e.source == "run"}
            self._entries = None
            self._loaded = {key: value for key, value in self._loaded.items() if key[0] not in runs}

    def models(self, tab: str) -> list[ModelEntry]:
        return [e for e in self.entries() if e.tab == tab]

    def downloadable(self, tab: str) -> list[str]:
        """Names of zoo models of `tab` that are not on this machine (they need a download first)."""
        zoo = _zoo()
        if zoo is None:
            return []
        try:
            local = {e.name for e in self.models(tab)}
            return [e.name for e in _zoo_entries(zoo, include_remote=True) if e.tab == tab and e.name not in local]
        except Exception:  # noqa: BLE001 - only used for a hint
            return []

    def get(self, tab: str, name: str | None) -> ModelEntry:
        """The model of `tab` named `name` (by name or title); the tab's first model when name is empty."""
        models = self.models(tab)
        if not models:
            raise LookupError(f"no {tab} model is installed (looked in {weights_dir()})")
        if not name:
            return models[0]
        for entry in models:
            if name in (entry.name, entry.title, entry.label):
                return entry
        raise LookupError(f"unknown {tab} model {name!r}; choose one of: {', '.join(e.name for e in models)}")

    def translator(self, entry: ModelEntry, with_discriminators: bool = False):
        key = (entry.name, with_discriminators)
        with self._lock:
            if key in self._loaded:
                return self._loaded[key]
            lock = self._loading.setdefault(key, threading.Lock())
        with lock:
            with self._lock:
                if key in self._loaded:
                    return self._loaded[key]
            translator = self._load(entry, with_discriminators)
            with self._lock:
                self._loaded[key] = translator
            return translator

    @staticmethod
    def _load(entry: ModelEntry, with_discriminators: bool):
        from engine import Translator

        device = os.environ.get(DEVICE_ENV, "auto")
        if entry.source == "zoo":
            zoo = _zoo()
            if zoo is not None and hasattr(zoo, "load"):
                params = inspect.signature(zoo.load).parameters
                kwargs = {"device": device} if "device" in params else {}
                if not with_discriminators:
                    return zoo.load(entry.name, **kwargs)
                if "with_discriminators" in params:
                    return zoo.load(entry.name, with_discriminators=True, **kwargs)
        if entry.path is None:
            raise LookupError(f"model {entry.name!r} has no local folder to load from")
        return Translator.from_dir(entry.path, device=device, with_discriminators=with_discriminators)


registry = ModelRegistry()


def choices(tab: str) -> list[tuple[str, str]]:
    """(label, name) pairs for a model dropdown."""
    return [(e.label, e.name) for e in registry.models(tab)]


def picker(tab: str, current: str | None = None):
    """An update of a model dropdown of `tab` to the models found now, keeping `current` when still there."""
    import gradio as gr

    options = choices(tab)
    names = [name for _, name in options]
    value = current if current in names else (names[0] if names else None)
    return gr.update(choices=options, value=value, interactive=bool(options))
