"""StarGAN evaluation on labelled held-out images, which have no ground truth for other domains.

For each target domain d, the images labelled otherwise are translated into d, and
- `target_share`: the share of translations that a domain classifier (engine.domain_classifier) calls d,
  beside `input_share`, the share of the same untranslated inputs it already calls d;
- `rec_l1`, `rec_psnr`: how well G(G(x, d), c_x) gives x back (engine.evaluate's l1 and psnr).
`classifier_accuracy` is how often the classifier agrees with the labels on the real inputs.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .domain_classifier import load_classifier
from .domain_data import labelled_images, phase_folder
from .evaluate import l1, psnr
from .images import ImageError, open_image, to_pil


def _labelled_inputs(folder: Path, labels_csv: str | None, domains: list[str], size: int,
                     max_items: int | None) -> tuple[list[Image.Image], list[str]]:
    images, labels = [], []
    for path, label in labelled_images(folder, labels_csv):
        if label not in domains:
            continue
        if max_items is not None and len(images) >= max_items:
            break
        try:
            image = open_image(path)
        except ImageError:
            continue
        images.append(image.resize((size, size), Image.Resampling.BICUBIC))
        labels.append(label)
    if not images:
        raise ValueError(f"no readable images labelled {', '.join(domains)} in {folder}")
    return images, labels


def evaluate_stargan(model_dir: str | Path, dataroot: str | Path, phase: str = "val", *,
                     classifier: str | Path | None = None, labels_csv: str | None = None,
                     max_items: int | None = None, size: int | None = None, device: str = "auto",
                     batch_size: int = 8, progress: bool = True) -> dict:
    """Score a StarGAN model on dataroot/phase (or dataroot) with its labels CSV or domain subfolders.

    Images are resized to size x size (default: the model's crop size). Without `classifier` (a file
    saved by engine.domain_classifier.save_classifier) only the reconstruction is scored. Returns
    {"domains": {d: {"n", "rec_l1", "rec_psnr", ["target_share", "input_share"]}}, "rec_l1", "rec_psnr",
    ["target_share", "input_share", "classifier_accuracy"], "n", "size", "phase", "seconds", "kind": "stargan"}.
    """
    from tqdm.auto import tqdm

    from .inference import Translator

    translator = Translator.from_dir(model_dir, device=device, batch_size=batch_size)
    if translator.config.task != "stargan":
        raise ValueError(f"{model_dir} is a {translator.config.task} model, not stargan")
    domains = translator.domains
    judge = load_classifier(classifier) if classifier is not None else None
    if judge is not None and set(domains) - set(judge.domains):
        raise ValueError(f"the classifier knows {', '.join(judge.domains)}, not every domain of the model "
                         f"({', '.join(domains)})")
    size = size or translator.config.crop_size
    images, labels = _labelled_inputs(phase_folder(dataroot, phase), labels_csv, domains, size, max_items)
    start = time.perf_counter()
    seen = judge.predict(images) if judge is not None else None
    results: dict = {"domains": {}}
    for target in tqdm(domains, unit="domain", desc="evaluate", disable=not progress):
        chosen = [i for i, label in enumerate(labels) if label != target]
        fakes, l1s, psnrs = [], [], []
        for first in range(0, len(chosen), batch_size):
            part = chosen[first:first + batch_size]
            x = torch.stack([translator.encode(images[i]) for i in part])
            fake = translator.translate_tensor(x, domain=target)
            back = translator.translate_tensor(fake, domain=[labels[i] for i in part])
            fakes += [to_pil(f) for f in fake]
            for i, rec in zip(part, back):
                l1s.append(l1(to_pil(rec), images[i]))
                psnrs.append(psnr(to_pil(rec), images[i]))
        scores = {"n": len(chosen)}
        if chosen:
            scores.update(rec_l1=round(float(np.mean(l1s)), 5), rec_psnr=round(float(np.mean(psnrs)), 3))
            if judge is not None:
                scores["target_share"] = round(float(np.mean([name == target for name in judge.predict(fakes)])), 4)
                scores["input_share"] = round(float(np.mean([seen[i] == target for i in chosen])), 4)
        results["domains"][target] = scores
    scored = [s for s in results["domains"].values() if s["n"]]
    for key in ("rec_l1", "rec_psnr", "target_share", "input_share"):
        if scored and key in scored[0]:
            results[key] = round(float(np.mean([s[key] for s in scored])), 5)
    if judge is not None:
        results["classifier_accuracy"] = round(float(np.mean([a == b for a, b in zip(seen, labels)])), 4)
        results["classifier"] = str(classifier)
    results.update(n=len(images), size=size, phase=phase, seconds=round(time.perf_counter() - start, 2),
                   kind="stargan")
    return results


def describe_stargan_metrics(metrics: dict) -> str:
    """One Markdown sentence of a StarGAN evaluation, for model cards."""
    text = f"{metrics['n']} images at {metrics['size']}px"
    if "target_share" in metrics:
        shares = ", ".join(f"{d} {s['target_share']:.2f} (inputs {s['input_share']:.2f})"
                           for d, s in metrics["domains"].items() if "target_share" in s)
        text += (f": translations the domain classifier assigns to their target {metrics['target_share']:.2f} on "
                 f"average ({shares}; classifier agrees with the labels on {metrics['classifier_accuracy']:.2f} "
                 f"of the inputs)")
    return text + f", reconstruction L1 {metrics['rec_l1']:.4f}, PSNR {metrics['rec_psnr']:.2f} dB"
