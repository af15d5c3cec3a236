"""The catalogue of published models (engine/catalog.json) and the manifest (weights/manifest.json).

Reading: `catalog_entries`, `read_manifest`, and `all_specs` / `find_spec`, every known model as a
normalized dict (manifest entries first, then catalogue models the manifest does not list).
Writing: `add_to_manifest` (an embedded model directory) and `sync_manifest` (official entries).
"""
from __future__ import annotations

import functools
import json
import struct
import threading
from pathlib import Path

from .zoo_base import (CATALOG_FILE, CONFIG_FILE, MANIFEST_VERSION, MODEL_FILE, TABS, TASKS, UnknownModel, ZooError,
                       is_model_dir, manifest_path, sha256_file, write_json_atomic)

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


def all_specs() -> list[dict]:
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


def find_spec(name: str) -> dict:
    """The spec of a model by name, "family/official_name", or an official name used by one model only."""
    specs = all_specs()
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


def _receptive_field(config: dict) -> int | None:
    """The discriminator's receptive field in pixels from a model's config.json (StarGAN's depends on the crop)."""
    netD = config.get("netD")
    if not netD:
        return None
    from .networks import receptive_field, stargan_receptive_field
    try:
        if config.get("task") == "stargan":
            return stargan_receptive_field(int(config.get("crop_size", 256)))
        return receptive_field(netD, int(config.get("n_layers_D", 3)))
    except ValueError:
        return None


def default_tab(task: str, input_kind: str = "photo") -> str:
    """The app tab of a model: colorize, sketch (edges in), facade (label maps in), coat (StarGAN) or style."""
    if task == "stargan":
        return "coat"
    if task == "colorization" or input_kind == "gray":
        return "colorize"
    if input_kind == "edges":
        return "sketch"
    if input_kind == "labels" and task == "pix2pix":
        return "facade"
    return "style"


KEPT_ON_UPDATE = ("title", "license")   # written by people: a re-trained model keeps them


def add_to_manifest(model_dir: str | Path, *, manifest_file: str | Path | None = None, **entry) -> dict:
    """Write or update the manifest entry of an embedded model directory and return it.

    Fields not given are taken from the model's config.json (name, task, architecture, input kind,
    input size...); the sha256 of model.safetensors is computed. `path` is stored relative to the
    manifest's folder when the model lies under it. An entry of the same name is replaced in place,
    keeping its human-written `title` and `license` unless new ones are given.
    """
    model_dir = Path(model_dir)
    if not is_model_dir(model_dir):
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
    keys = _safetensors_keys(model_dir / MODEL_FILE)
    architecture = {k: config.get(k) for k in ("netG", "ngf", "norm", "use_dropout", "input_nc", "output_nc",
                                                "netD", "n_layers_D")}
    architecture["receptive_field"] = _receptive_field(config)
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
                for key in KEPT_ON_UPDATE:
                    if key not in entry and item.get(key):
                        record[key] = item[key]
                models[index] = record
                break
        else:
            embedded = [i for i, m in enumerate(models) if isinstance(m, dict) and m.get("path")]
            models.insert(embedded[-1] + 1 if embedded else 0, record)
        manifest["format_version"] = MANIFEST_VERSION
        write_json_atomic(manifest_file, manifest)
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
        write_json_atomic(manifest_file, manifest)
    return manifest_file
