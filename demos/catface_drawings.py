"""Cat-face drawings made by code, as people draw them in the app's sketch pad.

Black strokes on a white 512x512 canvas, one stroke width (4-12 px) per drawing, sparse strokes with a
slight hand wobble, the face filling most of the canvas like an aligned cat-face crop. Each drawing is
one row of DESIGNS, seeded: `drawing(i)` is the evaluation set (tests/data/catface_drawings, written by
docs/make_catface_drawings.py), `drawing(i, seed)` a new variation (the Sketch tab's random example).
Nothing is traced from photos or research data; numpy and Pillow only.
"""
from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

SIZE, SUPERSAMPLE, SEED = 512, 2, 1729

# One drawing per row: stroke width; head: round | oval | wide; ears: pointed | rounded, + inner
# (inner-ear line), + sepears (ears drawn over a full head); eyes: circle | almond, + pupil | slit, + shine;
# nose: tri | heart, + fillnose; mouth: w | y (or none); extras: whiskers, stripes (forehead), tufts
# (cheek fur), dots (whisker pads), brows, chin, tilt, offset.
DESIGNS = [
    "6px round pointed circle pupil tri w whiskers",
    "8px oval rounded inner almond slit heart y whiskers",
    "5px wide pointed inner circle tri w",
    "10px round rounded circle heart y whiskers stripes",
    "12px round pointed circle tri",                  # minimal
    "7px oval pointed almond pupil tri w whiskers tilt",
    "9px wide rounded inner almond heart w whiskers tufts",
    "5px round pointed inner circle pupil shine heart w whiskers stripes tufts dots brows chin",  # rich
    "11px oval pointed sepears circle tri y",
    "6px wide pointed almond slit tri y whiskers offset",
    "8px round rounded sepears circle pupil heart w brows",
    "4px oval rounded almond heart",                  # minimal
    "6px wide pointed inner almond pupil shine tri fillnose w whiskers stripes tufts dots chin",  # rich
    "10px round pointed circle tri y whiskers tilt offset",
    "7px oval rounded inner circle pupil heart w tufts",
    "12px wide pointed sepears circle heart y whiskers tilt",
    "5px round pointed inner almond slit tri w whiskers offset",
    "9px oval pointed circle tri fillnose y whiskers stripes",
    "8px wide rounded circle pupil tri w whiskers tilt",
    "6px round rounded inner almond heart y dots offset",
]


def bezier(p0, c, p1, n=24):
    """Points of the quadratic Bezier curve from p0 to p1 pulled toward c."""
    t = np.linspace(0.0, 1.0, n)[:, None]
    p0, c, p1 = (np.asarray(p, float) for p in (p0, c, p1))
    return (1 - t) ** 2 * p0 + 2 * t * (1 - t) * c + t ** 2 * p1


def ellipse(cx, cy, rx, ry, a0=0.0, a1=360.0):
    """Points of an elliptical arc from angle a0 to a1 (degrees, y down)."""
    a = np.radians(np.linspace(a0, a1, max(8, int(abs(a1 - a0) / 4))))
    return np.stack([cx + rx * np.cos(a), cy + ry * np.sin(a)], 1)


def rounded(poly, iterations=2):
    """A closed polygon with its corners cut round (Chaikin)."""
    p = np.asarray(poly, float)
    for _ in range(iterations):
        q = np.roll(p, -1, axis=0)
        p = np.stack([0.75 * p + 0.25 * q, 0.25 * p + 0.75 * q], 1).reshape(-1, 2)
    return np.vstack([p, p[:1]])


def hand(pts, closed, rng, amount):
    """The polyline resampled every 3 px with a smooth wobble across it and a little jitter."""
    p = np.vstack([pts, pts[:1]]) if closed else np.asarray(pts, float)
    p = p[np.r_[True, np.hypot(*np.diff(p, axis=0).T) > 1e-6]]
    s = np.r_[0.0, np.cumsum(np.hypot(*np.diff(p, axis=0).T))]
    t = np.linspace(0.0, s[-1], max(2, int(s[-1] / 3) + 1))
    p = np.stack([np.interp(t, s, p[:, 0]), np.interp(t, s, p[:, 1])], 1)
    d = np.gradient(p, axis=0)
    normal = np.stack([-d[:, 1], d[:, 0]], 1) / (np.hypot(d[:, 0], d[:, 1])[:, None] + 1e-9)
    amp = amount * min(1.0, s[-1] / 400) ** 1.5   # small shapes stay clean
    off = np.zeros(len(t))
    for _ in range(2):   # periodic on closed strokes, so they close without a seam
        cycles = rng.integers(1, 3 + int(s[-1] / 500)) if closed else s[-1] / rng.uniform(120, 260)
        off += amp * np.sin(2 * np.pi * cycles * t / max(s[-1], 1.0) + rng.uniform(0, 2 * np.pi))
    off += np.convolve(rng.normal(0.0, 0.35, len(t) + 2), np.ones(3) / 3, mode="valid")   # gentle jitter
    p = p + normal * off[:, None]
    p[-1] = p[0] if closed else p[-1]
    return p


def head_point(g, angles):
    """Head outline points at the given angles (degrees, y down), with cheek fur tufts if any."""
    a = np.radians(np.asarray(angles, float))
    c, s = np.cos(a), np.sin(a)
    e = 2.0 / g["n"]
    x = g["rx"] * np.sign(c) * np.abs(c) ** e * (1 + g["cheeks"] * np.clip(s, 0, 1))
    y = g["ry"] * np.sign(s) * np.abs(s) ** e
    scale = np.ones_like(a)
    for lo in (20.0, 122.0) if g["tufts"] else ():
        phase = np.clip((np.degrees(a) % 360 - lo) / 38.0, 0, 1) * 3   # three tufts over 38 degrees
        saw = phase % 1 if lo < 90 else 1 - phase % 1                  # tips pointing down
        scale += g["tufts"] * saw * ((phase > 0) & (phase < 3))
    return np.stack([g["cx"] + x * scale, g["cy"] + y * scale], 1)


def ear(g, rng, a_out, a_in, shape, inset=1.0):
    """One ear from the outer to the inner base angle: the ear stroke and its inner-ear line."""
    po, pi = head_point(g, [a_out, a_in])
    ctr = np.array([g["cx"], g["cy"]])
    po, pi = ctr + inset * (po - ctr), ctr + inset * (pi - ctr)
    tip = np.array([po[0] + (pi[0] - po[0]) * rng.uniform(0.0, 0.3),
                    g["cy"] - g["ry"] - g["ear"] * rng.uniform(0.92, 1.08)])
    bulge = lambda a, b, k: (a + b) / 2 + k * np.array([(b - a)[1], -(b - a)[0]]) * np.sign(pi[0] - po[0])
    side1, side2 = bezier(po, bulge(po, tip, 0.08), tip), bezier(tip, bulge(tip, pi, 0.04), pi)
    if shape == "rounded":
        pts = np.vstack([side1[:-9], bezier(side1[-9], tip, side2[8], 12), side2[9:]])
    else:
        pts = np.vstack([side1, side2[1:]])
    n, mid = len(pts), (po + tip + pi) / 3
    inner = mid + 0.58 * (pts[n // 6: n - n // 6] - mid) + np.array([0, 0.06 * g["ear"]])
    return pts, inner


def cat_strokes(tokens, rng):
    """The strokes of one cat face as (kind, points): kind is open, closed, fill or white."""
    has, head = tokens.__contains__, tokens[0]
    rx = {"round": 180, "oval": 165, "wide": 205}[head] * rng.uniform(0.95, 1.05)
    ry = {"round": 0.93, "oval": 1.04, "wide": 0.8}[head] * rx * rng.uniform(0.97, 1.03)
    g = dict(cx=256 + rng.uniform(-6, 6), cy=300 + rng.uniform(-8, 8), rx=rx, ry=ry, n=2.3 if head == "wide" else 2.0,
             cheeks={"round": 0.0, "oval": -0.1, "wide": 0.07}[head], tufts=0.09 * has("tufts"),
             ear=ry * rng.uniform(0.5, 0.68))
    cx, cy, shape = g["cx"], g["cy"], "rounded" if has("rounded") else "pointed"
    angles = 200 + rng.uniform(-5, 5), 246 + rng.uniform(-4, 4), 294 + rng.uniform(-4, 4), 340 + rng.uniform(-5, 5)
    inset = 0.97 if has("sepears") else 1.0
    ears = [ear(g, rng, angles[0], angles[1], shape, inset), ear(g, rng, angles[3], angles[2], shape, inset)]
    if has("sepears"):   # a full head, ears drawn over it
        outline = [("closed", head_point(g, np.arange(90, 450, 1.0)))] + [("open", e[0]) for e in ears]
    else:                # one stroke around head and ears
        arc = lambda a0, a1: head_point(g, np.linspace(a0, a1, int(a1 - a0) + 2)[1:-1])
        outline = [("closed", np.vstack([arc(90, angles[0]), ears[0][0], arc(angles[1], angles[2]),
                                         ears[1][0][::-1], arc(angles[3], 450)]))]
    detail = [("open", e[1]) for e in ears] if has("inner") else []
    detail += eyes(has, cx, cy - ry * rng.uniform(0.04, 0.14), rx, rng)
    detail += muzzle(has, cx, cy + ry * rng.uniform(0.2, 0.27), rx, ry, rng)
    for j in (-1, 0, 1) if has("stripes") else ():
        top = np.array([cx + j * rx * 0.15, cy - ry * 0.92])
        bottom = top + [-j * rx * 0.03, ry * (0.24 if j == 0 else 0.16)]
        detail.append(("open", bezier(top, (top + bottom) / 2 + [j * 3, 0], bottom, 8)))
    return place(outline, detail, rng, has("tilt"), has("offset"))


def eyes(has, cx, ey, rx, rng):
    """Two eyes (circles or slanted almonds), with pupils, slits, shines and brows as asked."""
    strokes, sep = [], rx * rng.uniform(0.36, 0.45)
    r, slant = rx * rng.uniform(0.14, 0.19), np.radians(rng.uniform(8, 16))
    for side in (-1, 1):
        ex = cx + side * sep
        if has("circle"):
            strokes.append(("closed", ellipse(ex, ey, r, r * rng.uniform(0.92, 1.08))[:-1]))
            pr, ph = r * 0.5, r * 0.8
        else:
            a, b = r * 1.2, r * 1.2 * rng.uniform(0.5, 0.62)
            u = np.linspace(0, 1, 20)[:, None]
            top = np.hstack([-a + 2 * a * u, -b * np.sin(np.pi * u) ** 0.8])
            th = -side * slant   # outer corner up
            rot = np.array([[np.cos(th), np.sin(th)], [-np.sin(th), np.cos(th)]])
            strokes.append(("closed", np.vstack([top, (top * [1, -0.85])[::-1][1:-1]]) @ rot + [ex, ey]))
            pr, ph = b * 0.72, b * 0.92
        px, py = ex - side * r * 0.08, ey + r * 0.05
        if has("pupil"):
            strokes.append(("fill", ellipse(px, py, pr, pr)))
            if has("shine"):
                strokes.append(("white", ellipse(px - pr * 0.35, py - pr * 0.35, pr * 0.32, pr * 0.32)))
        if has("slit"):
            u = np.linspace(0, 1, 12)[:, None]
            half = np.hstack([ph * 0.3 * np.sin(np.pi * u), -ph + 2 * ph * u])
            strokes.append(("fill", np.vstack([half, (half * [-1, 1])[::-1]]) + [px, py]))
        if has("brows"):
            strokes.append(("open", bezier((ex - side * r * 0.2, ey - r * 1.7), (ex + side * r * 0.5, ey - r * 2.1),
                                           (ex + side * r * 1.1, ey - r * 1.9), 10)))
    return strokes


def muzzle(has, cx, ny, rx, ry, rng):
    """Nose (triangle or heart), 'w' or 'y' mouth, chin, whiskers and whisker-pad dots as asked."""
    nw = rx * rng.uniform(0.09, 0.12)
    nh = nw * rng.uniform(0.7, 0.9)
    if has("tri"):
        nose = rounded([(cx - nw, ny - nh / 2), (cx + nw, ny - nh / 2), (cx, ny + nh / 2)])
    else:
        t = np.linspace(0, 2 * np.pi, 60)
        hy = -(13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t))
        nose = np.stack([cx + nw * np.sin(t) ** 3, ny + nh * (hy + 2) / 30], 1)
    strokes = [("fill" if has("fillnose") else "closed", nose)]
    nb = nose[np.argmax(nose[:, 1])]
    pm, m = nb + [0, ry * rng.uniform(0.06, 0.1)], rx * rng.uniform(0.09, 0.13)
    if has("w") or has("y"):
        strokes.append(("open", np.vstack([nb, pm])))
    if has("w"):
        strokes.append(("open", np.vstack([ellipse(pm[0] - m, pm[1], m, m * 0.8, 165, 0),
                                           ellipse(pm[0] + m, pm[1], m, m * 0.8, 180, 15)])))
    for side in (-1, 1) if has("y") else ():
        strokes.append(("open", bezier(pm, pm + [side * m * 0.35, m * 0.55], pm + [side * m * 1.2, m * 0.75], 12)))
    if has("chin"):
        strokes.append(("open", ellipse(cx, pm[1] + m * 1.6, m * 1.1, m * 0.45, 25, 155)))
    for side in (-1, 1):
        count = rng.integers(2, 4) if has("whiskers") else 0
        for k in range(count):
            ang = np.radians(-14 + 28 * k / max(count - 1, 1) + rng.uniform(-4, 4))
            root = np.array([cx + side * rx * rng.uniform(0.24, 0.3), ny + nh + ry * (0.02 + 0.05 * k)])
            length = rx * rng.uniform(0.75, 0.95)
            end = root + length * np.array([side * np.cos(ang), np.sin(ang)])
            strokes.append(("open", bezier(root, (root + end) / 2 - [0, length * 0.06], end, 16)))
        for dx, dy in ((0.2, 0.0), (0.3, 0.02), (0.25, 0.08)) if has("dots") else ():
            strokes.append(("fill", ellipse(cx + side * rx * dx, ny + nh + ry * dy, 2.0, 2.0)))
    return strokes


def place(outline, detail, rng, tilt, offset):
    """Tilt and shift the face as asked, then shrink it if its outline leaves the canvas."""
    th = np.radians(rng.uniform(6, 12) * rng.choice([-1, 1])) if tilt else 0.0
    rot = np.array([[np.cos(th), np.sin(th)], [-np.sin(th), np.cos(th)]])
    shift = np.array([rng.uniform(25, 40) * rng.choice([-1, 1]), rng.uniform(-10, 15)]) if offset else np.zeros(2)
    centre = np.array([SIZE / 2, SIZE / 2 + 24])
    strokes = [(kind, (p - centre) @ rot + centre + shift) for kind, p in outline + detail]
    ink = np.vstack([p for _, p in strokes[:len(outline)]])
    low, high, margin = ink.min(0), ink.max(0), 16
    scale = min(1.0, *((SIZE - 2 * margin) / (high - low)))
    mid = (low + high) / 2
    low, high = mid + (low - mid) * scale, mid + (high - mid) * scale
    move = np.maximum(0, margin - low) - np.maximum(0, high - (SIZE - margin))
    return [(kind, mid + (p - mid) * scale + move) for kind, p in strokes]


def drawing(index: int, seed: int = SEED) -> Image.Image:
    """Drawing number `index` of DESIGNS (modulo their number): an RGB 512x512 image, black strokes on
    white. The evaluation set uses the default `seed`; other seeds give new variations of a design."""
    rng = np.random.default_rng([seed, index])
    tokens = DESIGNS[index % len(DESIGNS)].split()
    strokes, wobble = cat_strokes(tokens[1:], rng), rng.uniform(1.0, 2.2)
    ss, width = SUPERSAMPLE, int(tokens[0].removesuffix("px")) * SUPERSAMPLE
    big = Image.new("L", (SIZE * ss, SIZE * ss), 255)
    draw = ImageDraw.Draw(big)
    for kind, pts in strokes:
        if kind in ("fill", "white"):
            draw.polygon([(float(x) * ss, float(y) * ss) for x, y in pts], fill=0 if kind == "fill" else 255)
            if kind == "white":
                continue
        line = [(float(x) * ss, float(y) * ss) for x, y in hand(pts, kind != "open", rng, wobble)]
        draw.line(line, fill=0, width=width, joint="curve")
        for x, y in line:   # round caps and joins
            draw.ellipse([x - width / 2, y - width / 2, x + width / 2, y + width / 2], fill=0)
    return big.reduce(ss).point(lambda v: 0 if v < 128 else 255).convert("RGB")
