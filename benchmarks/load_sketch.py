"""Load test of the sketch endpoint: many concurrent API clients against one `python app.py`.

    python benchmarks/load_sketch.py [--tiny] [--clients 32] [--calls 20] [--deadline 540] [--client gradio|http]

Starts `python app.py` on a free 127.0.0.1 port (with the models it finds by default: weights/, the
zoo's cache and trained runs, see docs/app.md; or with `--tiny` tiny random models from
tests/app_harness.py), warms it up with one call per client, then
runs `--clients` clients in parallel, each making `--calls` `/sketch` calls with a 256x256 drawing.
When weights/ has no sketch model it says so and loads `/facade` instead.

The clients are threads of this one process, on the same machine as the server, so what they cost is
CPU the server does not get. `--client gradio` (the default, the issue's original measurement) gives
each its own `gradio_client.Client`: it fetches the app's config (530 kB) and API info when it starts,
and every request of a call (upload, heartbeat, queue join, queue data, download) goes through a new
`httpx` client with a new TLS context, even for http://: about 0.1 CPU-second per call in this
process. `--client http` talks to Gradio's documented HTTP API with one `httpx.Client` per client
(kept-alive connections): upload the drawing to /gradio_api/upload, POST /gradio_api/call/<api_name>
with the client's own session hash (gradio_client also keeps one per client), read the result's
server-sent events, download the photo. The server runs the same handler for the same drawing either
way; it skips gradio_client's start-up requests and heartbeat stream.

Reports errors, latency percentiles, throughput, the CPU seconds per call of the server and of this
process (the load generator), and the server's resident memory (VmRSS) before the run, right after it
and after a short settle. Exits 1 on any error or when the settled memory is 10 % or more above the
memory before the run. Everything stops at the `--deadline` (seconds).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from app_harness import (OFFLINE_ENV, make_tiny_models, memory_mib, start_app_process,  # noqa: E402
                         stop_app_process)

os.environ.update(OFFLINE_ENV)

import httpx  # noqa: E402
from gradio_client import Client, handle_file  # noqa: E402
from gradio_client.exceptions import AppError  # noqa: E402

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
MAX_RSS_GROWTH = 0.10
SETTLE_SECONDS = 5.0


def process_cpu_s(pid: int) -> float:
    """CPU seconds (user + system, all threads) a process has used so far (Linux /proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def own_cpu_s() -> float:
    """CPU seconds this process (the load generator, all its client threads) has used so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class HttpApiClient:
    """One API user on Gradio's documented HTTP API (`/gradio_api/upload`, `/gradio_api/call/<name>`,
    then the file route), with its own kept-alive connections and session hash."""

    def __init__(self, url: str, downloads: Path):
        self.http = httpx.Client(base_url=url)
        self.session_hash = uuid.uuid4().hex
        self.downloads = downloads
        downloads.mkdir(parents=True, exist_ok=True)
        self.count = 0

    def call(self, api_name: str, image: Path, timeout: float) -> Path:
        """Upload `image`, call `api_name` with it (and an empty model name) and download the photo."""
        limit = httpx.Timeout(max(0.1, timeout))
        name = api_name.strip("/")
        upload = self.http.post("gradio_api/upload", files={"files": (image.name, image.read_bytes(), "image/png")},
                                timeout=limit)
        upload.raise_for_status()
        body = {"data": [{"path": upload.json()[0], "meta": {"_type": "gradio.FileData"}}, "", ""],
                "session_hash": self.session_hash}
        queued = self.http.post(f"gradio_api/call/{name}", json=body, timeout=limit)
        queued.raise_for_status()
        event, data = None, None
        with self.http.stream("GET", f"gradio_api/call/{name}/{queued.json()['event_id']}", timeout=limit) as sse:
            sse.raise_for_status()
            for line in sse.iter_lines():
                if line.startswith("event:"):
                    event = line.partition(":")[2].strip()
                elif line.startswith("data:") and event in ("complete", "error"):
                    data = line.partition(":")[2].strip()
                    break
        if event != "complete":
            raise RuntimeError(f"{api_name}: {event or 'no result'}: {data}")
        photo = self.http.get(json.loads(data)[0]["url"], timeout=limit)
        photo.raise_for_status()
        if not photo.content.startswith(PNG_MAGIC):
            raise RuntimeError(f"{api_name}: the photo is not a PNG ({photo.headers.get('content-type')})")
        self.count += 1
        path = self.downloads / f"photo{self.count}.png"
        path.write_bytes(photo.content)
        return path

    def close(self) -> None:
        self.http.close()


CLIENTS = ("gradio", "http")


def run_load(url: str, api_name: str, image: Path, clients: int, calls: int, deadline: float,
             downloads: Path, client_kind: str = "gradio") -> dict:
    """`clients` threads, each with its own client making `calls` calls of `api_name` with `image`, all
    stopped at the monotonic time `deadline`: a gradio_client Client (`client_kind` "gradio") or an
    HttpApiClient ("http"). Returns the latencies (s), the errors (one line each, calls not made by the
    deadline included), the wall time and the throughput."""
    if client_kind not in CLIENTS:
        raise ValueError(f"client_kind must be one of {CLIENTS}, got {client_kind!r}")
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()

    def worker(index: int) -> None:
        done = 0
        client = None
        try:
            if client_kind == "http":
                client = HttpApiClient(url, downloads / str(index))
            else:
                client = Client(url, verbose=False, download_files=str(downloads / str(index)))
            for done in range(calls):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError("deadline reached")
                start = time.perf_counter()
                if client_kind == "http":
                    client.call(api_name, image, remaining)
                else:
                    client.submit(handle_file(str(image)), api_name=api_name).result(timeout=remaining)
                with lock:
                    latencies.append(time.perf_counter() - start)
        except Exception as exc:  # noqa: BLE001 - every failure is counted, the run goes on
            with lock:
                errors.extend([f"client {index}: {type(exc).__name__}: {exc}".splitlines()[0]]
                              * (calls - done))
        finally:
            if isinstance(client, HttpApiClient):
                client.close()

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
    parser.add_argument("--client", choices=CLIENTS, default="gradio",
                        help="gradio: a gradio_client.Client per client (the original measurement); "
                             "http: Gradio's HTTP API through one httpx.Client per client (lighter on the CPU)")
    args = parser.parse_args()
    hard_deadline = time.monotonic() + args.deadline

    with tempfile.TemporaryDirectory(prefix="load_sketch_") as tmp:
        tmp = Path(tmp)
        weights = str(make_tiny_models(tmp / "weights")) if args.tiny else None
        process, url, _ = start_app_process({"I2I_WEIGHTS_DIR": weights}, tmp / "app.log",
                                            timeout=min(120, args.deadline))
        try:
            api_name, image = pick_endpoint(url, tmp)
            warm = run_load(url, api_name, image, args.clients, 1, hard_deadline, tmp / "warm", args.client)
            before = memory_mib(process.pid)["VmRSS"]
            cpu_server, cpu_client = process_cpu_s(process.pid), own_cpu_s()
            result = run_load(url, api_name, image, args.clients, args.calls, hard_deadline, tmp / "load",
                              args.client)
            cpu_server, cpu_client = process_cpu_s(process.pid) - cpu_server, own_cpu_s() - cpu_client
            after = memory_mib(process.pid)["VmRSS"]
            time.sleep(min(SETTLE_SECONDS, max(0.0, hard_deadline - time.monotonic())))
            settled = memory_mib(process.pid)["VmRSS"]
        finally:
            stop_app_process(process)

    errors = warm["errors"] + result["errors"]
    lat = result["latencies"]
    print(f"{api_name}: {args.clients} {args.client} clients x {args.calls} calls, models: "
          f"{'tiny (tests/app_harness.py)' if args.tiny else 'the app default (weights/, zoo cache, runs/)'}")
    print(f"calls ok {len(lat)}, errors {len(errors)}, wall {result['wall_s']:.1f} s, "
          f"throughput {result['throughput']:.2f} calls/s")
    if lat:
        print("latency s: p50 {:.3f}  p95 {:.3f}  p99 {:.3f}  max {:.3f}  mean {:.3f}".format(
            percentile(lat, 50), percentile(lat, 95), percentile(lat, 99), max(lat), statistics.fmean(lat)))
        print(f"CPU s per call: server {cpu_server / len(lat):.4f}, load generator {cpu_client / len(lat):.4f} "
              f"(server {cpu_server:.1f} s, load generator {cpu_client:.1f} s in {result['wall_s']:.1f} s)")
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
