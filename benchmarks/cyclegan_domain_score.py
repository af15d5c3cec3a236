"""How often a CycleGAN's translations pass for the other domain: a small classifier (engine.domain_classifier)
trained on the real training photos of both domains (e.g. horses and zebras) judges the translated test
photos. The classifier's accuracy on the real test photos says how far to trust it.

    python benchmarks/cyclegan_domain_score.py weights/studio_horse2zebra [MORE_MODEL_DIRS ...] \
        [--dataroot ../shared/datasets/horse2zebra] [--names horse zebra] [--size 128]

The classifier is trained once (600 steps, about a minute of one thread) and kept in
benchmarks/<A>_<B>_classifier.safetensors; `--retrain` trains it again. It sees 64 px whole images, so
it may also go by the background (savanna against green fields). This is a benchmark, not a test.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from engine import Translator  # noqa: E402
from engine.data import find_images  # noqa: E402
from engine.domain_classifier import (domain_accuracy, load_classifier, save_classifier,  # noqa: E402
                                      train_domain_classifier)
from engine.images import open_image  # noqa: E402


def labelled_view(dataroot: Path, phase: str, names: tuple[str, str], into: Path) -> Path:
    """A folder with one subfolder per domain (links to dataroot/{phase}A and {phase}B), as the classifier reads."""
    view = into / phase
    view.mkdir(parents=True)
    for side, name in zip("AB", names):
        (view / name).symlink_to((dataroot / f"{phase}{side}").resolve(), target_is_directory=True)
    return into


def classifier_for(dataroot: Path, names: tuple[str, str], retrain: bool):
    path = REPO / "benchmarks" / f"{names[0]}_{names[1]}_classifier.safetensors"
    if path.is_file() and not retrain:
        return load_classifier(path)
    with tempfile.TemporaryDirectory() as tmp:
        model = train_domain_classifier(labelled_view(dataroot, "train", names, Path(tmp)), domains=list(names),
                                        steps=600, on_log=lambda step, loss: print(f"  classifier step {step}: "
                                                                                   f"loss {loss:.3f}"))
    save_classifier(model, path)
    print(f"classifier saved to {path.relative_to(REPO)}")
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="+", help="CycleGAN model folders (weights/NAME or runs/NAME/model)")
    parser.add_argument("--dataroot", default=str(REPO.parent / "shared" / "datasets" / "horse2zebra"))
    parser.add_argument("--names", nargs=2, default=("horse", "zebra"), help="names of domains A and B")
    parser.add_argument("--phase", default="test")
    parser.add_argument("--size", type=int, default=None, help="translation size (default: the model's crop)")
    parser.add_argument("--retrain", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    dataroot, names = Path(args.dataroot), tuple(args.names)
    classifier = classifier_for(dataroot, names, args.retrain)
    with tempfile.TemporaryDirectory() as tmp:
        real = domain_accuracy(classifier, labelled_view(dataroot, args.phase, names, Path(tmp)), phase=args.phase)
    print(f"classifier on real {args.phase} photos: {names[0]} {real['per_domain'][names[0]]:.0%}, "
          f"{names[1]} {real['per_domain'][names[1]]:.0%} recognised ({real['n']} photos)")
    photos = {side: [open_image(p) for p in find_images(dataroot / f"{args.phase}{side}")] for side in "AB"}
    for model_dir in args.models:
        translator = Translator.from_dir(model_dir, device="cpu")
        size = args.size or translator.config.crop_size
        scores = []
        for source, direction, target in (("A", "AtoB", names[1]), ("B", "BtoA", names[0])):
            outputs = translator.translate(photos[source], direction=direction, size=size)
            hits = sum(name == target for name in classifier.predict(outputs))
            scores.append(f"{names['AB'.index(source)]} -> {target}: {hits / len(outputs):.0%} of {len(outputs)}")
        print(f"{model_dir} at {size} px: " + "; ".join(scores))


if __name__ == "__main__":
    main()
