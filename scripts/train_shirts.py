"""Train the three t-shirt models of the "Why cGAN?" tab and write them, with model cards, to weights/.

    python scripts/train_shirts.py [--out weights/why_cgan_shirts] [--seed 0]

Each model goes to OUT/<method>/ (weights.safetensors in fp16, shirt_model.json, README.md); the cards
carry the numbers on 200 held-out shirts. Seeded: the same seed gives the same models on one machine.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from engine.shirt_models import (METHODS, ShirtConfig, evaluate_shirt_models, save_shirt_model,  # noqa: E402
                                 train_shirt_model)
from engine.shirts import make_shirts  # noqa: E402

WHAT = {
    "l2": "least squares on ab (MSE): predicts the mean of teal and pink, a grey shirt",
    "classifier": "per-pixel classification over the ab bins that occur in the shirts (cross-entropy), "
                  "decoded by sampling each pixel's bin: teal and pink flip inside one shirt",
    "cgan": "conditional GAN G(L, z), z in R^4 broadcast over the image, PacGAN-2 image discriminator, "
            "non-saturating loss, plus a best-of-2 L1 (two z per shirt, only the closer answer is pulled to "
            "the truth): each sample a whole teal or a whole pink shirt",
}


def card(method: str, model, stats: dict, cpu_seconds: float) -> str:
    """The model card: what it is, how it was trained, its numbers on 200 held-out shirts."""
    config = model.config
    steps = config.gan_steps if method == "cgan" else config.steps
    rows = "\n".join(f"| {name} | {s['one_colour']:.0%} | {s['mixed']:.0%} | {s['teal']:.0%} | {s['pink']:.0%} | "
                     f"{s['grey']:.0%} | {s['saturation']:.1f} |"
                     for name, s in (("true colours", stats["data"]), ("this model", stats[method]))
                     + ((("most likely bin", stats["classifier_mode"]),) if method == "classifier" else ()))
    return f"""# why_cgan_shirts/{method}

The t-shirt toy of the "Why cGAN?" tab (issue #11): grey 64x64 t-shirts made by code (`engine/shirts.py`)
whose true colour is teal or pink, 50/50. This model: {WHAT[method]}.

| | |
|---|---|
| network | `engine.shirt_models.TinyUNet`, width {config.width} |
| data | {config.n_train} code-made shirts, seed {config.seed} (nothing downloaded) |
| training | {steps} Adam steps, batch {config.batch_size} |
| time | {cpu_seconds:.0f} CPU-seconds on one thread (wall time on an idle core) |

On 200 held-out shirts (seed 10001, one answer each; `engine.shirt_models.evaluate_shirt_models`):

| shirts | one colour | mixes both | teal | pink | grey | saturation C* |
|---|---|---|---|---|---|---|
{rows}

Reproduce with `python scripts/train_shirts.py` (all three models).
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=str(REPO / "weights" / "why_cgan_shirts"))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    config = ShirtConfig(seed=args.seed)
    data = make_shirts(config.n_train, config.seed)
    models, cpu = {}, {}
    for method in METHODS:
        start = time.process_time()
        models[method] = train_shirt_model(method, config, data)
        cpu[method] = time.process_time() - start
        print(f"{method}: {cpu[method]:.1f} CPU-s", flush=True)
    stats = evaluate_shirt_models(models)
    for method, model in models.items():
        save_shirt_model(model, Path(args.out) / method, card(method, model, stats, cpu[method]))
    print(json.dumps(stats, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
