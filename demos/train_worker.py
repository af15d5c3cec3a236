"""The training job process: `python -m demos.train_worker CONFIG.json EVENTS.jsonl`.

Runs one `engine.Trainer` (resuming from the run's `state.pt` when CONFIG has `"_resume": true`) and
appends its events (start, log, sample, checkpoint, done, and error) to EVENTS.jsonl, one JSON object
a line. SIGTERM, SIGINT or the app going away stop the run cleanly
after the current step, with a checkpoint. Imports the engine only, never the UI.
"""
from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
import traceback
from pathlib import Path


def _one_line(message: object) -> str:
    return " ".join(str(message).split())[:500]


def reproduce_command(cfg) -> str:
    """The equivalent `python -m engine train` command line (options that differ from the defaults)."""
    import dataclasses
    import shlex

    parts = ["python", "-m", "engine", "train"]
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if value == f.default or f.name in ("input_nc", "output_nc") or value is None:
            continue
        if isinstance(value, bool):
            parts.append(f"--{f.name}" if value else f"--no-{f.name}")
        else:
            parts += [f"--{f.name}", str(value)]
    return " ".join(shlex.quote(p) for p in parts)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2:
        print("usage: python -m demos.train_worker CONFIG.json EVENTS.jsonl", file=sys.stderr)
        return 2
    config_path, events_path = Path(argv[0]), Path(argv[1])
    events = open(events_path, "a", buffering=1, encoding="utf-8")
    lock = threading.Lock()

    def emit(event: dict) -> None:
        record = {k: v for k, v in event.items() if k != "image"}
        record["time"] = time.time()
        with lock:
            events.write(json.dumps(record, default=str) + "\n")
            events.flush()

    try:
        options = json.loads(config_path.read_text())
        threads = options.pop("_threads", None)
        resume = bool(options.pop("_resume", False))
        import torch
        if threads:
            torch.set_num_threads(int(threads))
        from engine import TrainConfig, Trainer
        cfg = TrainConfig.from_dict(options)
    except Exception as e:  # noqa: BLE001 - reported to the app as an event
        emit({"type": "error", "message": _one_line(e)})
        traceback.print_exc()
        return 1

    command = reproduce_command(cfg)
    if resume:
        command += " --continue"
    trainer = Trainer(cfg, resume=resume, on_event=emit, progress=False, command=command)
    parent = os.getppid()

    def request_stop(*_):
        trainer.stop()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)

    def watch_parent():
        while True:
            time.sleep(1.0)
            if os.getppid() != parent:   # the app went away: finish cleanly, keep a checkpoint
                trainer.stop()
                return

    threading.Thread(target=watch_parent, daemon=True).start()
    try:
        model_dir = trainer.run()
    except Exception as e:  # noqa: BLE001 - reported to the app as an event
        emit({"type": "error", "message": _one_line(e)})
        traceback.print_exc()
        return 1
    print(f"model saved to {model_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
