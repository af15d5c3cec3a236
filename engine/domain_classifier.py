"""A small CNN that tells an image's domain (e.g. a cat's coat colour), to score StarGAN translations.

    model = train_domain_classifier("DATA/catfaces/train")            # labels from its coats.csv
    domain_accuracy(model, "DATA/catfaces/val")                         # {"accuracy", "balanced_accuracy", ...}
    save_classifier(model, "coats.safetensors"); load_classifier("coats.safetensors").predict(images)

It sees 64x64 images (resized whole, bicubic, like the data it was trained on): four 3x3 conv, batch
norm, ReLU and 2x2 max-pool blocks, a global average and a linear layer (~100k parameters). Training
draws every domain equally often (the labels are usually unbalanced) with flips and small shifts, and
no colour jitter, since colour is what it has to see.
"""
from __future__ import annotations

import json
import random
import time
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from safetensors.torch import load_file, save_file
from torch import nn

from .domain_data import labelled_images, phase_folder, resolve_domains
from .images import ImageError, ImageSource, open_image

CLASSIFIER_SIZE = 64


class DomainClassifier(nn.Module):
    """Four conv blocks (width, 2, 4, 8 x width channels; 64 -> 4 px), global average, one logit per domain."""

    def __init__(self, domains: Sequence[str], width: int = 16, size: int = CLASSIFIER_SIZE):
        super().__init__()
        self.domains, self.width, self.size = list(domains), width, size
        layers: list[nn.Module] = []
        channels = 3
        for i in range(4):
            out = width * 2 ** i
            layers += [nn.Conv2d(channels, out, 3, padding=1, bias=False), nn.BatchNorm2d(out), nn.ReLU(True),
                       nn.MaxPool2d(2)]
            channels = out
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(channels, len(self.domains))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).mean((2, 3)))

    def encode(self, images: Sequence[ImageSource]) -> torch.Tensor:
        """(N, 3, size, size) in [-1, 1]: each image resized whole (bicubic)."""
        arrays = [np.asarray(open_image(image).resize((self.size, self.size), Image.Resampling.BICUBIC))
                  for image in images]
        return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).float().div(127.5).sub(1)

    @torch.no_grad()
    def predict(self, images: Sequence[ImageSource], batch_size: int = 64) -> list[str]:
        """The domain name of each image (eval mode)."""
        device = next(self.parameters()).device
        was_training = self.training
        self.eval()
        names = []
        for start in range(0, len(images), batch_size):
            logits = self(self.encode(images[start:start + batch_size]).to(device))
            names += [self.domains[i] for i in logits.argmax(1).tolist()]
        self.train(was_training)
        return names


def _load_set(folder: Path, labels_csv: str | None, domains: list[str] | None, size: int
              ) -> tuple[list[str], torch.Tensor, torch.Tensor]:
    """(domains, uint8 images (N, 3, size, size), label indices) of a labelled folder; unreadable files skipped."""
    items = labelled_images(folder, labels_csv)
    domains = resolve_domains(items, domains, str(folder))
    arrays, labels = [], []
    for path, label in items:
        if label not in domains:
            continue
        try:
            image = open_image(path)
        except ImageError:
            continue
        arrays.append(np.asarray(image.resize((size, size), Image.Resampling.BICUBIC)))
        labels.append(domains.index(label))
    if not arrays:
        raise ValueError(f"no readable labelled images in {folder}")
    return domains, torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous(), torch.tensor(labels)


def _augment(images: torch.Tensor, rng: torch.Generator, shift: int = 4) -> torch.Tensor:
    """Random horizontal flips and shifts of up to `shift` pixels (reflection padding); uint8 -> [-1, 1]."""
    x = images.float().div(127.5).sub(1)
    flip = torch.rand(x.shape[0], generator=rng) < 0.5
    x[flip] = x[flip].flip(-1)
    padded = F.pad(x, (shift,) * 4, mode="reflect")
    size = x.shape[-1]
    dx, dy = torch.randint(0, 2 * shift + 1, (2,), generator=rng).tolist()
    return padded[..., dy:dy + size, dx:dx + size]


def train_domain_classifier(root: str | Path, labels_csv: str | None = None, *, domains: list[str] | None = None,
                            phase: str = "train", steps: int = 400, batch_size: int = 64, lr: float = 2e-3,
                            width: int = 16, size: int = CLASSIFIER_SIZE, seed: int = 0,
                            on_log=None) -> DomainClassifier:
    """Train a DomainClassifier on the labelled images of root/phase (or root): a labels CSV or subfolders.

    Batches draw each domain equally often; Adam with a cosine-decayed learning rate, on the CPU.
    `on_log(step, loss)` is called every 100 steps.
    """
    if steps < 1 or batch_size < 1:
        raise ValueError("steps and batch_size must be at least 1")
    domains, images, labels = _load_set(phase_folder(root, phase), labels_csv, domains, size)
    torch.manual_seed(seed)
    model = DomainClassifier(domains, width, size).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 0.5 * (1 + np.cos(np.pi * s / steps)))
    by_domain = [torch.nonzero(labels == i).flatten().tolist() for i in range(len(domains))]
    present = [i for i, members in enumerate(by_domain) if members]
    picker, rng = random.Random(seed), torch.Generator().manual_seed(seed)
    for step in range(1, steps + 1):
        chosen = [picker.choice(by_domain[picker.choice(present)]) for _ in range(batch_size)]
        loss = F.cross_entropy(model(_augment(images[chosen], rng)), labels[chosen])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        if on_log is not None and (step % 100 == 0 or step == steps):
            on_log(step, loss.item())
    return model.eval()


def domain_accuracy(model: DomainClassifier, root: str | Path, labels_csv: str | None = None, *,
                    phase: str = "val") -> dict:
    """How often the classifier agrees with the labels of root/phase: overall, per domain and balanced
    (the mean of the per-domain accuracies, which a majority-class guess cannot inflate)."""
    start = time.perf_counter()
    folder = phase_folder(root, phase)
    _, images, labels = _load_set(folder, labels_csv, model.domains, model.size)
    model.eval()
    with torch.no_grad():
        predicted = torch.cat([model(images[i:i + 64].float().div(127.5).sub(1)).argmax(1)
                               for i in range(0, len(images), 64)])
    per_domain = {name: round(float((predicted[labels == i] == i).float().mean()), 4)
                  for i, name in enumerate(model.domains) if bool((labels == i).any())}
    return {"accuracy": round(float((predicted == labels).float().mean()), 4),
            "balanced_accuracy": round(float(np.mean(list(per_domain.values()))), 4), "per_domain": per_domain,
            "counts": {name: int((labels == i).sum()) for i, name in enumerate(model.domains)},
            "majority_share": round(float(np.bincount(labels.numpy()).max() / len(labels)), 4),
            "n": len(labels), "folder": str(folder), "seconds": round(time.perf_counter() - start, 2)}


def save_classifier(model: DomainClassifier, path: str | Path) -> Path:
    """Weights as safetensors, with its domains, width and input size as metadata."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(path), metadata={"kind": "domain_classifier", "domains": json.dumps(model.domains),
                                           "width": str(model.width), "size": str(model.size)})
    return path


def load_classifier(path: str | Path, device: str | torch.device = "cpu") -> DomainClassifier:
    """A classifier saved by `save_classifier`, in eval mode."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"domain classifier not found: {path}")
    with safe_open(str(path), "pt") as f:
        meta = f.metadata() or {}
    if meta.get("kind") != "domain_classifier":
        raise ValueError(f"{path} is not a domain classifier saved by engine.domain_classifier")
    model = DomainClassifier(json.loads(meta["domains"]), int(meta["width"]), int(meta["size"]))
    model.load_state_dict(load_file(str(path)))
    return model.to(device).eval()
