"""Render the coat-colour sample sheet (docs/images/samples_catcoats.jpg): scikit-image's public-domain
cat "chelsea", framed as the app's Coat colour tab frames its example, in every coat of a StarGAN model,
with the round trips back to her own coat beneath. Never made from the research datasets.

    python docs/make_stargan_sheet.py [--model weights/catcoats] [--source auto|grey_tabby|...] [--out FILE]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from PIL import Image, ImageDraw
from skimage import data

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "docs"))

from demos.coat_images import EXAMPLE_FRAMING, coat_label, recolor_crop, square_crop  # noqa: E402
from make_sample_sheets import IMAGES, SIDE, model  # noqa: E402
from engine.images import image_grid  # noqa: E402


def text_tile(lines: list[str]) -> Image.Image:
    """A white SIDE x SIDE tile with a few lines of text, for the row captions."""
    tile = Image.new("RGB", (SIDE, SIDE), "white")
    draw = ImageDraw.Draw(tile)
    for i, line in enumerate(lines):
        draw.text((SIDE // 2, SIDE // 2 + (i - len(lines) / 2) * 16), line, fill=(0, 0, 0), anchor="ma")
    return tile


def coat_sheet(model_dir: str | Path = "catcoats", source: str | None = None) -> tuple[Image.Image, str]:
    """The sheet and a one-line summary (own coat, how it was decided, PSNR of each round trip)."""
    translator = model(model_dir)
    photo = Image.fromarray(data.chelsea())
    result = recolor_crop(translator, square_crop(photo, *EXAMPLE_FRAMING, side=SIDE), source)
    own = coat_label(result.source) + (" (guessed)" if result.guessed else "")
    top = [result.crop] + list(result.coats.values())
    bottom = [text_tile(["round trips back to", f"the own coat, {own}:", "G(G(x, c), own coat)"])]
    bottom += list(result.reconstructions.values())
    labels = ["chelsea (public domain)"] + [f"G(x, {coat_label(name)})" for name in result.coats]
    psnr = ", ".join(f"{coat_label(n)} {v:.1f} dB" for n, v in result.rec_psnr.items())
    return image_grid([top, bottom], labels=labels), f"own coat {own}; round-trip PSNR {psnr}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="catcoats", help="a model directory or a name in weights/")
    parser.add_argument("--source", default="auto", help="chelsea's own coat; auto: the coat the model changes least")
    parser.add_argument("--out", type=Path, default=IMAGES / "samples_catcoats.jpg", help="the JPEG to write")
    args = parser.parse_args()
    sheet, summary = coat_sheet(args.model, None if args.source == "auto" else args.source)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(args.out, quality=88, optimize=True)
    print(f"wrote {args.out}: {summary}")


if __name__ == "__main__":
    main()
