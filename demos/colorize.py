"""Tab 2: colorization, comparing discriminator patch sizes (L1 only, 1x1, 16x16, 70x70, 286x286)."""
from __future__ import annotations

import os
import random

import gradio as gr
import numpy as np
from PIL import ImageOps

from . import colorize_samples
from .common import fit_side, guarded, no_model_message, open_photo, user_error
from .examples import example_photo
from .first_view import COLORIZE_EXAMPLE, first_view
from .models import ModelEntry, registry
from .render import draw_receptive_field, overlay_map

COMPARE_SIDE = 512   # photos are compared at most this large (five models run per photo)

EXPLANATION = """
### How it works: what a PatchGAN can see
A colorizer gets the lightness **L** of a photo and predicts its colors (**a, b** in Lab space).
With an **L1 loss alone** it plays safe: when an object could be red or blue, the average (grayish
brown) minimizes L1, so colors come out dull.

A **PatchGAN discriminator** classifies every *N×N* patch as real or fake instead of the whole
image; *N* is its **receptive field**. Its verdicts are averaged over all patches. The patch size
decides which mistakes can be punished:

- **1×1 (PixelGAN)**: judges single pixels: it can only ask "is this a plausible color?". It makes
  colors more saturated but knows nothing about shapes or textures.
- **16×16**: small textures and local color consistency; larger structures go unjudged, and
  tiling artifacts can appear.
- **70×70** (pix2pix's default): parts of objects; sharp and colorful, few artifacts.
- **286×286**: the whole 256×256 image: global consistency, but many more parameters, harder to
  train, and often no better.

**Classification** (Zhang et al.) predicts, at every pixel, a probability for each of the 262 ab bins
of 10×10 that hold sRGB colors, trained with cross-entropy weighted towards rare colors
(w ∝ ((1 − λ) p + λ / Q)⁻¹, λ = ½), and decodes the *annealed mean* Σ_q softmax(log p / T)_q · ab_q
at T = 0.38: more saturated than the mean, steadier than the mode.

The square in the bottom-right corner of each result shows one patch at its true size.
Turn on **patch maps** to see each discriminator's verdict: green = looks real, red = looks fake.
"""

# what each receptive field can / cannot penalize, by upper bound of the field
_PENALIZE = [
    (0, "per-pixel distance to the true colors only", "dull, averaged colors (no realism term)"),
    (1, "implausible colors, pixel by pixel: boosts saturation", "any spatial structure: texture, sharpness, color bleeding"),
    (40, "local texture and color consistency within small patches", "structures larger than the patch; tiling can appear"),
    (100, "object parts: sharp, colorful, consistent regions", "consistency between distant regions of the image"),
    (10_000, "global consistency across the whole image", "little beyond 70×70 in practice; harder to train, more artifacts"),
]


CLASSIFICATION = ("likely colors pixel by pixel, rebalanced towards rare saturated ones (Zhang et al.)",
                  "one choice per object: where two colors are likely, neighboring regions can flip")


def is_classifier(entry: ModelEntry) -> bool:
    return entry.info.get("colorization_loss") == "classification"


def penalizes(field: int | None) -> tuple[str, str]:
    field = field or 0
    for bound, can, cannot in _PENALIZE:
        if field <= bound:
            return can, cannot
    return _PENALIZE[-1][1], _PENALIZE[-1][2]


def sorted_models() -> list[ModelEntry]:
    """Colorizers from L1-only (no discriminator) and classification to the largest receptive field; the
    noise colorizer (several answers per photo) has its own section."""
    single = [e for e in registry.models("colorize") if not e.info.get("nz")]
    return sorted(single, key=lambda e: (e.receptive_field is not None, e.receptive_field or 0, is_classifier(e),
                                         e.name))


def caption(entry: ModelEntry) -> str:
    field = entry.receptive_field
    if is_classifier(entry):
        return f"classification · {entry.label}"
    if field is None:
        return f"L1 only · {entry.label}"
    return f"{field}×{field} patch · {entry.label}"


def caption_table(entries: list[ModelEntry], scores: dict[str, float] | None = None) -> str:
    if not entries:
        return no_model_message("Colorization", "colorization", "colorize")
    rows = ["| model | discriminator | receptive field | can penalize | cannot penalize |"
            + (" D: real |" if scores else ""),
            "|---|---|---|---|---|" + ("---|" if scores else "")]
    for entry in entries:
        field = entry.receptive_field
        can, cannot = CLASSIFICATION if is_classifier(entry) else penalizes(field)
        rf = f"{field}×{field}" if field else "-"
        discriminator = "none (classification over ab bins)" if is_classifier(entry) else entry.discriminator
        row = f"| `{entry.name}` | {discriminator} | {rf} | {can} | {cannot} |"
        if scores:
            row += f" {scores[entry.name]:.0%} |" if entry.name in scores else " - |"
        rows.append(row)
    return "\n".join(rows)


def _default_entry() -> ModelEntry:
    models = sorted_models()
    if not models:
        raise user_error("no colorization model is installed")
    for entry in models:
        if entry.receptive_field == 70:
            return entry
    with_gan = [e for e in models if e.receptive_field]
    return with_gan[0] if with_gan else models[0]


def _compare_side() -> int:
    try:
        return max(64, int(os.environ.get("I2I_COMPARE_SIDE", COMPARE_SIDE)))
    except ValueError:
        return COMPARE_SIDE


@guarded
def compare(photo, show_maps: bool = False):
    """Original, gray input and every colorizer's output (optionally tinted by its discriminator)."""
    entries = sorted_models()
    if not entries:
        raise user_error("no colorization model is installed")
    original = fit_side(open_photo(photo, what="photo"), _compare_side())
    gray = ImageOps.grayscale(original).convert("RGB")
    items = [(original, "Original"), (gray, "Input: lightness only")]
    scores: dict[str, float] = {}
    for entry in entries:
        use_d = bool(show_maps) and entry.receptive_field is not None
        translator = registry.translator(entry, with_discriminators=use_d)
        output = translator.translate(gray)
        shown = output
        if use_d:
            realness = translator.discriminator_map(gray, output)
            scores[entry.name] = float(np.mean(realness))
            shown = overlay_map(output, realness)
        field = entry.receptive_field
        shown = draw_receptive_field(shown, field, f"{field}px" if field else None)
        items.append((shown, caption(entry)))
    return items, caption_table(entries, scores if show_maps else None)


def compare_ui(photo, show_maps: bool = False):
    if photo is None:
        return [], caption_table(sorted_models())
    return compare(photo, show_maps)


@guarded
def colorize_api(photo, model: str = ""):
    """API: colorize one photo with one model (default: the 70x70 PatchGAN one)."""
    if not registry.models("colorize"):
        raise user_error("no colorization model is installed")
    entry = registry.get("colorize", model) if model else _default_entry()
    image = open_photo(photo, what="photo")
    return registry.translator(entry).translate(ImageOps.grayscale(image).convert("RGB"))


def random_example():
    return example_photo(random.randrange(1 << 30), size=(384, 288))


def build(demo: gr.Blocks) -> None:
    entries = sorted_models()
    with gr.Tab("Colorize: patch sizes", id="colorize") as tab:
        with gr.Row():
            with gr.Column(scale=3):
                photo = gr.Image(value=str(COLORIZE_EXAMPLE), label="Photo (it is turned gray, then colorized)",
                                 type="filepath",
                                 image_mode=None, sources=["upload", "clipboard"], height=320,
                                 elem_id="colorize-input")
                with gr.Row():
                    example_btn = gr.Button("🎲 Example photo", elem_id="colorize-example")
                    run_btn = gr.Button("Colorize", variant="primary", elem_id="colorize-run")
                show_maps = gr.Checkbox(False, label="Overlay each discriminator's real/fake patch map",
                                        elem_id="colorize-maps")
            with gr.Column(scale=5, elem_classes="explain"):
                gr.Markdown(EXPLANATION)
        gallery = gr.Gallery(label="Side by side (L1 only → largest patch)", columns=min(7, len(entries) + 2),
                             height=340, format="png", object_fit="contain", preview=False,
                             elem_id="colorize-gallery")
        table = gr.Markdown(caption_table(entries), elem_id="colorize-caption")
        example_shown = gr.State(False)
        colorize_samples.build(photo)

        with gr.Column(visible=False):
            api_photo = gr.File(label="photo", file_count="single")
            api_model = gr.Textbox(value="", label="model")
            api_out = gr.Image(type="pil", format="png", label="colorized")
            api_btn = gr.Button("colorize")
            api_compare_photo = gr.File(label="photo", file_count="single")
            api_compare_maps = gr.Checkbox(False, label="show_maps")
            api_gallery = gr.Gallery(format="png", label="results")
            api_table = gr.Markdown(label="caption")
            api_compare_btn = gr.Button("compare")

    run = dict(concurrency_limit=1, concurrency_id="inference", api_visibility="private", trigger_mode="always_last")
    photo.change(compare_ui, [photo, show_maps], [gallery, table], **run)
    show_maps.change(compare_ui, [photo, show_maps], [gallery, table], **run)
    run_btn.click(compare, [photo, show_maps], [gallery, table], api_name="compare_ui", **run)
    example_btn.click(_example_file, None, photo, api_visibility="private", queue=False)
    tab.select(lambda: caption_table(sorted_models()), None, table, api_visibility="private", queue=False)
    tab.select(_first_view, [example_shown, show_maps], [gallery, table, example_shown], **run)

    api_btn.click(colorize_api, [api_photo, api_model], api_out, api_name="colorize",
                  concurrency_limit=1, concurrency_id="inference")
    api_compare_btn.click(compare, [api_compare_photo, api_compare_maps], [api_gallery, api_table],
                          api_name="compare_patches", concurrency_limit=1, concurrency_id="inference")


def _first_view(shown: bool, show_maps: bool):
    """The example photo's colorizations, the first time this page opens the tab (rendered once per process)."""
    entries = sorted_models()
    if not entries:   # the caption says what is missing
        return [], caption_table(entries), True
    key = ("colorize", tuple(e.name for e in entries), bool(show_maps))
    return first_view(shown, key, lambda: compare(str(COLORIZE_EXAMPLE), show_maps), 2)


def _example_file():
    from .render import save_png
    return save_png(random_example(), "example_photo")

