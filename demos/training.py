"""Training jobs for the app: one at a time, each in its own process (`demos.train_worker`).

The app never trains in its own process: a crashed or killed job leaves the UI running. Progress
comes from the worker's event file and the run's `metrics.jsonl` and `samples/`.

Environment:
- `I2I_RUNS_DIR`: where runs go (default: the repository's `runs/`)
- `I2I_DATA_ROOTS`: folders (os.pathsep-separated) that dataset paths must lie in
  (default: `$I2I_SHARED/datasets` or `../shared/datasets`, and the repository's `data/`)
- `SPACE_ID` (set on Hugging Face Spaces) disables training unless `I2I_ENABLE_TRAINING=1`;
  `I2I_ENABLE_TRAINING=0` disables it anywhere
- `I2I_TRAIN_THREADS`: torch threads of the job (default: torch's own choice)
"""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from .common import REPO

TASKS = ("pix2pix", "colorization", "cycle_gan")
NET_D = ("basic", "n_layers", "pixel", "none")
STOP_GRACE_SECONDS = 30.0
ACTIVE_STATES = ("starting", "running", "stopping")

# Size presets: TrainConfig options. Task-specific generator choices are in `preset_options`.
PRESETS: dict[str, dict] = {
    "CPU-tiny": dict(ngf=16, ndf=16, load_size=72, crop_size=64, batch_size=4, max_steps=500, num_workers=0,
                     log_every=5, sample_every=25, save_every=250, amp=False),
    "CPU-small": dict(ngf=32, ndf=32, load_size=142, crop_size=128, batch_size=1, max_steps=5000, num_workers=1,
                      log_every=20, sample_every=250, save_every=1000, amp=False),
    "GPU-full": dict(ngf=64, ndf=64, load_size=286, crop_size=256, batch_size=1, max_steps=None, num_workers=2,
                     log_every=20, sample_every=200, save_every=1000),
}
PRESET_NOTES = {
    "CPU-tiny": "64 px crops, small nets, 500 steps: a few minutes on a laptop CPU; blurry but shows learning.",
    "CPU-small": "128 px crops, 5000 steps: about an hour on a CPU.",
    "GPU-full": "The paper's setup: 256 px crops, ngf 64, 200 epochs (100 + 100 decay). Needs a GPU.",
}


def preset_options(task: str, preset: str) -> dict:
    """The TrainConfig options a preset sets for a task (generator, norm, objective defaults included)."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; choose one of {', '.join(TASKS)}")
    options = dict(PRESETS[preset])
    crop = options["crop_size"]
    if task == "cycle_gan":
        options.update(netG="resnet_9blocks" if preset == "GPU-full" else "resnet_6blocks", norm="instance",
                       gan_mode="lsgan", no_dropout=True, batch_size=1)
    else:
        options["netG"] = {64: "unet_6", 128: "unet_128", 256: "unet_256"}.get(crop, "unet_256")
    return options


def training_enabled() -> tuple[bool, str]:
    flag = os.environ.get("I2I_ENABLE_TRAINING", "").strip()
    if flag == "0":
        return False, "Training is disabled on this server (I2I_ENABLE_TRAINING=0)."
    if os.environ.get("SPACE_ID") and flag != "1":
        return False, ("Training is disabled on this hosted demo (it would need a GPU and hours). "
                       "Clone the repository and run `python app.py` on your own machine to train.")
    return True, ""


def runs_dir() -> Path:
    return Path(os.environ.get("I2I_RUNS_DIR") or REPO / "runs").expanduser().resolve()


def data_roots() -> list[Path]:
    raw = os.environ.get("I2I_DATA_ROOTS", "").strip()
    if raw:
        roots = [Path(p).expanduser() for p in raw.split(os.pathsep) if p.strip()]
    else:
        shared = Path(os.environ.get("I2I_SHARED") or REPO.parent / "shared")
        roots = [shared / "datasets", REPO / "data"]
    return [r.resolve() for r in roots]


def check_dataroot(path: str) -> Path:
    """The dataset folder, resolved, if it lies inside an allowed root; ValueError otherwise."""
    if not path or not str(path).strip():
        raise ValueError("enter a dataset folder")
    candidate = Path(str(path).strip()).expanduser()
    roots = data_roots()
    if not candidate.is_absolute():
        matches = [root / candidate for root in roots if (root / candidate).is_dir()]
        candidate = matches[0] if matches else REPO / candidate
    resolved = candidate.resolve()
    if not any(resolved == root or root in resolved.parents for root in roots):
        raise ValueError(f"dataset folder must be inside {' or '.join(str(r) for r in roots)}; got {resolved}")
    if not resolved.is_dir():
        raise ValueError(f"dataset folder not found: {resolved}")
    return resolved


def describe_local_device() -> str:
    """The device a new job would use (the engine picks cuda, then mps, then cpu)."""
    try:
        import torch
        if torch.cuda.is_available():
            return f"{torch.cuda.get_device_name(0)} (cuda:0)"
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return "Apple GPU (mps)"
        return f"CPU ({torch.get_num_threads()} threads)"
    except Exception:  # noqa: BLE001
        return "unknown"


_NAME_OK = re.compile(r"[^A-Za-z0-9_.-]+")


def _clean_name(name: str, task: str) -> str:
    name = _NAME_OK.sub("_", (name or "").strip()).strip("._-")[:64]
    return name or f"app_{task}_{time.strftime('%Y%m%d_%H%M%S')}"


@dataclass
class Job:
    name: str
    task: str
    run_dir: Path
    events_path: Path
    log_path: Path
    process: subprocess.Popen
    total_steps: int | None
    started: float = field(default_factory=time.time)
    stop_requested: float | None = None
    offset: int = 0
    device: str = ""
    precision: str = ""
    dataset_size: int | None = None
    step: int = 0
    eta_seconds: float | None = None
    elapsed: float | None = None
    losses: dict = field(default_factory=dict)
    sample: str | None = None
    model_dir: str | None = None
    done: dict | None = None
    error: str | None = None
    returncode: int | None = None

    def read_events(self) -> None:
        try:
            with open(self.events_path, "rb") as f:
                f.seek(self.offset)
                chunk = f.read()
        except OSError:
            return
        end = chunk.rfind(b"\n") + 1
        self.offset += end
        for line in chunk[:end].decode("utf-8", "replace").splitlines():
            try:
                event = json.loads(line)
            except ValueError:
                continue
            kind = event.get("type")
            if kind == "start":
                self.device = event.get("device", "")
                self.precision = event.get("precision", "")
                self.total_steps = event.get("total_steps", self.total_steps)
                self.dataset_size = event.get("dataset_size")
                self.step = event.get("step", 0)
            elif kind == "log":
                self.step = event.get("step", self.step)
                self.total_steps = event.get("total_steps", self.total_steps)
                self.eta_seconds = event.get("eta_seconds")
                self.elapsed = event.get("elapsed")
                self.losses = event.get("losses", {})
            elif kind == "sample":
                self.sample = event.get("path")
                self.step = max(self.step, event.get("step", 0))
            elif kind == "checkpoint":
                self.model_dir = event.get("model_dir")
            elif kind == "done":
                self.done = event
                self.step = event.get("step", self.step)
                self.model_dir = event.get("model_dir", self.model_dir)
            elif kind == "error":
                self.error = event.get("message")

    def log_tail(self, lines: int = 3) -> str:
        try:
            text = self.log_path.read_text(errors="replace").strip().splitlines()
        except OSError:
            return ""
        return " | ".join(line.strip() for line in text[-lines:])

    @property
    def state(self) -> str:
        if self.returncode is None:
            if self.stop_requested is not None:
                return "stopping"
            return "running" if self.device else "starting"
        if self.returncode == 0 and self.done is not None:
            return "stopped" if self.done.get("stopped") else "done"
        if self.stop_requested is not None and self.error is None:
            return "stopped"
        return "failed"


class TrainingManager:
    """Starts, watches and stops the one training job of this app."""

    def __init__(self):
        self._lock = threading.Lock()
        self.job: Job | None = None

    # -- control ----------------------------------------------------------------------------------
    def start(self, *, task: str = "pix2pix", dataroot: str = "", preset: str = "CPU-tiny", name: str = "",
              max_steps: int | None = None, lr: float | None = None, batch_size: int | None = None,
              ngf: int | None = None, crop_size: int | None = None, netG: str = "", netD: str = "basic",
              n_layers_D: int | None = None, lambda_L1: float | None = None, direction: str = "AtoB",
              derive: str = "") -> dict:
        enabled, why = training_enabled()
        if not enabled:
            raise ValueError(why)
        with self._lock:
            if self.job is not None:
                self._poll(self.job)
                if self.job.state in ACTIVE_STATES:
                    raise ValueError(f"a job is already running ({self.job.name}); stop it first")
            options = self._options(task=task, dataroot=dataroot, preset=preset, max_steps=max_steps, lr=lr,
                                    batch_size=batch_size, ngf=ngf, crop_size=crop_size, netG=netG, netD=netD,
                                    n_layers_D=n_layers_D, lambda_L1=lambda_L1, direction=direction,
                                    derive=derive)
            root = runs_dir()
            base = _clean_name(name, task)
            run_name, n = base, 2
            while (root / run_name).exists():
                run_name, n = f"{base}_{n}", n + 1
            options.update(name=run_name, checkpoints_dir=str(root))
            from engine import TrainConfig
            cfg = TrainConfig(**options)   # validates every option, ValueError with one line
            run_dir = root / run_name
            run_dir.mkdir(parents=True, exist_ok=True)
            job_file = run_dir / "app_job.json"
            payload = cfg.to_dict()
            threads = os.environ.get("I2I_TRAIN_THREADS", "").strip()
            if threads.isdigit() and int(threads) > 0:
                payload["_threads"] = int(threads)
            job_file.write_text(json.dumps(payload, indent=2) + "\n")
            events = run_dir / "app_events.jsonl"
            log = run_dir / "app_worker.log"
            env = dict(os.environ)
            env["PYTHONPATH"] = str(REPO) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
            env.setdefault("PYTHONUNBUFFERED", "1")
            with open(log, "wb") as log_file:
                process = subprocess.Popen(
                    [sys.executable, "-m", "demos.train_worker", str(job_file), str(events)],
                    cwd=str(REPO), env=env, stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                    start_new_session=True)
            self.job = Job(name=run_name, task=task, run_dir=run_dir, events_path=events, log_path=log,
                           process=process, total_steps=cfg.max_steps)
            return self._status(self.job)

    def stop(self) -> dict:
        with self._lock:
            job = self.job
            if job is None:
                return self._status(None, "No job is running.")
            self._poll(job)
            if job.state not in ACTIVE_STATES:
                return self._status(job, "The job has already finished.")
            if job.stop_requested is None:
                job.stop_requested = time.time()
                try:
                    job.process.send_signal(signal.SIGTERM)
                except ProcessLookupError:
                    pass
            return self._status(job, "Stopping after the current step (a checkpoint is saved)...")

    def status(self) -> dict:
        with self._lock:
            if self.job is not None:
                self._poll(self.job)
            return self._status(self.job)

    def shutdown(self, timeout: float = 10.0) -> None:
        """Stop a running job and wait for it (used by tests and at exit)."""
        self.stop()
        job = self.job
        if job is None:
            return
        try:
            job.process.wait(timeout)
        except subprocess.TimeoutExpired:
            job.process.kill()
            job.process.wait(5)

    # -- internals --------------------------------------------------------------------------------
    @staticmethod
    def _options(*, task, dataroot, preset, max_steps, lr, batch_size, ngf, crop_size, netG, netD, n_layers_D,
                 lambda_L1, direction, derive) -> dict:
        task = (task or "pix2pix").strip()
        options = preset_options(task, (preset or "CPU-tiny").strip())
        options.update(model=task, dataroot=str(check_dataroot(dataroot)), direction=direction or "AtoB")

        def positive(value, label, kind=int, upper=None):
            if value in (None, "", 0):
                return None
            number = kind(value)
            if number <= 0 or (upper is not None and number > upper):
                raise ValueError(f"{label} must be in (0, {upper}], got {value}")
            return number

        if (steps := positive(max_steps, "max_steps", int, 10_000_000)) is not None:
            options["max_steps"] = steps
        if (rate := positive(lr, "lr", float, 1.0)) is not None:
            options["lr"] = rate
        if (batch := positive(batch_size, "batch_size", int, 256)) is not None:
            options["batch_size"] = batch
        if (width := positive(ngf, "ngf", int, 256)) is not None:
            options["ngf"] = width
            options["ndf"] = min(options.get("ndf", 64), width)
        if (crop := positive(crop_size, "crop_size", int, 2048)) is not None:
            options["crop_size"] = crop
            options["load_size"] = max(crop, round(crop * 286 / 256))
        if netG:
            options["netG"] = netG.strip()
        netD = (netD or "basic").strip()
        if netD not in NET_D:
            raise ValueError(f"netD must be one of {', '.join(NET_D)}, got {netD!r}")
        options["netD"] = netD
        if (layers := positive(n_layers_D, "n_layers_D", int, 5)) is not None:
            options["n_layers_D"] = layers
        if lambda_L1 not in (None, ""):
            if float(lambda_L1) < 0:
                raise ValueError(f"lambda_L1 must be >= 0, got {lambda_L1}")
            options["lambda_L1"] = float(lambda_L1)
        derive = (derive or "").strip().lower()
        if derive in ("", "none"):
            derive = None
        if derive is not None and task != "pix2pix":
            derive = None
        options["derive"] = derive
        if options.get("crop_size", 0) > options.get("load_size", 0):
            options["load_size"] = options["crop_size"]
        return options

    @staticmethod
    def _poll(job: Job) -> None:
        job.read_events()
        if job.returncode is None:
            code = job.process.poll()
            if code is not None:
                job.returncode = code
                job.read_events()
            elif job.stop_requested is not None and time.time() - job.stop_requested > STOP_GRACE_SECONDS:
                job.process.kill()
                job.process.wait(5)
                job.returncode = job.process.returncode
        if job.returncode not in (None, 0) and job.error is None and job.stop_requested is None:
            job.error = job.log_tail() or f"the job exited with code {job.returncode}"

    @staticmethod
    def _status(job: Job | None, message: str = "") -> dict:
        enabled, why = training_enabled()
        if job is None:
            return {"state": "idle", "enabled": enabled, "message": message or why or "No training job yet.",
                    "device": describe_local_device(), "step": 0, "total_steps": None, "progress": 0.0,
                    "eta_seconds": None, "losses": {}, "sample": None, "run_dir": None, "model_dir": None,
                    "name": None}
        total = job.total_steps
        progress = min(1.0, job.step / total) if total else 0.0
        state = job.state
        if not message:
            message = {"starting": "Starting the job (loading the data)...",
                       "running": "Training.",
                       "stopping": "Stopping after the current step...",
                       "done": "Finished.",
                       "stopped": "Stopped; the last checkpoint is kept.",
                       "failed": f"Failed: {job.error or 'see the log'}"}[state]
        model_dir = job.model_dir if job.model_dir and Path(job.model_dir).is_dir() else None
        return {"state": state, "enabled": enabled, "message": message, "name": job.name, "task": job.task,
                "device": job.device or describe_local_device(), "precision": job.precision,
                "step": job.step, "total_steps": total, "progress": round(progress, 4),
                "eta_seconds": None if state not in ACTIVE_STATES or job.eta_seconds is None
                else round(job.eta_seconds, 1),
                "elapsed": job.elapsed, "losses": job.losses, "dataset_size": job.dataset_size,
                "sample": job.sample, "run_dir": str(job.run_dir), "model_dir": model_dir,
                "returncode": job.returncode}


def read_metrics(run_dir: str | Path | None, max_points: int = 2000) -> list[dict]:
    """metrics.jsonl as long-format rows {step, loss, value} for a line plot (thinned to max_points steps)."""
    if not run_dir:
        return []
    path = Path(run_dir) / "metrics.jsonl"
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return []
    records = []
    for line in lines:
        try:
            records.append(json.loads(line))
        except ValueError:
            continue
    if len(records) > max_points:
        stride = -(-len(records) // max_points)
        records = records[::stride] + ([records[-1]] if (len(records) - 1) % stride else [])
    skip = {"step", "epoch", "lr", "sec_per_step", "elapsed"}
    rows = []
    for record in records:
        for key, value in record.items():
            if key not in skip and isinstance(value, (int, float)):
                rows.append({"step": record.get("step", 0), "loss": key, "value": float(value)})
    return rows


manager = TrainingManager()
