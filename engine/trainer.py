"""The training loop: data, schedule, atomic checkpoints with exact resume, metrics, samples, events.

A run directory (`checkpoints_dir/name/`) holds `train_config.json`, `state.pt` (everything needed to
resume: networks, optimizers, scheduler, step, RNG states), `metrics.jsonl`, `samples/` and `model/`
(the exported model: safetensors + config.json + model card, refreshed at every checkpoint).
Under torchrun the same code runs DistributedDataParallel; rank 0 alone writes files and events.

Faults: every file is written atomically (a kill leaves the last checkpoint intact); a non-finite loss or
weight, or a failed write (e.g. a full disk), stops the run with a TrainingError naming the step and the
last good checkpoint, and a "failed" event.
"""
from __future__ import annotations

import contextlib
import dataclasses
import errno
import json
import math
import os
import threading
import time
from pathlib import Path
from typing import Callable, Iterator

import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, Dataset, Sampler

from .checkpoint import (atomic_write, load_training_state, remove_stale_temps, run_lock, save_model,
                         save_training_state)
from .config import TrainConfig
from .data import build_dataset
from .domain_data import DomainDataset, class_indices, find_domains
from .device import describe_device, pick_device
from .images import image_grid, to_pil
from .recipes import Precision, build_recipe
from .single_pair import SinglePairDataset

STATE_FILE = "state.pt"
CONFIG_FILE = "train_config.json"
METRICS_FILE = "metrics.jsonl"


class TrainingError(RuntimeError):
    """A run that cannot go on (non-finite loss, failed write, unusable data); the last good checkpoint is kept."""


def read_metrics(path: str | Path) -> list[dict]:
    """The records of a metrics.jsonl; a line cut short by a crash (or any unreadable line) is skipped."""
    try:
        lines = Path(path).read_text().splitlines()
    except FileNotFoundError:
        return []
    records = []
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and isinstance(record.get("step"), int):
            records.append(record)
    return records


def lr_factor(step: int, total_steps: int, decay_start: int) -> float:
    """Constant learning rate until `decay_start`, then linear decay towards 0 at `total_steps`."""
    if step < decay_start:
        return 1.0
    return max(0.0, 1.0 - (step - decay_start) / float(total_steps - decay_start + 1))


class EpochSampler(Sampler):
    """A seeded permutation per epoch, sharded across ranks, that can start mid-epoch.

    It yields (index, item_seed) pairs, so random crops and flips depend only on the seed, the epoch
    and the position: a resumed run sees exactly the batches an uninterrupted one would.
    """

    def __init__(self, size: int, seed: int, rank: int = 0, world: int = 1):
        self.size, self.seed, self.rank, self.world = size, seed, rank, world
        self.epoch = 0
        self.skip = 0

    def per_rank(self) -> int:
        return math.ceil(self.size / self.world)

    def __len__(self) -> int:
        return self.per_rank() - self.skip

    def __iter__(self) -> Iterator[tuple[int, int]]:
        generator = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        order = torch.randperm(self.size, generator=generator).tolist()
        order += order[: self.per_rank() * self.world - self.size]  # pad so every rank gets as many
        mine = order[self.rank::self.world]
        for position in range(self.skip, len(mine)):
            yield mine[position], hash((self.seed, self.epoch, self.rank, position)) & 0x7FFFFFFF


class SeededItems(Dataset):
    """Makes `dataset[(index, seed)]` draw its random transform from `seed`."""

    def __init__(self, dataset):
        self.dataset = dataset

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, key):
        index, seed = key
        self.dataset.reseed(seed)
        return self.dataset[index]


class Trainer:
    """Trains one TrainConfig. `run()` returns the exported model directory.

    `on_event(event: dict)` receives {"type": "start" | "log" | "sample" | "checkpoint" | "done" | "failed", ...};
    "failed" carries the one-line `message` of the error that `run()` then raises.
    `stop()` (thread-safe) ends the run cleanly after the current step with a checkpoint.
    """

    def __init__(self, cfg: TrainConfig, *, resume: bool = False, on_event: Callable[[dict], None] | None = None,
                 progress: bool = True, command: str | None = None):
        self.cfg = cfg
        self.resume = resume
        self.on_event = on_event
        self.progress = progress
        self.command = command
        self._stop = threading.Event()
        self.rank, self.world = 0, 1
        self.last_losses: dict[str, float] = {}
        self.step = 0
        self.last_checkpoint: tuple[int, Path] | None = None  # (step, state file) of the last good checkpoint

    def stop(self) -> None:
        self._stop.set()

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def emit(self, **event) -> None:
        if self.on_event is not None and self.is_main:
            self.on_event(event)

    # -- setup ---------------------------------------------------------------------------------------
    def _setup_device(self) -> torch.device:
        if "WORLD_SIZE" in os.environ and int(os.environ["WORLD_SIZE"]) > 1:
            local_rank = int(os.environ.get("LOCAL_RANK", 0))
            if torch.cuda.is_available():
                torch.cuda.set_device(local_rank)
                device = torch.device("cuda", local_rank)
            else:
                device = torch.device("cpu")
            if not dist.is_initialized():
                dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
            self.rank, self.world = dist.get_rank(), dist.get_world_size()
            return device
        device = pick_device(self.cfg.device)
        if device.type == "cuda":
            torch.backends.cudnn.benchmark = True
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True
        return device

    def _build_data(self) -> tuple[object, DataLoader, EpochSampler]:
        cfg = self.cfg
        if cfg.single_pair:
            dataset = SinglePairDataset(cfg.single_pair, cfg.primitive, load_size=cfg.load_size,
                                        crop_size=cfg.crop_size, no_flip=cfg.no_flip, augment=cfg.augment,
                                        tps_grid=cfg.tps_grid, tps_strength=cfg.tps_strength,
                                        primitive_edges=cfg.primitive_edges)
        elif cfg.model == "stargan":
            dataset = DomainDataset(cfg.dataroot, "train", labels_csv=cfg.labels_csv, domains=cfg.domain_list,
                                    preprocess=cfg.preprocess, load_size=cfg.load_size, crop_size=cfg.crop_size,
                                    no_flip=cfg.no_flip, input_nc=cfg.input_nc, max_items=cfg.max_items)
        else:
            dataset = build_dataset(cfg.model, cfg.dataroot, "train", direction=cfg.direction, derive=cfg.derive,
                                    preprocess=cfg.preprocess, load_size=cfg.load_size, crop_size=cfg.crop_size,
                                    no_flip=cfg.no_flip, input_nc=cfg.input_nc, output_nc=cfg.output_nc,
                                    max_items=cfg.max_items, sketch_outline=cfg.sketch_outline,
                                    sketch_features=cfg.sketch_features, sketch_cartoon=cfg.sketch_cartoon,
                                    **({"class_of": class_indices(cfg.dataroot, "train", cfg.labels_csv,
                                                                  cfg.domain_list)} if cfg.class_input else {}))
        sampler = EpochSampler(len(dataset), cfg.seed, self.rank, self.world)
        workers = max(0, cfg.num_workers)
        loader = DataLoader(SeededItems(dataset), batch_size=cfg.batch_size, sampler=sampler, num_workers=workers,
                            pin_memory=self.device.type == "cuda", persistent_workers=workers > 0,
                            prefetch_factor=4 if workers else None,
                            # its own generator: starting an iterator must not draw from the global RNG,
                            # or a resumed run's dropout masks would differ from an uninterrupted run's
                            generator=torch.Generator().manual_seed(cfg.seed))
        return dataset, loader, sampler

    # -- the loop ------------------------------------------------------------------------------------
    def run(self) -> Path:
        """Train (or resume) to the end or to stop(); the exported model directory. One process at a time
        trains in a run directory (RunInUse otherwise)."""
        try:
            main = int(os.environ.get("RANK", "0")) == 0   # torchrun's rank, before the group exists
            with run_lock(self.cfg.run_dir) if main else contextlib.nullcontext():
                model_dir = self._train()
            self._leave_group(wait_for_all=True)
            return model_dir
        except Exception as e:
            self._leave_group(wait_for_all=False)
            self.emit(type="failed", step=self.step, message=" ".join(str(e).split()))
            raise

    def _leave_group(self, wait_for_all: bool) -> None:
        """End a torchrun process group cleanly. Exiting with gloo's threads still alive, while rank 0 is
        still writing the model, aborts the other rank ("terminate called without an active exception")."""
        if self.world > 1 and dist.is_initialized():
            if wait_for_all:
                on_gpu = self.device.type == "cuda"
                dist.barrier(device_ids=[self.device.index] if on_gpu else None)
            dist.destroy_process_group()

    def _train(self) -> Path:
        if (self.cfg.model == "stargan" or self.cfg.class_input) and not self.cfg.domains:  # the G's label order
            found = find_domains(self.cfg.dataroot, "train", self.cfg.labels_csv)
            self.cfg = dataclasses.replace(self.cfg, domains=",".join(found))
        cfg = self.cfg
        self.device = self._setup_device()
        torch.manual_seed(cfg.seed + self.rank)
        run_dir = cfg.run_dir
        self.precision = Precision(self.device, cfg.amp)
        self.recipe = build_recipe(cfg, self.device, self.precision)
        dataset, loader, sampler = self._build_data()
        self.dataset = dataset
        steps_per_epoch = math.ceil(sampler.per_rank() / cfg.batch_size)
        n_epochs_total = cfg.n_epochs + cfg.n_epochs_decay
        total = cfg.max_steps or n_epochs_total * steps_per_epoch
        decay_start = round(total * cfg.n_epochs / n_epochs_total) if n_epochs_total else total
        schedulers = {name: torch.optim.lr_scheduler.LambdaLR(
            opt, lambda s: lr_factor(s, total, decay_start)) for name, opt in self.recipe.optimizers.items()}
        self.schedulers = schedulers
        self.recipe.prepare(dataset)

        step, elapsed_before = 0, 0.0
        if self.is_main:
            for folder in (run_dir, run_dir / "model", run_dir / "samples"):  # left by a killed run
                remove_stale_temps(folder)
        if self.resume and (run_dir / STATE_FILE).exists():
            step, elapsed_before = self._load_state(run_dir / STATE_FILE)
            self.last_checkpoint = (step, run_dir / STATE_FILE)
            if self.is_main:
                self._trim_metrics(step)
                if step >= total:  # killed between its last state and model writes: model/ may lag
                    self._export(step, elapsed_before)
        elif self.is_main:
            config_text = json.dumps(cfg.to_dict(), indent=2) + "\n"
            with self._writing("the run config", run_dir / CONFIG_FILE):
                atomic_write(run_dir / CONFIG_FILE, lambda p: p.write_text(config_text))
            (run_dir / METRICS_FILE).unlink(missing_ok=True)
        self.step = step
        if self.world > 1:
            self.recipe.distribute([self.device.index] if self.device.type == "cuda" else None)

        self.emit(type="start", step=step, total_steps=total, device=describe_device(self.device),
                  precision=self.precision.name, run_dir=str(run_dir), dataset_size=len(dataset),
                  steps_per_epoch=steps_per_epoch, world_size=self.world)
        bar = None
        if self.progress and self.is_main:
            from tqdm.auto import tqdm
            bar = tqdm(total=total, initial=step, unit="step", dynamic_ncols=True, desc=cfg.name)
        sample_batch = self._fixed_batch(dataset)
        start = time.perf_counter()
        window_start, window_steps = start, 0
        unchecked: list[tuple[int, dict]] = []  # losses since the last finiteness check
        stopped = False
        try:
            while step < total and not stopped:
                epoch, position = divmod(step, steps_per_epoch)
                sampler.epoch, sampler.skip = epoch, position * cfg.batch_size
                for batch in loader:
                    losses = self.recipe.train_step(batch)
                    self.recipe.update_ema()
                    for scheduler in schedulers.values():
                        scheduler.step()
                    step += 1
                    self.step = step
                    window_steps += 1
                    unchecked.append((step, losses))
                    if bar is not None:
                        bar.update(1)
                    at_save = step % cfg.save_every == 0 or step == total
                    if step % cfg.log_every == 0 or at_save:
                        self._check_losses(unchecked)
                        now = time.perf_counter()
                        rate = (now - window_start) / window_steps
                        window_start, window_steps = now, 0
                        self._log(step, total, epoch, losses, rate, elapsed_before + now - start, bar)
                    if step % cfg.sample_every == 0 or step == total:
                        self._sample(step, sample_batch)
                    out_of_time = cfg.max_seconds and elapsed_before + time.perf_counter() - start >= cfg.max_seconds
                    if self._stop.is_set() or out_of_time:
                        stopped = True
                    if at_save or stopped:
                        self._check_losses(unchecked)
                        self._checkpoint(step, elapsed_before + time.perf_counter() - start)
                    if stopped or step >= total:
                        break
        finally:
            if bar is not None:
                bar.close()
        model_dir = run_dir / "model"
        self.emit(type="done", step=step, total_steps=total, stopped=stopped and step < total,
                  model_dir=str(model_dir), seconds=elapsed_before + time.perf_counter() - start)
        return model_dir

    # -- faults --------------------------------------------------------------------------------------
    def _last_good(self) -> str:
        if self.last_checkpoint is None:
            return "no checkpoint was written yet"
        step, path = self.last_checkpoint
        return f"last good checkpoint: step {step} ({path})"

    def _check_losses(self, unchecked: list[tuple[int, dict]]) -> None:
        """Raise at the first step in `unchecked` whose losses are not finite, else empty it.

        One device sync per check (at logs and checkpoints), not one per step.
        """
        if not unchecked:
            return
        values = torch.stack([value.detach().float().reshape(()) for _, losses in unchecked
                              for value in losses.values()]).tolist()
        position = 0
        for step, losses in unchecked:
            row = dict(zip(losses, values[position:position + len(losses)]))
            position += len(losses)
            bad = ", ".join(f"{name}={value}" for name, value in row.items() if not math.isfinite(value))
            if bad:
                raise TrainingError(f"non-finite loss at step {step} ({bad}); stopped; {self._last_good()}. "
                                    "Try a lower --lr, or --no-amp.")
        unchecked.clear()

    def _check_weights(self, step: int) -> None:
        """Never checkpoint weights that an update made inf/NaN (the loss of that step was still finite)."""
        tensors = [t for net in self.recipe.exported_nets().values() for t in net.state_dict().values()
                   if t.is_floating_point()]
        if not bool(torch.stack([torch.isfinite(t).all() for t in tensors]).all()):
            raise TrainingError(f"weights became non-finite at step {step}; stopped; {self._last_good()}. "
                                "Try a lower --lr, or --no-amp.")

    @contextlib.contextmanager
    def _writing(self, what: str, path: Path):
        """Turn a failed write (full disk, lost folder, no permission) into a TrainingError saying what and where."""
        try:
            yield
        except OSError as e:
            reason = "disk full while writing" if e.errno == errno.ENOSPC else "failed writing"
            raise TrainingError(f"{reason} {what} {e.filename or path}: {e.strerror or e}; stopped; "
                                f"{self._last_good()}. Resume with --continue once fixed.") from e

    def _trim_metrics(self, step: int) -> None:
        """Drop the records a killed run logged after its last checkpoint, and a line cut short by the kill."""
        path = self.cfg.run_dir / METRICS_FILE
        records = [r for r in read_metrics(path) if r["step"] <= step]
        if records:
            self.last_losses = {k: v for k, v in records[-1].items()
                                if k not in ("step", "epoch", "lr", "sec_per_step", "elapsed")}
        with self._writing("metrics", path):
            atomic_write(path, lambda p: p.write_text("".join(json.dumps(r) + "\n" for r in records)))

    def _log(self, step, total, epoch, losses, seconds_per_step, elapsed, bar) -> None:
        values = {name: float(value) for name, value in losses.items()}
        self.last_losses = values
        lr = self.recipe.optimizers["G"].param_groups[0]["lr"]
        record = {"step": step, "epoch": epoch + 1, "lr": lr, "sec_per_step": round(seconds_per_step, 5),
                  "elapsed": round(elapsed, 2), **{k: round(v, 6) for k, v in values.items()}}
        if self.is_main:
            path = self.cfg.run_dir / METRICS_FILE
            with self._writing("metrics", path), open(path, "a") as f:
                f.write(json.dumps(record) + "\n")
        if bar is not None:
            bar.set_postfix({k: f"{v:.3f}" for k, v in values.items()}, refresh=False)
        self.emit(type="log", total_steps=total, eta_seconds=seconds_per_step * (total - step),
                  losses=values, **{k: record[k] for k in ("step", "epoch", "lr", "sec_per_step", "elapsed")})

    @staticmethod
    def _fixed_batch(dataset, size: int = 4) -> dict:
        """The same few training items (with fixed crops) for every sample sheet of a run."""
        items = [SeededItems(dataset)[(i, i)] for i in range(min(size, len(dataset)))]
        return {key: torch.stack([item[key] for item in items]) for key in items[0]
                if isinstance(items[0][key], torch.Tensor)}

    def _sample(self, step, batch) -> None:
        if not self.is_main:
            return
        visuals = self.recipe.visuals(batch)
        rows = [[to_pil(tensor[i]) for _, tensor in visuals] for i in range(visuals[0][1].shape[0])]
        grid = image_grid(rows, labels=[label for label, _ in visuals])
        path = self.cfg.run_dir / "samples" / f"step_{step:07d}.png"
        with self._writing("sample", path):
            atomic_write(path, lambda p: grid.save(p, format="PNG"))
        self.emit(type="sample", step=step, path=str(path), image=grid)

    # -- checkpoints ---------------------------------------------------------------------------------
    def _checkpoint(self, step: int, elapsed: float) -> None:
        if not self.is_main:
            return
        self._check_weights(step)
        run_dir = self.cfg.run_dir
        state = {
            "step": step,
            "elapsed": elapsed,
            "recipe": self.recipe.state_dict(),
            "schedulers": {name: s.state_dict() for name, s in self.schedulers.items()},
            "rng": {"torch": torch.get_rng_state(),
                    "cuda": torch.cuda.get_rng_state_all() if self.device.type == "cuda" else []},
            "config": self.cfg.to_dict(),
        }
        with self._writing("checkpoint", run_dir / STATE_FILE):
            save_training_state(run_dir / STATE_FILE, state)
        self.last_checkpoint = (step, run_dir / STATE_FILE)
        self._export(step, elapsed)
        self.emit(type="checkpoint", step=step, path=str(run_dir / STATE_FILE), model_dir=str(run_dir / "model"))

    def _export(self, step: int, elapsed: float) -> None:
        """Refresh model/, the exported model (safetensors, config.json, card), from the current weights."""
        model_config = self.recipe.model_config
        model_config.training.update(self.summary(step, elapsed))
        model_dir = self.cfg.run_dir / "model"
        with self._writing("model", model_dir):
            save_model(model_dir, model_config, self.recipe.exported_nets(),
                       card=self.model_card(model_config, step, elapsed))

    def _load_state(self, path: Path) -> tuple[int, float]:
        state = load_training_state(path)
        saved = TrainConfig.from_dict(state["config"])
        for key in ("model", "netG", "netD", "ngf", "ndf", "n_layers_D", "norm", "input_nc", "output_nc", "domains",
                    "colorization_loss", "nz"):
            if getattr(saved, key) != getattr(self.cfg, key):
                raise TrainingError(f"cannot resume: {key} was {getattr(saved, key)!r} in the saved run, "
                                    f"now {getattr(self.cfg, key)!r}")
        self.recipe.load_state_dict(state["recipe"])
        for name, scheduler in self.schedulers.items():
            scheduler.load_state_dict(state["schedulers"][name])
        torch.set_rng_state(state["rng"]["torch"])
        if self.device.type == "cuda" and state["rng"]["cuda"]:
            torch.cuda.set_rng_state_all(state["rng"]["cuda"])
        return int(state["step"]), float(state["elapsed"])

    def summary(self, step: int, elapsed: float) -> dict:
        cfg = self.cfg
        return {"steps": step, "batch_size": cfg.batch_size, "crop_size": cfg.crop_size, "lr": cfg.lr,
                "lambda_L1": cfg.lambda_L1, "seconds": round(elapsed, 1), "device": describe_device(self.device),
                "precision": self.precision.name, "world_size": self.world, "dataset_size": len(self.dataset),
                "command": self.command or "", "last_losses": self.last_losses}

    def _loss_kind(self) -> str:
        return "classification" if self.cfg.colorization_loss == "classification" else "regression"

    def model_card(self, config, step: int, elapsed: float) -> str:
        cfg = self.cfg
        lines = [
            f"# {cfg.name}", "",
            cfg.description or f"A {cfg.model} model trained with this project's engine.", "",
            "| | |", "|---|---|",
            f"| task | {cfg.model} ({config.input_kind} -> {config.output_kind}) |",
            f"| generator | {cfg.netG}, ngf {cfg.ngf}, norm {cfg.norm}, dropout {not cfg.no_dropout} |",
            f"| discriminator | {config.netD or f'none ({self._loss_kind()} only)'}"
            + (f", receptive field {config.receptive_field}x{config.receptive_field}" if config.netD else "") + " |",
            self._objective_row(),
            self._data_row(),
            f"| crops | {cfg.preprocess} load {cfg.load_size} crop {cfg.crop_size}, batch {cfg.batch_size} |",
            f"| steps | {step} |",
            f"| wall time | {elapsed / 60:.1f} min on {describe_device(self.device)} ({self.precision.name}) |",
            f"| last losses | {', '.join(f'{k} {v:.3f}' for k, v in self.last_losses.items())} |",
        ]
        if cfg.model == "stargan":
            lines.insert(lines.index(f"| steps | {step} |"), f"| domains | {', '.join(config.domains)} |")
        if self.command:
            lines += ["", "Reproduce with:", "", "```", self.command, "```"]
        return "\n".join(lines) + "\n"


    def _data_row(self) -> str:
        cfg = self.cfg
        if cfg.single_pair:
            return (f"| data | one pair: {cfg.single_pair} and {cfg.primitive or 'its edges'}"
                    + (" (+ edges)" if cfg.primitive_edges else "")
                    + (f", TPS warps (grid {cfg.tps_grid}, strength {cfg.tps_strength})" if cfg.augment else "") + " |")
        return (f"| data | {cfg.dataroot} ({len(self.dataset)} training items, direction {cfg.direction}"
                + (f", derived {cfg.derive}" if cfg.derive else "") + ") |")

    def _objective_row(self) -> str:
        cfg = self.cfg
        if cfg.model == "cycle_gan":
            return (f"| objective | gan_mode {cfg.gan_mode}, cycle {cfg.lambda_A}/{cfg.lambda_B}, "
                    f"identity {cfg.lambda_identity}, pool {cfg.pool_size} |")
        if cfg.model == "stargan":
            return (f"| objective | gan_mode {cfg.gan_mode}" + (f" (gp {cfg.lambda_gp})" if cfg.gan_mode == "wgangp" else "")
                    + f", domain classification x {cfg.lambda_cls}, reconstruction L1 x {cfg.lambda_rec}, "
                    f"{cfg.n_critic} D step(s) per G step |")
        if cfg.colorization_loss == "classification":
            return (f"| objective | rebalanced cross-entropy over the ab bins of the sRGB gamut (rebalancing "
                    f"lambda {cfg.rebalance}), annealed-mean decoding at T {cfg.temperature} |")
        noise = (f", noise nz {cfg.nz}" + (f" with mode seeking x {cfg.lambda_ms}" if cfg.lambda_ms else "")
                 + (f" on {cfg.ms_pool}x{cfg.ms_pool} block means" if cfg.lambda_ms and cfg.ms_pool > 1 else "")
                 if cfg.nz else "")
        return f"| objective | gan_mode {cfg.gan_mode}, {cfg.regression} x {cfg.lambda_L1}{noise} |"


def train(cfg: TrainConfig, **kwargs) -> Path:
    """Train and return the exported model directory (see Trainer for the keyword arguments)."""
    return Trainer(cfg, **kwargs).run()
