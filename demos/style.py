"""Tab 3: CycleGAN styles: G(x), the reverse direction F(x), and the cycle reconstruction F(G(x))."""
from __future__ import annotations

import random
import threading

import gradio as gr
from PIL import Image

from .common import guarded, max_side, no_model_message, open_photo, user_error
from .examples import example_photo
from .first_view import STYLE_EXAMPLE, first_view
from .models import ModelEntry, picker, registry
from .render import save_png

THUMB = (160, 120)
DIRECTIONS = [("A → B", "AtoB"), ("B → A", "BtoA")]

EXPLANATION = """
### How it works: cycle consistency
CycleGAN learns to translate between two **unpaired** collections (say photos and Monet
paintings): nobody painted *this* photo. Two generators, **G: A → B** and **F: B → A**, each with its
own discriminator, are trained together:

- **Adversarial losses** make G(x) look like domain B and F(y) like domain A.
- **Cycle consistency**: going there and back must give the input again,
  F(G(x)) ≈ x and G(F(y)) ≈ y (an L1 loss, weight λ = 10). Without it, G could map every photo to
  the same good-looking painting; with it, G must keep the content and change only the style.

Compare the input with the **reconstruction** F(G(x)): the closer they are, the more content
G preserved. Some models (e.g. imported painter styles) ship only G; then there is no F.
"""

_thumb_lock = threading.Lock()
_thumbs: dict[str, Image.Image] = {}


def style_models() -> list[ModelEntry]:
    return registry.models("style")


def thumbnail(entry: ModelEntry) -> Image.Image:
    """The model's own thumbnail.png / example.png, else its output on a synthetic scene."""
    with _thumb_lock:
        if entry.name in _thumbs:
            return _thumbs[entry.name]
    image = None
    if entry.path is not None:
        for name in ("thumbnail.png", "thumbnail.jpg", "example.png", "example.jpg"):
            if (entry.path / name).is_file():
                try:
                    image = Image.open(entry.path / name).convert("RGB")
                    image.thumbnail(THUMB)
                except OSError:
                    image = None
                break
    if image is None:
        try:
            translator = registry.translator(entry)
            direction = translator.directions[0]
            image = translator.translate(example_photo(3, size=THUMB), direction=direction)
        except Exception:  # noqa: BLE001 - a broken model gets a gray tile, not a broken page
            image = Image.new("RGB", THUMB, (128, 128, 128))
    with _thumb_lock:
        _thumbs[entry.name] = image
    return image


def gallery_items():
    return [(thumbnail(e), e.label) for e in style_models()]


@guarded
def stylize(photo, style: str = "", direction: str = "AtoB"):
    """API: (G(x), F(x) the reverse direction, F(G(x)) the reconstruction, model info).

    Outputs that the model cannot make (a one-direction model has no F) are None.
    """
    if not style_models():
        raise user_error("no style (CycleGAN) model is installed")
    entry = registry.get("style", style or None)
    direction = direction or "AtoB"
    if direction not in ("AtoB", "BtoA"):
        raise user_error(f"direction must be AtoB or BtoA, got {direction!r}")
    translator = registry.translator(entry)
    if direction not in translator.directions:
        raise user_error(f"model {entry.name!r} only translates {', '.join(translator.directions)}")
    image = open_photo(photo, what="photo", limit=max_side())
    back = "BtoA" if direction == "AtoB" else "AtoB"
    fake = translator.translate(image, direction=direction)
    reverse = reconstruction = None
    if back in translator.directions:
        reverse = translator.translate(image, direction=back)
        reconstruction = translator.translate(fake, direction=back)
    note = f"Model: {entry.summary()}  \nDirection {direction}; input {image.width}×{image.height}"
    if reverse is None:
        note += f". This model has no {back} generator: no reverse direction or reconstruction."
    return fake, reverse, reconstruction, note


def stylize_ui(photo, style, direction):
    """The page's handler: without a photo or a style model, the message instead of an error toast."""
    if photo is None or not style_models():
        return None, None, None, _initial_info()
    return stylize(photo, style, direction)


def _initial_info() -> str:
    models = style_models()
    if not models:
        return no_model_message("Style", "style (CycleGAN)", "style")
    return f"Model: {models[0].summary()}"


def _first_view(shown: bool, style: str, direction: str):
    """The example photo in the chosen style, the first time this page opens the tab (once per process)."""
    if not style_models():
        return None, None, None, _initial_info(), True
    key = ("style", style, direction)
    return first_view(shown, key, lambda: stylize(str(STYLE_EXAMPLE), style, direction), 4)


def random_example():
    return save_png(example_photo(random.randrange(1 << 30), size=(480, 360)), "example_photo")


def build(demo: gr.Blocks) -> None:
    models = style_models()
    names = [(e.label, e.name) for e in models]
    with gr.Tab("Style (CycleGAN)", id="style") as tab:
        with gr.Row():
            with gr.Column(scale=5):
                gallery = gr.Gallery(label="Styles (click one)", columns=6, height=180, allow_preview=False,
                                     format="png", object_fit="cover", elem_id="style-gallery")
                with gr.Row():
                    style = gr.Dropdown(names, value=names[0][1] if names else None, label="Style",
                                        interactive=bool(names), elem_id="style-model", scale=3, min_width=320)
                    direction = gr.Radio(DIRECTIONS, value="AtoB", label="Direction", elem_id="style-direction")
                photo = gr.Image(value=str(STYLE_EXAMPLE),
                                 label="Photo (upload, webcam or paste; large photos are scaled down)",
                                 type="filepath", image_mode=None, sources=["upload", "webcam", "clipboard"],
                                 height=320, elem_id="style-input")
                with gr.Row():
                    example_btn = gr.Button("🎲 Example photo", elem_id="style-example")
                    run_btn = gr.Button("Stylize", variant="primary", elem_id="style-run")
            with gr.Column(scale=3, elem_classes="explain"):
                gr.Markdown(EXPLANATION)
        with gr.Row():
            out = gr.Image(label="G(x): translated", type="pil", format="png", interactive=False,
                           buttons=["download", "fullscreen"], elem_id="style-output")
            reverse = gr.Image(label="F(x): the reverse direction", type="pil", format="png", interactive=False,
                               buttons=["download", "fullscreen"], elem_id="style-reverse")
            recon = gr.Image(label="F(G(x)): cycle reconstruction", type="pil", format="png", interactive=False,
                             buttons=["download", "fullscreen"], elem_id="style-reconstruction")
        info = gr.Markdown(_initial_info(), elem_id="style-info")
        example_shown = gr.State(False)

        with gr.Column(visible=False):
            api_photo = gr.File(label="photo", file_count="single")
            api_style = gr.Textbox(value="", label="style")
            api_direction = gr.Textbox(value="AtoB", label="direction")
            api_out = gr.Image(type="pil", format="png", label="translated")
            api_reverse = gr.Image(type="pil", format="png", label="reverse")
            api_recon = gr.Image(type="pil", format="png", label="reconstruction")
            api_info = gr.Markdown(label="info")
            api_btn = gr.Button("stylize")

    run = dict(concurrency_limit=1, concurrency_id="inference", api_visibility="private", trigger_mode="always_last")
    outputs = [out, reverse, recon, info]
    for trigger in (photo.change, style.change, direction.change):
        trigger(stylize_ui, [photo, style, direction], outputs, **run)
    run_btn.click(stylize, [photo, style, direction], outputs, api_name="stylize_ui", **run)
    example_btn.click(random_example, None, photo, api_visibility="private", queue=False)
    for trigger in (demo.load, tab.select):   # models trained meanwhile in the Train tab
        trigger(lambda current: picker("style", current), style, style, api_visibility="private", queue=False)
    tab.select(gallery_items, None, gallery, api_visibility="private")   # loads every style model: not at start
    tab.select(_first_view, [example_shown, style, direction], [*outputs, example_shown], **run)

    def pick(evt: gr.SelectData):
        models_now = style_models()
        if evt.index is None or not 0 <= evt.index < len(models_now):
            return gr.update()
        return models_now[evt.index].name

    gallery.select(pick, None, style, api_visibility="private", queue=False)
    api_btn.click(stylize, [api_photo, api_style, api_direction], [api_out, api_reverse, api_recon, api_info],
                  api_name="stylize", concurrency_limit=1, concurrency_id="inference")
