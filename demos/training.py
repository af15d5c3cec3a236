"""Training jobs for the app: one at a time, each in its own process (`demos.train_worker`); more are queued.

The app never trains in its own process: a crashed or killed job leaves the UI running. Progress
comes from the worker's event file and the run's `metrics.jsonl` and `samples/`. A start while a job
runs is queued (first in, first out) and launched when the running job ends; a queued job can be
cancelled. A stopped or failed run can be resumed from its last checkpoint (`state.pt`).

The dataset is a folder, an uploaded archive or a named dataset (`demos.train_data`); the run's
folder, model and curves are read by `demos.runs`; folders and the hosted-demo switches come from
`demos.settings`.

- `I2I_TRAIN_THREADS`: torch threads of the job (default: torch's own choice)
"""
from __future__ import annotations

import json
import math
import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from .models import registry
from .runs import list_runs, model_tab
from .settings import REPO, local_data_allowed, runs_dir, training_enabled
from .train_data import UNSAFE_NAME_CHARS, check_dataroot, extract_upload, named_dataset

TASKS = ("pix2pix", "colorization", "cycle_gan")
NET_D = ("basic", "n_layers", "pixel", "none")
STOP_GRACE_SECONDS = 30.0
WATCH_SECONDS = 0.5
ACTIVE_STATES = ("starting", "running", "stopping")
MAX_STEPS = 10_000_000

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


_NET_G = re.compile(r"unet_(\d+)|resnet_(\d+)blocks")


def _clean_name(name: str, task: str) -> str:
    name = UNSAFE_NAME_CHARS.sub("_", (name or "").strip()).strip("._-")[:64]
    return name or f"app_{task}_{time.strftime('%Y%m%d_%H%M%S')}"


def _number(value, label: str, kind=int, low: float = 1, high: float | None = None):
    """None for an empty value (the preset's), else the number, checked to be finite and in [low, high]."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{label} must be a number, got {value!r}") from None
    if not math.isfinite(number):
        raise ValueError(f"{label} must be a finite number, got {value}")
    if kind is int:
        if number != int(number):
            raise ValueError(f"{label} must be a whole number, got {value}")
        number = int(number)
    if number < low or (high is not None and number > high):
        raise ValueError(f"{label} must be between {low:g} and {high:g}, got {value}")
    return number


def _unet_downsamplings(net_g: str) -> int | None:
    """U-Net depth of a generator name, None for a ResNet; ValueError for an unknown name."""
    m = _NET_G.fullmatch(net_g)
    if m and m[1] and (int(m[1]) in (128, 256) or 5 <= int(m[1]) <= 12):
        return {128: 7, 256: 8}.get(int(m[1]), int(m[1]))
    if m and m[2] and 1 <= int(m[2]) <= 32:
        return None
    raise ValueError(f"unknown netG {net_g!r}; use unet_128, unet_256, unet_<5..12> or resnet_<1..32>blocks "
                     "(e.g. resnet_9blocks)")


def _input_kind(task: str, dataroot: Path, direction: str, derive: str | None) -> str | None:
    """What the model's input is, so that its tab is known: facades BtoA trains label maps -> photos."""
    if task == "pix2pix" and derive is None and direction == "BtoA" and "facade" in str(dataroot).lower():
        return "labels"
    return None


@dataclass
class Job:
    name: str
    task: str
    run_dir: Path
    job_file: Path
    total_steps: int | None
    resume: bool = False
    process: subprocess.Popen | None = None
    started: float | None = None
    stop_requested: float | None = None
    cancelled: bool = False
    announced: bool = False
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

    @property
    def events_path(self) -> Path:
        return self.run_dir / "app_events.jsonl"

    @property
    def log_path(self) -> Path:
        return self.run_dir / "app_worker.log"

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
        if self.process is None:
            if self.cancelled:
                return "cancelled"
            return "failed" if self.error else "queued"
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
    """Runs one training job at a time; starts while it runs are queued and launched in order."""

    def __init__(self):
        self._lock = threading.Lock()
        self.job: Job | None = None          # the running job, else the last one launched
        self.queue: list[Job] = []
        self._watcher: threading.Thread | None = None

    # -- control ----------------------------------------------------------------------------------
    def start(self, *, task: str = "pix2pix", dataroot: str = "", dataset_zip: str | None = None,
              dataset_name: str = "", preset: str = "CPU-tiny", name: str = "", max_steps: int | None = None,
              lr: float | None = None, batch_size: int | None = None, ngf: int | None = None,
              crop_size: int | None = None, load_size: int | None = None, netG: str = "", netD: str = "basic",
              n_layers_D: int | None = None, lambda_L1: float | None = None, direction: str = "AtoB",
              derive: str = "") -> dict:
        """Start a job, or queue it behind the running one. The dataset is the first given of `dataset_zip`
        (an archive to extract), `dataset_name` (a named dataset) and `dataroot` (a folder in the roots)."""
        _check_enabled()
        task = (task or "pix2pix").strip()
        options = self._options(task=task, preset=preset, max_steps=max_steps, lr=lr, batch_size=batch_size,
                                ngf=ngf, crop_size=crop_size, load_size=load_size, netG=netG, netD=netD,
                                n_layers_D=n_layers_D, lambda_L1=lambda_L1, direction=direction, derive=derive)
        if dataset_zip:
            folder = extract_upload(dataset_zip)
        elif dataset_name and str(dataset_name).strip():
            folder = named_dataset(dataset_name, task)
        else:
            allowed, why = local_data_allowed()
            if not allowed:
                raise ValueError(why)
            folder = check_dataroot(dataroot)
        options["dataroot"] = str(folder)
        options["input_kind"] = _input_kind(task, folder, options["direction"], options["derive"])
        return self._submit(options, _clean_name(name, task), resume=False)

    def submit(self, options: dict, name: str) -> dict:
        """Start (or queue) a job from complete TrainConfig options, e.g. another tab's own recipe (the
        caller checks that it may train)."""
        return self._submit(dict(options), _clean_name(name, options.get("model", "pix2pix")), resume=False)

    def resume(self, name: str, max_steps: int | None = None) -> dict:
        """Continue a run from its last checkpoint (queued like a start); `max_steps` > 0 changes its length."""
        _check_enabled()
        name = (name or "").strip()
        if name not in self.resumable_runs():
            raise ValueError(f"no run {name!r} with a checkpoint in {runs_dir()}; choose one of the resumable runs")
        run_dir = runs_dir() / name
        try:
            options = json.loads((run_dir / "train_config.json").read_text())
        except (OSError, ValueError) as e:
            raise ValueError(f"cannot read the options of run {name}: {e}") from None
        if not isinstance(options, dict):
            raise ValueError(f"run {name} has no usable train_config.json")
        steps = _number(max_steps, "max_steps", int, 0, MAX_STEPS)
        if steps:
            options["max_steps"] = steps
        options["dataroot"] = str(check_dataroot(options.get("dataroot", "")))
        return self._submit(options, name, resume=True)

    def stop(self, name: str = "") -> dict:
        """Stop the running job (empty name or its name) after its current step, or cancel a queued job."""
        with self._lock:
            self._advance()
            name = (name or "").strip()
            if name:
                for job in self.queue:
                    if job.name == name:
                        self.queue.remove(job)
                        job.cancelled = True
                        _discard(job)
                        return self._status(job, f"Cancelled {name}; it was removed from the queue.")
                if self.job is None or self.job.name != name:
                    raise ValueError(f"no running or queued job named {name!r}")
            job = self.job
            if job is None:
                return self._status(None, "No job is running.")
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
            self._advance()
            return self._status(self.job)

    def resumable_runs(self) -> list[str]:
        """Runs with a checkpoint (`state.pt`) that are neither running nor queued, newest first."""
        with self._lock:
            busy = {job.name for job in self.queue}
            if self.job is not None and self.job.state in ACTIVE_STATES:
                busy.add(self.job.name)
        return [run.name for run in list_runs() if (run / "state.pt").is_file()
                and (run / "train_config.json").is_file() and run.name not in busy]

    def shutdown(self, timeout: float = 10.0) -> None:
        """Cancel the queue, stop a running job and wait for it (used by tests and at exit)."""
        with self._lock:
            for job in self.queue:
                job.cancelled = True
                _discard(job)
            self.queue.clear()
        self.stop()
        job = self.job
        if job is None or job.process is None:
            return
        try:
            job.process.wait(timeout)
        except subprocess.TimeoutExpired:
            job.process.kill()
            job.process.wait(5)

    # -- internals --------------------------------------------------------------------------------
    def _submit(self, options: dict, name: str, *, resume: bool) -> dict:
        from engine import TrainConfig

        with self._lock:
            self._advance()
            root = runs_dir()
            busy = [job.name for job in self.queue] + ([self.job.name] if self._active() else [])
            if resume and name in busy:
                raise ValueError(f"run {name} is already running or queued")
            run_name, n = name, 2
            while not resume and (root / run_name).exists():
                run_name, n = f"{name}_{n}", n + 1
            options.update(name=run_name, checkpoints_dir=str(root))
            cfg = TrainConfig(**options)   # validates every option, ValueError with one line
            run_dir = root / run_name
            run_dir.mkdir(parents=True, exist_ok=True)
            payload = cfg.to_dict()
            threads = os.environ.get("I2I_TRAIN_THREADS", "").strip()
            if threads.isdigit() and int(threads) > 0:
                payload["_threads"] = int(threads)
            payload["_resume"] = resume
            job_file = run_dir / "app_job.json"
            job_file.write_text(json.dumps(payload, indent=2) + "\n")
            job = Job(name=run_name, task=cfg.model, run_dir=run_dir, job_file=job_file, total_steps=cfg.max_steps,
                      resume=resume)
            if self._active() or self.queue:
                self.queue.append(job)
                return self._status(job)
            self._launch(job)
            return self._status(job)

    def _active(self) -> bool:
        return self.job is not None and self.job.state in ACTIVE_STATES

    def _launch(self, job: Job) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = str(REPO) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        env.setdefault("PYTHONUNBUFFERED", "1")
        self.job = job
        job.started = time.time()
        try:
            job.offset = job.events_path.stat().st_size if job.events_path.is_file() else 0
            with open(job.log_path, "ab" if job.resume else "wb") as log_file:
                job.process = subprocess.Popen(
                    [sys.executable, "-m", "demos.train_worker", str(job.job_file), str(job.events_path)],
                    cwd=str(REPO), env=env, stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                    start_new_session=True)
        except OSError as e:
            job.error = f"could not start the job: {e}"
            return
        if self._watcher is None:
            self._watcher = threading.Thread(target=self._watch, name="training-queue", daemon=True)
            self._watcher.start()

    def _watch(self) -> None:
        """Follow the running job without a client polling: refresh the models and launch the queue at its end."""
        while True:
            time.sleep(WATCH_SECONDS)
            with self._lock:
                self._advance()
                if not self._active():
                    self._watcher = None
                    return

    def _advance(self) -> None:
        """Poll the running job; once it has ended, publish its model and launch the next queued job."""
        while True:
            job = self.job
            if job is not None:
                self._poll(job)
                if job.state in ACTIVE_STATES:
                    return
                if not job.announced:
                    job.announced = True
                    if job.model_dir:
                        registry.rescan()
            if not self.queue:
                return
            self._launch(self.queue.pop(0))

    @staticmethod
    def _options(*, task, preset, max_steps, lr, batch_size, ngf, crop_size, load_size, netG, netD, n_layers_D,
                 lambda_L1, direction, derive) -> dict:
        """TrainConfig options from the preset and the given hyperparameters, all checked (ValueError)."""
        from engine import TrainConfig

        options = preset_options(task, (preset or "CPU-tiny").strip())
        direction = (direction or "AtoB").strip()
        if direction not in ("AtoB", "BtoA"):
            raise ValueError(f"direction must be AtoB or BtoA, got {direction!r}")
        options.update(model=task, direction=direction)
        steps = _number(max_steps, "max_steps", int, 0, MAX_STEPS)
        if steps is not None:
            options["max_steps"] = steps or None   # 0: train for the preset's epochs
        if (rate := _number(lr, "lr", float, 1e-7, 1.0)) is not None:
            options["lr"] = rate
        if (batch := _number(batch_size, "batch_size", int, 1, 256)) is not None:
            options["batch_size"] = batch
        if (width := _number(ngf, "ngf", int, 1, 256)) is not None:
            options["ngf"] = width
            options["ndf"] = min(options.get("ndf", 64), width)
        if (crop := _number(crop_size, "crop_size", int, 16, 1024)) is not None:
            options["crop_size"] = crop
            options["load_size"] = max(crop, round(crop * 286 / 256))
        if (load := _number(load_size, "load_size", int, 16, 2048)) is not None:
            if load < options["crop_size"]:
                raise ValueError(f"crop_size {options['crop_size']} is larger than load_size {load}")
            options["load_size"] = load
        if netG and str(netG).strip():
            options["netG"] = str(netG).strip()
        downs = _unet_downsamplings(options["netG"])
        if downs is not None and options["crop_size"] < 2 ** downs:
            raise ValueError(f"crop_size {options['crop_size']} is too small for {options['netG']} "
                             f"(it needs at least {2 ** downs})")
        netD = (netD or "basic").strip()
        if netD not in NET_D:
            raise ValueError(f"netD must be one of {', '.join(NET_D)}, got {netD!r}")
        options["netD"] = netD
        if (layers := _number(n_layers_D, "n_layers_D", int, 1, 5)) is not None:
            options["n_layers_D"] = layers
        if (weight := _number(lambda_L1, "lambda_L1", float, 0, 10_000)) is not None:
            options["lambda_L1"] = weight
        derive = (derive or "").strip().lower()
        options["derive"] = derive if derive not in ("", "none") and task == "pix2pix" else None
        TrainConfig(**options)   # the engine's own checks (one-line ValueError)
        return options

    @staticmethod
    def _poll(job: Job) -> None:
        if job.process is None:
            return
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

    def _status(self, job: Job | None, message: str = "") -> dict:
        enabled, why = training_enabled()
        queue = [{"name": j.name, "task": j.task, "position": i + 1} for i, j in enumerate(self.queue)]
        if job is None:
            return {"state": "idle", "enabled": enabled, "message": message or why or "No training job yet.",
                    "device": describe_local_device(), "step": 0, "total_steps": None, "progress": 0.0,
                    "eta_seconds": None, "losses": {}, "sample": None, "run_dir": None, "model_dir": None,
                    "name": None, "queue": queue}
        total = job.total_steps
        progress = min(1.0, job.step / total) if total else 0.0
        state = job.state
        position = next((q["position"] for q in queue if q["name"] == job.name), None)
        if not message:
            running = self.job.name if self.job is not None and self.job is not job else "the running job"
            message = {"queued": f"Queued (position {position}); starts when {running} ends.",
                       "cancelled": "Cancelled before it started.",
                       "starting": "Resuming from the last checkpoint..." if job.resume
                       else "Starting the job (loading the data)...",
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
                "tab": model_tab(model_dir) if model_dir else None, "resumed": job.resume,
                "returncode": job.returncode, "position": position, "queue": queue}


def _check_enabled() -> None:
    enabled, why = training_enabled()
    if not enabled:
        raise ValueError(why)


def _discard(job: Job) -> None:
    """Remove what a cancelled job wrote: its job file, and its run folder when nothing else is in it."""
    job.job_file.unlink(missing_ok=True)
    if not job.resume:
        try:
            job.run_dir.rmdir()
        except OSError:
            pass


manager = TrainingManager()
