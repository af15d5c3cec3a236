"""Model directories (safetensors + config.json + model card), training state, reference checkpoints.

Nothing here unpickles arbitrary objects: weights are safetensors, and `.pth` files (the reference
implementation's format, and our training state) are read with `torch.load(weights_only=True)`.
"""
from __future__ import annotations

import contextlib
import os
import pickle
import shutil
from pathlib import Path
from typing import Callable, Iterator

import torch
from safetensors.torch import load_file, save
from torch import nn

from .config import ModelConfig

MODEL_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
CARD_FILE = "README.md"
_INSTANCE_NORM_STATS = ("running_mean", "running_var", "num_batches_tracked")
TMP_MARK = ".tmp"


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be read or does not fit the network it is loaded into."""


def unwrap(net: nn.Module) -> nn.Module:
    """The plain module behind DistributedDataParallel / torch.compile wrappers."""
    while True:
        inner = getattr(net, "module", None) or getattr(net, "_orig_mod", None)
        if inner is None:
            return net
        net = inner


def atomic_write(path: str | Path, write: Callable[[Path], None]) -> None:
    """Write via a temporary file in the same folder, fsync it, rename it over `path` and fsync the folder.

    A crash or a kill at any moment leaves either the old or the new file, never half a file; at worst a
    stale `.NAME.tmpPID` stays behind (see `remove_stale_temps`). A failed write raises OSError naming `path`.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}{TMP_MARK}{os.getpid()}")
    try:
        write(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
        fsync_folder(path.parent)
    except BaseException as e:
        tmp.unlink(missing_ok=True)
        if isinstance(e, OSError) and e.errno:
            raise OSError(e.errno, e.strerror, str(path)) from e  # the real name, not the temporary one
        raise


def fsync_folder(folder: str | Path) -> None:
    """Make a rename in `folder` durable."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove_stale_temps(directory: str | Path) -> list[Path]:
    """Delete the temporary files and model folders that a killed writer left in `directory`; returns them."""
    stale = list(Path(directory).glob(f".*{TMP_MARK}*"))
    for p in stale:
        if p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)
    return stale


LOCK_FILE = ".lock"


class RunInUse(RuntimeError):
    """Another process is training in this run directory."""


@contextlib.contextmanager
def run_lock(directory: str | Path) -> Iterator[None]:
    """Hold an exclusive lock on a run directory while training in it (RunInUse if another process does).

    The lock is an flock on `directory/.lock`, so the kernel drops it when its process dies: a killed
    run never leaves a stale lock. Where flock does not exist (Windows), runs are not locked.
    """
    try:
        import fcntl
    except ImportError:
        yield
        return
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / LOCK_FILE, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "?"
            raise RunInUse(f"run {directory} is in use by another training process (pid {holder}); "
                           "wait for it to end or stop it first") from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class _KeepWriteError:
    """A file whose first write error is kept: torch.save reports a failed write only as 'unexpected pos'."""

    def __init__(self, f):
        self.f, self.error = f, None

    def write(self, data) -> int:
        try:
            return self.f.write(data)
        except OSError as e:
            self.error = self.error or e
            raise

    def flush(self) -> None:
        self.f.flush()


def torch_save(obj, path: str | Path) -> None:
    """torch.save that raises the real OSError (e.g. ENOSPC, disk full) when a write fails."""
    with open(path, "wb") as f:
        writer = _KeepWriteError(f)
        try:
            torch.save(obj, writer)
        except RuntimeError:
            if writer.error is not None:
                raise writer.error from None
            raise


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a state_dict from .safetensors or a reference .pth (weights only, never arbitrary pickles)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    if path.suffix == ".safetensors":
        return load_file(str(path))
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        raise CheckpointError(f"{path.name} holds more than tensors; refusing to unpickle it ({e})") from e
    except (RuntimeError, EOFError, OSError) as e:
        raise CheckpointError(f"{path.name} is not a readable PyTorch checkpoint ({e})") from e
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{path.name} is not a state_dict of tensors")
    return state


def adapt_reference_state_dict(net: nn.Module, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Make a reference state_dict fit `net` as the reference loader does.

    Strips a DataParallel `module.` prefix and drops the running stats that InstanceNorm layers carried
    in checkpoints saved before PyTorch 0.4 (our InstanceNorm, like the reference's, tracks none).
    """
    modules = dict(unwrap(net).named_modules())
    adapted = {}
    for key, value in state.items():
        if key.startswith("module."):
            key = key[len("module."):]
        owner, _, leaf = key.rpartition(".")
        module = modules.get(owner)
        if (isinstance(module, nn.InstanceNorm2d) and not module.track_running_stats
                and leaf in _INSTANCE_NORM_STATS):
            continue
        adapted[key] = value
    return adapted


def load_weights(net: nn.Module, state: dict[str, torch.Tensor], source: str = "checkpoint") -> nn.Module:
    """Strict load with a message that says which keys differ and what usually causes it."""
    state = adapt_reference_state_dict(net, state)
    own = unwrap(net).state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    wrong_shape = sorted(k for k in set(own) & set(state) if own[k].shape != state[k].shape)
    if missing or unexpected or wrong_shape:
        parts = []
        for label, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong_shape)):
            if keys:
                parts.append(f"{len(keys)} {label} (e.g. {', '.join(keys[:3])})")
        raise CheckpointError(f"{source} does not fit the network: {'; '.join(parts)}. "
                              "Check --netG, --ngf, --norm and --no_dropout against how it was trained.")
    unwrap(net).load_state_dict(state, strict=True)
    return net


def save_model(directory: str | Path, config: ModelConfig, nets: dict[str, nn.Module], *,
               half: bool = False, card: str | None = None) -> Path:
    """Write `model.safetensors` (tensors prefixed by network name), `config.json` and a model card.

    Each file is replaced atomically, and a new directory is built beside and renamed into place: a crash
    never leaves a model directory with a missing or half-written file.
    """
    directory = Path(directory)
    tensors = {}
    for name, net in nets.items():
        for key, value in unwrap(net).state_dict().items():
            value = value.detach().to("cpu").contiguous()
            if half and value.is_floating_point():
                value = value.half()
            tensors[f"{name}.{key}"] = value
    # bytes written by us, not save_file: a full disk then raises OSError, not a SafetensorError
    data = save(tensors, metadata={"format": "pt", "task": config.task})
    target = directory
    if not directory.is_dir():
        target = directory.with_name(f".{directory.name}{TMP_MARK}{os.getpid()}")
        shutil.rmtree(target, ignore_errors=True)
    try:
        atomic_write(target / MODEL_FILE, lambda p: p.write_bytes(data))
        atomic_write(target / CONFIG_FILE, config.save)
        if card is not None:
            atomic_write(target / CARD_FILE, lambda p: p.write_text(card))
        if target != directory:
            os.replace(target, directory)
            fsync_folder(directory.parent)
    except BaseException:
        if target != directory:
            shutil.rmtree(target, ignore_errors=True)
        raise
    return directory


def load_model(directory: str | Path, *, with_discriminators: bool = False,
               device: str | torch.device = "cpu") -> tuple[ModelConfig, dict[str, nn.Module]]:
    """Load a model directory: its config and its networks (float32, eval mode) by name."""
    directory = Path(directory)
    for required in (CONFIG_FILE, MODEL_FILE):
        if not (directory / required).is_file():
            raise CheckpointError(f"{directory} is not a model directory: {required} is missing")
    config = ModelConfig.load(directory / CONFIG_FILE)
    tensors = load_file(str(directory / MODEL_FILE))
    names = list(config.generator_names) + (list(config.discriminator_names) if with_discriminators else [])
    nets = {}
    for name in names:
        prefix = name + "."
        state = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
        if not state:
            continue
        build = config.build_generator if name.startswith("G") else config.build_discriminator
        net = build(name)
        load_weights(net, {k: v.float() if v.is_floating_point() else v for k, v in state.items()},
                     source=f"{directory.name}/{name}")
        nets[name] = net.to(device).eval()
    if not any(n.startswith("G") for n in nets):
        raise CheckpointError(f"{directory} holds no generator weights")
    return config, nets


def import_official(path: str | Path, out_dir: str | Path, config: ModelConfig) -> Path:
    """Convert a published reference generator (e.g. style_monet's latest_net_G.pth) into a model directory.

    A CycleGAN reference checkpoint holds one direction; it is stored as G_A.
    """
    name = "G_A" if config.task == "cycle_gan" else "G"
    net = config.build_generator(name)
    load_weights(net, read_state_dict(path), source=Path(path).name)
    config.training.setdefault("source", f"imported from reference checkpoint {Path(path).name}")
    card = (f"# {config.name or Path(out_dir).name}\n\nImported from the reference implementation's checkpoint "
            f"`{Path(path).name}` ({config.netG}, norm {config.norm}, dropout {config.use_dropout}).\n")
    return save_model(out_dir, config, {name: net}, card=card)


def save_training_state(path: str | Path, state: dict) -> None:
    """Atomically save a training state (tensors, numbers, strings, nested dicts/lists only)."""
    atomic_write(path, lambda p: torch_save(state, p))


def load_training_state(path: str | Path) -> dict:
    """Load a training state written by `save_training_state`, with weights_only=True."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError) as e:
        raise CheckpointError(f"training state {path} is unreadable ({e})") from e
