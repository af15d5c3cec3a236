"""The t-shirt section of the "Why cGAN?" tab: grey shirts that are teal or pink, and what least squares,
a per-pixel classifier and a cGAN with noise make of them (engine.shirts, engine.shirt_models).

The three models are embedded (weights/why_cgan_shirts/{l2,classifier,cgan}) so results show at once;
"Re-train" fits them again live (the tab then keeps the new ones for this process)."""
from __future__ import annotations

import threading
from pathlib import Path

import gradio as gr
from PIL import Image, ImageDraw, ImageFont

from .common import checked_number, guarded, user_error

WEIGHTS = Path(__file__).resolve().parents[1] / "weights" / "why_cgan_shirts"
SHOWN = 6           # held-out shirts in the figure
SAMPLES = 4         # cGAN samples of one shirt
CELL = 128          # shirts are 64 px, shown at twice that
ROW_LABEL_WIDTH = 150

INTRO = """
### The same argument on images: grey t-shirts, teal or pink
Every shirt below is made by code (shape, sleeves, folds as shading); its true colour is **teal or pink,
50/50**, and nothing in the grey image tells which. Three small networks learn ab from L on the same
2000 shirts (64×64): least squares, a per-pixel classifier over the ab bins of colorization-as-
classification, and a conditional GAN whose generator also gets noise z. The numbers are measured on 200
held-out shirts, one answer each.
"""

EXPLANATIONS = {
    "l2": "**Least squares → grey shirts.** min E‖G(L) − ab‖² is solved by E[ab | L], here the average of "
          "teal and pink: a colour no shirt has.",
    "classifier": "**Per-pixel classifier → flipping.** −Σ_q 1[ab ∈ q] log p_q(L) learns both colours "
                  "(p ≈ ½ each), but every pixel draws its own: teal and pink mix inside one shirt.",
    "cgan": "**cGAN + noise → one whole colour per sample.** min_G max_D E[log D(L, ab)] + "
            "E[log(1 − D(L, G(L, z)))] + λ min_k ‖G(L, z_k) − ab‖₁ over two z: a mixed shirt is easy for D to "
            "call fake, and only the closer of two answers is pulled to the truth, so each z gives a whole "
            "teal or a whole pink shirt, and both colours appear over z.",
}
NUMBERS_NOTE = ("*one colour*: ≥ 95 % of a shirt's pixels teal (a < 0) or pink (a > 0), both with chroma "
                "C* = √(a² + b²) ≥ 15; *mixes both*: each colour on ≥ 10 %; *teal / pink / grey*: what most "
                "of a shirt is; *saturation*: mean C* of shirt pixels.")
ROWS = (("truth", "True colours"), ("gray", "Input: L only"), ("l2", "L2 regression"),
        ("classifier", "Per-pixel classifier"), ("cgan", "cGAN + noise z"))

_lock = threading.Lock()
_state: dict = {}


def _models() -> dict:
    """The shirt models in use: the embedded ones, or the last re-trained ones."""
    from engine.shirt_models import METHODS, load_shirt_model
    with _lock:
        if "models" not in _state:
            missing = [m for m in METHODS if not (WEIGHTS / m).is_dir()]
            if missing:
                raise user_error(f"the embedded shirt models are missing ({', '.join(missing)} in {WEIGHTS}); "
                                 "press Re-train")
            _state["models"] = {m: load_shirt_model(WEIGHTS / m) for m in METHODS}
        return _state["models"]


def _labelled(rows: list[tuple[str, list[Image.Image]]]) -> Image.Image:
    """A white sheet: one row per (label, shirts), the label on the left, shirts at CELL px."""
    gap = 6
    columns = max(len(images) for _, images in rows)
    sheet = Image.new("RGB", (ROW_LABEL_WIDTH + columns * (CELL + gap) + gap, len(rows) * (CELL + gap) + gap),
                      "white")
    draw, font = ImageDraw.Draw(sheet), ImageFont.load_default()
    for r, (label, images) in enumerate(rows):
        top = gap + r * (CELL + gap)
        draw.text((8, top + CELL // 2), label, fill=(0, 0, 0), font=font, anchor="lm")
        for c, image in enumerate(images):
            sheet.paste(image.resize((CELL, CELL), Image.Resampling.NEAREST),
                        (ROW_LABEL_WIDTH + gap + c * (CELL + gap), top))
    return sheet


def render_shirts(models: dict, sample_seed: int = 0) -> tuple[Image.Image, Image.Image]:
    """(the methods on SHOWN held-out shirts, SAMPLES cGAN answers for the first of them)."""
    import torch

    from engine.shirt_models import EVAL_SEED
    from engine.shirts import make_shirts, shirt_images
    L, ab, _ = make_shirts(SHOWN, EVAL_SEED)
    answers = {"truth": shirt_images(L, ab), "gray": shirt_images(L, torch.zeros_like(ab))}
    answers.update({m: shirt_images(L, models[m].generate(L, sample_seed)) for m in models})
    figure = _labelled([(label, answers[key]) for key, label in ROWS])
    first = L[:1].expand(SAMPLES, -1, -1, -1)
    samples = shirt_images(first, models["cgan"].generate(first, sample_seed))
    return figure, _labelled([("Input", [shirt_images(L[:1], torch.zeros_like(ab[:1]))[0]]),
                              (f"{SAMPLES} cGAN samples", samples)])


@guarded
def why_cgan_shirts(retrain=False, sample_seed=0):
    """API: the shirt figure, 4 cGAN samples of one shirt, and the numbers on 200 held-out shirts.
    `retrain` fits the three models again (minutes on a busy CPU); `sample_seed` draws other answers."""
    from engine.shirt_models import train_shirt_models
    sample_seed = checked_number(sample_seed, "sample_seed", 0, 2**31 - 1, integer=True)
    if retrain:
        models = train_shirt_models()
        with _lock:
            _state["models"] = models
            _state.pop("shown", None)
    return _results(_models(), sample_seed)


def _results(models: dict, sample_seed: int) -> tuple[Image.Image, Image.Image, dict]:
    """Figure, samples and numbers; those of seed 0 are kept for the next visitor of the tab."""
    from engine.shirt_models import evaluate_shirt_models
    with _lock:
        shown = _state.get("shown")
    if sample_seed == 0 and shown is not None and shown[0] is models:
        return shown[1]
    figure, samples = render_shirts(models, sample_seed)
    numbers = evaluate_shirt_models(models, sample_seed=sample_seed)
    numbers["seconds"] = {m: round(model.seconds, 1) for m, model in models.items()}
    if sample_seed == 0:
        with _lock:
            _state["shown"] = (models, (figure, samples, numbers))
    return figure, samples, numbers


def first_view(shown: bool):
    """The embedded models' results the first time this page opens the tab; nothing new afterwards."""
    if shown:
        return gr.skip(), gr.skip(), gr.skip(), True
    return *why_cgan_shirts(False, 0), True


@guarded
def sample_again(sample_seed):
    """The cGAN's answers for the same shirt with the next seed."""
    seed = (checked_number(sample_seed, "sample_seed", 0, 2**31 - 1, integer=True) + 1) % 2**31
    return render_shirts(_models(), seed)[1], seed


def numbers_table(numbers: dict | None) -> str:
    """The numbers as a Markdown table (data, each method), with how they are defined."""
    if not numbers:
        return "*Numbers appear once the shirts are shown.*"
    names = {"data": "true colours", "l2": "L2 regression", "classifier": "classifier (sampled per pixel)",
             "classifier_mode": "classifier (most likely bin)", "cgan": "cGAN + noise"}
    rows = ["| 200 held-out shirts | one colour | mixes both | teal | pink | grey | saturation C* |",
            "|---|---|---|---|---|---|---|"]
    for key, name in names.items():
        s = numbers.get(key)
        if s:
            rows.append(f"| {name} | {s['one_colour']:.0%} | {s['mixed']:.0%} | {s['teal']:.0%} | {s['pink']:.0%} "
                        f"| {s['grey']:.0%} | {s['saturation']:.1f} |")
    return "\n".join(rows) + "\n\n" + NUMBERS_NOTE


def build(tab: gr.Tab) -> None:
    """The shirt section; call inside the "Why cGAN?" tab `tab` (its results show when it is opened)."""
    gr.Markdown(INTRO)
    with gr.Row():
        show_btn = gr.Button("Show the embedded models", variant="primary", elem_id="shirts-show")
        retrain_btn = gr.Button("Re-train the three models (CPU, minutes)", elem_id="shirts-retrain")
    figure = gr.Image(label="Held-out shirts: truth, grey input, and each method's answer", type="pil",
                      format="png", interactive=False, elem_id="shirts-figure")
    with gr.Row(equal_height=False):
        for method, text in EXPLANATIONS.items():
            gr.Markdown(text, elem_classes="explain", elem_id=f"shirts-note-{method}")
    table = gr.Markdown(numbers_table(None), elem_id="shirts-numbers")
    with gr.Row():
        samples = gr.Image(label="Several answers for one shirt (cGAN, different z)", type="pil", format="png",
                           interactive=False, elem_id="shirts-samples")
        with gr.Column(elem_classes="explain"):
            gr.Markdown("**Several answers per input.** G(L, z) with a new z is a new answer: each one a "
                        "whole shirt in one colour. L2 would give the same grey every time, the classifier "
                        "a new speckle of both colours.")
            again_btn = gr.Button("Sample again", elem_id="shirts-sample-again")
    seed = gr.Number(0, precision=0, visible=False)
    with gr.Accordion("Numbers (JSON)", open=False):
        numbers = gr.JSON(label="shirt numbers", elem_id="shirts-json")
    retrain_flag = gr.Checkbox(False, visible=False)
    retrain_on = gr.Checkbox(True, visible=False)
    shown = gr.State(False)

    run = dict(concurrency_limit=1, concurrency_id="toy")
    show_btn.click(why_cgan_shirts, [retrain_flag, seed], [figure, samples, numbers], api_name="why_cgan_shirts",
                   **run).then(numbers_table, numbers, table, api_visibility="private", queue=False)
    retrain_btn.click(why_cgan_shirts, [retrain_on, seed], [figure, samples, numbers], api_visibility="private",
                      **run).then(numbers_table, numbers, table, api_visibility="private", queue=False)
    again_btn.click(sample_again, seed, [samples, seed], api_visibility="private", **run)
    tab.select(first_view, shown, [figure, samples, numbers, shown], api_visibility="private", **run).then(
        numbers_table, numbers, table, api_visibility="private", queue=False)
