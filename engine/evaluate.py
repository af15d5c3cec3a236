"""Metrics against ground truth: L1, PSNR, and Lab histogram intersection (pix2pix paper, Fig. 7)."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .color import rgb_to_lab
from .data import find_images, resolve_phase_folder
from .images import ImageError, open_image
from .inference import Translator

PSNR_CAP = 100.0  # dB, reported for identical images
HIST_RANGES = {"L": (0.0, 100.0), "a": (-110.0, 110.0), "b": (-110.0, 110.0)}


def _as_float(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"), dtype=np.float64) / 255.0


def l1(pred: Image.Image, target: Image.Image) -> float:
    """Mean absolute error on RGB in [0, 1]."""
    return float(np.abs(_as_float(pred) - _as_float(target)).mean())


def psnr(pred: Image.Image, target: Image.Image) -> float:
    """Peak signal-to-noise ratio of 8-bit RGB images in dB (PSNR_CAP for identical images)."""
    mse = float(((_as_float(pred) - _as_float(target)) ** 2).mean())
    return PSNR_CAP if mse == 0 else min(PSNR_CAP, 10 * np.log10(1.0 / mse))


class LabHistograms:
    """Accumulates per-channel Lab histograms of a set of images."""

    def __init__(self, bins: int = 64):
        self.bins = bins
        self.counts = {channel: np.zeros(bins) for channel in HIST_RANGES}

    def add(self, image: Image.Image) -> None:
        rgb = torch.from_numpy(_as_float(image)).permute(2, 0, 1).float()
        lab = rgb_to_lab(rgb).numpy()
        for index, (channel, (low, high)) in enumerate(HIST_RANGES.items()):
            self.counts[channel] += np.histogram(lab[index], bins=self.bins, range=(low, high))[0]

    def intersection(self, other: "LabHistograms") -> dict[str, float]:
        """Sum of minima of the normalized histograms, per channel: 1.0 for identical distributions."""
        result = {}
        for channel in HIST_RANGES:
            mine = self.counts[channel] / max(self.counts[channel].sum(), 1)
            theirs = other.counts[channel] / max(other.counts[channel].sum(), 1)
            result[channel] = float(np.minimum(mine, theirs).sum())
        return result


def lab_histogram_intersection(preds: list[Image.Image], targets: list[Image.Image], bins: int = 64
                               ) -> dict[str, float]:
    """Histogram intersection of the predictions' and the targets' L, a and b over the whole set."""
    ours, truth = LabHistograms(bins), LabHistograms(bins)
    for pred, target in zip(preds, targets):
        ours.add(pred)
        truth.add(target)
    return ours.intersection(truth)


def _gray(image: Image.Image) -> Image.Image:
    return image.convert("L").convert("RGB")


def ground_truth_pairs(translator: Translator, dataroot: str | Path, phase: str, direction: str | None):
    """(path, input, target) triples for a model's task: split A|B files, or derive inputs from photos."""
    config = translator.config
    derive = config.training.get("derive")
    plain = config.task == "colorization" or derive in ("edges", "gray")
    folder = resolve_phase_folder(dataroot, phase)
    for path in find_images(folder):
        try:
            image = open_image(path)
        except ImageError:
            continue
        if plain:
            if derive == "edges":
                from .edges import sketch_from_photo
                yield path, sketch_from_photo(image).convert("RGB"), image
            else:
                yield path, _gray(image), image
            continue
        half = image.width // 2
        left, right = image.crop((0, 0, half, image.height)), image.crop((half, 0, 2 * half, image.height))
        yield (path, left, right) if (direction or config.direction) == "AtoB" else (path, right, left)


def evaluate_dir(model_dir: str | Path, dataroot: str | Path, phase: str = "val", *, direction: str | None = None,
                 max_items: int | None = None, size: int = 256, device: str = "auto", bins: int = 64,
                 progress: bool = True) -> dict:
    """Translate a held-out split and compare with its ground truth at size x size."""
    from tqdm.auto import tqdm
    translator = Translator.from_dir(model_dir, device=device)
    if translator.config.task == "cycle_gan" and not (Path(dataroot) / phase).is_dir():
        raise ValueError("CycleGAN data is unpaired: evaluation needs an aligned A|B folder with ground truth")
    start = time.perf_counter()
    l1s, psnrs, preds, targets = [], [], [], []
    pairs = ground_truth_pairs(translator, dataroot, phase, direction)
    for count, (_, source, target) in enumerate(tqdm(pairs, unit="img", disable=not progress, total=max_items)):
        if max_items is not None and count >= max_items:
            break
        source = source.resize((size, size), Image.Resampling.BICUBIC)
        target = target.resize((size, size), Image.Resampling.BICUBIC)
        pred = translator.translate(source)
        l1s.append(l1(pred, target))
        psnrs.append(psnr(pred, target))
        preds.append(pred)
        targets.append(target)
    if not preds:
        raise ValueError(f"no readable images to evaluate in {dataroot} ({phase})")
    hist = lab_histogram_intersection(preds, targets, bins)
    return {"l1": round(float(np.mean(l1s)), 5), "psnr": round(float(np.mean(psnrs)), 3),
            "hist_L": round(hist["L"], 4), "hist_a": round(hist["a"], 4), "hist_b": round(hist["b"], 4),
            "n": len(preds), "size": size, "phase": phase, "seconds": round(time.perf_counter() - start, 2)}
