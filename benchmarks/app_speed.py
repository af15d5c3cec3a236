"""The app as a user meets it: start-up time, memory with every embedded model loaded, and the sketch
round trip (a 256x256 drawing in, the photo out) through the API.

    python benchmarks/app_speed.py [--starts 3] [--calls 60] [--json out.json]

Runs `python app.py` (the README's command) on a free 127.0.0.1 port with the repository's weights/,
so nothing leaves the machine. Targets (the app issue): first HTTP 200 within 10 s, p50 of the stroke
round trip at most 100 ms on 2 CPU cores, resident memory with all embedded models at most 1.5 GB.
Measured numbers go to docs/benchmarks.md; this is a benchmark, not a test.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OFFLINE = {"GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1"}
os.environ.update(OFFLINE)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_app(port: int, log_path: Path) -> tuple[subprocess.Popen, float]:
    """`python app.py` on `port`; returns the process and the seconds until its first HTTP 200."""
    env = dict(os.environ, PORT=str(port), **OFFLINE)
    t0 = time.perf_counter()
    with log_path.open("w") as log:
        process = subprocess.Popen([sys.executable, "app.py"], cwd=REPO, env=env, stdout=log,
                                   stderr=subprocess.STDOUT)
    deadline = t0 + 120
    while time.perf_counter() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"app.py exited with {process.returncode}:\n{log_path.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1) as response:
                if response.status == 200:
                    return process, time.perf_counter() - t0
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise SystemExit("app.py gave no HTTP 200 within 120 s")


def stop_app(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()


def memory_mib(pid: int) -> dict:
    """Resident memory now and at its peak (VmRSS, VmHWM) in MiB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = round(int(value.split()[0]) / 1024, 1)
    return fields


def drawing(path: Path, seed: int) -> Path:
    from PIL import Image

    sys.path.insert(0, str(REPO))
    from demos.examples import random_doodle

    random_doodle(seed, size=256).convert("RGB").resize((256, 256), Image.LANCZOS).save(path)
    return path


def load_every_model(client, folder: Path) -> list[str]:
    """Call every endpoint once per embedded model so that all of them are loaded."""
    sys.path.insert(0, str(REPO))
    from gradio_client import handle_file

    from demos.examples import example_photo, random_facade
    from demos.models import registry

    photo = folder / "photo.png"
    example_photo(1, size=(256, 256)).save(photo)
    labels = folder / "labels.png"
    random_facade(1, size=(256, 256)).save(labels)
    loaded = []
    for entry in registry.models("sketch"):
        client.predict(handle_file(drawing(folder / "d.png", 1)), entry.name, api_name="/sketch")
        loaded.append(entry.name)
    for entry in registry.models("facade"):
        client.predict(handle_file(labels), entry.name, api_name="/facade")
        loaded.append(entry.name)
    if registry.models("colorize"):
        client.predict(handle_file(photo), True, api_name="/compare_patches")
        loaded += [e.name for e in registry.models("colorize")]
    for entry in registry.models("style"):
        client.predict(handle_file(photo), entry.name, "AtoB", api_name="/stylize")
        loaded.append(entry.name)
    return loaded


def stroke_latency(client, folder: Path, calls: int) -> dict:
    """Round trips of /sketch with a new 256x256 drawing each time (upload, queue, model, PNG back)."""
    from gradio_client import handle_file

    paths = [drawing(folder / f"stroke{i}.png", 100 + i) for i in range(8)]
    for path in paths[:3]:   # warm-up
        client.predict(handle_file(path), api_name="/sketch")
    times = []
    for i in range(calls):
        t0 = time.perf_counter()
        client.predict(handle_file(paths[i % len(paths)]), api_name="/sketch")
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    pick = lambda q: round(times[min(len(times) - 1, int(q * len(times)))], 1)  # noqa: E731
    return {"calls": calls, "p50_ms": round(statistics.median(times), 1), "p90_ms": pick(0.9),
            "p99_ms": pick(0.99), "min_ms": round(times[0], 1)}


def engine_latency(calls: int) -> dict:
    """The model's own share: Translator on a 256x256 drawing, in this process (no HTTP, no PNG)."""
    import torch
    from PIL import Image

    sys.path.insert(0, str(REPO))
    from demos.models import registry
    from demos.render import network_size

    entries = registry.models("sketch")
    if not entries:
        return {}
    translator = registry.translator(entries[0])
    image = Image.open(drawing(Path(tempfile.mkdtemp()) / "d.png", 5))
    size = network_size(entries[0])
    for _ in range(3):
        translator.translate(image, size=size)
    times = []
    for _ in range(calls):
        t0 = time.perf_counter()
        translator.translate(image, size=size)
        times.append((time.perf_counter() - t0) * 1000)
    return {"model": entries[0].name, "threads": torch.get_num_threads(),
            "p50_ms": round(statistics.median(times), 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--starts", type=int, default=3, help="cold starts to time")
    parser.add_argument("--calls", type=int, default=60, help="timed /sketch round trips")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()

    from gradio_client import Client

    folder = Path(tempfile.mkdtemp(prefix="app_speed_"))
    results = {"machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}",
               "startup_s": []}
    process = None
    for i in range(args.starts):
        port = free_port()
        process, seconds = start_app(port, folder / f"app{i}.log")
        results["startup_s"].append(round(seconds, 2))
        if i < args.starts - 1:
            stop_app(process)
    try:
        results["memory_after_start_mib"] = memory_mib(process.pid)
        client = Client(f"http://127.0.0.1:{port}/", verbose=False, download_files=str(folder / "downloads"))
        results["models_loaded"] = load_every_model(client, folder)
        results["memory_all_models_mib"] = memory_mib(process.pid)
        results["sketch_round_trip"] = stroke_latency(client, folder, args.calls)
        results["memory_after_calls_mib"] = memory_mib(process.pid)
    finally:
        stop_app(process)
    results["sketch_model_only"] = engine_latency(args.calls)
    print(json.dumps(results, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
