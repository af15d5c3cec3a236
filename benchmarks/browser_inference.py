"""In-browser inference in headless Chromium: stroke-to-photo time, bytes a visitor downloads, server CPU.

    python benchmarks/browser_inference.py [--strokes 30] [--pages 10] [--pause 0.5] [--server]

Starts `python app.py` (the embedded models), opens the Sketch tab in Debian's Chromium, waits until the
canvas runs its model in the page, then draws `--strokes` strokes with the mouse and reports, per stroke:
- stroke to photo: from the stroke's last point (the last pointermove's time stamp: Playwright sends the
  mouse-up only once the page has handled that move, model runs included, so the button's own time
  would hide the wait) until the photo of the drawing as it was at mouse-up is on screen;
- the page's own time per photo (read the drawing, preprocess, run the model, encode the PNG);
then the bytes the visit downloaded (first visit, then a reload with the browser's cache), the requests
that reached the server's inference endpoints, and the server process's CPU seconds while drawing.
With `--pages N` it then opens N pages in the same browser that draw at the same time (all sharing this
machine's cores, unlike N visitors on N devices) and reports the same for them together. `--server`
measures the same with the page forced to the server (`?inference=server`), for comparison.
"""
from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from app_harness import CHROMIUM, CHROMIUM_FLAGS, start_app_process, stop_app_process  # noqa: E402

TIMEOUT_MS = 300_000
INSTRUMENT = """() => {
  const lc = document.querySelector('#sketch-canvas .lc');
  const canvas = lc.querySelector('canvas.lc-canvas');
  const log = window.__strokeLog = { ups: [], changedAt: {}, shownAt: [], perPhoto: [] };
  // the time of the stroke's last change of the drawing (its last point), even if the page was busy then
  canvas.addEventListener('pointermove', (event) => { log.changedAt[lc.dataset.version] = event.timeStamp; });
  canvas.addEventListener('pointerup', () => {
    const version = Number(lc.dataset.version);
    log.ups.push({ version, at: log.changedAt[version] ?? performance.now() });
  });
  new MutationObserver(() => {
    log.shownAt.push({ version: Number(lc.dataset.shown), at: performance.now() });
    const ms = /Photo in (\\d+) ms/.exec(lc.querySelector('.lc-status').textContent);
    if (ms) log.perPhoto.push(Number(ms[1]));
  }).observe(lc, { attributes: true, attributeFilter: ['data-shown'] });
}"""
STROKE_TIMES = """() => { const log = window.__strokeLog;
  return log.ups.map((up) => Math.max(0, log.shownAt.find((s) => s.version >= up.version).at - up.at)); }"""
BYTES = """() => performance.getEntriesByType('resource').concat(performance.getEntriesByType('navigation'))
  .reduce((sums, e) => { sums.all += e.transferSize; if (e.name.includes('/i2i/')) sums.i2i += e.transferSize;
                         return sums; }, { all: 0, i2i: 0 })"""


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux /proc)."""
    import os

    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def open_sketch(context, url: str, mode: str):
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    calls: list[str] = []
    page.on("request", lambda r: calls.append(r.url) if "/gradio_api/call/" in r.url or "/upload" in r.url else None)
    page.goto(url, wait_until="load")
    page.wait_for_function("mode => document.querySelector('#sketch-canvas .lc')?.dataset.inference === mode",
                           arg=mode)
    page.wait_for_function("() => { const d = document.querySelector('#sketch-canvas .lc').dataset;"
                           " return d.shown === d.version && !d.busy; }")
    page.evaluate(INSTRUMENT)
    calls.clear()   # the photos the server made while the model loaded
    return page, calls


def draw(page, rng: random.Random) -> None:
    box = page.locator("#sketch-canvas canvas.lc-canvas").bounding_box()
    points = [(box["x"] + box["width"] * rng.uniform(0.15, 0.85), box["y"] + box["height"] * rng.uniform(0.15, 0.85))
              for _ in range(3)]
    page.mouse.move(*points[0])
    page.mouse.down()
    for x, y in points[1:]:
        page.mouse.move(x, y, steps=4)
    page.mouse.up()


def settle(page) -> dict:
    """Wait for the photo of the newest drawing; {"toPhoto": ms per stroke, "perPhoto": ms per photo}."""
    page.wait_for_function("() => { const d = document.querySelector('#sketch-canvas .lc').dataset;"
                           " return d.shown === d.version && !d.busy; }")
    return {"toPhoto": page.evaluate(STROKE_TIMES), "perPhoto": page.evaluate("() => window.__strokeLog.perPhoto")}


def summary(name: str, values: list[float]) -> str:
    ordered = sorted(values)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]   # noqa: E731
    return (f"{name}: n {len(values)}, p50 {statistics.median(values):.0f} ms, p90 {pick(0.9):.0f} ms, "
            f"max {max(values):.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--strokes", type=int, default=30)
    parser.add_argument("--pages", type=int, default=10, help="pages drawing at once (0: skip)")
    parser.add_argument("--pause", type=float, default=0.5, help="seconds between strokes")
    parser.add_argument("--server", action="store_true", help="force the server (?inference=server)")
    args = parser.parse_args()
    mode = "server" if args.server else "browser"
    from playwright.sync_api import sync_playwright

    rng = random.Random(0)
    with tempfile.TemporaryDirectory(prefix="browser_inference_") as tmp:
        tmp = Path(tmp)
        process, root, _ = start_app_process({"I2I_RUNS_DIR": str(tmp / "runs"), "GRADIO_TEMP_DIR": str(tmp / "g"),
                                             "I2I_TORCH_THREADS": "1"}, tmp / "app.log", timeout=300)
        url = root + ("?inference=server" if args.server else "")
        try:
            with sync_playwright() as playwright:
                # a profile on disk, as a visitor's browser has: its HTTP cache keeps the runtime and model
                context = playwright.chromium.launch_persistent_context(
                    str(tmp / "profile"), executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True,
                    viewport={"width": 1400, "height": 1000})
                page, calls = open_sketch(context, url, mode)
                first_visit = page.evaluate(BYTES)
                cpu = cpu_seconds(process.pid)
                start = time.perf_counter()
                for _ in range(args.strokes):
                    draw(page, rng)
                    settle(page)
                    time.sleep(args.pause)
                log = settle(page)
                wall, cpu = time.perf_counter() - start, cpu_seconds(process.pid) - cpu
                print(f"one page ({mode}), {args.strokes} strokes {args.pause} s apart:")
                print("  " + summary("stroke to photo (last point to its photo on screen)", log["toPhoto"]))
                print("  " + summary("page's time per photo", log["perPhoto"]))
                print(f"  inference requests to the server: {len(calls)}; server CPU {cpu:.2f} s in {wall:.1f} s")
                print(f"  bytes downloaded, first visit: {first_visit['all']:,} ({first_visit['i2i']:,} runtime and model)")
                page.reload(wait_until="load")
                page.wait_for_function("mode => document.querySelector('#sketch-canvas .lc')?.dataset.inference === mode",
                                       arg=mode)
                again = page.evaluate(BYTES)
                print(f"  bytes downloaded, reload with the browser's cache: {again['all']:,} ({again['i2i']:,} runtime and model)")
                context.close()
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True)
                if args.pages:
                    contexts = [browser.new_context(viewport={"width": 1400, "height": 1000}) for _ in range(args.pages)]
                    pages = [open_sketch(c, url, mode) for c in contexts]
                    cpu = cpu_seconds(process.pid)
                    start = time.perf_counter()
                    for _ in range(max(1, args.strokes // 3)):
                        for page, _ in pages:
                            draw(page, rng)
                        for page, _ in pages:
                            settle(page)
                    logs = [settle(page) for page, _ in pages]
                    wall, cpu = time.perf_counter() - start, cpu_seconds(process.pid) - cpu
                    print(f"{args.pages} pages in one browser drawing at once:")
                    print("  " + summary("stroke to photo", [v for log in logs for v in log["toPhoto"]]))
                    print("  " + summary("page's time per photo", [v for log in logs for v in log["perPhoto"]]))
                    print(f"  inference requests to the server: {sum(len(c) for _, c in pages)}; "
                          f"server CPU {cpu:.2f} s in {wall:.1f} s")
                browser.close()
        finally:
            stop_app_process(process)


if __name__ == "__main__":
    main()
