"""Training from one image (DeepSIM), measured: rebuild PSNR, locality of edits, TPS vs no augmentation.

For each photo (scikit-image's public-domain samples) it trains the 2-core recipe of docs/one_image.md
(`--augment tps`, and `--augment none` for the --compare photo), then measures on the 256 px square:

- rebuild: PSNR of the photo painted from its own primitive;
- locality: a 1-px stroke added where there are no edges, and the edges of the busiest 24x24 box erased;
  the output's change (0-255 levels, largest channel) near the edit and beyond 32 px of it;
- held-out warp: PSNR of the photo and primitive warped by TPS draws that training never saw (seeded).

It writes docs/images/one_image_sheet.jpg (original, primitive, edited primitive, edited photo, rebuilt) and
docs/images/one_image_tps_vs_none.jpg (top: the edit; bottom: a held-out warp of the primitive and the
warped original; columns: primitive, trained with TPS, without, original), and prints the numbers as JSON. Runs are runs/one_image_PHOTO_AUGMENT_STEPS.

    python benchmarks/one_image.py                 # train (about 10 min a photo on 2 cores) and measure
    python benchmarks/one_image.py --skip_training # measure the runs already in runs/
"""
from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from engine.checkpoint import load_model  # noqa: E402
from engine.evaluate import psnr  # noqa: E402
from engine.images import image_grid, to_pil, to_tensor  # noqa: E402
from engine.single_pair import load_pair, render  # noqa: E402
from engine.warp import tps_warp_tensors  # noqa: E402

SIZE = 256
FAR = 32            # pixels beyond this distance from an edit count as far
NEAR = 8
BOX = 24            # side of the erased box
SHEET_BOX = 40      # ... in the sample sheet's edit
HELD_OUT_SEEDS = range(1000, 1008)
RECIPE = ["--model", "pix2pix", "--load_size", "256", "--crop_size", "256", "--netG", "unet_6", "--ngf", "16",
          "--netD", "none", "--no_dropout", "--upsample", "nearest", "--ema_decay", "0.999", "--lr", "0.001",
          "--tps_grid", "4", "--tps_strength", "0.04", "--num_workers", "0", "--device", "cpu", "--quiet",
          "--log_every", "25", "--sample_every", "100", "--save_every", "100"]


def photo_file(name: str, folder: Path) -> Path:
    """scikit-image's sample photo `name` as a PNG in `folder`."""
    from skimage import data
    path = folder / f"{name}.png"
    if not path.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(getattr(data, name)()).convert("RGB").save(path)
    return path


def train(photo: Path, augment: str, name: str, args) -> dict:
    """Train one run (one thread: the fastest on a loaded 2-core machine); its wall and CPU seconds."""
    command = [sys.executable, "-m", "engine", "train", "--single_pair", str(photo), "--augment", augment,
               "--name", name, "--checkpoints_dir", str(args.runs_dir), "--max_steps", str(args.steps),
               "--max_seconds", str(args.max_seconds), *RECIPE]
    start, cpu = time.perf_counter(), os.times()
    subprocess.run(command, cwd=REPO, check=True, env={**os.environ, "OMP_NUM_THREADS": str(args.threads)})
    after = os.times()
    return {"wall_seconds": round(time.perf_counter() - start, 1),
            "cpu_seconds": round(after.children_user + after.children_system - cpu.children_user - cpu.children_system, 1)}


def ink(primitive: Image.Image) -> np.ndarray:
    return np.asarray(primitive.convert("L")) < 128


def edits(primitive: Image.Image, box: int = BOX) -> dict[str, Image.Image]:
    """Two edits of an edge primitive: a stroke added where it has no edges, the busiest box x box square erased."""
    lines = ink(primitive)
    counts = cv2.boxFilter(lines.astype(np.float32), -1, (box, box), normalize=False)
    margin = FAR
    inner = counts[margin:-margin, margin:-margin]
    y, x = np.unravel_index(np.argmax(inner), inner.shape)
    erased = primitive.convert("RGB").copy()
    ImageDraw.Draw(erased).rectangle([x + margin - box // 2, y + margin - box // 2,
                                      x + margin + box // 2 - 1, y + margin + box // 2 - 1], fill="white")
    empty = cv2.boxFilter(lines.astype(np.float32), -1, (48, 48), normalize=False)
    empty[:margin], empty[-margin:], empty[:, :margin], empty[:, -margin:] = 1e9, 1e9, 1e9, 1e9
    y, x = np.unravel_index(np.argmin(empty), empty.shape)
    added = primitive.convert("RGB").copy()
    ImageDraw.Draw(added).line([(x - 18, y + 6), (x - 6, y - 6), (x + 6, y + 4), (x + 18, y - 6)], fill="black",
                               width=1)
    return {"stroke added": added, "edges erased": erased}


def change(before: Image.Image, after: Image.Image, edited: np.ndarray) -> dict:
    """The output's change in 0-255 levels (largest channel) near the edit and beyond FAR px of it."""
    delta = np.abs(np.asarray(after, np.int16) - np.asarray(before, np.int16)).max(axis=2)
    distance = cv2.distanceTransform((~edited).astype(np.uint8), cv2.DIST_L2, 5)
    near, far = distance <= NEAR, distance > FAR
    return {"near_mean": round(float(delta[near].mean()), 2), "far_max": int(delta[far].max()),
            "far_mean": round(float(delta[far].mean()), 3), "far_p99": float(np.percentile(delta[far], 99)),
            "far_share_over_4": round(float((delta[far] > 4).mean()), 4)}


def held_out_warps(generator, photo: Image.Image, primitive: Image.Image) -> tuple[float, list[Image.Image]]:
    """Mean PSNR of the photo painted from TPS-warped primitives, against the same warp of the photo;
    and the first warp's (primitive, painted photo, warped photo)."""
    scores, first = [], None
    for seed in HELD_OUT_SEEDS:
        A, B = tps_warp_tensors([to_tensor(primitive.convert("RGB")), to_tensor(photo)], 4, 0.04,
                                random.Random(seed))
        painted = render(generator, to_pil(A))
        scores.append(psnr(painted, to_pil(B)))
        first = first or [to_pil(A), painted, to_pil(B)]
    return round(float(np.mean(scores)), 2), first


def measure(run_dir: Path) -> tuple[dict, dict[str, list[Image.Image]]]:
    """The numbers of one run, and its sheet rows: "edit" (original, primitive, edited primitive, edited
    photo, rebuilt) and "warp" (a held-out warp of the primitive, its photo, the warped original)."""
    config, nets = load_model(run_dir / "model")
    generator = nets["G"]
    photo, primitive, _ = load_pair(config.training["single_pair"], size=SIZE)
    rebuilt = render(generator, primitive)
    warp_psnr, warp_row = held_out_warps(generator, photo, primitive)
    result = {"steps": config.training.get("steps"), "train_seconds": config.training.get("seconds"),
              "rebuild_psnr": round(psnr(rebuilt, photo), 2), "held_out_warp_psnr": warp_psnr}
    for label, edited in edits(primitive).items():
        changed = ink(edited) != ink(primitive)
        result[label] = change(rebuilt, render(generator, edited), changed)
    both = edits(edits(primitive, SHEET_BOX)["edges erased"])["stroke added"]
    return result, {"edit": [photo, primitive.convert("RGB"), both, render(generator, both), rebuilt],
                    "warp": warp_row}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--photos", nargs="+", default=["astronaut", "chelsea", "coffee", "rocket"])
    parser.add_argument("--compare", default="chelsea", help="the photo also trained with --augment none")
    parser.add_argument("--runs_dir", type=Path, default=REPO / "runs")
    parser.add_argument("--steps", type=int, default=1200)
    parser.add_argument("--max_seconds", type=float, default=600)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--skip_training", action="store_true")
    parser.add_argument("--sheet", type=Path, default=REPO / "docs" / "images" / "one_image_sheet.jpg")
    parser.add_argument("--compare_sheet", type=Path, default=REPO / "docs" / "images" / "one_image_tps_vs_none.jpg")
    args = parser.parse_args()
    jobs = [(name, "tps") for name in args.photos] + [(args.compare, "none")]
    results, rows = {}, {}
    for name, augment in jobs:
        run = f"one_image_{name}_{augment}_{args.steps}"
        timing = {} if args.skip_training else train(photo_file(name, args.runs_dir / "one_image_photos"),
                                                     augment, run, args)
        results[run], rows[run] = measure(args.runs_dir / run)
        results[run].update(timing)
        print(run, json.dumps(results[run]), flush=True)
    labels = ["original", "primitive", "edited primitive", "edited photo", "rebuilt"]
    image_grid([rows[f"one_image_{name}_tps_{args.steps}"]["edit"] for name in args.photos], labels).save(
        args.sheet, quality=90)
    tps, none = (rows[f"one_image_{args.compare}_{augment}_{args.steps}"] for augment in ("tps", "none"))
    compare = [[tps["edit"][2], tps["edit"][3], none["edit"][3], tps["edit"][0]],
               [tps["warp"][0], tps["warp"][1], none["warp"][1], tps["warp"][2]]]
    image_grid(compare, ["primitive (edited / warped)", "trained with TPS", "trained without", "original"]).save(
        args.compare_sheet, quality=90)
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
