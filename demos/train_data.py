"""Datasets for training jobs: folders inside the allowed roots, uploaded archives (extracted safely),
and named datasets (`engine.datasets_hub`: a folder of that name in the roots, the cache, or a download).

- `I2I_MAX_DATASET_MB`: the largest archive accepted (default 500); it may expand to 4x that
"""
from __future__ import annotations

import math
import os
import re
import shutil
import tempfile
from pathlib import Path

from .settings import DEFAULT_DATASET_MB, REPO, data_roots, datasets_dir, uploads_dir

EXPANSION = 4                       # an archive may expand to this many times its size limit
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
UNSAFE_NAME_CHARS = re.compile(r"[^A-Za-z0-9_.-]+")


def check_dataroot(path: str) -> Path:
    """The dataset folder, resolved, if it lies inside an allowed root; ValueError otherwise."""
    if not path or not str(path).strip():
        raise ValueError("enter a dataset folder")
    candidate = Path(str(path).strip()).expanduser()
    roots = data_roots()
    if not candidate.is_absolute():
        matches = [root / candidate for root in roots if (root / candidate).is_dir()]
        candidate = matches[0] if matches else REPO / candidate
    resolved = candidate.resolve()
    if not any(resolved == root or root in resolved.parents for root in roots):
        raise ValueError(f"dataset folder must be inside {' or '.join(str(r) for r in roots)}; got {resolved}")
    if not resolved.is_dir():
        raise ValueError(f"dataset folder not found: {resolved}")
    return resolved


def max_dataset_bytes() -> int:
    """The largest dataset archive accepted, in bytes: $I2I_MAX_DATASET_MB megabytes, else 500 MB."""
    try:
        megabytes = float(os.environ.get("I2I_MAX_DATASET_MB", "") or DEFAULT_DATASET_MB)
    except ValueError:
        megabytes = DEFAULT_DATASET_MB
    if not math.isfinite(megabytes) or megabytes <= 0:
        megabytes = DEFAULT_DATASET_MB
    return int(megabytes * 2**20)


def _has_images(folder: Path) -> bool:
    return any(p.suffix.lower() in IMAGE_SUFFIXES and p.is_file() for p in folder.rglob("*"))


def extract_upload(archive: str | Path) -> Path:
    """Extract an uploaded dataset archive (zip or tar) into a new folder of uploads_dir(); the dataset folder.

    An archive holding a single folder (e.g. `facades/`) gives that folder. Unsafe, corrupt, too large or
    image-less archives raise ValueError with one line; nothing is left behind.
    """
    from engine.datasets_hub import ArchiveError, safe_extract

    path = Path(archive)
    if not path.is_file():
        raise ValueError("the uploaded archive is missing; upload it again")
    size, limit = path.stat().st_size, max_dataset_bytes()
    if size == 0:
        raise ValueError(f"{path.name} is empty (0 bytes); upload a zip of images")
    if size > limit:
        raise ValueError(f"{path.name} is {size / 2**20:.0f} MB; the limit is {limit / 2**20:.0f} MB "
                         "(I2I_MAX_DATASET_MB)")
    stem = UNSAFE_NAME_CHARS.sub("_", path.name.split(".")[0]).strip("._-")[:40] or "dataset"
    uploads_dir().mkdir(parents=True, exist_ok=True)
    target = Path(tempfile.mkdtemp(prefix=f"{stem}_", dir=uploads_dir()))
    try:
        safe_extract(path, target, max_bytes=EXPANSION * limit)
        children = [c for c in target.iterdir() if c.name != "__MACOSX" and not c.name.startswith(".")]
        folder = children[0] if len(children) == 1 and children[0].is_dir() else target
        if not _has_images(folder):
            raise ValueError(f"{path.name} holds no images ({', '.join(IMAGE_SUFFIXES)})")
    except ArchiveError as e:
        shutil.rmtree(target, ignore_errors=True)
        raise ValueError(f"unusable dataset archive: {e}") from None
    except BaseException:
        shutil.rmtree(target, ignore_errors=True)
        raise
    return folder


def dataset_kind(task: str) -> str:
    """The collection of named datasets a task trains on (CycleGAN: unpaired, else paired pix2pix)."""
    return "cycle_gan" if task == "cycle_gan" else "pix2pix"


def named_datasets(task: str) -> list[str]:
    from engine.datasets_hub import DATASETS
    return list(DATASETS[dataset_kind(task)])


def named_dataset(name: str, task: str) -> Path:
    """A named dataset's folder: one of that name in the allowed roots, else the cache, else a download."""
    from engine.datasets_hub import download_dataset
    from engine.zoo import ZooError

    kind, name = dataset_kind(task), (name or "").strip()
    if name not in named_datasets(task):
        raise ValueError(f"unknown {kind} dataset {name!r}; choose one of {', '.join(named_datasets(task))}")
    for root in data_roots():
        for folder in (root / name, root / kind / name):
            if folder.is_dir() and any(folder.iterdir()):
                return folder.resolve()
    try:
        return download_dataset(name, kind, datasets_dir(), show_progress=False).resolve()
    except ZooError as e:
        raise ValueError(str(e)) from None
