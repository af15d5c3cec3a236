"""The app as a user meets it: start-up time, memory (after start, after the first page, with every
embedded model loaded, and tab by tab as a browser opens them), strokes on the live canvas in a browser,
and the sketch round trip through the API.

    python benchmarks/app_speed.py [--starts 3] [--calls 60] [--strokes 30] [--json out.json]
    python benchmarks/app_speed.py --hosted --starts 3 --calls 0    # start-up as on a Space, nothing else

Runs `python app.py` (the README's command) on a free 127.0.0.1 port with the repository's weights/,
so nothing leaves the machine. `--hosted` starts it as a Space would (`python -m engine deploy-space`):
SPACE_ID and the deploy's hosted-mode variables set, no training runs and no downloaded models, so
only the embedded models; `--calls 0` stops after the start-up and memory figures.

Strokes of about half a second are drawn with the mouse on the Sketch tab's live canvas in headless
Chromium: stroke-to-photo (pointer-up until the finished drawing's photo is on screen) and photos per
second while the pen is down. The /sketch round trip is then timed over the canvas's own protocol and
with gradio_client. The load average and the training jobs running are recorded before, during and
after. Targets (issue #13): first HTTP 200 within 10 s, at most 1.5 GB with every model loaded,
stroke-to-photo p50 <= 250 ms and p90 <= 400 ms on 2 CPU cores. Measured numbers go to
docs/benchmarks.md; this is a benchmark, not a test.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from app_harness import (CHROMIUM, OFFLINE_ENV, launch_chromium, memory_mib, start_app_process,  # noqa: E402
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
    """The live canvas's protocol (demos/static/live_canvas.js): upload the drawing, POST it to
    /gradio_api/call/sketch, read that event's stream until the result, download the PNG. (gradio_client
    adds its own threads and polling on top: see docs/benchmarks.md.)"""

    def __init__(self, url: str):
        import httpx

        self.url = url.rstrip("/")
        self.http = httpx.Client(timeout=60)

    def sketch(self, path: Path) -> bytes:
        with path.open("rb") as f:
            uploaded = self.http.post(f"{self.url}/gradio_api/upload", files={"files": (path.name, f)}).json()[0]
        file_data = {"path": uploaded, "orig_name": path.name, "meta": {"_type": "gradio.FileData"}}
        call = f"{self.url}/gradio_api/call/sketch"
        event_id = self.http.post(call, json={"data": [file_data, "", ""]}).raise_for_status().json()["event_id"]
        with self.http.stream("GET", f"{call}/{event_id}") as events:
            event = None
            for line in events.iter_lines():
                if line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:") and event in ("complete", "error"):
                    if event == "error":
                        raise RuntimeError(f"/sketch failed: {line[5:].strip()}")
                    return self.http.get(json.loads(line[5:])[0]["url"]).content
        raise RuntimeError("the event stream ended without a result")


def raw_latency(url: str, folder: Path, calls: int) -> dict:
    """Round trips of /sketch over the live canvas's protocol (upload, call, event stream, PNG download)."""
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


# In the page: each stroke's pointer-down and pointer-up times and the drawing's version at pointer-up, and
# every change of the version whose photo is on screen (demos/static/live_canvas.js keeps these counters).
_CANVAS_PROBE = """() => {
  const lc = document.querySelector('#sketch-canvas .lc');
  const canvas = lc.querySelector('canvas.lc-canvas');
  const log = window.__canvasLog = {strokes: [], shown: []};
  canvas.addEventListener('pointerdown', () => log.strokes.push({down: performance.now()}), true);
  canvas.addEventListener('pointerup', () => Object.assign(log.strokes.at(-1),
                          {up: performance.now(), version: +lc.dataset.version}), true);
  new MutationObserver(() => log.shown.push([performance.now(), +lc.dataset.shown]))
      .observe(lc, {attributes: true, attributeFilter: ['data-shown']});
}"""
_SETTLED = ("() => { const d = document.querySelector('#sketch-canvas .lc').dataset;"
            " return d.shown === d.version && !d.busy; }")
STROKE_MOVES, MOVE_GAP_MS = 20, 25   # a stroke of about half a second, as drawn by hand
WARM_UP_STROKES = 2


def canvas_latency(url: str, strokes: int) -> dict:
    """What a person sees on the Sketch tab's live canvas in headless Chromium (`/usr/bin/chromium` or
    $I2I_CHROMIUM; {} without it): `strokes` strokes of about 0.5 s drawn with the mouse, each after the
    previous photo settled. Stroke-to-photo is pointer-up until the photo of the finished drawing is on
    screen; updates per second count the photos shown while the pen was down."""
    if not Path(CHROMIUM).is_file():
        return {}
    with launch_chromium() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(120_000)
        page.goto(url, wait_until="load")
        page.wait_for_selector("#sketch-canvas canvas.lc-canvas")
        page.wait_for_function(_SETTLED)   # the example drawing's photo: the model is loaded
        page.click("#sketch-canvas [data-action=clear]")
        page.evaluate(_CANVAS_PROBE)
        box = page.locator("#sketch-canvas canvas.lc-canvas").bounding_box()
        total = strokes + WARM_UP_STROKES
        for i in range(total):
            page.wait_for_function(_SETTLED)
            page.wait_for_timeout(300)
            x, y = box["x"] + box["width"] * 0.2, box["y"] + box["height"] * (0.1 + 0.8 * i / total)
            page.mouse.move(x, y)
            page.mouse.down()
            for k in range(1, STROKE_MOVES + 1):   # every stroke adds new ink
                page.mouse.move(x + box["width"] * 0.6 * k / STROKE_MOVES, y + 10 * math.sin(k / 3))
                page.wait_for_timeout(MOVE_GAP_MS)
            page.mouse.up()
        page.wait_for_function(_SETTLED)
        log = page.evaluate("() => window.__canvasLog")
    return stroke_figures(log["strokes"][WARM_UP_STROKES:], log["shown"])


def stroke_figures(strokes: list[dict], shown: list[list[float]]) -> dict:
    """Stroke-to-photo (ms, pointer-up until the finished drawing's photo is shown) and photos per second
    while the pen was down, from the in-page log."""
    latencies, rates = [], []
    for stroke in strokes:
        done = next((t for t, version in shown if version >= stroke["version"] and t >= stroke["up"]), None)
        if done is not None:
            latencies.append(done - stroke["up"])
        during = sum(stroke["down"] <= t < stroke["up"] for t, _ in shown)
        rates.append(during / max(1e-3, (stroke["up"] - stroke["down"]) / 1000))
    return {"stroke_to_photo_ms": summarize(latencies),
            "updates_per_s_while_drawing": {"median": round(statistics.median(rates), 2),
                                            "mean": round(statistics.fmean(rates), 2)},
            "stroke_ms": round(statistics.median(s["up"] - s["down"] for s in strokes), 1)}


def steady_rss(pid: int, quiet_s: float = 4.0, limit_s: float = 120.0) -> float:
    """Resident memory (MiB) of `pid` once it has not grown for `quiet_s` seconds (models loading)."""
    start = last_change = time.perf_counter()
    rss = memory_mib(pid)["VmRSS"]
    while time.perf_counter() - last_change < quiet_s and time.perf_counter() - start < limit_s:
        time.sleep(0.5)
        now = memory_mib(pid)["VmRSS"]
        if now > rss + 1:
            last_change = time.perf_counter()
        rss = max(rss, now)
    return rss


def tab_memory(url: str, pid: int) -> dict:
    """Resident memory (MiB) of the app after a fresh page opens each tab in turn, in headless Chromium:
    models load when their tab is first shown, so the memory climbs tab by tab. {} without Chromium."""
    if not Path(CHROMIUM).is_file():
        return {}
    memory = {"before the page": memory_mib(pid)["VmRSS"]}
    with launch_chromium() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(120_000)
        page.goto(url, wait_until="load")
        page.wait_for_selector("#sketch-canvas canvas.lc-canvas")
        memory["first page (Sketch)"] = steady_rss(pid)
        page.get_by_role("tab", name="Facade labels").click()
        memory["Facade labels"] = steady_rss(pid)
        names = [name.strip() for name in page.locator("[role=tablist]").first.get_by_role("tab").all_inner_texts()]
        for name in names[1:]:
            page.get_by_role("tab", name=name, exact=True).click()
            memory[name] = steady_rss(pid)
    return memory


def machine_load() -> dict:
    """The load average now and the training jobs (`python -m engine train --name NAME`) running."""
    jobs = set()
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue
        if "engine" in args and "train" in args and "--name" in args[:-1]:
            jobs.add(args[args.index("--name") + 1])
    return {"load_average": [round(x, 2) for x in os.getloadavg()], "training_jobs": sorted(jobs)}


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
    parser.add_argument("--strokes", type=int, default=30, help="strokes drawn on the live canvas in Chromium")
    parser.add_argument("--hosted", action="store_true", help="start as on a Space, with the embedded models only")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()

    from gradio_client import Client

    folder = Path(tempfile.mkdtemp(prefix="app_speed_"))
    results = {"machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}",
               "load_before": machine_load(), "startup_s": [], "startup_cpu_s": []}
    env = hosted_env(folder) if args.hosted else {}
    process = None
    for i in range(args.starts):
        process, url, seconds = start_app_process(env, folder / f"app{i}.log")
        results["startup_s"].append(round(seconds, 2))
        results["startup_cpu_s"].append(cpu_seconds(process.pid))
        if i < args.starts - 1:
            stop_app_process(process)
    results["memory_after_start_mib"] = memory_mib(process.pid)
    if args.calls <= 0:
        stop_app_process(process)
        return report(results, args.json)
    try:
        if args.strokes > 0:   # pages open tabs one by one: models load lazily, tab by tab
            results["memory_tab_by_tab_mib"] = tab_memory(url, process.pid)
            results["sketch_live_canvas_in_browser"] = canvas_latency(url, args.strokes)
            results["load_during_strokes"] = machine_load()
        client = Client(url, verbose=False, download_files=str(folder / "downloads"))
        results["models_loaded"] = load_every_model(client, folder)
        results["memory_all_models_mib"] = memory_mib(process.pid)
        results["sketch_round_trip_page_protocol"] = raw_latency(url, folder, args.calls)
        results["sketch_round_trip_gradio_client"] = stroke_latency(client, folder, args.calls)
        results["memory_after_calls_mib"] = memory_mib(process.pid)
    finally:
        stop_app_process(process)
    results["sketch_model_only"] = engine_latency(args.calls)
    results["load_after"] = machine_load()
    return report(results, args.json)


def report(results: dict, json_path: str | None) -> int:
    """Print the results as JSON (and write them to `json_path`)."""
    print(json.dumps(results, indent=2))
    if json_path:
        Path(json_path).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
