"""The "Why cGAN?" figure: five panels side by side, each a model's predictive distribution p(a | l)
drawn over the true one, with a strip of the colors a stands for under the axis (drawn with PIL)."""
from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFont

PANEL = (330, 300)             # width, height of one panel
PLOT = (46, 54, 316, 236)      # plot area inside a panel: left, top, right, bottom
STRIP = 12                     # height of the color strip under the x axis
TRUE_FILL = (214, 214, 214)
INK = (40, 40, 40)
METHOD_COLORS = {"l2": (200, 60, 40), "l1": (220, 130, 0), "gaussian": (60, 90, 200),
                 "categorical": (120, 60, 170), "cgan": (20, 130, 60)}
TITLES = {"l2": "(a) L2 regression", "l1": "(b) L1 regression", "gaussian": "(c) Gaussian fit",
          "categorical": "(d) Categorical, K bins", "cgan": "(e) cGAN: G(l, z)"}
X_TICKS = (-1.0, -0.6, 0.0, 0.6, 1.0)


def _font(size: int):
    return ImageFont.load_default(size=size)


def render_figure(result: dict, colors: list[tuple[int, int, int]]) -> Image.Image:
    """The five panels of `result` (ToyResult.to_dict(with_curves=True)); `colors` are the RGB colors of
    the grid's a values (the strip under each axis)."""
    methods = list(result["methods"])
    image = Image.new("RGB", (PANEL[0] * len(methods), PANEL[1]), "white")
    for i, method in enumerate(methods):
        panel = _panel(result, method, colors)
        image.paste(panel, (i * PANEL[0], 0))
    return image


def _panel(result: dict, method: str, colors) -> Image.Image:
    grid = np.asarray(result["grid"])
    true = np.asarray(result["true_density"])
    info = result["methods"][method]
    density = np.asarray(info["density"])
    point = info.get("point") if method in ("l2", "l1") else None
    top = max(true.max(), 0.0 if point is not None else density.max()) * 1.08

    panel = Image.new("RGB", PANEL, "white")
    draw = ImageDraw.Draw(panel)
    left, upper, right, lower = PLOT

    def x_of(a):
        return left + (np.asarray(a) - grid[0]) / (grid[-1] - grid[0]) * (right - left)

    def y_of(p):
        return lower - np.clip(np.asarray(p) / top, 0, 1) * (lower - upper)

    xs, color = x_of(grid), METHOD_COLORS.get(method, INK)
    draw.polygon([(left, lower)] + list(zip(xs, y_of(true))) + [(right, lower)], fill=TRUE_FILL)
    if point is not None:
        x = float(x_of(point))
        draw.line([(x, lower), (x, upper)], fill=color, width=3)
        draw.ellipse([x - 5, upper - 5, x + 5, upper + 5], fill=color)
        right_side = x < (left + right) / 2
        draw.text((x + 8 if right_side else x - 8, upper + 40), f"prediction {point:+.2f}", fill=color,
                  font=_font(13), anchor="la" if right_side else "ra")
    elif method in ("categorical", "cgan"):
        ys = y_of(density)
        step = (xs[1] - xs[0]) / 2
        path = []
        for x, y in zip(xs, ys):
            path += [(x - step, y), (x + step, y)]
        draw.line([(left, lower)] + path + [(right, lower)], fill=color, width=2)
    else:
        draw.line(list(zip(xs, y_of(density))), fill=color, width=3)

    for x, c in zip(xs, colors):
        draw.line([(x, lower + 2), (x, lower + 2 + STRIP)], fill=tuple(c), width=2)
    draw.line([(left, lower), (right, lower)], fill=INK)
    draw.line([(left, lower), (left, upper)], fill=INK)
    small = _font(11)
    for tick in X_TICKS:
        x = float(x_of(tick))
        draw.line([(x, lower + STRIP + 2), (x, lower + STRIP + 6)], fill=INK)
        draw.text((x, lower + STRIP + 8), f"{tick:g}", fill=INK, font=small, anchor="ma")
    draw.text(((left + right) / 2, lower + STRIP + 24), "a (Lab a: teal < 0 < pink)", fill=INK, font=small,
              anchor="ma")
    draw.text((left - 6, upper), f"{top:.1f}", fill=INK, font=small, anchor="ra")
    draw.text((left - 6, lower), "0", fill=INK, font=small, anchor="rb")
    draw.text((8, (upper + lower) / 2), "p(a|l)", fill=INK, font=small, anchor="lm")
    draw.text((PANEL[0] / 2, 8), TITLES.get(method, method), fill=INK, font=_font(16), anchor="ma")
    legend = 32   # between the title and the plot
    draw.rectangle([right - 104, legend, right - 94, legend + 10], fill=TRUE_FILL)
    draw.text((right - 90, legend - 1), "true", fill=INK, font=small)
    draw.rectangle([right - 58, legend, right - 48, legend + 10], fill=color)
    draw.text((right - 44, legend - 1), "model", fill=INK, font=small)
    return panel
