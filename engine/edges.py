"""The sketch domain: thin black lines on white paper, from photos or from users' drawings.

`sketch_from_photo` extracts the main contours of a photo with OpenCV/numpy only (edge-preserving
smoothing, color Canny confirmed at a coarser scale, Zhang-Suen thinning, spur pruning and removal
of short fragments). `normalize_drawing` brings a canvas drawing (any stroke color, alpha, light
lines on dark) into the same domain. Both return mode "L" images: 0 = line, 255 = paper.
See docs/edges.md for the method and examples.
"""
from __future__ import annotations

import math

import cv2
import numpy as np
from PIL import Image

from .images import ImageSource, open_image

REFERENCE_SIDE = 256          # parameters below are tuned for a short side of this many pixels
FINE_SIGMA = 1.5              # Gaussian sigma of the gradient that places the lines
COARSE_SIGMA = 3.5            # Gaussian sigma of the gradient that decides which edges matter
FINE_PERCENTILE = 86.0        # Canny high threshold: this percentile of the gradient magnitude
COARSE_PERCENTILE = 86.0
LOW_TO_HIGH = 0.4             # Canny low threshold as a fraction of the high one
MIN_EDGE_STEP = 8.0           # ... and never below the response to a step of this many Lab L units
CHROMA_WEIGHT = 2.0           # weight of Lab a/b gradients against L (color-only boundaries count)
COARSE_REACH = 3              # a line pixel within this many pixels of a coarse edge is confirmed
CONFIRMED_FRACTION = 0.5      # lines with less than this fraction of confirmed pixels are dropped
MIN_FRAGMENT = 10             # Canny fragments shorter than this are dropped before joining
MAX_HOLE = 40                 # holes up to this area are filled so joined double lines thin to one
SPUR_LENGTH = 4               # side branches up to this long are pruned from the skeleton
MIN_LINE = 30                 # final lines shorter than this many pixels are dropped
DRAWING_MIN_CONTRAST = 40.0   # normalize_drawing: ink above paper needed to count as a stroke
DRAWING_CONTRAST_FRACTION = 0.25
DRAWING_MIN_SPECK = 4         # normalize_drawing: specks smaller than this (pixels) are noise

_NEIGHBOR_WEIGHTS = np.array([[128, 1, 2], [64, 0, 4], [32, 16, 8]], np.float32)  # P9 P2 P3 / P8 . P4 / P7 P6 P5


def sketch_from_photo(image: ImageSource, *, size: int | tuple[int, int] | None = None) -> Image.Image:
    """A line drawing of the photo's main contours: mode L, black 1-px lines on white.

    `image` is anything `open_image` accepts. `size` resizes the photo first: an int sets the
    shorter side (keeping the aspect ratio), a (width, height) tuple sets both.
    """
    photo = _resized(open_image(image), size)
    lines = extract_lines(np.asarray(photo))
    return _drawing(lines)


def extract_lines(rgb: np.ndarray) -> np.ndarray:
    """Boolean mask of thin contour lines of an HxWx3 uint8 RGB array."""
    scale = min(rgb.shape[:2]) / REFERENCE_SIDE
    blur_scale = max(scale, 1.0)  # smaller images keep the reference blur: pixel noise does not shrink
    smooth = cv2.bilateralFilter(rgb, 7, 40, 5 * blur_scale)
    lab = cv2.cvtColor(smooth.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)
    fine_sigma, coarse_sigma = FINE_SIGMA * blur_scale, COARSE_SIGMA * blur_scale
    edges = _canny(*_color_gradient(lab, fine_sigma), FINE_PERCENTILE, fine_sigma)
    coarse = _canny(*_color_gradient(lab, coarse_sigma), COARSE_PERCENTILE, coarse_sigma)
    edges = remove_small_components(edges, _scaled(MIN_FRAGMENT, scale))
    joined = _fill_small_holes(_dilate(edges, 1), _scaled(MAX_HOLE, scale * scale))
    lines = prune_spurs(thin_lines(joined), _scaled(SPUR_LENGTH, scale))
    lines = _confirmed(lines, _dilate(coarse, _scaled(COARSE_REACH, scale)))
    return remove_small_components(lines, _scaled(MIN_LINE, scale))


def normalize_drawing(image: ImageSource, *, size: int | tuple[int, int] | None = None,
                      thin: bool = True) -> Image.Image:
    """A user's drawing in the sketch domain: mode L, binary, black lines on white.

    Strokes may have any color and alpha on a transparent or white canvas (transparency counts as
    paper); a mostly dark canvas is taken as light lines on dark and inverted. Ink is measured as
    the darkest channel's distance from white, so yellow or light-blue strokes count. `size` as in
    `sketch_from_photo`; `thin` reduces strokes to 1-px lines like extracted sketches.
    """
    canvas = np.asarray(open_image(image))
    ink = 255.0 - canvas.min(axis=2).astype(np.float32)
    if np.median(ink) > 127.5:
        ink = 255.0 - ink
    if size is not None:
        width, height = _target_size(canvas.shape[1], canvas.shape[0], size)
        ink = cv2.resize(ink, (width, height), interpolation=cv2.INTER_AREA)
    paper = float(np.median(ink))
    peak = float(np.percentile(ink, 99.5))
    threshold = paper + max(DRAWING_MIN_CONTRAST, DRAWING_CONTRAST_FRACTION * (peak - paper))
    strokes = remove_small_components(ink > threshold, DRAWING_MIN_SPECK)
    return _drawing(thin_lines(strokes) if thin else strokes)


def thin_lines(mask: np.ndarray) -> np.ndarray:
    """Zhang-Suen thinning of a boolean mask to 1-px wide, 8-connected lines."""
    pixels = mask.astype(np.uint8)
    changed = True
    while changed:
        changed = False
        for table in _ZHANG_SUEN_TABLES:
            removable = table[_neighbor_codes(pixels)] & pixels
            if removable.any():
                pixels -= removable
                changed = True
    return pixels.astype(bool)


def prune_spurs(lines: np.ndarray, length: int) -> np.ndarray:
    """Remove side branches up to `length` pixels from a 1-px skeleton, keeping main line ends.

    Endpoints are peeled `length` times, then the surviving lines regrow along the original skeleton
    from their endpoints, which restores shortened line ends but not branches cut at a junction.
    """
    original = lines.astype(np.uint8)
    pruned = original.copy()
    for _ in range(length):
        pruned[_endpoints(pruned) == 1] = 0
    grown = pruned.copy()
    for _ in range(length):
        tips = _endpoints(grown)
        grown |= cv2.dilate(tips, np.ones((3, 3), np.uint8)) & original
    return grown.astype(bool)


def remove_small_components(mask: np.ndarray, min_size: int) -> np.ndarray:
    """The mask without its 8-connected components of fewer than `min_size` pixels."""
    _, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    keep = stats[:, cv2.CC_STAT_AREA] >= min_size
    keep[0] = False
    return keep[labels]


def _neighbor_stats(code: int) -> tuple[int, int]:
    """(neighbor count, 0->1 transitions around the ring) of a neighborhood code."""
    p = [(code >> bit) & 1 for bit in range(8)]
    return sum(p), sum(p[k] == 0 and p[(k + 1) % 8] == 1 for k in range(8))


def _zhang_suen_table(second_pass: bool) -> np.ndarray:
    """Lookup table: neighborhood code -> 1 where the center pixel may be deleted in that pass."""
    table = np.zeros(256, np.uint8)
    for code in range(256):
        p2, _, p4, _, p6, _, p8, _ = ((code >> bit) & 1 for bit in range(8))  # P2..P9, clockwise from north
        neighbors, transitions = _neighbor_stats(code)
        if second_pass:
            side_clear = p2 * p4 * p8 == 0 and p2 * p6 * p8 == 0
        else:
            side_clear = p2 * p4 * p6 == 0 and p4 * p6 * p8 == 0
        table[code] = 2 <= neighbors <= 6 and transitions == 1 and side_clear
    return table


def _endpoint_table() -> np.ndarray:
    """Lookup table: 1 where a line pixel ends a line, i.e. all its (at most 3) neighbors touch."""
    table = np.zeros(256, np.uint8)
    for code in range(256):
        count, transitions = _neighbor_stats(code)
        table[code] = count <= 1 or (transitions == 1 and count <= 3)
    return table


_ZHANG_SUEN_TABLES = (_zhang_suen_table(False), _zhang_suen_table(True))
_ENDPOINT_TABLE = _endpoint_table()


def _neighbor_codes(pixels: np.ndarray) -> np.ndarray:
    """Per pixel, the 8 neighbors of a 0/1 uint8 image packed into one byte."""
    return cv2.filter2D(pixels, -1, _NEIGHBOR_WEIGHTS, borderType=cv2.BORDER_CONSTANT)


def _endpoints(pixels: np.ndarray) -> np.ndarray:
    """0/1 uint8 map of the line pixels that end a line (see _endpoint_table)."""
    return _ENDPOINT_TABLE[_neighbor_codes(pixels)] & pixels


def _color_gradient(lab: np.ndarray, sigma: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sobel gradient (gx, gy, magnitude) of the Lab channel with the strongest response per pixel."""
    best_gx = best_gy = best_sq = None
    for channel, weight in zip(cv2.split(lab), (1.0, CHROMA_WEIGHT, CHROMA_WEIGHT)):
        blurred = cv2.GaussianBlur(channel, (0, 0), sigma) * weight
        gx = cv2.Sobel(blurred, cv2.CV_32F, 1, 0)
        gy = cv2.Sobel(blurred, cv2.CV_32F, 0, 1)
        sq = gx * gx + gy * gy
        if best_sq is None:
            best_gx, best_gy, best_sq = gx, gy, sq
        else:
            stronger = sq > best_sq
            best_gx = np.where(stronger, gx, best_gx)
            best_gy = np.where(stronger, gy, best_gy)
            best_sq = np.maximum(sq, best_sq)
    return best_gx, best_gy, np.sqrt(best_sq)


def _canny(gx: np.ndarray, gy: np.ndarray, magnitude: np.ndarray, percentile: float, sigma: float) -> np.ndarray:
    """Canny on a precomputed gradient, with the high threshold at a percentile of its magnitude but
    at least the response of a MIN_EDGE_STEP step blurred by `sigma` (so noise alone draws nothing)."""
    step_response = 8.0 / (sigma * math.sqrt(2.0 * math.pi))  # Sobel peak per unit step after the blur
    high = max(float(np.percentile(magnitude, percentile)), MIN_EDGE_STEP * step_response)
    peak = float(magnitude.max())
    if peak < high:
        return np.zeros(magnitude.shape, bool)
    to_int = 1000.0 / peak  # cv2.Canny takes int16 derivatives
    high *= to_int
    dx = np.rint(gx * to_int).astype(np.int16)
    dy = np.rint(gy * to_int).astype(np.int16)
    return cv2.Canny(dx, dy, LOW_TO_HIGH * high, high, L2gradient=True) > 0


def _confirmed(lines: np.ndarray, support: np.ndarray) -> np.ndarray:
    """The lines with at least CONFIRMED_FRACTION of their pixels within `support` (near coarse edges)."""
    count, labels = cv2.connectedComponents(lines.astype(np.uint8), connectivity=8)
    total = np.bincount(labels.ravel(), minlength=count)
    inside = np.bincount(labels[support], minlength=count)
    keep = inside >= CONFIRMED_FRACTION * total
    keep[0] = False
    return keep[labels]


def _dilate(mask: np.ndarray, radius: int) -> np.ndarray:
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    return cv2.dilate(mask.astype(np.uint8), kernel) > 0


def _fill_small_holes(mask: np.ndarray, max_area: int) -> np.ndarray:
    """The mask with enclosed background regions (4-connected) of at most `max_area` pixels filled."""
    _, labels, stats, _ = cv2.connectedComponentsWithStats((~mask).astype(np.uint8), connectivity=4)
    small = stats[:, cv2.CC_STAT_AREA] <= max_area
    small[0] = False
    return mask | small[labels]


def _scaled(value: float, scale: float) -> int:
    return max(1, round(value * scale))


def _target_size(width: int, height: int, size: int | tuple[int, int]) -> tuple[int, int]:
    if isinstance(size, int):
        factor = size / min(width, height)
        return max(1, round(width * factor)), max(1, round(height * factor))
    return int(size[0]), int(size[1])


def _resized(img: Image.Image, size: int | tuple[int, int] | None) -> Image.Image:
    if size is None:
        return img
    target = _target_size(img.width, img.height, size)
    return img if target == img.size else img.resize(target, Image.Resampling.BICUBIC)


def _drawing(lines: np.ndarray) -> Image.Image:
    return Image.fromarray(np.where(lines, 0, 255).astype(np.uint8))
