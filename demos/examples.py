"""Synthetic examples drawn with PIL: doodles, facade label maps and photo-like scenes.

No dataset image is shipped or copied: every example is generated from a seed.
"""
from __future__ import annotations

import math
import random

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

# The CMP Facade label colors as they appear in the pix2pix facades label maps (read from the
# pixels of the training label maps: a jet colormap over the 12 classes, dark blue to dark red).
FACADE_CLASSES: list[tuple[str, tuple[int, int, int]]] = [
    ("background", (0, 0, 222)),
    ("wall", (0, 49, 253)),
    ("window", (5, 125, 254)),
    ("door", (3, 206, 255)),
    ("cornice", (35, 253, 228)),
    ("window sill", (114, 252, 149)),
    ("balcony", (192, 255, 63)),
    ("shutter", (253, 240, 4)),
    ("trim", (255, 158, 4)),
    ("window head", (252, 81, 2)),
    ("column", (249, 2, 4)),
    ("entrance", (173, 1, 2)),
]
FACADE_COLORS = dict(FACADE_CLASSES)


def hex_color(rgb: tuple[int, int, int]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*rgb)


def palette_legend_html() -> str:
    swatches = "".join(
        f'<span style="display:inline-flex;align-items:center;margin:2px 10px 2px 0">'
        f'<span style="width:14px;height:14px;border:1px solid #888;background:{hex_color(rgb)};'
        f'display:inline-block;margin-right:4px"></span>{name}</span>'
        for name, rgb in FACADE_CLASSES)
    return f'<div style="display:flex;flex-wrap:wrap;font-size:0.9em">{swatches}</div>'


# -- doodles -----------------------------------------------------------------------------------------
def random_doodle(seed: int | None = None, size: int = 512, width: int = 3, subject: str | None = None
                  ) -> Image.Image:
    """A simple line drawing (house, sun, tree, flower, cat face, mountains, cup...): black on white.

    `subject` "cat" draws only a cat face, filling the canvas as in a close-up cat photo."""
    rng = random.Random(seed)
    img = Image.new("RGB", (size, size), "white")
    draw = ImageDraw.Draw(img)
    if subject == "cat":
        _cat_face(draw, rng, size, width)
        return img
    if subject is not None:
        raise ValueError(f"unknown doodle subject {subject!r} (known: cat)")
    kinds = [_house, _tree, _flower, _cat_face, _mountains, _cup]
    rng.choice(kinds)(draw, rng, size, width)
    if rng.random() < 0.6:
        extra = rng.choice([_sun, _clouds])
        extra(draw, rng, size, width)
    return img


def _jitter(rng, value, amount):
    return value + rng.uniform(-amount, amount)


def _house(draw, rng, s, w):
    left, right = _jitter(rng, 0.22, 0.05) * s, _jitter(rng, 0.78, 0.05) * s
    top, bottom = _jitter(rng, 0.45, 0.05) * s, _jitter(rng, 0.9, 0.03) * s
    roof = _jitter(rng, 0.2, 0.05) * s
    draw.rectangle([left, top, right, bottom], outline="black", width=w)
    draw.line([(left - 0.04 * s, top), ((left + right) / 2, roof), (right + 0.04 * s, top), (left - 0.04 * s, top)],
              fill="black", width=w, joint="curve")
    door_w = (right - left) * 0.2
    door_x = rng.uniform(left + 0.1 * (right - left), right - door_w - 0.1 * (right - left))
    draw.rectangle([door_x, bottom - (bottom - top) * 0.5, door_x + door_w, bottom], outline="black", width=w)
    for _ in range(rng.randint(1, 2)):
        wx = rng.uniform(left + 0.05 * s, right - 0.15 * s)
        if abs(wx - door_x) < door_w * 1.3:
            continue
        wy = top + (bottom - top) * 0.2
        size = 0.1 * s
        draw.rectangle([wx, wy, wx + size, wy + size], outline="black", width=w)
        draw.line([(wx + size / 2, wy), (wx + size / 2, wy + size)], fill="black", width=w)
        draw.line([(wx, wy + size / 2), (wx + size, wy + size / 2)], fill="black", width=w)


def _tree(draw, rng, s, w):
    cx = _jitter(rng, 0.5, 0.12) * s
    trunk_top, ground = _jitter(rng, 0.55, 0.05) * s, _jitter(rng, 0.92, 0.02) * s
    tw = rng.uniform(0.04, 0.07) * s
    draw.line([(cx - tw, ground), (cx - tw, trunk_top)], fill="black", width=w)
    draw.line([(cx + tw, ground), (cx + tw, trunk_top)], fill="black", width=w)
    radius = rng.uniform(0.2, 0.3) * s
    points = []
    for i in range(25):
        angle = 2 * math.pi * i / 24
        r = radius * (1 + 0.12 * math.sin(5 * angle + rng.random()))
        points.append((cx + r * math.cos(angle), trunk_top - radius * 0.7 + r * math.sin(angle) * 0.9))
    draw.line(points, fill="black", width=w, joint="curve")
    draw.line([(0.05 * s, ground), (0.95 * s, ground)], fill="black", width=w)


def _flower(draw, rng, s, w):
    cx, cy = _jitter(rng, 0.5, 0.08) * s, _jitter(rng, 0.38, 0.05) * s
    petals = rng.randint(5, 8)
    r = rng.uniform(0.07, 0.1) * s
    for i in range(petals):
        a = 2 * math.pi * i / petals
        px, py = cx + 1.8 * r * math.cos(a), cy + 1.8 * r * math.sin(a)
        draw.ellipse([px - r, py - r, px + r, py + r], outline="black", width=w)
    draw.ellipse([cx - r, cy - r, cx + r, cy + r], outline="black", width=w)
    draw.line([(cx, cy + 2.8 * r), (cx + rng.uniform(-0.05, 0.05) * s, 0.95 * s)], fill="black", width=w)
    leaf_y = cy + 4.2 * r
    draw.ellipse([cx, leaf_y - 0.03 * s, cx + 0.15 * s, leaf_y + 0.03 * s], outline="black", width=w)


def _cat_face(draw, rng, s, w):
    cx, cy = _jitter(rng, 0.5, 0.05) * s, _jitter(rng, 0.55, 0.05) * s
    r = rng.uniform(0.25, 0.32) * s
    draw.ellipse([cx - r, cy - r * 0.85, cx + r, cy + r * 0.85], outline="black", width=w)
    for side in (-1, 1):
        draw.line([(cx + side * r * 0.85, cy - r * 0.45), (cx + side * r * 0.75, cy - r * 1.35),
                   (cx + side * r * 0.3, cy - r * 0.8)], fill="black", width=w)
        ex = cx + side * r * 0.38
        draw.ellipse([ex - r * 0.12, cy - r * 0.3, ex + r * 0.12, cy - r * 0.05], outline="black", width=w)
        for k in (-1, 0, 1):
            draw.line([(cx + side * r * 0.25, cy + r * 0.25), (cx + side * r * 1.1, cy + r * (0.2 + 0.12 * k))],
                      fill="black", width=w)
    draw.polygon([(cx - r * 0.08, cy + r * 0.1), (cx + r * 0.08, cy + r * 0.1), (cx, cy + r * 0.2)],
                 outline="black", width=w)
    draw.arc([cx - r * 0.2, cy + r * 0.15, cx, cy + r * 0.4], 0, 180, fill="black", width=w)
    draw.arc([cx, cy + r * 0.15, cx + r * 0.2, cy + r * 0.4], 0, 180, fill="black", width=w)


def _mountains(draw, rng, s, w):
    x, points = 0.0, [(0, 0.8 * s)]
    while x < s:
        x += rng.uniform(0.12, 0.3) * s
        points.append((min(x, s), rng.uniform(0.3, 0.75) * s))
    draw.line(points, fill="black", width=w)
    draw.line([(0, 0.88 * s), (s, 0.86 * s)], fill="black", width=w)


def _cup(draw, rng, s, w):
    left, right = _jitter(rng, 0.3, 0.04) * s, _jitter(rng, 0.65, 0.04) * s
    top, bottom = _jitter(rng, 0.4, 0.04) * s, _jitter(rng, 0.8, 0.03) * s
    draw.line([(left, top), (left + 0.03 * s, bottom), (right - 0.03 * s, bottom), (right, top)],
              fill="black", width=w)
    draw.ellipse([left, top - 0.04 * s, right, top + 0.04 * s], outline="black", width=w)
    draw.arc([right - 0.06 * s, top + 0.06 * s, right + 0.12 * s, bottom - 0.1 * s], -90, 90, fill="black", width=w)
    draw.line([(0.15 * s, bottom + 0.02 * s), (0.85 * s, bottom + 0.02 * s)], fill="black", width=w)
    for i in range(rng.randint(1, 3)):
        x0 = left + (right - left) * (0.3 + 0.2 * i)
        draw.arc([x0, top - 0.25 * s, x0 + 0.06 * s, top - 0.08 * s], 90, 270, fill="black", width=w)


def _sun(draw, rng, s, w):
    cx, cy, r = _jitter(rng, 0.82, 0.05) * s, _jitter(rng, 0.15, 0.04) * s, rng.uniform(0.05, 0.08) * s
    draw.ellipse([cx - r, cy - r, cx + r, cy + r], outline="black", width=w)
    for i in range(8):
        a = 2 * math.pi * i / 8
        draw.line([(cx + 1.4 * r * math.cos(a), cy + 1.4 * r * math.sin(a)),
                   (cx + 2.0 * r * math.cos(a), cy + 2.0 * r * math.sin(a))], fill="black", width=w)


def _clouds(draw, rng, s, w):
    cx, cy = _jitter(rng, 0.25, 0.1) * s, _jitter(rng, 0.13, 0.03) * s
    for dx in (-0.06, 0.0, 0.06):
        r = rng.uniform(0.04, 0.06) * s
        draw.arc([cx + dx * s - r, cy - r, cx + dx * s + r, cy + r], 180, 360, fill="black", width=w)
    draw.line([(cx - 0.12 * s, cy), (cx + 0.12 * s, cy)], fill="black", width=w)


# -- facade label maps ---------------------------------------------------------------------------------
def random_facade(seed: int | None = None, size: tuple[int, int] = (256, 256)) -> Image.Image:
    """A plausible facade label map: wall, rows of windows with sills and heads, a door, cornice..."""
    rng = random.Random(seed)
    W, H = size
    img = Image.new("RGB", size, FACADE_COLORS["background"])
    draw = ImageDraw.Draw(img)
    top = int(H * rng.uniform(0.0, 0.12))
    draw.rectangle([0, top, W, H], fill=FACADE_COLORS["wall"])
    draw.rectangle([0, top, W, top + max(3, H // 40)], fill=FACADE_COLORS["cornice"])
    ground = int(H * rng.uniform(0.72, 0.8))
    columns = rng.randint(2, 4)
    rows = rng.randint(2, 4)
    cell_w = W / columns
    cell_h = (ground - top - H * 0.06) / rows
    shutters = rng.random() < 0.4
    balcony_row = rng.randrange(rows) if rng.random() < 0.5 else None
    for r in range(rows):
        y0 = top + H * 0.06 + r * cell_h + cell_h * 0.18
        y1 = y0 + cell_h * 0.58
        for c in range(columns):
            x0 = c * cell_w + cell_w * 0.3
            x1 = x0 + cell_w * 0.4
            if shutters:
                draw.rectangle([x0 - cell_w * 0.1, y0, x0, y1], fill=FACADE_COLORS["shutter"])
                draw.rectangle([x1, y0, x1 + cell_w * 0.1, y1], fill=FACADE_COLORS["shutter"])
            draw.rectangle([x0, y0, x1, y1], fill=FACADE_COLORS["window"])
            draw.rectangle([x0 - 2, y0 - max(2, cell_h * 0.07), x1 + 2, y0 - 1], fill=FACADE_COLORS["window head"])
            draw.rectangle([x0 - 2, y1 + 1, x1 + 2, y1 + max(2, cell_h * 0.05)], fill=FACADE_COLORS["window sill"])
            if r == balcony_row:
                draw.rectangle([x0 - 4, y1 - cell_h * 0.15, x1 + 4, y1 + cell_h * 0.1], fill=FACADE_COLORS["balcony"])
        if rng.random() < 0.5:
            band = y1 + cell_h * 0.25
            draw.rectangle([0, band, W, band + max(2, H // 80)], fill=FACADE_COLORS["trim"])
    # ground floor: a shop front or a door between columns
    if rng.random() < 0.5:
        draw.rectangle([W * 0.08, ground, W * 0.92, H], fill=FACADE_COLORS["entrance"])
    else:
        dx = rng.uniform(0.3, 0.6) * W
        draw.rectangle([dx, ground + (H - ground) * 0.1, dx + W * 0.14, H], fill=FACADE_COLORS["door"])
        for x in (W * 0.05, W * 0.9):
            draw.rectangle([x, ground, x + W * 0.05, H], fill=FACADE_COLORS["column"])
    return img


# -- photo-like scenes -----------------------------------------------------------------------------------
def example_photo(seed: int | None = None, size: tuple[int, int] = (320, 240)) -> Image.Image:
    """A colorful, photo-like synthetic scene (sky gradient, sun, hills, trees, a house, a lake)."""
    rng = random.Random(seed)
    W, H = size
    y = np.linspace(0, 1, H)[:, None, None]
    sky_top = np.array([rng.uniform(40, 90), rng.uniform(100, 150), rng.uniform(190, 240)])
    sky_bottom = np.array([rng.uniform(190, 240), rng.uniform(200, 230), rng.uniform(210, 250)])
    sky = sky_top * (1 - y) + sky_bottom * y
    img = Image.fromarray(np.broadcast_to(sky, (H, W, 3)).astype(np.uint8))
    draw = ImageDraw.Draw(img)
    sx, sy, sr = rng.uniform(0.6, 0.9) * W, rng.uniform(0.1, 0.25) * H, 0.06 * min(W, H) + 4
    draw.ellipse([sx - sr, sy - sr, sx + sr, sy + sr], fill=(255, 214, 90))
    for layer, base in enumerate([(70, 120, 60), (50, 140, 50), (90, 160, 60)]):
        horizon = H * (0.45 + 0.12 * layer)
        points = [(0, H)]
        for i in range(9):
            points.append((W * i / 8, horizon - rng.uniform(0, 0.15) * H))
        points.append((W, H))
        color = tuple(int(c + rng.uniform(-20, 20)) for c in base)
        draw.polygon(points, fill=color)
    if rng.random() < 0.6:
        ly = H * 0.78
        draw.ellipse([W * 0.05, ly, W * 0.55, H * 0.97], fill=(40, 90, 170))
    for _ in range(rng.randint(2, 5)):
        tx, ty = rng.uniform(0.05, 0.95) * W, rng.uniform(0.6, 0.85) * H
        th = rng.uniform(0.08, 0.15) * H
        draw.rectangle([tx - 2, ty - th * 0.3, tx + 2, ty + th * 0.3], fill=(100, 70, 40))
        draw.ellipse([tx - th * 0.4, ty - th, tx + th * 0.4, ty - th * 0.1], fill=(30, 100 + rng.randint(0, 60), 40))
    hx, hy = rng.uniform(0.55, 0.8) * W, H * 0.72
    hw, hh = 0.15 * W, 0.12 * H
    wall = (rng.randint(180, 240), rng.randint(150, 220), rng.randint(120, 190))
    draw.rectangle([hx, hy - hh, hx + hw, hy], fill=wall)
    draw.polygon([(hx - 4, hy - hh), (hx + hw / 2, hy - hh * 1.8), (hx + hw + 4, hy - hh)], fill=(170, 50, 40))
    draw.rectangle([hx + hw * 0.4, hy - hh * 0.6, hx + hw * 0.6, hy], fill=(90, 60, 40))
    noise = np.random.default_rng(rng.randrange(1 << 30)).normal(0, 6, (H, W, 3))
    array = np.clip(np.asarray(img, np.float32) + noise, 0, 255).astype(np.uint8)
    return Image.fromarray(array).filter(ImageFilter.GaussianBlur(0.6))
