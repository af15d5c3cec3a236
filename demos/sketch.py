"""Tab 1: draw a sketch (or paint facade labels) and watch a pix2pix generator turn it into a photo while
drawing. The canvases (demos/canvas.py) call the named endpoints /sketch and /facade themselves."""
from __future__ import annotations

import os
import random
from concurrent.futures import ThreadPoolExecutor

import gradio as gr

from .browser_models import browser_model
from .catface_drawings import DESIGNS, drawing as catface_drawing
from .canvas import canvas_model, live_canvas
from .common import guarded, no_model_message, open_photo, user_error
from .examples import FACADE_CLASSES, FACADE_COLORS, hex_color, random_doodle, random_facade
from .models import choices, picker, registry
from .render import network_size, save_png, snap_labels

CANVAS = 512
PEN = 8   # px on the 512 canvas: 2 px at the sketch models' 128, the middle of the widths they learned
# The drawing the Sketch tab opens with (a cat face for a cat model): design 4, round eyes and a nose, which
# sketch2catface_coats paints at the opening black coat with pale eyes and a white muzzle; design 1's almond
# eyes come back as no eyes at all on the black coat (docs/quality.md).
FIRST_EXAMPLE_SEED = 4
NO_CLASS = "the model's choice"   # the class picker's empty choice: no class input
# The class a model with a class input opens with, when it has it: the cat models' black coat reads as a cat
# face on all 20 of our drawings, the model's own choice on about half (docs/quality.md). "" opens with none.
OPENING_CLASS = "black"
# Queued /sketch or /facade calls answered together ($I2I_MAX_BATCH). Default 1 (each call alone, photos exactly
# as before). On the idle 2-core CPU, 30 HTTP-API clients got 21.1 calls/s with batches of 8 against 16.5 alone,
# memory flat either way; a batched photo can differ from the lone one by one 8-bit level in a few pixels
# (float batch arithmetic). Batches of 8 gave more memory only while calls spread over many threads (fixed
# by _WORKER below); see docs/benchmarks.md (#15).
_MAX_BATCH = os.environ.get("I2I_MAX_BATCH", "").strip()
BATCH = int(_MAX_BATCH) if _MAX_BATCH.isdigit() and int(_MAX_BATCH) > 0 else 1

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

*Coat:* a drawing says nothing about the cat's colour, so a model alone must guess, or paint the muddy
average of every coat. The default cat model also takes the coat as an input (the **Class** picker):
the same drawing becomes a black, ginger, grey tabby or white cat.
"""

FACADE_EXPLANATION = """
### Facades: labels → photo
Here the input is a **semantic label map** of the CMP Facade dataset: each color is a class
(wall, window, door, ...). The same pix2pix objective (cGAN + L1) learns to paint plausible
textures for each region. Paint with the class colors; the brush snaps to the 12 classes.
"""


def model_info(tab: str, model_name: str | None) -> str:
    """The Markdown line under a canvas: the model it runs, or where models go when there is none."""
    if not registry.models(tab):
        return no_model_message("Sketch → Photo", tab, tab)
    return f"Model: {registry.get(tab, model_name or None).summary()}"


def select_model(tab: str, model_name: str | None):
    """UI: point the tab's canvas at another model (name and input size), describe it, and offer its classes."""
    try:
        entry = registry.get(tab, model_name or None)
    except LookupError:
        return canvas_model(model_name, None), model_info(tab, None), class_picker_update([])
    classes = model_classes(tab, entry.name)
    return (canvas_model(entry.name, network_size(entry), browser_model(entry), model_class=opening_class(classes)),
            model_info(tab, entry.name), class_picker_update(classes))


def select_class(tab: str, model_name: str | None, label: str | None):
    """UI: draw for another class of the same model (e.g. another coat)."""
    try:
        entry = registry.get(tab, model_name or None)
    except LookupError:
        return canvas_model(model_name, None)
    return canvas_model(entry.name, network_size(entry), browser_model(entry), model_class=label or "")


def _class_choices(classes: list[str]) -> list[tuple[str, str]]:
    return [(NO_CLASS, "")] + [(name.replace("_", " "), name) for name in classes]


def opening_class(classes: list[str]) -> str:
    """The class a model opens with: OPENING_CLASS when it has it, else none ("")."""
    return OPENING_CLASS if OPENING_CLASS in classes else ""


def class_picker_update(classes: list[str]) -> gr.Radio:
    """The class picker for a model's classes: shown (at its opening class) when it has some, hidden otherwise."""
    return gr.Radio(_class_choices(classes), value=opening_class(classes), visible=bool(classes))


def _class_picker(tab: str, model_name: str | None) -> gr.Radio:
    classes = model_classes(tab, model_name)
    return gr.Radio(_class_choices(classes), value=opening_class(classes), visible=bool(classes), label="Class",
                    info="This model also takes a class: for a cat model, the coat to paint "
                         "(\"the model's choice\": it picks one from the drawing).",
                    elem_id=f"{tab}-class")


def model_classes(tab: str, model_name: str | None) -> list[str]:
    """The classes a model takes beside its input (a pix2pix class input, e.g. a cat's coat); [] for most.
    Read from its config, so the page can offer them before the model is loaded."""
    try:
        entry = registry.get(tab, model_name or None)
    except LookupError:
        return []
    return list(entry.info.get("domains") or []) if entry.task == "pix2pix" else []


def _model_class(entry, label: str | None) -> str | None:
    """A call's class: None for none, else one of the model's classes (a one-line gr.Error otherwise)."""
    label = (label or "").strip()
    if not label:
        return None
    classes = registry.translator(entry).domains
    if label not in classes:
        known = f"one of {', '.join(classes)}" if classes else "none: it takes no class"
        raise user_error(f"model {entry.name!r} has no class {label!r} ({known})")
    return label


@guarded
def sketch_input(drawing, model: str = "", label: str = ""):
    """(model entry, RGB image, class or None) of a /sketch call, or a one-line gr.Error."""
    if not registry.models("sketch"):
        raise user_error("no sketch model is installed")
    entry = registry.get("sketch", model or None)
    return entry, open_photo(drawing, what="drawing"), _model_class(entry, label)


@guarded
def facade_input(labels, model: str = "", label: str = ""):
    """(model entry, snapped label map, class or None) of a /facade call, or a one-line gr.Error."""
    if not registry.models("facade"):
        raise user_error("no facade model is installed")
    entry = registry.get("facade", model or None)
    return entry, snap_labels(open_photo(labels, what="label map")), _model_class(entry, label)


def sketch_api(drawing, model: str = "", label: str = ""):
    """API: a drawing (dark lines on light paper, any size) -> a photo of the same size (a PNG's path).
    `label`: a class for a model that takes one (the cat models' coat), empty for the model's own choice."""
    return sketch_batch([drawing], [model], [label])[0][0]


def facade_api(labels, model: str = "", label: str = ""):
    """API: a facade label map (CMP colors) -> a facade photo of the same size (a PNG's path)."""
    return facade_batch([labels], [model], [label])[0][0]


@guarded
def _translate_group(entry, images, classes):
    domain = classes if any(c is not None for c in classes) else None
    return registry.translator(entry).translate(images, size=network_size(entry), domain=domain)


def _batch(prepare, sources: list, models: list, labels: list | None = None) -> list[list]:
    """Gradio's batch handler (batch=True): the photos (PNG paths) of up to BATCH queued calls, one forward
    pass of the same-size inputs per model. A call whose input fails gets its error when it is alone, and no photo
    (None) in a batch, so that one bad upload never fails the calls batched with it."""
    photos, errors, groups = [None] * len(sources), [], {}
    labels = labels if labels is not None else [""] * len(sources)
    for index, (source, model, label) in enumerate(zip(sources, models, labels)):
        try:
            entry, image, chosen = prepare(source, model or "", label or "")
        except gr.Error as error:
            errors.append(error)
            continue
        groups.setdefault(entry.name, (entry, []))[1].append((index, image, chosen))
    for entry, items in groups.values():
        try:
            results = _translate_group(entry, [image for _, image, _ in items], [chosen for _, _, chosen in items])
        except gr.Error as error:
            errors.append(error)
            continue
        for (index, _, _), photo in zip(items, results):   # PNGs written here, off Gradio's event loop
            photos[index] = save_png(photo, "photo")
    if errors and all(photo is None for photo in photos):
        raise errors[0]
    return [photos]


# /sketch and /facade run on this one thread, whichever of Gradio's worker threads takes the call: each new
# thread that allocates gets its own glibc malloc arena, and batches' large tensors left fragmented in many
# arenas grew the server by 100-200 MiB per 150 batched calls (docs/benchmarks.md, #15).
_WORKER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sketch")


def sketch_batch(drawings: list, models: list, labels: list | None = None) -> list[list]:
    """/sketch for a batch of calls (drawings, model names and classes, one per call)."""
    return _WORKER.submit(_batch, sketch_input, drawings, models, labels).result()


def facade_batch(label_maps: list, models: list, labels: list | None = None) -> list[list]:
    """/facade for a batch of calls (label maps, model names and classes, one per call)."""
    return _WORKER.submit(_batch, facade_input, label_maps, models, labels).result()


def random_sketch(model_name=None):
    """A random drawing for the canvas: a new cat face for a cat model, else any simple doodle."""
    return example_sketch(model_name, random.randrange(1 << 30))


def example_sketch(model_name: str | None, seed: int):
    """Drawing `seed` for the sketch model `model_name`: a cat face for a cat model, else a doodle."""
    try:
        entry = registry.get("sketch", model_name or None)
        about = f"{entry.name} {entry.title} {entry.description}".lower()
    except LookupError:   # no sketch model (yet): any drawing will do
        about = ""
    if "cat" in about:
        return catface_drawing(seed % len(DESIGNS), seed=seed)
    return random_doodle(seed, size=CANVAS)


def random_labels(model_name=None):
    """A random facade label map for the canvas (any facade model)."""
    return random_facade(random.randrange(1 << 30), size=(CANVAS, CANVAS))


def _model_dropdown(tab: str, label: str):
    options = choices(tab)
    return gr.Dropdown(options, value=options[0][1] if options else None, label=label, interactive=bool(options),
                       allow_custom_value=False, min_width=320, elem_id=f"{tab}-model")


def _first_model(tab: str):
    """(name, input size, browser model) of the tab's default model, (None, None, None) without one."""
    models = registry.models(tab)
    return (models[0].name, network_size(models[0]), browser_model(models[0])) if models else (None, None, None)


def build(demo: gr.Blocks) -> None:
    sketch_model, sketch_size, sketch_browser = _first_model("sketch")
    facade_model, facade_size, facade_browser = _first_model("facade")
    with gr.Tab("Sketch → Photo", id="sketch") as tab:
        with gr.Tabs():
            with gr.Tab("Sketch", id="sketch-draw"):
                with gr.Row():
                    with gr.Column(scale=8):
                        canvas = live_canvas(
                            "sketch", model=sketch_model, size=sketch_size, elem_id="sketch-canvas",
                            initial=example_sketch(sketch_model, FIRST_EXAMPLE_SEED), example=random_sketch,
                            pen_sizes=(4, PEN, 14), canvas_label="Sketch canvas: draw with the mouse, a pen or a finger",
                            save_name="sketch_photo.png", browser_model=sketch_browser,
                            model_class=opening_class(model_classes("sketch", sketch_model)))
                        model = _model_dropdown("sketch", "Model")
                        model_class = _class_picker("sketch", sketch_model)
                        info = gr.Markdown(model_info("sketch", sketch_model), elem_id="sketch-info")
                    with gr.Column(scale=3, elem_classes="explain"):
                        gr.Markdown(EXPLANATION)

            with gr.Tab("Facade labels", id="sketch-facade"):
                with gr.Row():
                    with gr.Column(scale=8):
                        facade_canvas = live_canvas(
                            "facade", model=facade_model, size=facade_size, elem_id="facade-canvas",
                            initial=random_facade(7, size=(CANVAS, CANVAS)), example=random_labels,
                            palette=[(name, hex_color(rgb)) for name, rgb in FACADE_CLASSES],
                            paper=hex_color(FACADE_COLORS["wall"]), ink=hex_color(FACADE_COLORS["window"]),
                            pen_sizes=(8, 20, 48), eraser_sizes=(8, 20, 48), blank_hint="",
                            canvas_label="Facade label canvas: paint with the class colors",
                            save_name="facade_photo.png", browser_model=facade_browser)
                        facade_model_picker = _model_dropdown("facade", "Model")
                        facade_info = gr.Markdown(model_info("facade", facade_model), elem_id="facade-info")
                    with gr.Column(scale=3, elem_classes="explain"):
                        gr.Markdown(FACADE_EXPLANATION + EXPLANATION.split("*Try:*")[0])

        # API-only endpoints, also what the canvases call: plain images in, PNG out (hidden from the page)
        with gr.Column(visible=False):
            api_drawing = gr.File(label="drawing", file_count="single")
            api_model = gr.Textbox(value="", label="model")
            api_label = gr.Textbox(value="", label="label")
            api_out = gr.Image(type="pil", format="png", label="photo")
            api_btn = gr.Button("sketch")
            api_labels = gr.File(label="labels", file_count="single")
            api_facade_model = gr.Textbox(value="", label="model")
            api_facade_label = gr.Textbox(value="", label="label")
            api_facade_out = gr.Image(type="pil", format="png", label="photo")
            api_facade_btn = gr.Button("facade")

    private = dict(api_visibility="private", queue=False)
    model.change(lambda name: select_model("sketch", name), model, [canvas, info, model_class], **private)
    model_class.change(lambda name, label: select_class("sketch", name, label), [model, model_class], canvas,
                       **private)
    facade_model_picker.change(lambda name: select_model("facade", name)[:2], facade_model_picker,
                               [facade_canvas, facade_info], **private)
    for trigger in (demo.load, tab.select):   # models trained meanwhile in the Train tab
        trigger(lambda current: picker("sketch", current), model, model, **private)
        trigger(lambda current: picker("facade", current), facade_model_picker, facade_model_picker, **private)

    batched = dict(batch=True, max_batch_size=BATCH, concurrency_limit=1, concurrency_id="inference")
    api_btn.click(sketch_batch, [api_drawing, api_model, api_label], api_out, api_name="sketch", **batched)
    api_facade_btn.click(facade_batch, [api_labels, api_facade_model, api_facade_label], api_facade_out,
                         api_name="facade", **batched)
