"""The "several answers" section of the Colorize tab: 4 colorings of one photo by the colorizer with a noise
input z (nz > 0), next to 4 of pix2pix's dropout-only noise (the 70x70 PatchGAN colorizer with dropout on),
with the mean pairwise L1 between the answers of each."""
from __future__ import annotations

import math

import gradio as gr
from PIL import ImageOps

from .common import fit_side, guarded, open_photo, user_error
from .models import ModelEntry, registry

SAMPLES = 4
SAMPLE_SIDE = 256   # answers are computed on the photo at most this large

EXPLANATION = """
### Several answers per input
A colorizer trained with L1 (and even with a cGAN) gives **one** answer per photo. pix2pix's only noise
is dropout, and its authors found that it barely changes the output. The **noise colorizer** also gets
z, 8 random numbers broadcast over the image and concatenated to L: G(L, z). A mode-seeking term
(Mao et al. 2019) rewards answers that differ when z differs:
L_ms = 1 / (mean|G(L, z₁) − G(L, z₂)| / mean|z₁ − z₂|). **Diversity** below is the mean pairwise L1
between the 4 answers (RGB in [0, 1]): 0 means identical.
"""


def noise_model() -> ModelEntry | None:
    """The installed colorizer with a noise input (config nz > 0), if any."""
    found = [e for e in registry.models("colorize") if e.info.get("nz")]
    return found[0] if found else None


def dropout_model() -> ModelEntry | None:
    """The baseline: a pix2pix colorizer without noise input, the 70x70 PatchGAN one where installed."""
    plain = [e for e in registry.models("colorize") if not e.info.get("nz") and e.info.get("netD")
             and e.info.get("colorization_loss", "l1") == "l1"]
    with_70 = [e for e in plain if e.receptive_field == 70]
    return (with_70 or plain or [None])[0]


def _seed(value) -> int:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise user_error(f"seed must be a whole number, got {value!r}") from None
    if not math.isfinite(number) or number != int(number) or not 0 <= number < 2**31:
        raise user_error(f"seed must be a whole number in [0, 2^31), got {value!r}")
    return int(number)


@guarded
def colorize_samples(photo, seed=0):
    """API: 4 answers of the noise colorizer and 4 of the dropout-only baseline for one photo, and the
    diversity (mean pairwise L1, RGB in [0, 1]) of each. Same seed, same answers."""
    from engine.diversity import pairwise_l1
    seed = _seed(seed)
    noisy, baseline = noise_model(), dropout_model()
    if noisy is None:
        raise user_error("no colorizer with a noise input is installed (weights/colorize_samples)")
    gray = ImageOps.grayscale(fit_side(open_photo(photo, what="photo"), SAMPLE_SIDE)).convert("RGB")
    answers = registry.translator(noisy).samples(gray, SAMPLES, seed=seed)
    items = [(image, f"z sample {i + 1}") for i, image in enumerate(answers)]
    numbers = {"noise_model": noisy.name, "noise_diversity": round(pairwise_l1(answers), 4), "seed": seed}
    if baseline is not None:
        dropped = registry.translator(baseline).samples(gray, SAMPLES, seed=seed)
        items += [(image, f"dropout only {i + 1}") for i, image in enumerate(dropped)]
        numbers.update(dropout_model=baseline.name, dropout_diversity=round(pairwise_l1(dropped), 4))
    return items, numbers


def describe(numbers: dict | None) -> str:
    if not numbers:
        return "*Press **Colorize 4 times** for this photo.*"
    text = f"Diversity of the 4 answers: **{numbers['noise_diversity']:.3f}** with noise z (`{numbers['noise_model']}`)"
    if "dropout_diversity" in numbers:
        text += (f", **{numbers['dropout_diversity']:.3f}** with dropout only (`{numbers['dropout_model']}`, "
                 "dropout on as in pix2pix's test mode)")
    return text + f"; seed {numbers['seed']}."


def build(photo: gr.Image) -> None:
    """The section; call inside the Colorize tab with its photo input."""
    with gr.Row():
        with gr.Column(scale=5, elem_classes="explain"):
            gr.Markdown(EXPLANATION)
        with gr.Column(scale=2):
            run_btn = gr.Button("Colorize 4 times", variant="primary", elem_id="samples-run")
            again_btn = gr.Button("Sample again", elem_id="samples-again")
    gallery = gr.Gallery(label="Top: 4 answers with noise z · bottom: 4 with dropout only", columns=SAMPLES,
                         height=300, format="png", object_fit="contain", preview=False, elem_id="samples-gallery")
    summary = gr.Markdown(describe(None), elem_id="samples-summary")
    seed = gr.Number(0, precision=0, minimum=0, label="Seed", elem_id="samples-seed")
    numbers = gr.JSON(visible=False)

    run = dict(concurrency_limit=1, concurrency_id="inference")
    run_btn.click(colorize_samples, [photo, seed], [gallery, numbers], api_name="colorize_samples", **run).then(
        describe, numbers, summary, api_visibility="private", queue=False)
    again_btn.click(lambda s: (int(s or 0) + 1) % 2**31, seed, seed, api_visibility="private", queue=False).then(
        colorize_samples, [photo, seed], [gallery, numbers], api_visibility="private", **run).then(
        describe, numbers, summary, api_visibility="private", queue=False)
