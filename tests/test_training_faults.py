"""Training survives faults: SIGKILL at random moments (also mid-checkpoint), NaN losses, a full disk, a cut
metrics line. Every fault leaves the last good checkpoint intact and `--continue` resumes exactly from it."""
import errno
import hashlib
import io
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from engine import TrainConfig, Trainer, TrainingError
from engine.__main__ import main
from engine.checkpoint import load_model
from engine.recipes.pix2pix import Pix2PixRecipe
from engine.trainer import read_metrics

REPO = Path(__file__).resolve().parents[1]

# Runs `python -m engine train ...` with two test-only additions: every rename waits a little, so that kills
# often land between a finished temporary file and its rename; and a resumed run dumps what it holds right
# after loading its checkpoint, so the test can compare it with the checkpoint file.
KILLABLE_TRAIN = r"""
import os, sys, time, torch
from engine import trainer
from engine.__main__ import main

replace = os.replace
def slow_replace(src, dst):
    time.sleep(0.03)
    replace(src, dst)
os.replace = slow_replace

load_state = trainer.Trainer._load_state
def load_and_dump(self, path):
    step, elapsed = load_state(self, path)
    torch.save({"step": step, "recipe": self.recipe.state_dict(),
                "schedulers": {name: s.state_dict() for name, s in self.schedulers.items()},
                "rng": torch.get_rng_state()}, os.environ["RESUME_DUMP"])
    return step, elapsed
trainer.Trainer._load_state = load_and_dump
sys.exit(main(["train", *sys.argv[1:]]))
"""


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny networks train faster on one thread, and far faster on a busy machine; the killed jobs use one too."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def options(datasets_dir, tmp_path, **overrides) -> dict:
    values = dict(dataroot=str(datasets_dir / "facades"), direction="BtoA", netG="unet_5", ngf=4, ndf=4,
                  load_size=40, crop_size=32, max_items=8, max_steps=8, save_every=4, sample_every=4, log_every=1,
                  num_workers=0, checkpoints_dir=str(tmp_path), name="run", seed=3)
    values.update(overrides)
    return values


def flags(values: dict) -> list[str]:
    return [str(part) for key, value in values.items() for part in (f"--{key}", value)]


def assert_same(a, b, where="state"):
    """Nested dicts/lists of tensors and numbers are equal, bit for bit."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and torch.equal(a, b), where
    elif isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), where
        for key in a:
            assert_same(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{where}[{i}]")
    else:
        assert a == b, where


def temp_files(run: Path) -> list[Path]:
    return [p for folder in (run, run / "model", run / "samples") if folder.is_dir()
            for p in folder.iterdir() if p.name.startswith(".") and ".tmp" in p.name]


def wait_for(condition, proc, timeout=60.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert proc.poll() is None, f"the job ended (exit {proc.returncode}) before it could be killed"
        assert time.monotonic() < deadline, "the job made no progress"
        time.sleep(0.002)


KILLS = 10


def test_sigkill_at_random_moments_then_resume_is_exact(datasets_dir, tmp_path):
    """10 SIGKILLs (half of them while a checkpoint file is being written); each resume holds exactly the
    checkpoint it loaded, and the final weights equal those of an uninterrupted run (trained meanwhile)."""
    started = time.monotonic()
    values = options(datasets_dir, tmp_path, name="killed", max_steps=80, save_every=5, sample_every=20)
    run, dump = tmp_path / "killed", tmp_path / "resumed.pt"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO), "RESUME_DUMP": str(dump)}
    command = [sys.executable, "-c", KILLABLE_TRAIN, *flags(values), "--continue", "--quiet"]
    train = [sys.executable, "-m", "engine", "train", "--quiet"]
    straight = subprocess.Popen([*train, *flags({**values, "name": "straight"})], cwd=REPO, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    chance = random.Random(0)
    mid_write = verified = 0
    stale: list[Path] = []
    for kill in range(KILLS):
        loaded = torch.load(io.BytesIO((run / "state.pt").read_bytes()), weights_only=True) \
            if (run / "state.pt").exists() else None
        metrics = run / "metrics.jsonl"
        # the first kill comes after the first checkpoint (step 5), so that every later start resumes
        target = max([r["step"] for r in read_metrics(metrics)], default=5) + chance.randint(1, 6)
        dump.unlink(missing_ok=True)
        proc = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                                stderr=open(tmp_path / f"stderr{kill}.txt", "w"))
        if kill % 2:  # while a checkpoint (state.pt or model/) is being written
            wait_for(lambda: any(t not in stale and (t.name.startswith(".state.pt") or t.parent.name == "model")
                                 for t in temp_files(run)), proc)
        else:  # at a random moment after a random number of new steps
            wait_for(lambda: any(r["step"] >= target for r in read_metrics(metrics)), proc)
            time.sleep(chance.uniform(0, 0.05))
        proc.send_signal(signal.SIGKILL)
        assert proc.wait() == -signal.SIGKILL
        assert not any(t.exists() for t in stale), "a stale temporary file survived the next start"
        stale = temp_files(run)
        mid_write += bool(stale)
        if loaded is not None:
            resumed = torch.load(dump, weights_only=True)
            assert resumed["step"] == loaded["step"]
            assert_same(resumed["recipe"], loaded["recipe"], "recipe")  # networks, optimizers
            assert_same(resumed["schedulers"], loaded["schedulers"], "schedulers")
            assert torch.equal(resumed["rng"], loaded["rng"]["torch"])
            verified += 1
        if (run / "state.pt").exists():  # never half a file, whatever the moment of the kill
            torch.load(run / "state.pt", weights_only=True)
            load_model(run / "model")
    steps_reached = torch.load(run / "state.pt", weights_only=True)["step"]

    final = subprocess.run([*train, *flags(values), "--continue"], cwd=REPO, env=env, capture_output=True,
                           text=True, timeout=120)
    assert final.returncode == 0, final.stderr
    assert not temp_files(run)
    assert [r["step"] for r in read_metrics(run / "metrics.jsonl")] == list(range(1, 81))

    assert straight.wait(timeout=120) == 0, straight.stderr.read()
    a = load_file(str(tmp_path / "straight" / "model" / "model.safetensors"))
    b = load_file(str(run / "model" / "model.safetensors"))
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    assert verified == KILLS - 1 and mid_write >= KILLS // 2 - 1
    print(f"\n{KILLS} kills ({mid_write} mid-write), {verified} resumes verified, last killed run at step "
          f"{steps_reached}, exact final weights; {time.monotonic() - started:.1f} s")


def poison_batches_from(monkeypatch, first_bad_step: int) -> None:
    """From `first_bad_step` on, the training batches hold NaN: losses and then weights become NaN."""
    train_step, calls = Pix2PixRecipe.train_step, [0]

    def poisoned(self, batch):
        calls[0] += 1
        if calls[0] >= first_bad_step:
            batch = {**batch, "A": torch.full_like(batch["A"], float("nan"))}
        return train_step(self, batch)
    monkeypatch.setattr(Pix2PixRecipe, "train_step", poisoned)


def test_nan_loss_stops_names_step_and_keeps_last_checkpoint(datasets_dir, tmp_path, monkeypatch):
    poison_batches_from(monkeypatch, 7)
    events, saved = [], {}

    def on_event(event):
        events.append(event)
        if event["type"] == "checkpoint":
            saved[event["step"]] = hashlib.sha256(Path(event["path"]).read_bytes()).hexdigest()
    cfg = TrainConfig(**options(datasets_dir, tmp_path, max_steps=12, log_every=4))
    with pytest.raises(TrainingError) as failure:
        Trainer(cfg, on_event=on_event, progress=False).run()
    state = tmp_path / "run" / "state.pt"
    message = str(failure.value)
    # checked at step 8 (a log step), it names step 7, the first bad one
    assert message.startswith("non-finite loss at step 7 (") and "G_L1=nan" in message and "\n" not in message
    assert f"last good checkpoint: step 4 ({state})" in message
    assert events[-1] == {"type": "failed", "step": 8, "message": message}
    assert list(saved) == [4] and hashlib.sha256(state.read_bytes()).hexdigest() == saved[4]
    weights = load_file(str(tmp_path / "run" / "model" / "model.safetensors"))
    assert all(torch.isfinite(t).all() for t in weights.values())


def test_absurd_lr_never_checkpoints_infinite_weights(datasets_dir, tmp_path):
    """lr 1e39 (L1 only): the loss of step 1 is finite, the weights it produces are not; they are never saved."""
    cfg = TrainConfig(**options(datasets_dir, tmp_path, lr=1e39, save_every=1, netD="none"))
    with pytest.raises(TrainingError, match=r"^weights became non-finite at step 1; stopped; "
                                            r"no checkpoint was written yet"):
        Trainer(cfg, progress=False).run()
    assert not (tmp_path / "run" / "state.pt").exists()


class FullDisk:
    """A file on a disk with `disk["free"]` bytes left: a write that does not fit stores what fits, then
    fails with ENOSPC (torch.save turns a failure after its first write into an obscure RuntimeError)."""

    def __init__(self, f, disk: dict):
        self.f, self.disk = f, disk

    def write(self, data):
        room = self.disk["free"]
        self.f.write(data[:room])
        self.disk["free"] = max(0, room - len(data))
        if len(data) > room:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return len(data)

    def __getattr__(self, name):
        return getattr(self.f, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.f.close()


def fill_disk_for(monkeypatch, name_part: str) -> dict:
    """Files whose name holds `name_part` get only `disk["free"]` more bytes once it is set (None: no limit)."""
    disk = {"free": None}
    real_open = io.open

    def open_(file, mode="r", *args, **kwargs):
        f = real_open(file, mode, *args, **kwargs)
        if disk["free"] is not None and name_part in os.fspath(file) and ("w" in mode or "a" in mode):
            return FullDisk(f, disk)
        return f
    monkeypatch.setattr("builtins.open", open_)
    monkeypatch.setattr(io, "open", open_)
    return disk


# what fails to be written: (the file it writes, the step of the last good checkpoint after the failure)
FULL_DISK = {"checkpoint": ("state.pt", 4), "model": ("model.safetensors", 8), "sample": ("step_0000008.png", 4),
             "metrics": ("metrics.jsonl", 4)}


@pytest.mark.parametrize("what", FULL_DISK)
def test_disk_full_stops_clearly_and_resume_goes_on(datasets_dir, tmp_path, monkeypatch, what):
    name_part, last_good = FULL_DISK[what]
    disk = fill_disk_for(monkeypatch, name_part)
    events = []

    def on_event(event):
        events.append(event)
        if event["type"] == "checkpoint" and disk["free"] is None:  # the disk fills up after step 4
            disk["free"] = 100
    cfg = TrainConfig(**options(datasets_dir, tmp_path))
    with pytest.raises(TrainingError) as failure:
        Trainer(cfg, on_event=on_event, progress=False).run()
    run = tmp_path / "run"
    message = str(failure.value)
    assert message.startswith(f"disk full while writing {what} {run}/")
    assert ": No space left on device; stopped; " in message
    assert f"last good checkpoint: step {last_good} ({run / 'state.pt'})" in message
    assert events[-1]["type"] == "failed" and events[-1]["message"] == message
    assert not temp_files(run)
    assert torch.load(run / "state.pt", weights_only=True)["step"] == last_good
    assert load_model(run / "model")[0].training["steps"] == 4

    disk["free"] = None
    Trainer(cfg, resume=True, progress=False).run()
    assert torch.load(run / "state.pt", weights_only=True)["step"] == 8
    assert load_model(run / "model")[0].training["steps"] == 8
    assert [r["step"] for r in read_metrics(run / "metrics.jsonl")] == list(range(1, 9))


@pytest.mark.parametrize("fault", ["nan", "disk"])
def test_cli_reports_a_fault_in_one_line_with_nonzero_exit(datasets_dir, tmp_path, monkeypatch, capsys, fault):
    if fault == "nan":
        poison_batches_from(monkeypatch, 3)
    else:
        fill_disk_for(monkeypatch, "metrics.jsonl")["free"] = 0
    code = main(["train", *flags(options(datasets_dir, tmp_path)), "--quiet"])
    err = capsys.readouterr().err.strip()
    expected = "error: non-finite loss at step 3" if fault == "nan" else "error: disk full while writing metrics"
    assert code != 0 and err.startswith(expected) and "\n" not in err, err


def test_resume_after_a_metrics_line_cut_by_a_crash(datasets_dir, tmp_path):
    cfg = TrainConfig(**options(datasets_dir, tmp_path))
    first = Trainer(cfg, progress=False)
    first.on_event = lambda event: first.stop() if event["type"] == "log" and event["step"] == 3 else None
    first.run()
    metrics = tmp_path / "run" / "metrics.jsonl"
    line = json.dumps({"step": 4, "G_L1": 1.0})  # logged after the checkpoint of step 3, then killed mid-line
    metrics.write_text(metrics.read_text() + line + "\n" + line[:9])
    assert [r["step"] for r in read_metrics(metrics)] == [1, 2, 3, 4]
    Trainer(cfg, resume=True, progress=False).run()
    lines = metrics.read_text().splitlines()
    assert [json.loads(x)["step"] for x in lines] == list(range(1, 9))


def test_a_run_directory_trains_in_one_process_at_a_time(tmp_path):
    """A second trainer on a run that another process holds fails at once and names the holder; the lock
    goes with its process, even a killed one."""
    from engine.checkpoint import RunInUse, run_lock

    run = tmp_path / "runs" / "busy"
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time\nsys.path.insert(0, sys.argv[1])\n"
                               "from engine.checkpoint import run_lock\n"
                               "with run_lock(sys.argv[2]):\n    print('held', flush=True)\n    time.sleep(60)",
                               str(REPO), str(run)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(RunInUse, match=f"pid {holder.pid}"):
            with run_lock(run):
                pass
    finally:
        holder.kill()
        holder.wait()
    with run_lock(run):   # released by the kernel when its holder died
        pass
