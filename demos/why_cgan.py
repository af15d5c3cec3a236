"""Tab "Why cGAN?": a 1-D toy where one lightness l has two (or three) right colors a, and what L2, L1,
a Gaussian, a categorical and a conditional GAN each predict for it (trained live by engine.train_toy)."""
from __future__ import annotations


import gradio as gr

from . import why_cgan_shirts
from .common import checked_number, guarded
from .toy_figure import render_figure

INTRO = """
### Why a conditional GAN? One pixel, two right answers
A pixel of lightness **l** is **teal** (a = −0.6) or **pink** (a = +0.6), each with probability ½ (a is
the Lab "a" channel, scaled to [−1, 1]; 3 modes adds gray at a = 0). Five models learn a from l on the
same 4096 samples, live, in a few seconds; each panel shows the model's predictive distribution
p(a | l) (colored) over the true one (gray). Seeds are fixed: the same settings give the same figure.
"""

EXPLANATIONS = {
    "l2": "**Least squares → the mean.** â = argmin E[(a − y)²] = E[y | l]. Halfway between teal and pink: "
          "a gray that is never the right answer.",
    "l1": "**L1 → a median.** â = argmin E|a − y|. With two equal modes every point between them is a "
          "median: the fit stops anywhere in the gap; with unequal weights it picks the heavier mode.",
    "gaussian": "**Gaussian → one broad bump.** −log N(y; μ, σ²) = log σ + (y − μ)²/2σ² gives μ = the "
                "mean, σ = the spread of both modes: most of its mass lies between them.",
    "categorical": "**Categorical → both modes, but per-pixel choices flip.** −Σₖ 1[y ∈ k] log pₖ gives "
                   "pₖ = each bin's frequency: both modes are there, yet each pixel samples its bin on its "
                   "own, so neighbors flip between teal and pink.",
    "cgan": "**cGAN → samples that pick one mode each.** min_G max_D E[log D(l, y)] + E[log(1 − D(l, G(l, z)))]"
            " (G maximizes log D(l, G(l, z))). Each z lands on one mode, and over z both modes appear with "
            "their weights.",
}
NO_RESULT = "*Press **Train the five models**.*"
MIN_WEIGHT, MAX_WEIGHT = 0.05, 0.95
MIN_BINS, MAX_BINS = 3, 25
QUERY_L = 0.65    # the pixel's lightness at which the distributions are shown (a mid-light pixel)


@guarded
def why_cgan_toy(n_modes=2, teal_weight=0.5, bins=9, seed=0):
    """API: train the five models on the toy; returns (figure, numbers as a dict)."""
    from engine import toy_colors, toy_preset, train_toy   # torch only when used: start-up stays fast

    n_modes = checked_number(n_modes, "n_modes", 2, 3, integer=True)
    teal_weight = checked_number(teal_weight, "teal_weight", MIN_WEIGHT, MAX_WEIGHT)
    bins = checked_number(bins, "bins", MIN_BINS, MAX_BINS, integer=True)
    seed = checked_number(seed, "seed", 0, 2**31 - 1, integer=True)
    result = train_toy(toy_preset(n_modes, first_weight=teal_weight, bins=bins, seed=seed, query_l=QUERY_L))
    curves = result.to_dict(with_curves=True)
    figure = render_figure(curves, toy_colors(curves["grid"], QUERY_L))
    return figure, result.to_dict()


def panel_notes(numbers: dict | None) -> list[str]:
    """The explanation under each panel, with this run's numbers once there is one."""
    notes = [EXPLANATIONS[m] for m in EXPLANATIONS]
    if not numbers:
        return notes
    s = numbers["summary"]
    names = s["mode_names"]
    measured = {
        "l2": f"â = {s['l2_prediction']:+.3f} (true mean {s['true_mean']:+.3f})",
        "l1": f"â = {s['l1_prediction']:+.3f}",
        "gaussian": f"μ = {s['gaussian_mu']:+.3f}, σ = {s['gaussian_sigma']:.3f}",
        "categorical": "mass in each mode's bin: " + ", ".join(
            f"{n} {p:.0%}" for n, p in zip(names, s["categorical_mode_mass"])),
        "cgan": f"{s['cgan_near_mode']:.0%} of samples within 0.15 of a mode; " + ", ".join(
            f"{n} {p:.0%}" for n, p in zip(names, s["cgan_mode_shares"])),
    }
    seconds = s["seconds"]
    return [f"{note}\n\n*Here:* {measured[m]} · {seconds[m]:.1f} s" for m, note in zip(EXPLANATIONS, notes)]


def _equal_weight(n_modes) -> float:
    return round(1.0 / int(n_modes), 2)


def build(demo: gr.Blocks) -> None:
    with gr.Tab("Why cGAN?", id="why_cgan") as tab:
        with gr.Row():
            with gr.Column(scale=2):
                n_modes = gr.Radio([2, 3], value=2, label="Modes (teal, pink; 3: + gray)", elem_id="toy-modes")
                teal_weight = gr.Slider(MIN_WEIGHT, MAX_WEIGHT, value=0.5, step=0.01,
                                        label="Weight of teal (the other modes share the rest)",
                                        elem_id="toy-weight")
                bins = gr.Slider(MIN_BINS, MAX_BINS, value=9, step=1, label="K bins of the categorical", elem_id="toy-bins")
                seed = gr.Number(0, precision=0, minimum=0, label="Seed", elem_id="toy-seed")
                train_btn = gr.Button("Train the five models", variant="primary", elem_id="toy-train")
            with gr.Column(scale=5, elem_classes="explain"):
                gr.Markdown(INTRO)
        gr.Markdown(f"**Predictive distributions p(a | l) at l = {QUERY_L}**, gray: the true one")
        figure = gr.Image(label="p(a | l) of the five models", show_label=False, type="pil", format="png",
                          interactive=False, elem_id="toy-figure")
        with gr.Row(equal_height=False):
            notes = [gr.Markdown(text + "\n\n" + NO_RESULT, elem_classes="explain", elem_id=f"toy-note-{m}")
                     for m, text in EXPLANATIONS.items()]
        with gr.Accordion("Numbers (JSON)", open=False):
            numbers = gr.JSON(label="summary", elem_id="toy-numbers")
        why_cgan_shirts.build(tab)

    n_modes.change(_equal_weight, n_modes, teal_weight, api_visibility="private", queue=False)
    train_btn.click(why_cgan_toy, [n_modes, teal_weight, bins, seed], [figure, numbers], api_name="why_cgan_toy",
                    concurrency_limit=1, concurrency_id="toy").then(
        panel_notes, numbers, notes, api_visibility="private", queue=False)
