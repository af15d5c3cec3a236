"""The t-shirt toy (issue #11): grey t-shirts whose true colour is teal or pink, 50/50, made by code.

Every shirt is a silhouette of random shape (body width, length, sleeves, neckline, pose) with folds
as luminance shading, on a near-white background; its colour, one (a, b) over the whole shirt, is teal
or pink by a fair coin that nothing in the grey image predicts. Models see L and must produce ab.

    L, ab, mask = make_shirts(200, seed=1)          # (N, 1, 64, 64) L / 50 - 1, (N, 2, 64, 64) ab / 110, (N, 64, 64)
    stats = shirt_colour_stats(ab_pred, mask)       # one colour throughout, teal / pink shares, saturation

Everything is seeded (numpy Generator per call); the global RNGs are never touched.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFilter

from .color import AB_SCALE, L_SCALE

SIZE = 64
SUPERSAMPLE = 4
COLOURS = {"teal": (-32.0, -12.0), "pink": (42.0, -6.0)}   # Lab (a, b) of the two true colours
COLOUR_JITTER = 4.0                                         # per-shirt spread of (a, b) around its colour
BACKGROUND_L = (90.0, 97.0)
CHROMA_COLOURED = 15.0   # a pixel with chroma C* = sqrt(a^2 + b^2) below this counts as grey
ONE_COLOUR_SHARE = 0.95  # a shirt is "one colour throughout" when this share of its pixels has one colour
MIXED_SHARE = 0.10       # ... and "mixes both" when each colour covers at least this share


def _shirt_polygon(rng: np.random.Generator) -> list[tuple[float, float]]:
    """The outline of a t-shirt in unit coordinates (x right, y down), mirrored about its centre line."""
    neck, neck_depth = rng.uniform(0.07, 0.12), rng.uniform(0.03, 0.09)
    shoulder_y, body = rng.uniform(0.12, 0.2), rng.uniform(0.15, 0.23)
    hem_y, flare = rng.uniform(0.78, 0.92), rng.uniform(-0.02, 0.05)
    sleeve, angle = rng.uniform(0.08, 0.24), math.radians(rng.uniform(15, 60))
    sleeve_width, armpit = rng.uniform(0.09, 0.14), rng.uniform(0.16, 0.24)
    shoulder = (body + 0.04, shoulder_y + 0.03)
    sleeve_out = (shoulder[0] + sleeve * math.cos(angle), shoulder[1] + sleeve * math.sin(angle))
    sleeve_in = (sleeve_out[0] - sleeve_width * math.sin(angle), sleeve_out[1] + sleeve_width * math.cos(angle))
    right = [(neck, shoulder_y), shoulder, sleeve_out, sleeve_in, (body, shoulder_y + armpit), (body + flare, hem_y)]
    left = [(-x, y) for x, y in reversed(right)]
    neckline = [(-neck * math.cos(t), shoulder_y + neck_depth * math.sin(t)) for t in np.linspace(0, math.pi, 9)]
    return [(0.5 + x, y) for x, y in right + left + neckline[1:-1]]


def _place(points, rng: np.random.Generator) -> list[tuple[float, float]]:
    """Random scale, rotation and shift of an outline, in pixels of the supersampled canvas."""
    scale, turn = rng.uniform(0.8, 1.05), math.radians(rng.uniform(-12, 12))
    dx, dy = rng.uniform(-0.06, 0.06, size=2)
    side = SIZE * SUPERSAMPLE
    placed = []
    for x, y in points:
        x, y = (x - 0.5) * scale, (y - 0.5) * scale
        x, y = x * math.cos(turn) - y * math.sin(turn), x * math.sin(turn) + y * math.cos(turn)
        placed.append(((x + 0.5 + dx) * side, (y + 0.5 + dy) * side))
    return placed


def _folds(rng: np.random.Generator) -> np.ndarray:
    """(SIZE, SIZE) lightness of a shirt: a base tone, a light-to-shadow gradient and 2-5 soft folds."""
    ys, xs = np.mgrid[0:SIZE, 0:SIZE] / SIZE
    light = rng.uniform(50, 72) + rng.uniform(-10, 10) * (xs - 0.5) + rng.uniform(-8, 4) * (ys - 0.5)
    for _ in range(rng.integers(2, 6)):
        angle = rng.uniform(0, math.pi)
        offset = rng.uniform(-0.3, 0.3)
        distance = (xs - 0.5) * math.cos(angle) + (ys - 0.5) * math.sin(angle) - offset
        width, depth = rng.uniform(0.015, 0.05), rng.uniform(-18, 12)
        light = light + depth * np.exp(-distance ** 2 / (2 * width ** 2))
    return np.clip(light, 25, 88)


def render_shirt(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, str]:
    """One shirt: (3, SIZE, SIZE) Lab, (SIZE, SIZE) coverage in [0, 1], and its colour's name."""
    side = SIZE * SUPERSAMPLE
    canvas = Image.new("L", (side, side), 0)
    ImageDraw.Draw(canvas).polygon(_place(_shirt_polygon(rng), rng), fill=255)
    coverage = np.asarray(canvas.filter(ImageFilter.BoxBlur(1)).resize((SIZE, SIZE), Image.Resampling.BOX),
                          np.float64) / 255.0
    name = "teal" if rng.random() < 0.5 else "pink"
    a, b = np.asarray(COLOURS[name]) + rng.uniform(-COLOUR_JITTER, COLOUR_JITTER, size=2)
    background = rng.uniform(*BACKGROUND_L)
    light = coverage * _folds(rng) + (1 - coverage) * background
    lab = np.stack([light, coverage * a, coverage * b])
    return lab, coverage, name


def make_shirts(count: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """`count` shirts: L / 50 - 1 (N, 1, H, W), ab / 110 (N, 2, H, W), shirt masks (N, H, W, bool)."""
    rng = np.random.default_rng(seed)
    labs, masks = zip(*[render_shirt(rng)[:2] for _ in range(count)])
    lab = torch.from_numpy(np.stack(labs)).float()
    mask = torch.from_numpy(np.stack(masks) > 0.5)
    return lab[:, :1] / L_SCALE - 1.0, lab[:, 1:] / AB_SCALE, mask


def shirt_colour_stats(ab_norm: torch.Tensor, mask: torch.Tensor) -> dict[str, float]:
    """What a set of generated shirts looks like, on the shirt pixels of each (mask):

    one_colour: share of shirts whose pixels are >= 95 % one colour (teal: a < 0, pink: a > 0, both with
    chroma >= 15); mixed: share with each colour on >= 10 % of the shirt; teal / pink / grey: share of shirts
    whose pixels are mostly teal, mostly pink, or mostly grey; saturation: mean chroma C* of shirt pixels.
    """
    ab = ab_norm.float() * AB_SCALE
    chroma = ab.pow(2).sum(1).sqrt()
    coloured = chroma >= CHROMA_COLOURED
    teal = (coloured & (ab[:, 0] < 0) & mask).flatten(1).sum(1).float()
    pink = (coloured & (ab[:, 0] > 0) & mask).flatten(1).sum(1).float()
    pixels = mask.flatten(1).sum(1).float().clamp_min(1)
    teal_share, pink_share = teal / pixels, pink / pixels
    grey_share = 1 - teal_share - pink_share
    majority = torch.stack([teal_share, pink_share, grey_share], 1).argmax(1)
    saturation = (chroma * mask).flatten(1).sum(1) / pixels
    return {
        "shirts": int(ab.shape[0]),
        "one_colour": float((torch.maximum(teal_share, pink_share) >= ONE_COLOUR_SHARE).float().mean()),
        "mixed": float(((teal_share >= MIXED_SHARE) & (pink_share >= MIXED_SHARE)).float().mean()),
        "teal": float((majority == 0).float().mean()),
        "pink": float((majority == 1).float().mean()),
        "grey": float((majority == 2).float().mean()),
        "saturation": float(saturation.mean()),
    }


def shirt_images(L_norm: torch.Tensor, ab_norm: torch.Tensor) -> list[Image.Image]:
    """RGB images of shirts from L / 50 - 1 and ab / 110 (N, ...)."""
    from .color import decode_lab
    from .images import to_pil
    rgb = decode_lab(L_norm.float(), ab_norm.float())
    return [to_pil(image * 2 - 1) for image in rgb]
