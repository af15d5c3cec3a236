"""Render docs/images/edges_examples.png: photos next to their extracted sketches, and a synthetic
hand-drawn canvas next to its normalized drawing; and docs/images/drawn_examples.png: the drawn-style
training sketches (engine.sketches, `--derive drawn`) of public-domain photos, several draws each.

Uses only public-domain images bundled with scikit-image. Run from the repository root:
    python docs/make_edge_examples.py
"""
from __future__ import annotations

import math
import random
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw
from skimage import data

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from engine.edges import normalize_drawing, sketch_from_photo  # noqa: E402
from engine.images import image_grid, open_image  # noqa: E402
from engine.sketches import random_drawing  # noqa: E402

SIDE = 256
OUTPUT = REPO / "docs" / "images" / "edges_examples.png"
DRAWN_OUTPUT = REPO / "docs" / "images" / "drawn_examples.png"
DRAWN_SIDE = 128   # the sketch models' training size


def wobbly(points: list[tuple[float, float]], rng: random.Random, jitter: float = 2.5) -> list[tuple[float, float]]:
    """The polyline resampled every few pixels with hand-like jitter."""
    out = []
    for (x0, y0), (x1, y1) in zip(points, points[1:]):
        steps = max(1, int(math.dist((x0, y0), (x1, y1)) / 12))
        for i in range(steps):
            t = i / steps
            out.append((x0 + (x1 - x0) * t + rng.uniform(-jitter, jitter),
                        y0 + (y1 - y0) * t + rng.uniform(-jitter, jitter)))
    out.append(points[-1])
    return out


def ellipse(cx: float, cy: float, rx: float, ry: float, start: float = 0,
            end: float = 360) -> list[tuple[float, float]]:
    angles = range(int(start), int(end) + 1, 10)
    return [(cx + rx * math.cos(math.radians(a)), cy + ry * math.sin(math.radians(a))) for a in angles]


def synthetic_drawing() -> Image.Image:
    """A cat face drawn with a soft blue brush on a transparent 512x512 canvas, as a user would."""
    rng = random.Random(7)
    canvas = Image.new("RGBA", (512, 512), (0, 0, 0, 0))
    draw = ImageDraw.Draw(canvas)
    strokes = [
        ellipse(256, 290, 170, 150, -60, 240),          # head, open at the top between the ears
        [(171, 160), (130, 40), (226, 142)],            # left ear
        [(286, 142), (382, 40), (341, 160)],            # right ear
        ellipse(190, 270, 32, 22), ellipse(322, 270, 32, 22),   # eyes
        [(240, 330), (272, 330), (256, 350), (240, 330)],       # nose
        [(256, 350), (256, 380)], ellipse(232, 380, 24, 18, 0, 150), ellipse(280, 380, 24, 18, 30, 180),
        [(60, 320), (200, 345)], [(55, 370), (200, 360)], [(452, 320), (312, 345)], [(457, 370), (312, 360)],
    ]
    for stroke in strokes:
        draw.line(wobbly(stroke, rng), fill=(40, 70, 190, 230), width=7, joint="curve")
    return canvas


def on_checkerboard(rgba: Image.Image, cell: int = 16) -> Image.Image:
    """The canvas over a light checkerboard, the usual way to show transparency."""
    board = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    draw = ImageDraw.Draw(board)
    for y in range(0, rgba.height, cell):
        for x in range((y // cell) % 2 * cell, rgba.width, 2 * cell):
            draw.rectangle([x, y, x + cell - 1, y + cell - 1], fill=(225, 225, 225, 255))
    return Image.alpha_composite(board, rgba).convert("RGB")


def main() -> None:
    rows = []
    for name in ("chelsea", "astronaut", "coffee"):
        photo = open_image(getattr(data, name)())
        scale = SIDE / min(photo.size)
        photo = photo.resize((round(photo.width * scale), round(photo.height * scale)), Image.Resampling.BICUBIC)
        rows.append([photo, sketch_from_photo(photo)])
    drawing = synthetic_drawing()
    rows.append([on_checkerboard(drawing).resize((SIDE, SIDE), Image.Resampling.LANCZOS),
                 normalize_drawing(drawing, size=SIDE)])
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    image_grid(rows, labels=["input", "sketch domain"]).save(OUTPUT, optimize=True)
    print(f"wrote {OUTPUT.relative_to(REPO)}")
    drawn_rows = []
    for name in ("chelsea", "astronaut", "coffee"):
        photo = open_image(getattr(data, name)())
        short = min(photo.size)
        left, top = (photo.width - short) // 2, (photo.height - short) // 2
        photo = photo.crop((left, top, left + short, top + short)).resize((DRAWN_SIDE, DRAWN_SIDE),
                                                                         Image.Resampling.BICUBIC)
        pixels = np.asarray(photo)
        drawn_rows.append([photo] + [random_drawing(pixels, random.Random(seed)) for seed in range(5)])
    image_grid(drawn_rows, labels=["photo (128 px)"] + [f"draw {i + 1}" for i in range(5)]).save(
        DRAWN_OUTPUT, optimize=True)
    print(f"wrote {DRAWN_OUTPUT.relative_to(REPO)}")


if __name__ == "__main__":
    main()
