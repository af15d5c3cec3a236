"""Build the colorizers' training set: every photo set in ../shared/datasets in one folder, by links.

    python scripts/photo_mix.py [--shared ../shared/datasets] [--out runs/data/photo_mix]

Writes OUT/train and OUT/val with one symbolic link per photo, named SET_FILE (landscapes from
monet2photo B, cats, cat faces, horses and zebras); facade photos are the left halves of the
side-by-side A|B pairs, so they are cut out and saved as files. Nothing here is committed: the
datasets are research data (see README).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from engine.data import find_images  # noqa: E402

# (set name, train folder, val folder) relative to the shared datasets folder
LINKED = [("landscape", "monet2photo/trainB", "monet2photo/testB"), ("cat", "cats/train", "cats/val"),
          ("catface", "catfaces/train", "catfaces/val"), ("horse", "horse2zebra/trainA", "horse2zebra/testA"),
          ("zebra", "horse2zebra/trainB", "horse2zebra/testB")]
FACADES = ("facade", "facades/train", "facades/val")


def build(shared: Path, out: Path) -> dict[str, int]:
    """Make OUT/train and OUT/val; returns the number of photos per phase."""
    counts = {}
    for phase_index, phase in ((1, "train"), (2, "val")):
        folder = out / phase
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.iterdir():
            old.unlink()
        for entry in LINKED:
            for path in find_images(shared / entry[phase_index]):
                (folder / f"{entry[0]}_{path.name}").symlink_to(path.resolve())
        for path in find_images(shared / FACADES[phase_index]):
            pair = Image.open(path).convert("RGB")
            pair.crop((0, 0, pair.width // 2, pair.height)).save(folder / f"{FACADES[0]}_{path.stem}.png")
        counts[phase] = len(find_images(folder))
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared" / "datasets")
    parser.add_argument("--out", type=Path, default=REPO / "runs" / "data" / "photo_mix")
    args = parser.parse_args()
    counts = build(args.shared, args.out)
    print(f"{args.out}: {counts['train']} training and {counts['val']} validation photos")


if __name__ == "__main__":
    main()
