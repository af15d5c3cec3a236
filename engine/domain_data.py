"""Images with a domain label (StarGAN): from a labels CSV beside them, or one subfolder per domain.

A labels CSV has a header whose first column is `file` (a name in the image folder) and whose second
names the label, e.g. catfaces' `coats.csv` (`file,coat` / `00001.jpg,grey_tabby`). Without a CSV (and
with no single .csv in the folder), every subfolder holding images is a domain named after it. Domains
are the labels in the order given, or every label found, sorted; items with other labels are left out.
"""
from __future__ import annotations

import csv
import logging
from pathlib import Path

import torch

from .data import ImageFolderDataset, apply_transform, find_images
from .images import to_tensor

logger = logging.getLogger("engine.data")

_PHASE_ALIASES = {"val": ("test",), "test": ("val",)}


def phase_folder(root: str | Path, phase: str) -> Path:
    """root/phase when it exists (val and test stand in for each other), else root itself."""
    root = Path(root)
    if not root.is_dir():
        raise ValueError(f"dataset folder not found: {root}")
    return next((root / name for name in (phase, *_PHASE_ALIASES.get(phase, ())) if (root / name).is_dir()), root)


def labels_file(folder: Path, labels_csv: str | Path | None) -> Path | None:
    """The labels CSV of an image folder: `labels_csv` (a bare file name is looked up in the folder), else
    the folder's only .csv file; None when it has none (subfolders are the domains then)."""
    if labels_csv is not None:
        path = Path(labels_csv)
        path = folder / path if path.parent == Path(".") else path
        if not path.is_file():
            raise ValueError(f"labels CSV not found: {path}")
        return path
    found = sorted(p for p in folder.glob("*.csv") if p.is_file())
    if len(found) > 1:
        raise ValueError(f"{folder} has several CSV files ({', '.join(p.name for p in found)}); choose one with "
                         "labels_csv")
    return found[0] if found else None


def read_labels_csv(path: str | Path) -> list[tuple[str, str]]:
    """(file name, label) rows of a labels CSV (header `file,<label name>`); ValueError naming the line."""
    path = Path(path)
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    if not rows or len(rows[0]) < 2 or rows[0][0].strip().lower() != "file":
        raise ValueError(f"{path}: the first line must be a header like 'file,label', got {rows[0] if rows else ''}")
    items = []
    for line, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) < 2 or not row[0].strip() or not row[1].strip():
            raise ValueError(f"{path}, line {line}: expected a file name and a label, got {','.join(row)!r}")
        items.append((row[0].strip(), row[1].strip()))
    return items


def _folder_labels(folder: Path) -> list[tuple[Path, str]]:
    subfolders = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    items = [(path, sub.name) for sub in subfolders for path in find_images(sub)]
    if not items:
        raise ValueError(f"{folder} has no labels CSV and no subfolders of images (one per domain)")
    return items


def labelled_images(folder: str | Path, labels_csv: str | Path | None = None) -> list[tuple[Path, str]]:
    """Every (image path, label) of a folder, sorted by path: from its labels CSV, or from its subfolders.

    ValueError when the CSV names files the folder does not hold."""
    folder = Path(folder)
    path = labels_file(folder, labels_csv)
    if path is None:
        return _folder_labels(folder)
    rows = read_labels_csv(path)
    present = {p.name for p in find_images(folder)}
    missing = [name for name, _ in rows if name not in present]
    if missing:
        raise ValueError(f"{path} names {len(missing)} image(s) not in {folder} (first: {missing[0]})")
    return sorted((folder / name, label) for name, label in rows)


def resolve_domains(items: list[tuple[Path, str]], domains: list[str] | None, where: str) -> list[str]:
    """`domains` checked against the labels of `items` (every one must occur), or all labels, sorted."""
    found = sorted({label for _, label in items})
    if not domains:
        if len(found) < 2:
            raise ValueError(f"{where} has {len(found)} domain label(s) ({', '.join(found)}); StarGAN needs 2 or more")
        return found
    unknown = [d for d in domains if d not in found]
    if unknown:
        raise ValueError(f"unknown domain(s) {', '.join(unknown)}: {where} has {', '.join(found)}")
    return list(domains)


def find_domains(root: str | Path, phase: str = "train", labels_csv: str | None = None) -> list[str]:
    """The sorted labels of a dataset's `phase` folder (what a run trains on when no domains are given)."""
    folder = phase_folder(root, phase)
    return resolve_domains(labelled_images(folder, labels_csv), None, str(folder))


def class_indices(root: str | Path, phase: str, labels_csv: str | Path | None, domains: list[str]) -> dict[str, int]:
    """{image file name: index in `domains`} of a phase folder's labels CSV, e.g. a pix2pix class input's
    coats; images with other labels are left out (they train with no class)."""
    folder = phase_folder(root, phase)
    items = labelled_images(folder, labels_csv)
    index = {name: i for i, name in enumerate(resolve_domains(items, domains, str(folder)))}
    return {path.name: index[label] for path, label in items if label in index}


class DomainDataset(ImageFolderDataset):
    """{"A": image, "label": its domain index, "target": a random domain index, "A_path"}.

    The target is drawn uniformly over all domains from the dataset's seeded RNG after the transform,
    so with the trainer's per-item seeds a resumed run draws the same targets. Labels outside
    `domains` are left out; `max_items` keeps the first items (sorted by path) after that.
    """

    def __init__(self, root: str | Path, phase: str = "train", labels_csv: str | None = None,
                 domains: list[str] | str | None = None, preprocess: str = "resize_and_crop", load_size: int = 286,
                 crop_size: int = 256, no_flip: bool = False, input_nc: int = 3, max_items: int | None = None,
                 seed: int | None = None):
        super().__init__(preprocess=preprocess, load_size=load_size, crop_size=crop_size, no_flip=no_flip,
                         seed=seed)
        if isinstance(domains, str):
            domains = [d for d in domains.split(",") if d]
        self.folder = phase_folder(root, phase)
        items = labelled_images(self.folder, labels_csv)
        self.domains = resolve_domains(items, domains, str(self.folder))
        index = {name: i for i, name in enumerate(self.domains)}
        kept = [(path, index[label]) for path, label in items if label in index]
        if len(kept) < len(items):
            logger.info("%s: left out %d image(s) labelled outside %s", self.folder, len(items) - len(kept),
                        ", ".join(self.domains))
        self.items = kept[:max_items] if max_items is not None else kept
        self.input_nc = input_nc

    def __len__(self) -> int:
        return len(self.items)

    def load_sample(self, index: int) -> dict:
        path, label = self.items[index]
        image = self.open(path)
        image = apply_transform(image, self.draw_params(image.size))
        target = self.rng.randrange(len(self.domains))
        return {"A": to_tensor(image, self.input_nc), "label": torch.tensor(label), "target": torch.tensor(target),
                "A_path": str(path)}
