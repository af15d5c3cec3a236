"""Render the cat-face drawing evaluation set for the sketch -> cat model.

Each drawing imitates the app's browser sketch pad: black strokes on a white 512x512 canvas, one
stroke width (4-12 px) per drawing, sparse strokes with a slight hand wobble, the face filling most of
the canvas like an aligned cat-face crop. All of it is made by code from the DESIGNS table (nothing
traced from photos or research data) and seeded, so a rerun reproduces the PNG files byte for byte.

    python docs/make_catface_drawings.py [OUT_DIR [SHEET]]   # numpy and Pillow only
writes tests/data/catface_drawings/catface_XX.png and the contact sheet docs/images/catface_drawings.png.
"""
from __future__ import annotations

import sys
from pathlib import Path

from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from demos.catface_drawings import DESIGNS, SIZE, drawing  # noqa: E402  (the generator)

OUT_DIR = REPO / "tests" / "data" / "catface_drawings"
SHEET = REPO / "docs" / "images" / "catface_drawings.png"
THUMB, COLUMNS, GAP = 128, 5, 2


def contact_sheet(images: list[Image.Image]) -> Image.Image:
    """All drawings in a grid, THUMB px each, on a light grey background."""
    rows = -(-len(images) // COLUMNS)
    sheet = Image.new("RGB", (COLUMNS * (THUMB + GAP) + GAP, rows * (THUMB + GAP) + GAP), (200, 200, 200))
    for i, img in enumerate(images):
        sheet.paste(img.reduce(SIZE // THUMB), (GAP + i % COLUMNS * (THUMB + GAP), GAP + i // COLUMNS * (THUMB + GAP)))
    return sheet


def main(out_dir: Path = OUT_DIR, sheet: Path = SHEET) -> list[Path]:
    """Write every drawing and the contact sheet; return the drawing paths."""
    out_dir, sheet = Path(out_dir), Path(sheet)
    for folder in (out_dir, sheet.parent):
        folder.mkdir(parents=True, exist_ok=True)
    for stale in out_dir.glob("catface_*.png"):
        stale.unlink()
    images, paths = [drawing(i) for i in range(len(DESIGNS))], []
    for i, img in enumerate(images):
        paths.append(out_dir / f"catface_{i:02d}.png")
        img.save(paths[-1])
    contact_sheet(images).save(sheet)
    return paths


if __name__ == "__main__":
    written = main(*sys.argv[1:3])   # optional: output folder, contact sheet path
    print(f"wrote {len(written)} drawings to {written[0].parent}")
