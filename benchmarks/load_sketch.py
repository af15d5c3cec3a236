"""Load test of the sketch endpoint: many concurrent API clients against one `python app.py`.

    python benchmarks/load_sketch.py [--tiny] [--clients 32] [--calls 20] [--deadline 540]

Starts `python app.py` on a free 127.0.0.1 port (with the models it finds by default: weights/, the
zoo's cache and trained runs, see docs/app.md; or with `--tiny` tiny random models from
tests/app_harness.py), warms it up with one call per client, then
runs `--clients` gradio_client clients in parallel, each making `--calls` `/sketch` calls with a
256x256 drawing. When weights/ has no sketch model it says so and loads `/facade` instead.
Reports errors, latency percentiles, throughput and the server's resident memory (VmRSS) before the
run, right after it and after a short settle. Exits 1 on any error or when the settled memory is 10 %
or more above the memory before the run. Everything stops at the `--deadline` (seconds).
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from app_harness import (OFFLINE_ENV, make_tiny_models, memory_mib, start_app_process,  # noqa: E402
                         stop_app_process)

os.environ.update(OFFLINE_ENV)

from gradio_client import Client, handle_file  # noqa: E402
from gradio_client.exceptions import AppError  # noqa: E402


MAX_RSS_GROWTH = 0.10
SETTLE_SECONDS = 5.0


def run_load(url: str, api_name: str, image: Path, clients: int, calls: int, deadline: float,
             downloads: Path) -> dict:
    """`clients` threads, each with its own gradio_client Client making `calls` calls of `api_name`
    with `image`, all stopped at the monotonic time `deadline`. Returns the latencies (s), the errors
    (one line each, calls not made by the deadline included), the wall time and the throughput."""
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()

    def worker(index: int) -> None:
        done = 0
        try:
            client = Client(url, verbose=False, download_files=str(downloads / str(index)))
            for done in range(calls):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError("deadline reached")
                start = time.perf_counter()
                client.submit(handle_file(str(image)), api_name=api_name).result(timeout=remaining)
                with lock:
                    latencies.append(time.perf_counter() - start)
        except Exception as exc:  # noqa: BLE001 - every failure is counted, the run goes on
            with lock:
                errors.extend([f"client {index}: {type(exc).__name__}: {exc}".splitlines()[0]]
                              * (calls - done))

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(clients)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()) + 5)
    wall = time.perf_counter() - start
    with lock:
        return {"latencies": list(latencies), "errors": list(errors), "wall_s": wall,
                "throughput": len(latencies) / wall if wall > 0 else 0.0}


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0..100) by nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def pick_endpoint(url: str, folder: Path) -> tuple[str, Path]:
    """`/sketch` with a 256x256 doodle, or `/facade` with a label map when no sketch model is installed."""
    from demos.examples import random_doodle, random_facade

    drawing, labels = folder / "drawing.png", folder / "labels.png"
    random_doodle(7, size=256).save(drawing)
    random_facade(7, size=(256, 256)).resize((256, 256)).save(labels)
    client = Client(url, verbose=False, download_files=str(folder / "probe"))
    try:
        client.predict(handle_file(str(drawing)), api_name="/sketch")
        return "/sketch", drawing
    except AppError as exc:
        if "no sketch model" not in str(exc):
            raise
        print("weights/ has no sketch model: loading /facade instead")
        return "/facade", labels


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="tiny random models (tests/app_harness.py)")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--calls", type=int, default=20, help="calls per client")
    parser.add_argument("--deadline", type=float, default=540, help="hard limit for the whole run, seconds")
    args = parser.parse_args()
    hard_deadline = time.monotonic() + args.deadline

    with tempfile.TemporaryDirectory(prefix="load_sketch_") as tmp:
        tmp = Path(tmp)
        weights = str(make_tiny_models(tmp / "weights")) if args.tiny else None
        process, url, _ = start_app_process({"I2I_WEIGHTS_DIR": weights}, tmp / "app.log",
                                            timeout=min(120, args.deadline))
        try:
            api_name, image = pick_endpoint(url, tmp)
            warm = run_load(url, api_name, image, args.clients, 1, hard_deadline, tmp / "warm")
            before = memory_mib(process.pid)["VmRSS"]
            result = run_load(url, api_name, image, args.clients, args.calls, hard_deadline, tmp / "load")
            after = memory_mib(process.pid)["VmRSS"]
            time.sleep(min(SETTLE_SECONDS, max(0.0, hard_deadline - time.monotonic())))
            settled = memory_mib(process.pid)["VmRSS"]
        finally:
            stop_app_process(process)

    errors = warm["errors"] + result["errors"]
    lat = result["latencies"]
    print(f"{api_name}: {args.clients} clients x {args.calls} calls, models: "
          f"{'tiny (tests/app_harness.py)' if args.tiny else 'the app default (weights/, zoo cache, runs/)'}")
    print(f"calls ok {len(lat)}, errors {len(errors)}, wall {result['wall_s']:.1f} s, "
          f"throughput {result['throughput']:.2f} calls/s")
    if lat:
        print("latency s: p50 {:.3f}  p95 {:.3f}  p99 {:.3f}  max {:.3f}  mean {:.3f}".format(
            percentile(lat, 50), percentile(lat, 95), percentile(lat, 99), max(lat), statistics.fmean(lat)))
    growth = settled / before - 1
    print(f"server RSS MiB: before {before:.0f}, right after {after:.0f}, after {SETTLE_SECONDS:.0f} s settle "
          f"{settled:.0f} ({growth:+.1%})")
    for error in sorted(set(errors))[:10]:
        print("error:", error)
    if errors or growth >= MAX_RSS_GROWTH:
        print("FAIL: " + ("errors" if errors else f"RSS grew by {growth:.1%} (limit {MAX_RSS_GROWTH:.0%})"))
        return 1
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
