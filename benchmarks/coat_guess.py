"""How well the Coat colour tab guesses a cat's own coat: the coat whose translation changes the face
least (demos/coat_images.recolor_crop), against the coats.csv labels of the held-out faces, and the time
one recolouring takes (four coats + three round trips at the model's crop size, one thread).

    python benchmarks/coat_guess.py [--model weights/catcoats] [--dataroot ../shared/datasets/catfaces]

The labels are noisy (derived from colour statistics; docs/stargan.md), so this is agreement, not
accuracy. Always answering grey/tabby agrees with 62 % of catfaces/val. This is a benchmark, not a test.
"""
from __future__ import annotations

import argparse
import csv
import sys
import time
from collections import Counter
from pathlib import Path

import torch
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from demos.coat_images import recolor_crop  # noqa: E402
from engine import Translator  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=str(REPO / "weights" / "catcoats"))
    parser.add_argument("--dataroot", default=str(REPO.parent / "shared" / "datasets" / "catfaces"))
    parser.add_argument("--phase", default="val")
    args = parser.parse_args()
    torch.set_num_threads(1)
    translator = Translator.from_dir(args.model, device="cpu")
    folder = Path(args.dataroot) / args.phase
    with open(folder / "coats.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    agree, total, cpu = Counter(), Counter(), []
    for row in rows:
        face = Image.open(folder / row["file"]).convert("RGB")
        start = time.process_time()
        guess = recolor_crop(translator, face).source
        cpu.append(time.process_time() - start)
        label = row[list(row)[1]]
        total[label] += 1
        agree[label] += guess == label
    shares = {coat: agree[coat] / total[coat] for coat in sorted(total)}
    print(f"{args.model} on {args.phase} ({len(rows)} faces): guess agrees with the label on "
          f"{sum(agree.values()) / len(rows):.1%}, balanced {sum(shares.values()) / len(shares):.1%} ("
          + ", ".join(f"{coat} {share:.0%} of {total[coat]}" for coat, share in shares.items())
          + f"); one recolouring {sorted(cpu)[len(cpu) // 2]:.2f} CPU-s (median)")


if __name__ == "__main__":
    main()
