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
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import http.client
import json
import logging
import os
import shutil
import struct
import tempfile
import threading
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

logger = logging.getLogger("engine.zoo")

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
TASKS = ("pix2pix", "cycle_gan", "colorization")
TABS = ("sketch", "facade", "colorize", "style")
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


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _is_model_dir(path: Path | None) -> bool:
    return path is not None and (path / MODEL_FILE).is_file() and (path / CONFIG_FILE).is_file()


def _write_json_atomic(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# -- downloads -------------------------------------------------------------------------------------
def _host(url: str) -> str:
    return urllib.parse.urlsplit(url).netloc or url


def download_file(url: str, dest: str | Path, *, expected_sha256: str | None = None,
                  progress: Progress | None = None, desc: str | None = None, show_progress: bool = True,
                  timeout: float = 60.0) -> str:
    """Stream `url` into `dest` (via a temporary file beside it) and return the file's sha256.

    The byte count is checked against Content-Length and the digest against `expected_sha256`; on any
    failure the temporary file is removed and `dest` is left untouched. `progress(done, total)` is
    called after every chunk (total is None when the server sends no Content-Length).
    Raises ConnectionFailed when the server cannot be reached, DownloadError / ChecksumError otherwise.
    """
    from tqdm.auto import tqdm

    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    digest = hashlib.sha256()
    done = 0
    try:
        with os.fdopen(fd, "wb") as out:
            request = urllib.request.Request(url, headers={"User-Agent": "i2i-studio"})
            try:
                response = urllib.request.urlopen(request, timeout=timeout)
            except urllib.error.HTTPError as e:
                raise DownloadError(f"cannot download {url}: the server answered {e.code} {e.reason}") from e
            except (urllib.error.URLError, http.client.HTTPException, OSError) as e:
                reason = getattr(e, "reason", e)
                raise ConnectionFailed(f"cannot reach {_host(url)} ({reason})") from e
            with response:
                length = response.headers.get("Content-Length")
                total = int(length) if length and length.strip().isdigit() else None
                bar = tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=desc or dest.name,
                           disable=not show_progress, leave=False)
                try:
                    while True:
                        try:
                            chunk = response.read(CHUNK)
                        except http.client.IncompleteRead as e:
                            chunk = e.partial
                            if chunk:
                                out.write(chunk)
                                digest.update(chunk)
                                done += len(chunk)
                            break
                        except (OSError, http.client.HTTPException) as e:
                            raise DownloadError(f"download of {url} failed after {done} bytes ({e}); "
                                                "nothing was saved, try again") from e
                        if not chunk:
                            break
                        out.write(chunk)
                        digest.update(chunk)
                        done += len(chunk)
                        bar.update(len(chunk))
                        if progress is not None:
                            progress(done, total)
                finally:
                    bar.close()
        if total is not None and done != total:
            raise DownloadError(f"download of {url} is truncated: got {done} of {total} bytes; "
                                "nothing was saved, try again")
        hexdigest = digest.hexdigest()
        if expected_sha256 and hexdigest != expected_sha256.lower():
            raise ChecksumError(f"{url} has sha256 {hexdigest}, expected {expected_sha256.lower()}; "
                                "the file is corrupt or was replaced, nothing was saved")
        os.replace(tmp, dest)
        return hexdigest
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


# -- catalogue and manifest ------------------------------------------------------------------------
ARCH_KEYS = ("netG", "ngf", "norm", "use_dropout", "input_nc", "output_nc", "netD", "n_layers_D",
             "receptive_field", "discriminator_included")
ENTRY_KEYS = ("name", "task", "tab", "title", "description", "source", "path", "hub_repo", "revision",
              "family", "official_name", "url", "architecture", "direction", "input_kind", "output_kind",
              "input_size", "sha256", "download_sha256", "license", "data")


@functools.lru_cache(maxsize=1)
def _catalog() -> dict:
    return json.loads(CATALOG_FILE.read_text(encoding="utf-8"))


def catalog_entries() -> list[dict]:
    """The published reference models as full manifest entries (source "official")."""
    catalog = _catalog()
    entries = []
    for model in catalog["models"]:
        family = catalog["families"][model["family"]]
        official = model.get("official_name", model["name"])
        kind = "CycleGAN" if model["family"] == "cyclegan" else "pix2pix"
        entries.append({
            "name": model["name"],
            "task": family["task"],
            "tab": model["tab"],
            "title": model["title"],
            "description": (f"Turns {'an' if model['from'][0] in 'aeiou' else 'a'} {model['from']} into "
                            f"{model['to']}. Published {kind} model "
                            f"`{official}` of the reference implementation."),
            "source": "official",
            "family": model["family"],
            "official_name": official,
            "url": family["url"].format(name=official),
            "architecture": dict(family["architecture"]),
            "direction": model["direction"],
            "input_kind": model["input_kind"],
            "output_kind": model["output_kind"],
            "input_size": family["input_size"],
            "sha256": None,
            "download_sha256": model.get("download_sha256"),
            "license": family["license"],
            "data": model["data"],
        })
    return entries


def read_manifest(path: str | Path | None = None) -> dict:
    """The manifest as a dict {"format_version", "models": [entry, ...]} (empty when there is none)."""
    path = Path(path) if path is not None else manifest_path()
    if not path.is_file():
        return {"format_version": MANIFEST_VERSION, "models": []}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as e:
        raise ZooError(f"{path} is not valid JSON ({e})") from e
    if isinstance(data, list):
        data = {"format_version": MANIFEST_VERSION, "models": data}
    if not isinstance(data, dict) or not isinstance(data.get("models", []), list):
        raise ZooError(f"{path} must be an object with a list of models")
    if data.get("format_version", MANIFEST_VERSION) > MANIFEST_VERSION:
        raise ZooError(f"{path} has format {data['format_version']}, newer than this engine understands")
    data.setdefault("models", [])
    return data


def _normalize(item: dict, root: Path, catalog: dict[str, dict]) -> dict | None:
    """A manifest item with its source decided and missing fields filled (official ones from the catalogue)."""
    if not isinstance(item, dict) or not item.get("name"):
        return None
    source = item.get("source") or ("embedded" if item.get("path") else "hub" if item.get("hub_repo")
                                    else "official")
    spec: dict = {}
    if source == "official":
        base = catalog.get(item["name"]) or catalog.get(item.get("official_name") or "")
        spec.update(base or {})
    spec.update({k: v for k, v in item.items() if v is not None or k not in spec})
    spec["source"] = source
    spec["_root"] = root
    spec.setdefault("architecture", {})
    spec.setdefault("title", spec["name"].replace("_", " "))
    return spec


def _specs() -> list[dict]:
    """Every known model: manifest entries first, then catalogue models the manifest does not list."""
    path = manifest_path()
    catalog_list = catalog_entries()
    catalog = {e["name"]: e for e in catalog_list}
    catalog.update({e["official_name"]: e for e in catalog_list if e["official_name"] not in catalog})
    specs, names = [], set()
    for item in read_manifest(path)["models"]:
        spec = _normalize(item, path.parent, catalog)
        if spec is None or spec["name"] in names:
            continue
        specs.append(spec)
        names.add(spec["name"])
    for entry in catalog_list:
        if entry["name"] not in names:
            specs.append(dict(entry, _root=path.parent))
            names.add(entry["name"])
    return specs


def _find(name: str) -> dict:
    specs = _specs()
    for spec in specs:
        if spec["name"] == name:
            return spec
    family, _, rest = name.partition("/")
    if rest:  # "pix2pix/sat2map", "cyclegan/sat2map"
        family = {"cycle_gan": "cyclegan", "cyclegan": "cyclegan", "pix2pix": "pix2pix"}.get(family, family)
        matches = [s for s in specs if s.get("family") == family and s.get("official_name") == rest]
    else:    # an official name used by one model only, e.g. "edges2shoes"
        matches = [s for s in specs if s.get("official_name") == name]
    if len(matches) == 1:
        return matches[0]
    raise UnknownModel(f"unknown model {name!r}; `python -m engine list-models` lists them "
                       f"(e.g. {', '.join(s['name'] for s in specs[:4])})")


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


def _hub_cached_dir(repo_id: str, revision: str | None = None) -> Path | None:
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    found = [try_to_load_from_cache(repo_id, f, revision=revision) for f in (MODEL_FILE, CONFIG_FILE)]
    if all(isinstance(f, str) for f in found) and Path(found[0]).parent == Path(found[1]).parent:
        return Path(found[0]).parent
    return None


def _local_dir(spec: dict) -> Path | None:
    """The model directory already on this machine, if any (embedded, cached, or in the HF cache)."""
    embedded = _embedded_path(spec)
    if _is_model_dir(embedded):
        return embedded
    if spec["source"] == "official":
        cached = cache_dir() / spec["name"]
        if _is_model_dir(cached):
            return cached
    if spec.get("hub_repo") and spec["source"] != "official":
        return _hub_cached_dir(spec["hub_repo"], spec.get("revision"))
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
    entries = [_entry(spec) for spec in _specs()]
    return [e for e in entries if (task is None or e.task == task) and (tab is None or e.tab == tab)
            and (include_remote or e.available_offline)]


def get_entry(name: str) -> ModelEntry:
    """The entry of one model (same names as `load`)."""
    return _entry(_find(name))


# -- manifest writing ------------------------------------------------------------------------------
_manifest_lock = threading.Lock()


def _safetensors_keys(path: Path) -> list[str]:
    """Tensor names of a safetensors file, from its JSON header (no torch needed)."""
    with open(path, "rb") as f:
        header = f.read(8)
        if len(header) != 8:
            raise ZooError(f"{path} is not a safetensors file")
        (size,) = struct.unpack("<Q", header)
        if size > 100_000_000:
            raise ZooError(f"{path} is not a safetensors file")
        try:
            meta = json.loads(f.read(size))
        except ValueError as e:
            raise ZooError(f"{path} is not a safetensors file ({e})") from e
    return [k for k in meta if k != "__metadata__"]


def _receptive_field(netD: str | None, n_layers_D: int) -> int | None:
    if not netD:
        return None
    from .networks import receptive_field
    try:
        return receptive_field(netD, n_layers_D)
    except ValueError:
        return None


def default_tab(task: str, input_kind: str = "photo") -> str:
    """The app tab of a model: colorize, sketch (edges in), facade (label maps in) or style."""
    if task == "colorization" or input_kind == "gray":
        return "colorize"
    if input_kind == "edges":
        return "sketch"
    if input_kind == "labels" and task == "pix2pix":
        return "facade"
    return "style"


def add_to_manifest(model_dir: str | Path, *, manifest_file: str | Path | None = None, **entry) -> dict:
    """Write or update the manifest entry of an embedded model directory and return it.

    Fields not given are taken from the model's config.json (name, task, architecture, input kind,
    input size...); the sha256 of model.safetensors is computed. `path` is stored relative to the
    manifest's folder when the model lies under it. An entry of the same name is replaced in place.
    """
    model_dir = Path(model_dir)
    if not _is_model_dir(model_dir):
        raise ZooError(f"{model_dir} is not a model directory ({MODEL_FILE} + {CONFIG_FILE})")
    unknown = sorted(set(entry) - set(ENTRY_KEYS))
    if unknown:
        raise ValueError(f"unknown manifest fields: {', '.join(unknown)} (known: {', '.join(ENTRY_KEYS)})")
    manifest_file = Path(manifest_file) if manifest_file is not None else manifest_path()
    config = json.loads((model_dir / CONFIG_FILE).read_text(encoding="utf-8"))
    task = entry.get("task") or config.get("task", "pix2pix")
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; choose one of {', '.join(TASKS)}")
    input_kind = entry.get("input_kind") or config.get("input_kind", "photo")
    tab = entry.get("tab") or default_tab(task, input_kind)
    if tab not in TABS:
        raise ValueError(f"unknown tab {tab!r}; choose one of {', '.join(TABS)}")
    netD = config.get("netD")
    keys = _safetensors_keys(model_dir / MODEL_FILE)
    architecture = {k: config.get(k) for k in ("netG", "ngf", "norm", "use_dropout", "input_nc", "output_nc",
                                                "netD", "n_layers_D")}
    architecture["receptive_field"] = _receptive_field(netD, int(config.get("n_layers_D", 3)))
    architecture["discriminator_included"] = any(k.split(".", 1)[0] in ("D", "D_A", "D_B") for k in keys)
    root = manifest_file.parent.resolve()
    resolved = model_dir.resolve()
    try:
        rel = resolved.relative_to(root).as_posix()
    except ValueError:
        rel = str(resolved)
    name = entry.get("name") or config.get("name") or model_dir.name
    record = {
        "name": name,
        "task": task,
        "tab": tab,
        "title": entry.get("title") or name.replace("_", " "),
        "description": entry.get("description") or config.get("description", ""),
        "source": "embedded",
        "path": rel,
        "architecture": architecture,
        "direction": config.get("direction", "AtoB"),
        "input_kind": input_kind,
        "output_kind": entry.get("output_kind") or config.get("output_kind", "photo"),
        "input_size": entry.get("input_size") or config.get("crop_size"),
        "sha256": sha256_file(model_dir / MODEL_FILE),
        "license": entry.get("license", ""),
        "data": entry.get("data") or (config.get("training") or {}).get("dataroot", ""),
    }
    record.update({k: v for k, v in entry.items() if k != "sha256"})  # explicit fields win, the digest is computed
    with _manifest_lock:
        manifest = read_manifest(manifest_file)
        models = manifest["models"]
        for index, item in enumerate(models):
            if isinstance(item, dict) and item.get("name") == name:
                if item.get("source", "embedded") != "embedded":
                    raise ZooError(f"{name!r} is the name of a {item.get('source')} model in {manifest_file}; "
                                   "give the embedded model another name (e.g. studio_" + name + ")")
                models[index] = record
                break
        else:
            embedded = [i for i, m in enumerate(models) if isinstance(m, dict) and m.get("path")]
            models.insert(embedded[-1] + 1 if embedded else 0, record)
        manifest["format_version"] = MANIFEST_VERSION
        _write_json_atomic(manifest_file, manifest)
    return record


def sync_manifest(manifest_file: str | Path | None = None) -> Path:
    """Rewrite the manifest's `source: official` entries from engine/catalog.json, keeping all others."""
    manifest_file = Path(manifest_file) if manifest_file is not None else manifest_path()
    with _manifest_lock:
        manifest = read_manifest(manifest_file)
        kept = [m for m in manifest["models"]
                if isinstance(m, dict) and (m.get("source") or ("embedded" if m.get("path") else
                                                                "hub" if m.get("hub_repo") else "official"))
                != "official"]
        manifest["models"] = kept + catalog_entries()
        manifest["format_version"] = MANIFEST_VERSION
        _write_json_atomic(manifest_file, manifest)
    return manifest_file


# -- memory cache ----------------------------------------------------------------------------------
_memory: dict = {}
_build_locks: dict = {}
_guard = threading.Lock()


def _key_lock(key) -> threading.Lock:
    with _guard:
        return _build_locks.setdefault(key, threading.Lock())


def _memoized(key, build: Callable[[], Any]):
    with _guard:
        if key in _memory:
            return _memory[key]
    with _key_lock(key):
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


def _load_translator(path: Path, device, with_discriminators: bool, options: dict):
    from .inference import Translator
    return Translator.from_dir(path, device=device, with_discriminators=with_discriminators, **options)


def _device_key(device) -> str:
    from .device import pick_device
    return str(pick_device(device) if isinstance(device, str) else device)


# -- resolving and fetching ------------------------------------------------------------------------
def _unavailable_message(name: str, reason: str) -> str:
    return (f"{name} is not downloaded and this machine is offline ({reason}): run "
            f"`python -m engine download-model {name}` on a machine with internet, or copy its folder "
            f"(model.safetensors + config.json) to {cache_dir() / name}")


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


def _model_config(spec: dict, origin: str, digest: str | None):
    from .config import ModelConfig
    arch = spec.get("architecture") or {}
    size = int(spec.get("input_size") or 256)
    return ModelConfig(
        task=spec["task"], netG=arch.get("netG", "resnet_9blocks"), ngf=int(arch.get("ngf", 64)),
        norm=arch.get("norm", "instance"), use_dropout=bool(arch.get("use_dropout", False)),
        input_nc=int(arch.get("input_nc", 3)), output_nc=int(arch.get("output_nc", 3)), netD=None,
        direction=spec.get("direction", "AtoB"), input_kind=spec.get("input_kind", "photo"),
        output_kind=spec.get("output_kind", "photo"),
        color_space="lab" if spec["task"] == "colorization" else "rgb",
        load_size=size, crop_size=size, name=spec["name"], description=spec.get("description", ""),
        training={"source": f"official {spec.get('family', '')} model {spec.get('official_name') or spec['name']}",
                  "url": origin, "download_sha256": digest,
                  "trained_with_netD": arch.get("netD"), "license": spec.get("license", "")})


def _card(spec: dict, origin: str, digest: str | None) -> str:
    arch = spec.get("architecture") or {}
    lines = [f"# {spec.get('title') or spec['name']}", "", spec.get("description", ""), "",
             f"* zoo name: `{spec['name']}` ({spec['task']}, {spec.get('direction', 'AtoB')})",
             f"* generator: {arch.get('netG')}, ngf {arch.get('ngf')}, norm {arch.get('norm')}, "
             f"dropout {arch.get('use_dropout')}",
             f"* input: {spec.get('input_kind', 'photo')} at {spec.get('input_size') or 256}px; "
             f"output: {spec.get('output_kind', 'photo')}",
             f"* converted from `{origin}` (sha256 {digest or 'unknown'})"]
    if spec.get("data"):
        lines.append(f"* training data: {spec['data']}")
    if spec.get("license"):
        lines.append(f"* license: {spec['license']}")
    return "\n".join(lines) + "\n"


def _mirror_file(repo_id: str, filename: str, local_only: bool) -> Path:
    from huggingface_hub import hf_hub_download
    return Path(hf_hub_download(repo_id, filename, local_files_only=local_only))


def _fetch_official(spec: dict, progress: Progress | None, show_progress: bool, replace: bool = False) -> Path:
    """Download (or take from a Hub mirror), verify and convert one published model into the cache."""
    name = spec["name"]
    official = spec.get("official_name") or name
    expected = (spec.get("download_sha256") or "").lower() or None
    reason = offline_reason()
    root = cache_dir()
    root.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{name}.", suffix=".partial", dir=root))
    try:
        source: Path | None = None
        origin = digest = None
        mirror = spec.get("hub_repo") or os.environ.get(MIRROR_ENV)
        if mirror:
            try:
                source = _mirror_file(mirror, f"{official}.pth", local_only=reason is not None)
                origin, digest = f"hf://{mirror}/{official}.pth", sha256_file(source)
                if expected and digest != expected:
                    raise ChecksumError(f"{origin} has sha256 {digest}, expected {expected}; nothing was cached")
            except ChecksumError:
                raise
            except Exception as e:  # noqa: BLE001 - any mirror failure: fall back to the official URL
                logger.warning("Hub mirror %s failed for %s (%s); trying the official URL", mirror, name, e)
                source = None
        if source is None:
            if reason is not None:
                raise ModelUnavailable(_unavailable_message(name, reason))
            if not spec.get("url"):
                raise ModelUnavailable(f"{name} has no download URL and is not on this machine")
            origin = with_base_url(spec["url"])
            source = work / f"{official}.pth"
            try:
                digest = download_file(origin, source, expected_sha256=expected, progress=progress, desc=name,
                                       show_progress=show_progress)
            except ConnectionFailed as e:
                raise ModelUnavailable(_unavailable_message(name, str(e))) from e
        from .checkpoint import CheckpointError, import_official
        out = work / "model"
        try:
            import_official(source, out, _model_config(spec, origin, digest))
        except CheckpointError as e:
            raise DownloadError(f"{name}: the downloaded checkpoint does not fit its catalogue architecture ({e})") from e
        (out / CARD_FILE).write_text(_card(spec, origin, digest), encoding="utf-8")
        final = root / name
        if final.exists() and (replace or not _is_model_dir(final)):
            os.rename(final, work / "old")  # a stray folder without weights, or --force: replace it
        try:
            os.rename(out, final)
        except OSError:
            if not _is_model_dir(final):  # anything but "another process finished first"
                raise
        logger.info("%s: cached in %s (sha256 of download %s)", name, final, digest)
        return final
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _resolve_dir(spec: dict, progress: Progress | None = None, show_progress: bool = True,
                 force: bool = False) -> Path:
    """The local model directory of `spec`, downloading and converting it first when needed."""
    name = spec["name"]
    embedded = _embedded_path(spec)
    if _is_model_dir(embedded):
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
    with _key_lock(("fetch", name)):
        cached = cache_dir() / name
        if _is_model_dir(cached) and not force:
            return cached
        return _fetch_official(spec, progress, show_progress, replace=force)


def download_model(name: str, *, progress: Progress | None = None, show_progress: bool = True,
                   force: bool = False) -> Path:
    """Make `name` available offline and return its local model directory (embedded, cached or HF cache)."""
    return _resolve_dir(_find(name), progress=progress, show_progress=show_progress, force=force)


def load(name: str, device="auto", *, with_discriminators: bool = False, progress: Progress | None = None,
         **options):
    """A `Translator` for a model of the zoo (or "hub:owner/repo"), loaded once per process.

    Resolution: embedded model in weights/ -> local cache -> download. `options` go to `Translator`
    (max_side, batch_size, amp, ...) and are part of the memory-cache key.
    """
    if name.startswith(HUB_PREFIX):
        return load_from_hub(name[len(HUB_PREFIX):], device, with_discriminators=with_discriminators, **options)
    spec = _find(name)
    key = ("zoo", spec["name"], _device_key(device), with_discriminators, tuple(sorted(options.items())))
    return _memoized(key, lambda: _load_translator(_resolve_dir(spec, progress), device, with_discriminators,
                                                   options))


# -- Hugging Face Hub ------------------------------------------------------------------------------
def hub_snapshot(repo_id: str, *, revision: str | None = None, token: str | None = None,
                 cache_dir: str | Path | None = None, name: str | None = None) -> Path:
    """Download (or find in the HF cache) model.safetensors + config.json + README.md of a Hub repo."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.utils import LocalEntryNotFoundError, RepositoryNotFoundError

    label = name or f"{HUB_PREFIX}{repo_id}"
    reason = offline_reason()
    try:
        folder = snapshot_download(repo_id, revision=revision, allow_patterns=list(HUB_FILES), token=token,
                                   cache_dir=cache_dir, local_files_only=reason is not None)
    except RepositoryNotFoundError as e:
        raise UnknownModel(f"{label}: no model repository {repo_id} on the Hub (private? pass a token or log in "
                           "with `hf auth login`)") from e
    except LocalEntryNotFoundError as e:
        why = reason or "the Hub cannot be reached"
        raise ModelUnavailable(f"{label} is not in the Hugging Face cache and this machine is offline ({why}): "
                               f"load it once with internet access, or copy the cache (HF_HUB_CACHE)") from e
    except Exception as e:
        if type(e).__name__ == "IncompleteSnapshotError":
            raise ModelUnavailable(f"{label}: the cached copy is incomplete and the Hub cannot be reached") from e
        raise
    folder = Path(folder)
    if not _is_model_dir(folder):
        raise ZooError(f"{label}: {repo_id} holds no {MODEL_FILE} + {CONFIG_FILE}; not an i2i-studio model")
    return folder


def load_from_hub(repo_id: str, device="auto", *, revision: str | None = None, token: str | None = None,
                  cache_dir: str | Path | None = None, with_discriminators: bool = False, **options):
    """A `Translator` for a model directory pushed to the Hub (`push_to_hub`), loaded once per process."""
    key = ("hub", repo_id, revision, _device_key(device), with_discriminators, tuple(sorted(options.items())))
    return _memoized(key, lambda: _load_translator(
        hub_snapshot(repo_id, revision=revision, token=token, cache_dir=cache_dir), device, with_discriminators,
        options))


def _front_matter(config: dict) -> str:
    tags = ["image-to-image", "i2i-studio", {"cycle_gan": "cyclegan"}.get(config.get("task"), config.get("task"))]
    return ("---\nlibrary_name: pytorch\npipeline_tag: image-to-image\ntags:\n"
            + "".join(f"- {t}\n" for t in tags if t) + "---\n\n")


def push_to_hub(model_dir: str | Path, repo_id: str, token: str | None = None, private: bool = False, *,
                commit_message: str | None = None) -> str:
    """Upload model.safetensors + config.json + README.md (model card) of a model directory; return the repo URL.

    Creates the repository when needed (exist_ok). A card is generated when the folder has none, and a
    Hub metadata header is added to a card that lacks one (in the uploaded copy only).
    """
    from huggingface_hub import HfApi

    model_dir = Path(model_dir)
    if not _is_model_dir(model_dir):
        raise ZooError(f"{model_dir} is not a model directory ({MODEL_FILE} + {CONFIG_FILE})")
    if is_offline():
        raise ZooError(f"cannot push {model_dir} to {repo_id}: this machine is offline ({offline_reason()})")
    config = json.loads((model_dir / CONFIG_FILE).read_text(encoding="utf-8"))
    card_path = model_dir / CARD_FILE
    card = card_path.read_text(encoding="utf-8") if card_path.is_file() else (
        f"# {config.get('name') or model_dir.name}\n\n{config.get('description', '')}\n\n"
        f"{config.get('task')} model ({config.get('netG')}, ngf {config.get('ngf')}). Load it with "
        f"`engine.zoo.load(\"hub:{repo_id}\")`.\n")
    if not card.startswith("---"):
        card = _front_matter(config) + card
    api = HfApi(token=token)
    with tempfile.TemporaryDirectory(prefix="i2i-push-") as staging:
        staging = Path(staging)
        for filename in (MODEL_FILE, CONFIG_FILE):
            try:
                os.link(model_dir / filename, staging / filename)
            except OSError:
                shutil.copy2(model_dir / filename, staging / filename)
        (staging / CARD_FILE).write_text(card, encoding="utf-8")
        url = api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
        api.upload_folder(repo_id=repo_id, folder_path=staging, repo_type="model", allow_patterns=list(HUB_FILES),
                          commit_message=commit_message or f"Upload {config.get('name') or model_dir.name}")
    return str(url)


# -- command line ----------------------------------------------------------------------------------
def _cmd_list(args, parser) -> int:
    entries = list_models(task=args.task, tab=args.tab, include_remote=not args.offline)
    if args.json:
        print(json.dumps([e.to_dict() for e in entries], indent=2, ensure_ascii=False))
        return 0
    width = max((len(e.name) for e in entries), default=4)
    for e in entries:
        where = ("embedded" if e.source == "embedded" else "cached") if e.available_offline else "download"
        print(f"{e.name:<{width}}  {e.task:<12} {e.tab or '-':<8} {where:<8}  {e.title}")
    if not entries:
        print("no models match")
    return 0


def _cmd_download_model(args, parser) -> int:
    path = download_model(args.name, show_progress=not args.quiet, force=args.force)
    print(f"{args.name}: {path}")
    return 0


def _cmd_download_dataset(args, parser) -> int:
    from .datasets_hub import download_dataset
    path = download_dataset(args.name, kind=args.kind, root=args.root, show_progress=not args.quiet)
    print(f"{args.name} ({args.kind}): {path}")
    return 0


def _cmd_push(args, parser) -> int:
    url = push_to_hub(args.model_dir, args.repo_id, token=args.token, private=args.private,
                      commit_message=args.message)
    print(f"pushed {args.model_dir} to {url}")
    return 0


def register_cli(subparsers) -> None:
    """Add list-models, download-model, download-dataset and push to `python -m engine`."""
    p = subparsers.add_parser("list-models", help="models of the zoo (embedded, cached, downloadable)")
    p.add_argument("--task", choices=TASKS)
    p.add_argument("--tab", choices=TABS)
    p.add_argument("--offline", action="store_true", help="only models usable without a network")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=_cmd_list, subparser=p)

    p = subparsers.add_parser("download-model", help="download and convert a published model into the cache")
    p.add_argument("name", help="e.g. style_monet (see list-models)")
    p.add_argument("--force", action="store_true", help="download again even when cached")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=_cmd_download_model, subparser=p)

    p = subparsers.add_parser("download-dataset", help="download an official pix2pix / CycleGAN dataset")
    p.add_argument("name", help="e.g. facades, edges2shoes, horse2zebra")
    p.add_argument("--kind", default="pix2pix", choices=["pix2pix", "cycle_gan"])
    p.add_argument("--root", help="where datasets go (default $I2I_DATASETS_DIR or data/)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=_cmd_download_dataset, subparser=p)

    p = subparsers.add_parser("push", help="upload a model directory to the Hugging Face Hub")
    p.add_argument("model_dir")
    p.add_argument("repo_id", help="owner/name")
    p.add_argument("--private", action="store_true")
    p.add_argument("--token", help="default: the logged-in token / HF_TOKEN")
    p.add_argument("--message", help="commit message")
    p.set_defaults(run=_cmd_push, subparser=p)
