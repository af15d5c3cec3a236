"""ONNX export of the embedded sketch and facade models: file size, error against torch, CPU latency.

    OMP_NUM_THREADS=1 python benchmarks/onnx_speed.py [--runs 50]

Exports each model in fp32, fp16 and int8 (static, calibrated on the first 10 drawings of
tests/data/catface_drawings), measures the largest and the mean absolute difference from the torch
generator (eval mode) on the other 10 drawings at 128x128, and the median latency of one 128x128 input
at 1 thread: torch (the engine's own forward, with its CPU GEMM transposed convolutions) against
onnxruntime's CPU provider. Prints a markdown table.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import onnxruntime as ort  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

from engine.checkpoint import load_model  # noqa: E402
from engine.inference import Translator  # noqa: E402
from engine.onnx_export import export_onnx  # noqa: E402

MODELS = ("sketch2catface", "studio_facades")
DRAWINGS = sorted((REPO / "tests" / "data" / "catface_drawings").glob("*.png"))
VARIANTS = {"fp32": {}, "fp16": {"dtype": "fp16"},
            "int8": {"quantize_int8": True, "calibration": DRAWINGS[:10]}}


def median_ms(run, runs: int) -> float:
    for _ in range(3):
        run()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()
    torch.set_num_threads(1)
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    print("| model | format | file | max abs diff | mean abs diff | 128x128, 1 thread |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for name in MODELS:
            config, nets = load_model(REPO / "weights" / name)
            translator = Translator(config, nets, device="cpu")
            size = config.crop_size
            batch = torch.stack([translator.encode(Image.open(p).convert("RGB").resize(
                (size, size), Image.Resampling.BICUBIC)) for p in DRAWINGS[10:]])
            one = batch[:1]
            with torch.inference_mode():
                expected = nets["G"](batch).numpy()
                torch_ms = median_ms(lambda: nets["G"](one), args.runs)
            safetensors_mib = (REPO / "weights" / name / "model.safetensors").stat().st_size / 2**20
            print(f"| {name} | torch (model.safetensors, fp16 weights) | {safetensors_mib:.1f} MiB | | | "
                  f"{torch_ms:.1f} ms |")
            for variant, kwargs in VARIANTS.items():
                path = export_onnx(REPO / "weights" / name, Path(tmp) / f"{name}_{variant}.onnx", **kwargs)
                session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
                error = np.abs(session.run(None, {"input": batch.numpy()})[0] - expected)
                ms = median_ms(lambda: session.run(None, {"input": one.numpy()}), args.runs)
                print(f"| {name} | ONNX {variant} | {path.stat().st_size / 2**20:.1f} MiB | {error.max():.2g} | "
                      f"{error.mean():.2g} | {ms:.1f} ms |")


if __name__ == "__main__":
    main()
