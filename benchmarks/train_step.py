"""Seconds per pix2pix training iteration: our engine against the reference implementation's configuration.

Config as in the issue: unet_256 (ngf 64, batch norm, dropout), basic 70x70 D, batch 1, 256x256 crops,
vanilla GAN + 100 L1, fp32. Both sides run the same step (D update on fake.detach() and real, then G
update through the frozen D), so the difference is only in how the work is done:

- reference: what pytorch-CycleGAN-and-pix2pix gets on a CPU: torch.optim.Adam's default there (the
  single-tensor loop) and oneDNN's ConvTranspose2d everywhere;
- ours: the engine as it trains: fused Adam, and the GEMM transposed convolution on the U-Net's small
  inner levels (engine.networks.UpConv).

Usage: python benchmarks/train_step.py [--device cpu|cuda] [--steps 10] [--amp] [--json out.json]
Measured numbers go to docs/benchmarks.md; this is a benchmark, not a test.
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.config import TrainConfig  # noqa: E402
from engine.device import describe_device, pick_device  # noqa: E402
from engine.networks import UpConv  # noqa: E402
from engine.recipes import Precision, build_recipe  # noqa: E402


def make_recipe(device: torch.device, reference: bool, amp: bool):
    torch.manual_seed(0)
    cfg = TrainConfig(dataroot="-", model="pix2pix", netG="unet_256", netD="basic", batch_size=1, crop_size=256,
                      amp=amp, channels_last=not reference)
    recipe = build_recipe(cfg, device, Precision(device, amp))
    if reference:
        for name, opt in recipe.optimizers.items():
            params = [p for group in opt.param_groups for p in group["params"]]
            recipe.optimizers[name] = torch.optim.Adam(params, lr=cfg.lr, betas=(cfg.beta1, 0.999))
    return recipe


def time_steps(device: torch.device, reference: bool, steps: int, warmup: int, amp: bool) -> list[float]:
    UpConv.gemm_max_pixels = 0 if reference else 64
    recipe = make_recipe(device, reference, amp)
    batch = {"A": torch.rand(1, 3, 256, 256) * 2 - 1, "B": torch.rand(1, 3, 256, 256) * 2 - 1}
    times = []
    for i in range(warmup + steps):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        recipe.train_step(batch)
        if device.type == "cuda":
            torch.cuda.synchronize()
        if i >= warmup:
            times.append(time.perf_counter() - start)
    UpConv.gemm_max_pixels = 64
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--amp", action="store_true", help="ours with AMP (CUDA only; the reference stays fp32)")
    parser.add_argument("--json", help="write the results here too")
    args = parser.parse_args()
    device = pick_device(args.device)
    results = {"device": describe_device(device), "torch": torch.__version__, "threads": torch.get_num_threads(),
               "machine": platform.processor() or platform.machine(), "steps": args.steps}
    for label, reference, amp in (("reference", True, False), ("ours_fp32", False, False)) + (
            (("ours_amp", False, True),) if args.amp else ()):
        times = time_steps(device, reference, args.steps, args.warmup, amp)
        results[label] = {"median_s": round(statistics.median(times), 4), "min_s": round(min(times), 4),
                          "mean_s": round(statistics.fmean(times), 4)}
        print(f"{label:10s} median {results[label]['median_s']:.3f} s/iter  (min {results[label]['min_s']:.3f})",
              flush=True)
    results["speedup_fp32"] = round(results["reference"]["median_s"] / results["ours_fp32"]["median_s"], 2)
    print(f"speed-up (fp32, median): {results['speedup_fp32']}x")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
