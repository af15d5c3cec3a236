"""Several answers per input: how different they are, and how real they look together.

    python -m engine diversity --model_dir weights/colorize_samples --dataroot runs/data/photo_mix --size 128

For each held-out photo, `count` samples (engine.inference.Translator.samples: noise z for a model with
nz > 0, dropout alone otherwise) at size x size. Diversity is the mean pairwise L1 between the samples
of one input (RGB in [0, 1]), averaged over inputs; realism is the Lab histogram intersection of all
samples with the photos (engine.evaluate), and the checkerboard is engine.evaluate's ratio measured on
the samples (a colorizer's on its a/b output before 8-bit rounding, as `evaluate` does). A noise model's
`evaluate` runs z = 0, which training never draws; these are the z ~ N(0, I) answers the app shows.
Dropout-only pix2pix barely varies (Isola et al. 2017).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .data import find_images, resolve_phase_folder
from .evaluate import LabHistograms, nyquist_share, planes_nyquist_share, share_ratio
from .images import open_image
from .inference import Translator
from .noise_input import mean_pairwise_l1


def pairwise_l1(images: list[Image.Image]) -> float:
    """Mean L1 (RGB in [0, 1]) over every pair of same-size images; 0 for fewer than two."""
    stack = torch.from_numpy(np.stack([np.asarray(im.convert("RGB"), np.float32) / 255.0 for im in images]))
    return mean_pairwise_l1(stack.permute(0, 3, 1, 2))


def sample_diversity(model_dir: str | Path, dataroot: str | Path, phase: str = "val", *, count: int = 4,
                     size: int = 128, net_size: int | None = None, max_items: int | None = 100, seed: int = 0,
                     device: str = "cpu") -> dict:
    """{"diversity", "hist_intersection" (L, a, b), "checkerboard", "n", "count", "size", "net_size",
    "noise"} of a model's samples of up to max_items photos (evenly spread over the folder) at size x size;
    the network runs at net_size (default: size), a colorizer's ab is then upsampled onto the photo's own L."""
    translator = Translator.from_dir(model_dir, device=device)
    paths = find_images(resolve_phase_folder(dataroot, phase))
    if max_items is not None and len(paths) > max_items:   # spread over the folder (mixed sets are sorted by kind)
        paths = [paths[round(i * (len(paths) - 1) / max(1, max_items - 1))] for i in range(max_items)]
    if not paths:
        raise ValueError(f"no images in {dataroot} ({phase})")
    colorizer = translator.config.task == "colorization"
    diversities, fake_shares, real_shares = [], [], []
    ours, truth = LabHistograms(), LabHistograms()
    for index, path in enumerate(paths):
        photo = open_image(path).resize((size, size), Image.Resampling.BICUBIC)
        outputs, original = translator.sample_outputs(photo, count, seed=seed + index, size=net_size or size)
        samples = [translator.decode(output, original) for output in outputs]
        diversities.append(pairwise_l1(samples))
        truth.add(photo)
        real_shares.append(nyquist_share(photo, "ab" if colorizer else "luma"))
        for output, sample in zip(outputs, samples):
            ours.add(sample)
            fake_shares.append(planes_nyquist_share(output.numpy())
                               if colorizer else nyquist_share(sample))
    return {"diversity": float(np.mean(diversities)), "hist_intersection": ours.intersection(truth),
            "checkerboard": round(share_ratio(fake_shares, real_shares), 3),
            "n": len(paths), "count": count, "size": size, "net_size": net_size or size,
            "noise": f"z (nz {translator.config.nz})" if translator.config.nz else "dropout only"}
