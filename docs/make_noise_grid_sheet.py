"""The noise colorizer's a channel and its high-pass, before and after the decoder change (docs/quality.md).

    python docs/make_noise_grid_sheet.py OLD_MODEL_DIR NEW_MODEL_DIR [--out docs/images/colorize_samples_grid.jpg]

For scikit-image's public-domain photos (chelsea, coffee, astronaut) at 128 px and one z ~ N(0, I) each:
the coloured sample, the a map (contrast-stretched) and a - its 3x3 mean (a 2-pixel grid shows as a fine
weave), per model, one row each, shown at 2x.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from scipy.ndimage import uniform_filter
from skimage import data

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine import Translator  # noqa: E402


def _stretch(plane: np.ndarray) -> np.ndarray:
    low, high = np.percentile(plane, [1, 99])
    return np.stack([(np.clip((plane - low) / max(high - low, 1e-6), 0, 1) * 255).astype(np.uint8)] * 3, -1)


def model_row(model_dir: str, photos: list[Image.Image]) -> np.ndarray:
    translator = Translator.from_dir(model_dir, device="cpu")
    tiles = []
    for seed, photo in enumerate(photos):
        outputs, original = translator.sample_outputs(photo, 1, seed=seed)
        a = outputs[0, 0].numpy()
        tiles += [np.asarray(translator.decode(outputs[0], original)), _stretch(a), _stretch(a - uniform_filter(a, 3))]
    return np.concatenate(tiles, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs=2)
    parser.add_argument("--out", default="docs/images/colorize_samples_grid.jpg")
    args = parser.parse_args()
    photos = [Image.fromarray(image()).convert("L").convert("RGB").resize((128, 128), Image.Resampling.BICUBIC)
              for image in (data.chelsea, data.coffee, data.astronaut)]
    sheet = Image.fromarray(np.concatenate([model_row(model, photos) for model in args.models], 0))
    sheet = sheet.resize((sheet.width * 2, sheet.height * 2), Image.Resampling.NEAREST)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    sheet.save(args.out, quality=90)
    print(f"wrote {args.out} ({sheet.width}x{sheet.height})")


if __name__ == "__main__":
    torch.set_num_threads(1)
    main()
