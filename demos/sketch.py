"""Tab 1: draw a sketch (or paint facade labels) and watch a pix2pix generator turn it into a photo."""
from __future__ import annotations

import random

import gradio as gr
from PIL import Image

from .catface_drawings import DESIGNS, drawing as catface_drawing
from .common import guarded, no_model_message, open_photo, user_error
from .examples import FACADE_CLASSES, FACADE_COLORS, hex_color, palette_legend_html, random_doodle, random_facade
from .models import choices, picker, registry
from .render import editor_composite, is_blank, network_size, save_png, snap_labels, translate

CANVAS = 512
PEN = 8   # px on the 512 canvas: 2 px at the sketch models' 128, the middle of the widths they learned

EXPLANATION = """
### How it works: a conditional GAN + L1
**pix2pix** learns a mapping *G: drawing → photo* from pairs of images.
Two losses train the generator *G*:

- **L1 loss** |*y* − *G(x)*|: the photo must be close to the real one pixel by pixel.
  On its own it gives blurry, brownish results: when several answers are possible,
  the average minimizes L1.
- **Conditional GAN loss**: a discriminator *D* sees the drawing *x* **together with** a photo and
  learns to tell real pairs from generated ones. *G* is rewarded when *D* is fooled, which pushes
  it to choose *one* sharp, realistic answer instead of the blurry average.

The objective is *G\\* = arg min_G max_D L_cGAN(G, D) + λ·L1(G)*, with λ = 100.
The generator is a **U-Net**: skip connections carry the drawing's edges straight to the output,
so the lines you draw stay exactly where you put them.

*Try:* draw a closed shape, then add a line inside it: the whole photo changes, because each output
pixel depends on a large part of the drawing.
"""

FACADE_EXPLANATION = """
### Facades: labels → photo
Here the input is a **semantic label map** of the CMP Facade dataset: each color is a class
(wall, window, door, ...). The same pix2pix objective (cGAN + L1) learns to paint plausible
textures for each region. Paint with the class colors; the brush snaps to the 12 classes.
"""


def _info(entry) -> str:
    return f"Model: {entry.summary()}"


@guarded
def render_canvas(canvas, model_name, tab="sketch"):
    """UI: the live photo for the canvas and the same PNG for the Save button (empty canvas -> none).

    One PNG per stroke serves both outputs; a separate `photo.change` handler for Save would make
    Gradio's page re-send the canvas images once more per stroke (docs/benchmarks.md)."""
    models = registry.models(tab)
    if not models:
        return None, no_model_message("Sketch → Photo", tab, tab), None
    entry = registry.get(tab, model_name)
    image = editor_composite(canvas)
    if tab == "sketch" and is_blank(image):
        return None, _info(entry) + "  \nDraw something on the canvas.", None
    if image is None:
        return None, _info(entry), None
    if tab == "facade":
        image = snap_labels(image)
    png = save_png(translate(entry, image, size=network_size(entry)), f"{tab}_photo")
    return png, _info(entry), png


def render_facade(canvas, model_name):
    return render_canvas(canvas, model_name, tab="facade")


@guarded
def sketch_api(drawing, model: str = ""):
    """API: a drawing (dark lines on light paper, any size) -> a photo of the same size."""
    if not registry.models("sketch"):
        raise user_error("no sketch model is installed")
    entry = registry.get("sketch", model or None)
    image = open_photo(drawing, what="drawing")
    return translate(entry, image, size=network_size(entry))


@guarded
def facade_api(labels, model: str = ""):
    """API: a facade label map (CMP colors) -> a facade photo of the same size."""
    if not registry.models("facade"):
        raise user_error("no facade model is installed")
    entry = registry.get("facade", model or None)
    image = snap_labels(open_photo(labels, what="label map"))
    return translate(entry, image, size=network_size(entry))


def random_sketch(model_name=None):
    """A random drawing for the canvas: a new cat face for a cat model, else any simple doodle."""
    try:
        entry = registry.get("sketch", model_name or None)
        about = f"{entry.name} {entry.title} {entry.description}".lower()
    except LookupError:   # no sketch model (yet): any drawing will do
        about = ""
    seed = random.randrange(1 << 30)
    if "cat" in about:
        return catface_drawing(seed % len(DESIGNS), seed=seed)
    return random_doodle(seed, size=CANVAS)


def random_labels():
    return random_facade(random.randrange(1 << 30), size=(CANVAS, CANVAS)).resize((CANVAS, CANVAS), Image.NEAREST)


def _model_dropdown(tab: str, label: str):
    options = choices(tab)
    return gr.Dropdown(options, value=options[0][1] if options else None, label=label,
                       interactive=bool(options), allow_custom_value=False)


def build(demo: gr.Blocks) -> None:
    with gr.Tab("Sketch → Photo", id="sketch") as tab:
        with gr.Tabs():
            with gr.Tab("Sketch", id="sketch-draw"):
                with gr.Row():
                    with gr.Column(scale=5):
                        canvas = gr.Sketchpad(
                            label="Draw here",
                            type="pil", image_mode="RGBA", canvas_size=(CANVAS, CANVAS), fixed_canvas=True,
                            brush=gr.Brush(default_size=PEN, colors=["#111111"], color_mode="fixed"),
                            eraser=gr.Eraser(default_size=18), layers=False, transforms=(), format="png",
                            height=CANVAS + 80, elem_id="sketch-canvas")
                        gr.Markdown("A felt-tip pen (8 px); the eraser is beside it, undo and clear are at the top.")
                        with gr.Row():
                            example_btn = gr.Button("🎲 Random example", elem_id="sketch-random")
                            model = _model_dropdown("sketch", "Model")
                    with gr.Column(scale=5):
                        photo = gr.Image(label="Photo (updates after each stroke)", type="pil", format="png",
                                         interactive=False, buttons=["download", "fullscreen"], height=CANVAS,
                                         elem_id="sketch-photo")
                        save = gr.DownloadButton("💾 Save PNG", value=None, elem_id="sketch-save")
                        info = gr.Markdown(_initial_info("sketch"), elem_id="sketch-info")
                    with gr.Column(scale=3, elem_classes="explain"):
                        gr.Markdown(EXPLANATION)

            with gr.Tab("Facade labels", id="sketch-facade"):
                palette = [hex_color(rgb) for _, rgb in FACADE_CLASSES]
                with gr.Row():
                    with gr.Column(scale=5):
                        facade_canvas = gr.ImageEditor(
                            value=random_facade(7, size=(CANVAS, CANVAS)),
                            label="Paint the facade with the class colors",
                            type="pil", image_mode="RGB", canvas_size=(CANVAS, CANVAS), fixed_canvas=True,
                            brush=gr.Brush(default_size=14, colors=palette, default_color=hex_color(
                                FACADE_COLORS["window"]), color_mode="fixed"),
                            eraser=gr.Eraser(default_size=18), layers=False, transforms=(), sources=("upload",),
                            format="png", height=CANVAS + 80, elem_id="facade-canvas")
                        gr.HTML(palette_legend_html())
                        with gr.Row():
                            facade_example = gr.Button("🎲 Random facade", elem_id="facade-random")
                            facade_model = _model_dropdown("facade", "Model")
                    with gr.Column(scale=5):
                        facade_photo = gr.Image(label="Facade photo", type="pil", format="png", interactive=False,
                                                buttons=["download", "fullscreen"], height=CANVAS,
                                                elem_id="facade-photo")
                        facade_save = gr.DownloadButton("💾 Save PNG", value=None, elem_id="facade-save")
                        facade_info = gr.Markdown(_initial_info("facade"), elem_id="facade-info")
                    with gr.Column(scale=3, elem_classes="explain"):
                        gr.Markdown(FACADE_EXPLANATION + EXPLANATION.split("*Try:*")[0])

        # API-only endpoints: plain images in, PNG out (hidden from the page)
        with gr.Column(visible=False):
            api_drawing = gr.File(label="drawing", file_count="single")
            api_model = gr.Textbox(value="", label="model")
            api_out = gr.Image(type="pil", format="png", label="photo")
            api_btn = gr.Button("sketch")
            api_labels = gr.File(label="labels", file_count="single")
            api_facade_model = gr.Textbox(value="", label="model")
            api_facade_out = gr.Image(type="pil", format="png", label="photo")
            api_facade_btn = gr.Button("facade")

    live = dict(trigger_mode="always_last", concurrency_limit=1, concurrency_id="inference",
                show_progress="minimal", api_visibility="private")
    canvas.change(render_canvas, [canvas, model], [photo, info, save], **live)
    model.change(render_canvas, [canvas, model], [photo, info, save], **live)
    example_btn.click(random_sketch, model, canvas, api_visibility="private", queue=False)

    facade_outputs = [facade_photo, facade_info, facade_save]
    facade_canvas.change(render_facade, [facade_canvas, facade_model], facade_outputs, **live)
    facade_model.change(render_facade, [facade_canvas, facade_model], facade_outputs, **live)
    facade_example.click(random_labels, None, facade_canvas, api_visibility="private", queue=False)
    demo.load(render_facade, [facade_canvas, facade_model], facade_outputs, **live)
    for trigger in (demo.load, tab.select):   # models trained meanwhile in the Train tab
        trigger(lambda current: picker("sketch", current), model, model, api_visibility="private", queue=False)
        trigger(lambda current: picker("facade", current), facade_model, facade_model, api_visibility="private",
                queue=False)

    api_btn.click(sketch_api, [api_drawing, api_model], api_out, api_name="sketch",
                  concurrency_limit=1, concurrency_id="inference")
    api_facade_btn.click(facade_api, [api_labels, api_facade_model], api_facade_out, api_name="facade",
                         concurrency_limit=1, concurrency_id="inference")


def _initial_info(tab: str) -> str:
    models = registry.models(tab)
    if not models:
        return no_model_message("Sketch → Photo", tab, tab)
    return _info(models[0])
