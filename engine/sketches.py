"""Training sketches that look drawn: clean strokes of a person's width, not a photo's dense 1-px edges.

People draw sparse, closed strokes 4-12 px wide on a 512 canvas (1-3 px at a model's 128). A model
trained on exact photo edges draws white streaks and grids on such input. `random_drawing` makes a
training sketch from a photo the way `derive="drawn"` uses it:

1. a small TPS warp of the photo, so the lines sit slightly off the photo's edges (the model must not
   rely on exact edge positions; the target stays unwarped);
2. lines at a random level of detail: XDoG-style difference of Gaussians on the luminance after
   edge-preserving (bilateral) smoothing, so fur gives no lines, thinned, short fragments dropped;
   sometimes the closed contours of `engine.edges.extract_lines` instead;
3. some strokes dropped at random, then every stroke drawn at one random width.

On aligned face crops (catfaces: the face centred, ears at the top) photos rarely show the head's
outline as an edge, while people always draw it. `outline_share` of the sketches then also get a head
outline (`head_outline`: a jittered oval with two ears where aligned faces have them), so a drawn
outline is familiar to the model and not painted back as a streak. Likewise people draw a cartoon's
eyes, nose, mouth and whiskers, which no photo edge looks like: `features_share` of the sketches get
those (`face_features`, at the mean face's eye and nose positions), so the model learns that a drawn
circle there is an eye and that whiskers are fur, not streaks to paint. Those two are added on top of
the photo's lines, so the inside of the face is never empty, as it is in a drawn cartoon:
`cartoon_share` of the sketches are cartoons instead (`cartoon_lines`): outline and features drawn, and
of the photo only its few strongest lines, which say where the eyes, nose and coat pattern are.

Lines are binary (0 = ink, 255 = paper), as `engine.edges.normalize_drawing(thin=False)` gives for
canvas drawings. Parameters are in pixels at a 128-px side and scale with the image.
"""
from __future__ import annotations

import random

import cv2
import numpy as np
from PIL import Image

from .edges import extract_lines, prune_spurs, remove_small_components, thin_lines
from .warp import tps_warp

REFERENCE_SIDE = 128
SIGMA_RANGE = (0.8, 1.4)          # DoG inner sigma; the outer one is XDOG_K times larger
XDOG_K = 1.6
PERCENTILE_RANGE = (83.0, 90.0)   # ink where the DoG is below minus this percentile of its negation
MIN_RESPONSE = 0.6                # ... and at least this many Lab L units (flat photos draw nothing)
MIN_LENGTH_RANGE = (8, 20)        # strokes shorter than this many pixels are dropped
CONTOUR_SHARE = 0.25              # share of sketches made from extract_lines' closed contours instead
DROP_RANGE = (0.0, 0.3)           # fraction of strokes removed at random
WIDTHS = (1, 2, 3)                # stroke widths at the reference side, and how often each is drawn
WIDTH_WEIGHTS = (0.3, 0.45, 0.25)
WARP_GRID = 4
WARP_STRENGTH = 0.012             # TPS control-point jitter, a fraction of the side (~1.5 px at 128)
# the head of an aligned face crop, in fractions of the side (the mean catfaces/train image and the
# size people draw heads at):
HEAD_CENTER = (0.5, 0.5)          # the oval's centre, x and y
HEAD_RADII = (0.36, 0.32)
EAR_TIPS = ((0.22, 0.06), (0.78, 0.06))
HEAD_JITTER = 0.04                # each of the above moves by up to this much, the size by up to 12 %
EYES = ((0.37, 0.40), (0.63, 0.40))  # eye centres of the mean catfaces/train face
NOSE = (0.5, 0.56)
# a cartoon keeps only the photo's strongest, longest lines:
CARTOON_PERCENTILE_RANGE = (96.5, 99.0)
CARTOON_SIGMA_RANGE = (1.3, 1.8)
CARTOON_MIN_LENGTH = 16
CARTOON_FEATURES_SHARE = 0.85     # share of cartoons with drawn eyes, nose, ...; the others: outline only
CARTOON_DROP_RANGE = (0.0, 0.1)   # a cartoon has few strokes: drop fewer of them


def dog_lines(rgb: np.ndarray, sigma: float, percentile: float, min_length: int) -> np.ndarray:
    """1-px skeleton (bool mask) of the dark side of the photo's luminance edges (difference of Gaussians)."""
    smooth = rgb
    for _ in range(3):
        smooth = cv2.bilateralFilter(smooth, 5, 30, 3)
    lightness = cv2.cvtColor(smooth.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)[..., 0]
    dog = cv2.GaussianBlur(lightness, (0, 0), sigma) - cv2.GaussianBlur(lightness, (0, 0), sigma * XDOG_K)
    threshold = max(MIN_RESPONSE, float(np.percentile(-dog, percentile)))
    ink = remove_small_components(dog < -threshold, 6)
    return remove_small_components(prune_spurs(thin_lines(ink), 3), min_length)


def drop_strokes(lines: np.ndarray, fraction: float, rng: random.Random) -> np.ndarray:
    """The mask without a random `fraction` of its 8-connected strokes."""
    count, labels = cv2.connectedComponents(lines.astype(np.uint8), connectivity=8)
    keep = np.array([False] + [rng.random() >= fraction for _ in range(count - 1)])
    return keep[labels]


def draw_width(lines: np.ndarray, width: int) -> np.ndarray:
    """A 1-px line mask drawn with a round pen `width` pixels wide."""
    if width <= 1:
        return lines.astype(bool)
    pen = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (width, width))
    return cv2.dilate(lines.astype(np.uint8), pen) > 0


def head_outline(width: int, height: int, rng: random.Random) -> np.ndarray:
    """A 1-px head outline as people draw one on an aligned face: an oval open at the top, joined to two
    pointed ears, position, size and ear tips jittered."""
    def jitter(value: float) -> float:
        return value + rng.uniform(-HEAD_JITTER, HEAD_JITTER)

    size = rng.uniform(0.88, 1.12)
    cx, cy = jitter(HEAD_CENTER[0]), jitter(HEAD_CENTER[1])
    rx, ry = HEAD_RADII[0] * size, HEAD_RADII[1] * size
    gap = rng.uniform(0.55, 0.8)   # half-angle of the opening at the top, between the ears (radians)
    angles = np.linspace(-np.pi / 2 + gap, 3 * np.pi / 2 - gap, 48)
    oval = np.stack([cx + rx * np.cos(angles), cy + ry * np.sin(angles)], 1)
    left_tip = (jitter(EAR_TIPS[0][0]), jitter(EAR_TIPS[0][1]))
    right_tip = (jitter(EAR_TIPS[1][0]), jitter(EAR_TIPS[1][1]))
    top = [(cx - 0.35 * rx, cy - 0.93 * ry), (cx + 0.35 * rx, cy - 0.93 * ry)]
    outline = np.vstack([oval[-1:], [left_tip], top, [right_tip], oval[:1]])  # top-left, ears and crown, top-right
    mask = np.zeros((height, width), np.uint8)
    for points, closed in ((oval, False), (outline, False)):
        pixels = np.round(points * [width - 1, height - 1]).astype(np.int32)
        cv2.polylines(mask, [pixels], closed, 1, 1)
    return mask > 0


def face_features(width: int, height: int, rng: random.Random) -> np.ndarray:
    """Cartoon face features as people draw them on an aligned face (bool mask, 1-px lines and filled
    pupils): two eyes (round or almond, with or without pupils), a nose, often a mouth and whiskers,
    sometimes forehead stripes; placed where the mean aligned face has them, moved and scaled at random."""
    mask = np.zeros((height, width), np.uint8)
    side = min(width, height)
    scale = rng.uniform(0.88, 1.12)
    dx, dy = rng.uniform(-HEAD_JITTER, HEAD_JITTER), rng.uniform(-HEAD_JITTER, HEAD_JITTER)

    def at(x: float, y: float) -> tuple[int, int]:
        """Pixel position of a point given in fractions of the side, after the random move and scale."""
        return (round((0.5 + (x - 0.5) * scale + dx) * (width - 1)),
                round((0.5 + (y - 0.5) * scale + dy) * (height - 1)))

    def length(fraction: float) -> int:
        return max(1, round(fraction * scale * side))

    almond, pupil = rng.random() < 0.4, rng.choice(("none", "dot", "slit"))
    radius = rng.uniform(0.045, 0.075)
    for ex, ey in EYES:
        centre = at(ex + rng.uniform(-0.015, 0.015), ey + rng.uniform(-0.015, 0.015))
        axes = (length(radius * 1.3), length(radius * 0.7)) if almond else (length(radius), length(radius))
        cv2.ellipse(mask, centre, axes, 0, 0, 360, 1, 1)
        if pupil == "dot":
            cv2.circle(mask, centre, length(radius * 0.45), 1, -1)
        elif pupil == "slit":
            cv2.ellipse(mask, centre, (length(radius * 0.2), axes[1]), 0, 0, 360, 1, -1)
    nose = NOSE[0], NOSE[1] + rng.uniform(-0.02, 0.02)
    half = rng.uniform(0.02, 0.035)
    triangle = np.array([at(nose[0] - half, nose[1] - half * 0.6), at(nose[0] + half, nose[1] - half * 0.6),
                         at(nose[0], nose[1] + half * 0.6)], np.int32)
    if rng.random() < 0.5:
        cv2.fillPoly(mask, [triangle], 1)
    else:
        cv2.polylines(mask, [triangle], True, 1, 1)
    chin = nose[1] + half * 0.6
    if rng.random() < 0.7:   # the "w" mouth: a line down from the nose, curling out on both sides
        cv2.line(mask, at(nose[0], chin), at(nose[0], chin + 0.03), 1, 1)
        for side_sign in (-1, 1):
            curl = [at(nose[0] + side_sign * t * 0.05, chin + 0.03 + 0.025 * np.sin(np.pi * t))
                    for t in np.linspace(0, 1, 8)]
            cv2.polylines(mask, [np.array(curl, np.int32)], False, 1, 1)
    if rng.random() < 0.6:
        for side_sign in (-1, 1):
            for _ in range(rng.randint(2, 3)):
                start_x = nose[0] + side_sign * rng.uniform(0.07, 0.13)
                start_y = chin + rng.uniform(-0.03, 0.05)
                reach, rise = rng.uniform(0.18, 0.32), rng.uniform(-0.08, 0.06)
                points = [at(start_x + side_sign * reach * t, start_y + rise * t + 0.03 * t * t)
                          for t in np.linspace(0, 1, 10)]
                cv2.polylines(mask, [np.array(points, np.int32)], False, 1, 1)
    if rng.random() < 0.3:
        for stripe_x in (0.45, 0.5, 0.55):
            top = rng.uniform(0.17, 0.22)
            cv2.line(mask, at(stripe_x, top), at(stripe_x, top + rng.uniform(0.05, 0.09)), 1, 1)
    return mask > 0


def in_frame(draw, width: int, height: int, frame: tuple[int, int, int, int] | None,
             rng: random.Random) -> np.ndarray:
    """`draw(w, h, rng)` (a face-aligned mask such as `head_outline`) drawn in `frame` = (left, top, w, h),
    where the whole aligned face lies in a width x height crop of it (None: the crop is the face)."""
    if frame is None:
        return draw(width, height, rng)
    left, top, w, h = frame
    whole = draw(w, h, rng)
    mask = np.zeros((height, width), bool)
    y0, x0, y1, x1 = max(0, top), max(0, left), min(height, top + h), min(width, left + w)
    if y1 > y0 and x1 > x0:
        mask[y0:y1, x0:x1] = whole[y0 - top:y1 - top, x0 - left:x1 - left]
    return mask


def cartoon_lines(rgb: np.ndarray, rng: random.Random,
                  face_frame: tuple[int, int, int, int] | None = None) -> np.ndarray:
    """A cartoon of an aligned face (1-px bool mask): a drawn head outline, usually drawn eyes, nose,
    mouth and whiskers, and of the photo only its few strongest lines; the face's inside stays empty."""
    scale = min(rgb.shape[:2]) / REFERENCE_SIDE
    lines = dog_lines(rgb, rng.uniform(*CARTOON_SIGMA_RANGE) * scale, rng.uniform(*CARTOON_PERCENTILE_RANGE),
                      max(2, round(CARTOON_MIN_LENGTH * scale)))
    lines = lines | in_frame(head_outline, rgb.shape[1], rgb.shape[0], face_frame, rng)
    if rng.random() < CARTOON_FEATURES_SHARE:
        lines = lines | in_frame(face_features, rgb.shape[1], rgb.shape[0], face_frame, rng)
    return lines


def random_drawing(rgb: np.ndarray, rng: random.Random, outline_share: float = 0.0,
                   features_share: float = 0.0, face_frame: tuple[int, int, int, int] | None = None,
                   cartoon_share: float = 0.0) -> Image.Image:
    """A drawn-looking sketch (mode L) of an HxWx3 uint8 photo, at a random level of detail; with
    probability `outline_share` (aligned faces) a drawn head outline is added, with probability
    `features_share` drawn eyes, nose, mouth and whiskers (`face_features`); with probability
    `cartoon_share` it is a cartoon instead (`cartoon_lines`). `face_frame`: where the whole aligned
    face lies when `rgb` is a random crop of it (`in_frame`), so those follow the face."""
    scale = min(rgb.shape[:2]) / REFERENCE_SIDE
    warped = tps_warp(rgb, WARP_GRID, WARP_STRENGTH, rng)
    if cartoon_share > 0 and rng.random() < cartoon_share:
        return _inked(drop_strokes(cartoon_lines(warped, rng, face_frame), rng.uniform(*CARTOON_DROP_RANGE), rng),
                      scale, rng)
    if rng.random() < CONTOUR_SHARE:
        lines = extract_lines(warped)
    else:
        min_length = max(2, round(rng.randint(*MIN_LENGTH_RANGE) * scale))
        lines = dog_lines(warped, rng.uniform(*SIGMA_RANGE) * scale, rng.uniform(*PERCENTILE_RANGE), min_length)
    if outline_share > 0 and rng.random() < outline_share:
        lines = lines | in_frame(head_outline, rgb.shape[1], rgb.shape[0], face_frame, rng)
    if features_share > 0 and rng.random() < features_share:
        lines = lines | in_frame(face_features, rgb.shape[1], rgb.shape[0], face_frame, rng)
    return _inked(drop_strokes(lines, rng.uniform(*DROP_RANGE), rng), scale, rng)


def _inked(lines: np.ndarray, scale: float, rng: random.Random) -> Image.Image:
    """1-px lines drawn with one random pen width (WIDTHS, scaled): black ink on white paper, mode L."""
    width = max(1, round(rng.choices(WIDTHS, WIDTH_WEIGHTS)[0] * scale))
    return Image.fromarray(np.where(draw_width(lines, width), 0, 255).astype(np.uint8))
