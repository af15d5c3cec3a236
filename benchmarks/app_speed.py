"""The app as a user meets it: start-up time, memory with every embedded model loaded, and the sketch
round trip (a 256x256 drawing in, the photo out) through the API.

    python benchmarks/app_speed.py [--starts 3] [--calls 60] [--json out.json]
    python benchmarks/app_speed.py --hosted --starts 3 --calls 0    # start-up as on a Space, nothing else

Runs `python app.py` (the README's command) on a free 127.0.0.1 port with the repository's weights/,
so nothing leaves the machine. `--hosted` starts it as a Space would (`python -m engine deploy-space`):
SPACE_ID and the deploy's hosted-mode variables set, no training runs and no downloaded models, so
only the embedded models; `--calls 0` stops after the start-up and memory figures. The sketch round trip is timed three ways: over the page's own protocol
(what the browser does after a stroke), with gradio_client, and as a stroke drawn with the mouse on
the canvas in headless Chromium until the new photo is shown. Targets (the app issue): first HTTP 200 within 10 s, p50 of the stroke
round trip at most 100 ms on 2 CPU cores, resident memory with all embedded models at most 1.5 GB.
Measured numbers go to docs/benchmarks.md; this is a benchmark, not a test.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from app_harness import (CHROMIUM, CHROMIUM_FLAGS, OFFLINE_ENV, memory_mib, start_app_process,  # noqa: E402
                         stop_app_process)

os.environ.update(OFFLINE_ENV)


def drawing(path: Path, seed: int) -> Path:
    from PIL import Image

    from demos.examples import random_doodle

    random_doodle(seed, size=256).convert("RGB").resize((256, 256), Image.LANCZOS).save(path)
    return path


def load_every_model(client, folder: Path) -> list[str]:
    """Call every endpoint once per embedded model so that all of them are loaded."""
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
    return summarize(times)


def summarize(times: list[float]) -> dict:
    times = sorted(times)
    pick = lambda q: round(times[min(len(times) - 1, int(q * len(times)))], 1)  # noqa: E731
    return {"calls": len(times), "p50_ms": round(statistics.median(times), 1), "p90_ms": pick(0.9),
            "p99_ms": pick(0.99), "min_ms": round(times[0], 1)}


class RawClient:
    """The page's own protocol, as the browser speaks it: upload the file, join the queue, read the
    event stream until the result, download the PNG. (gradio_client adds its own threads and polling
    on top: see docs/benchmarks.md.)"""

    def __init__(self, url: str):
        import httpx

        self.url = url.rstrip("/")
        self.http = httpx.Client(timeout=60)
        config = self.http.get(f"{self.url}/config").json()
        self.fn_index = {d.get("api_name"): i for i, d in enumerate(config["dependencies"])}

    def sketch(self, path: Path) -> bytes:
        import uuid

        with path.open("rb") as f:
            uploaded = self.http.post(f"{self.url}/gradio_api/upload", files={"files": (path.name, f)}).json()[0]
        session = uuid.uuid4().hex[:12]
        file_data = {"path": uploaded, "orig_name": path.name, "meta": {"_type": "gradio.FileData"}}
        self.http.post(f"{self.url}/gradio_api/queue/join", json={
            "data": [file_data, ""], "fn_index": self.fn_index["sketch"], "session_hash": session,
            "event_data": None, "trigger_id": None}).raise_for_status()
        with self.http.stream("GET", f"{self.url}/gradio_api/queue/data", params={"session_hash": session}) as events:
            for line in events.iter_lines():
                if not line.startswith("data:"):
                    continue
                message = json.loads(line[5:])
                if message.get("msg") == "process_completed":
                    if not message.get("success"):
                        raise RuntimeError(f"/sketch failed: {message.get('output')}")
                    image = message["output"]["data"][0]
                    return self.http.get(image["url"]).content
        raise RuntimeError("the event stream ended without a result")


def raw_latency(url: str, folder: Path, calls: int) -> dict:
    """Round trips of /sketch over the page's protocol (upload, queue, model, PNG download)."""
    client = RawClient(url)
    paths = [drawing(folder / f"raw{i}.png", 200 + i) for i in range(8)]
    for path in paths[:3]:
        client.sketch(path)
    times = []
    for i in range(calls):
        t0 = time.perf_counter()
        png = client.sketch(paths[i % len(paths)])
        times.append((time.perf_counter() - t0) * 1000)
        assert png[:8] == b"\x89PNG\r\n\x1a\n", "the result is not a PNG"
    return summarize(times)


# In the page: mouse-up times and the moments a new photo is on screen, plus the browser's resource timings.
_TIMELINE_PROBE = """() => {
  window.__strokes = {ups: [], shown: []};
  document.addEventListener('pointerup', () => window.__strokes.ups.push(performance.now()), true);
  const seen = new Set();
  setInterval(() => {
    const img = document.querySelector('#sketch-photo img');
    if (img && img.complete && !seen.has(img.src)) { seen.add(img.src); window.__strokes.shown.push(performance.now()); }
  }, 5);
  performance.setResourceTimingBufferSize(100000);
}"""


def browser_latency(url: str, strokes: int) -> dict:
    """What a person sees: mouse up after a stroke on the sketch canvas until the new photo is on the
    page, in headless Chromium (`/usr/bin/chromium` or $I2I_CHROMIUM); {} without it. Also the phases
    of a stroke measured inside the page (ms after mouse-up): first request, queue join, photo shown,
    and the uploads the page sends per stroke."""
    if not Path(CHROMIUM).is_file():
        return {}
    from playwright.sync_api import sync_playwright

    times = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(url, wait_until="load")
        page.wait_for_selector("#sketch-canvas canvas", timeout=60_000)
        page.evaluate(_TIMELINE_PROBE)
        box = page.locator("#sketch-canvas canvas").first.bounding_box()
        for i in range(strokes + 2):
            old = page.evaluate("() => document.querySelector('#sketch-photo img')?.src || null")
            y = box["y"] + box["height"] * (0.22 + 0.5 * i / (strokes + 2))   # every stroke adds new ink
            page.mouse.move(box["x"] + box["width"] * 0.3, y)
            page.mouse.down()
            page.mouse.move(box["x"] + box["width"] * 0.7, y + 12, steps=6)
            page.mouse.up()
            t0 = time.perf_counter()
            page.wait_for_function("old => { const img = document.querySelector('#sketch-photo img');"
                                   " return img && img.complete && img.src !== old; }", arg=old, timeout=30_000)
            if i >= 2:   # the first two warm up
                times.append((time.perf_counter() - t0) * 1000)
            page.wait_for_timeout(1500)   # let the page's follow-up traffic for this stroke finish
        marks = page.evaluate("() => window.__strokes")
        requests = page.evaluate("() => performance.getEntriesByType('resource')"
                                 ".map(e => [e.name, e.startTime])")
        browser.close()
    return {**summarize(times), "phases_ms": stroke_phases(marks["ups"][2:], marks["shown"], requests)}


def stroke_phases(ups: list[float], shown: list[float], requests: list[list]) -> dict:
    """Median ms after mouse-up of each stroke's first request, queue join and shown photo, and the
    median number of uploads per stroke before and after the photo is shown."""
    phases: dict[str, list[float]] = {"first_request": [], "queue_join": [], "shown": [],
                                      "uploads_before_shown": [], "uploads_after_shown": []}
    for up, until in zip(ups, ups[1:] + [float("inf")]):
        in_stroke = [(name, start - up) for name, start in requests if up <= start < until]
        photo = next((t - up for t in shown if up <= t < until), None)
        if not in_stroke or photo is None:
            continue
        phases["first_request"].append(min(offset for _, offset in in_stroke))
        joins = [offset for name, offset in in_stroke if "/queue/join" in name]
        if joins:
            phases["queue_join"].append(min(joins))
        phases["shown"].append(photo)
        uploads = [offset for name, offset in in_stroke if name.split("?")[0].endswith("/upload")]
        phases["uploads_before_shown"].append(sum(offset < photo for offset in uploads))
        phases["uploads_after_shown"].append(sum(offset >= photo for offset in uploads))
    return {name: round(statistics.median(values), 1) for name, values in phases.items() if values}


def engine_latency(calls: int) -> dict:
    """The model's own share: Translator on a 256x256 drawing, in this process (no HTTP, no PNG)."""
    import torch
    from PIL import Image

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


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) a process has used so far (Linux /proc): start-up cost without the wait
    for a busy machine's cores."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return round((int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"), 2)


def hosted_env(folder: Path) -> dict[str, str]:
    """The environment of the app on a Space: SPACE_ID, the deploy's variables (but the address stays
    127.0.0.1), and empty run and model-cache folders, so that only the embedded models are found."""
    from engine.space_deploy import HOSTED_VARIABLES

    env = {k: v for k, v in HOSTED_VARIABLES.items() if k != "GRADIO_SERVER_NAME"}
    for name in ("runs", "cache"):
        (folder / name).mkdir()
    return {**env, "SPACE_ID": "benchmark/studio", "I2I_RUNS_DIR": str(folder / "runs"),
            "I2I_CACHE_DIR": str(folder / "cache")}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--starts", type=int, default=3, help="cold starts to time")
    parser.add_argument("--calls", type=int, default=60, help="timed /sketch round trips (0: start-up only)")
    parser.add_argument("--hosted", action="store_true", help="start as on a Space, with the embedded models only")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()

    from gradio_client import Client

    folder = Path(tempfile.mkdtemp(prefix="app_speed_"))
    results = {"machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}",
               "load_average_before": [round(x, 2) for x in os.getloadavg()], "startup_s": [],
               "startup_cpu_s": []}
    env = hosted_env(folder) if args.hosted else {}
    process = None
    for i in range(args.starts):
        process, url, seconds = start_app_process(env, folder / f"app{i}.log")
        results["startup_s"].append(round(seconds, 2))
        results["startup_cpu_s"].append(cpu_seconds(process.pid))
        if i < args.starts - 1:
            stop_app_process(process)
    if args.calls <= 0:
        results["memory_after_start_mib"] = memory_mib(process.pid)
        stop_app_process(process)
        return report(results, args.json)
    try:
        results["memory_after_start_mib"] = memory_mib(process.pid)
        client = Client(url, verbose=False, download_files=str(folder / "downloads"))
        results["models_loaded"] = load_every_model(client, folder)
        results["memory_all_models_mib"] = memory_mib(process.pid)
        results["sketch_round_trip_page_protocol"] = raw_latency(url, folder, args.calls)
        results["sketch_round_trip_gradio_client"] = stroke_latency(client, folder, args.calls)
        results["sketch_stroke_in_browser"] = browser_latency(url, min(args.calls, 30))
        results["memory_after_calls_mib"] = memory_mib(process.pid)
    finally:
        stop_app_process(process)
    results["sketch_model_only"] = engine_latency(args.calls)
    return report(results, args.json)


def report(results: dict, json_path: str | None) -> int:
    """Print the results as JSON (and write them to `json_path`)."""
    print(json.dumps(results, indent=2))
    if json_path:
        Path(json_path).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
