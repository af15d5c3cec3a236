"""A live drawing canvas for any image-in, image-out named endpoint (gr.HTML with js_on_load).

One 512x512 canvas drawn with pointer events (mouse, pen, touch); while the pen is down and at
pointer-up it sends the drawing, scaled to the model's input size, to the endpoint over Gradio's REST
API and shows the photo beside it: one request in flight per page, the newest drawing next, stale
results dropped. Tools: brush sizes, eraser, undo/redo (Ctrl+Z, Ctrl+Shift+Z), clear, random example,
upload, save; optionally a palette of named colors (label maps). The browser side is
demos/static/live_canvas.js and .css; docs/app.md describes the protocol. With a `browser_model`
(demos/browser_models.py) the page runs the model itself (demos/static/in_browser.js) and calls the
endpoint only as a fallback; a badge says which of the two made the photo.
"""
from __future__ import annotations

import base64
import html
import io
from pathlib import Path
from typing import Callable, Sequence

import gradio as gr
from PIL import Image

STATIC = Path(__file__).resolve().parent / "static"
SIDE = 512   # the canvas's own pixels, whatever its size on screen
SIZE_NAMES = ("small", "medium", "large")


def data_url(image: Image.Image) -> str:
    """A PNG data URL of a PIL image."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _markup(palette: Sequence[tuple[str, str]] | None, has_example: bool, pen_sizes: Sequence[int],
            canvas_label: str) -> str:
    sizes = "".join(
        f'<button type="button" data-size="{i}" title="{name} brush ({width} px)" aria-label="{name} brush">'
        f'<span class="lc-size-dot" style="width:{4 + 4 * i}px;height:{4 + 4 * i}px"></span></button>'
        for i, (name, width) in enumerate(zip(SIZE_NAMES, pen_sizes)))
    example = ('<button type="button" data-action="example" title="A new random example">🎲 Random example</button>'
               if has_example else "")
    swatches = "".join(
        f'<button type="button" role="radio" data-color="{color}" title="{html.escape(name)}">'
        f'<span class="lc-swatch" style="background:{color}"></span>{html.escape(name)}</button>'
        for name, color in palette or [])
    palette_row = f'<div class="lc-palette" role="radiogroup" aria-label="Classes">{swatches}</div>' if palette else ""
    return f"""
<div class="lc">
  <div class="lc-toolbar" role="toolbar" aria-label="Drawing tools">
    <button type="button" data-tool="pen" title="Pen">✏️ Pen</button>
    <button type="button" data-tool="eraser" title="Eraser">🧽 Eraser</button>
    <span class="lc-sep"></span>{sizes}<span class="lc-sep"></span>
    <button type="button" data-action="undo" title="Undo (Ctrl+Z)" aria-label="Undo">↶ Undo</button>
    <button type="button" data-action="redo" title="Redo (Ctrl+Shift+Z)" aria-label="Redo">↷ Redo</button>
    <button type="button" data-action="clear" title="Clear the canvas">🗑️ Clear</button>
    {example}
    <button type="button" data-action="upload" title="Upload a drawing">📂 Upload</button>
    <input type="file" accept="image/*" hidden>
  </div>
  {palette_row}
  <div class="lc-panes">
    <div class="lc-pane"><canvas class="lc-canvas" width="{SIDE}" height="{SIDE}" tabindex="0"
      aria-label="{html.escape(canvas_label)}"></canvas></div>
    <div class="lc-pane"><img class="lc-photo" alt="The model's photo of the drawing" hidden>
      <div class="lc-hint">The photo appears here.</div></div>
  </div>
  <div class="lc-footer">
    <span class="lc-status" aria-live="polite"></span>
    <span class="lc-where" hidden></span>
    <button type="button" data-action="save" title="Save the photo as PNG">💾 Save photo</button>
  </div>
</div>"""


def live_canvas(endpoint: str, *, model: str | None, size: int | None, initial: Image.Image | None = None,
                example: Callable[[str], Image.Image] | None = None,
                palette: Sequence[tuple[str, str]] | None = None, paper: str = "#ffffff", ink: str | None = None,
                pen_sizes: Sequence[int] = (4, 8, 14), eraser_sizes: Sequence[int] = (12, 24, 48),
                default_size: int = 1, blank_hint: str = "Draw something on the canvas.",
                canvas_label: str = "Drawing canvas", save_name: str = "photo.png",
                elem_id: str | None = None, browser_model: dict | None = None, model_class: str = "") -> gr.HTML:
    """The canvas and its photo, sending drawings to the named endpoint `endpoint` (inputs: an image
    file, a model name and a class, "" for none; output: an image) with model `model` at `size` x `size` pixels.

    `palette` ((name, "#rrggbb") pairs) makes it a label-map painter: pure class colors, nearest-pixel
    scaling, no blank check; `paper` is what clear and the eraser paint, `ink` the first pen color
    (default: near-black, or the palette's first color). `example(model)` gives the
    random example button's drawing. `browser_model` (`demos.browser_models.browser_model`) lets the
    page run the model itself; `model_class` is the class sent with each drawing to a model that takes one.
    Update the model with `canvas_model(name, size, browser_model, model_class)`.
    """
    if len(pen_sizes) != len(SIZE_NAMES) or len(eraser_sizes) != len(SIZE_NAMES):
        raise ValueError(f"pen_sizes and eraser_sizes need {len(SIZE_NAMES)} widths each")
    server_functions = []
    if example is not None:
        def random_example(model_name: str) -> str:
            return data_url(example(model_name))
        server_functions.append(random_example)
    return gr.HTML(
        html_template=_markup(palette, example is not None, pen_sizes, canvas_label),
        css_template=(STATIC / "live_canvas.css").read_text(),
        js_on_load=(STATIC / "live_canvas.js").read_text(),
        apply_default_css=False, elem_id=elem_id, server_functions=server_functions or None,
        endpoint=endpoint, model=model or "", size=size or SIDE, mode="labels" if palette else "ink",
        paper=paper, ink=ink or (palette[0][1] if palette else "#111111"), pen_sizes=list(pen_sizes),
        eraser_sizes=list(eraser_sizes), default_size=default_size, blank_hint=blank_hint, save_name=save_name,
        browser_model=browser_model or {}, model_class=model_class,
        initial=data_url(initial.convert("RGB").resize((SIDE, SIDE), Image.NEAREST if palette else Image.LANCZOS))
        if initial else "")


def canvas_model(model: str | None, size: int | None, browser_model: dict | None = None,
                 model_class: str = "") -> gr.HTML:
    """An update for a live canvas: draw for `model` at `size` pixels (the canvas sends its drawing again),
    in the page when `browser_model` is given, with class `model_class` for a model that takes one ("": none)."""
    return gr.HTML(model=model or "", size=size or SIDE, browser_model=browser_model or {}, model_class=model_class)
