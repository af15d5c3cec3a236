"""Steps/s and images/s of a pix2pix training step by batch size, threads and decoder, on synthetic data.

The sketch -> cat-face recipe's shape by default (unet_128, ngf 32, basic D ndf 32, 128x128 crops, fp32).
Usage: python benchmarks/recipe_throughput.py [--batches 1 4 8] [--threads 1 2] [--upsample transpose nearest]
       [--ngf 32] [--size 128] [--netG unet_128] [--steps 15]
Measured numbers go to docs/benchmarks.md; this is a benchmark, not a test.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.config import TrainConfig  # noqa: E402
from engine.recipes import Precision, build_recipe  # noqa: E402


def seconds_per_step(batch: int, threads: int, upsample: str, args) -> float:
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    cfg = TrainConfig(dataroot="-", netG=args.netG, ngf=args.ngf, ndf=args.ndf, upsample=upsample,
                      batch_size=batch, load_size=args.size, crop_size=args.size, amp=False)
    device = torch.device("cpu")
    recipe = build_recipe(cfg, device, Precision(device, False))
    data = {"A": torch.rand(batch, 3, args.size, args.size) * 2 - 1,
            "B": torch.rand(batch, 3, args.size, args.size) * 2 - 1}
    times = []
    for step in range(args.warmup + args.steps):
        start = time.perf_counter()
        recipe.train_step(data)
        if step >= args.warmup:
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 4, 8])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--upsample", nargs="+", default=["transpose", "nearest"])
    parser.add_argument("--netG", default="unet_128")
    parser.add_argument("--ngf", type=int, default=32)
    parser.add_argument("--ndf", type=int, default=32)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=15)
    parser.add_argument("--warmup", type=int, default=3)
    args = parser.parse_args()
    print(f"{args.netG} ngf {args.ngf}, basic D ndf {args.ndf}, {args.size}px, fp32, median of {args.steps} steps")
    print("| decoder | threads | batch | s/step | steps/s | images/s |")
    print("|---|---|---|---|---|---|")
    for upsample in args.upsample:
        for threads in args.threads:
            for batch in args.batches:
                seconds = seconds_per_step(batch, threads, upsample, args)
                print(f"| {upsample} | {threads} | {batch} | {seconds:.3f} | {1 / seconds:.2f} | {batch / seconds:.1f} |",
                      flush=True)


if __name__ == "__main__":
    main()
