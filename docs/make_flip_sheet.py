"""Where colorization-as-classification flips (issue #11): numbers per kind of photo, and a sheet.

A pixel "can flip" when its two most likely ab bins are far apart (>= --distance in ab units) and nearly
as likely as each other (the second has >= --ratio of the first's probability): there the mode, the most
likely bin per pixel, jumps between two colours from pixel to pixel, and the annealed mean at T blends
them. The numbers come from the val photos of the colorizers' photo mix (file names say the kind, e.g.
`cat_00001.jpg`); the sheet uses scikit-image's public-domain photos only:

    python docs/make_flip_sheet.py                     # weights/colorize_classification
    python docs/make_flip_sheet.py --per_kind 40 --out docs/images/colorize_classification_flips.png
"""
from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

import torch
from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine import Translator  # noqa: E402
from engine.ab_classes import annealed_mean  # noqa: E402
from engine.color import decode_lab, encode_lab  # noqa: E402
from engine.images import to_pil, to_tensor  # noqa: E402

SIZE = 128
LABELS = ("gray input", "annealed mean, T 0.38", "mode (argmax bin)", "pixels that can flip", "photo")


def _logits(translator: Translator, image: Image.Image) -> tuple[torch.Tensor, torch.Tensor]:
    """(L of the image, logits (Q, H, W)) at SIZE x SIZE."""
    L = encode_lab(to_tensor(image.convert("RGB").resize((SIZE, SIZE), Image.Resampling.BICUBIC)).add(1).div(2))[0]
    with torch.no_grad():
        logits = translator.nets["G"](L.unsqueeze(0).to(translator.device), logits=True)[0].float().cpu()
    return L, logits


def flip_mask(logits: torch.Tensor, centres: torch.Tensor, distance: float, ratio: float) -> torch.Tensor:
    """(H, W) bool: the two most likely bins are >= distance apart in ab and the second >= ratio x the first."""
    probs = torch.softmax(logits, 0)
    top, index = probs.topk(2, dim=0)
    apart = (centres[index[0]] - centres[index[1]]).norm(dim=-1) >= distance
    return apart & (top[1] >= ratio * top[0])


def _rgb(L: torch.Tensor, ab: torch.Tensor) -> Image.Image:
    return to_pil(decode_lab(L.unsqueeze(0), ab.unsqueeze(0))[0] * 2 - 1)


def sheet_row(translator: Translator, image: Image.Image, distance: float, ratio: float) -> list[Image.Image]:
    net = translator.nets["G"]
    L, logits = _logits(translator, image)
    centres = net.centres.float().cpu()
    mean = annealed_mean(logits.unsqueeze(0), centres, net.temperature)[0]
    mode = (centres[logits.argmax(0)] / 110.0).permute(2, 0, 1)
    mask = flip_mask(logits, centres, distance, ratio)
    gray = _rgb(L, torch.zeros_like(mean))
    marked = gray.copy()
    overlay = Image.new("RGB", marked.size, (255, 0, 200))
    marked.paste(overlay, mask=Image.fromarray((mask.numpy() * 255).astype("uint8")))
    photo = image.convert("RGB").resize((SIZE, SIZE), Image.Resampling.BICUBIC)
    return [gray, _rgb(L, mean), _rgb(L, mode), marked, photo]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model_dir", default="weights/colorize_classification")
    parser.add_argument("--dataroot", default="runs/data/photo_mix/val")
    parser.add_argument("--per_kind", type=int, default=40, help="val photos per kind for the numbers")
    parser.add_argument("--distance", type=float, default=30.0, help="ab distance of two bins that are different colours")
    parser.add_argument("--ratio", type=float, default=0.6, help="second bin's probability / first's")
    parser.add_argument("--out", default="docs/images/colorize_classification_flips.png")
    args = parser.parse_args(argv)

    translator = Translator.from_dir(args.model_dir, device="cpu")
    centres = translator.nets["G"].centres.float().cpu()
    kinds: dict[str, list[Path]] = defaultdict(list)
    for path in sorted(p for p in Path(args.dataroot).iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png")):
        kinds[path.stem.rsplit("_", 1)[0]].append(path)
    shares = {}
    for kind, paths in sorted(kinds.items()):
        step = max(1, len(paths) // args.per_kind)
        masks = [flip_mask(_logits(translator, Image.open(p))[1], centres, args.distance, args.ratio)
                 for p in paths[::step][:args.per_kind]]
        shares[kind] = round(100 * float(torch.stack(masks).float().mean()), 2)
    print(json.dumps({"pixels_that_can_flip_percent": shares, "distance": args.distance, "ratio": args.ratio}))

    from skimage import data
    photos = [Image.fromarray(getattr(data, name)()) for name in ("chelsea", "coffee", "astronaut", "rocket")]
    rows = [sheet_row(translator, photo, args.distance, args.ratio) for photo in photos]
    pad = 18
    grid = Image.new("RGB", (SIZE * len(LABELS), SIZE * len(rows) + pad), "white")
    for i, row in enumerate(rows):
        for j, tile in enumerate(row):
            grid.paste(tile, (j * SIZE, i * SIZE))
    draw = ImageDraw.Draw(grid)
    for j, label in enumerate(LABELS):
        draw.text((j * SIZE + 4, SIZE * len(rows) + 3), label, fill="black")
    grid.resize((grid.width * 2, grid.height * 2), Image.Resampling.NEAREST).save(args.out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
