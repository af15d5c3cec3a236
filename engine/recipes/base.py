"""What every recipe shares: mixed precision, DDP-aware calls, optimizers and state."""
from __future__ import annotations

import contextlib
import copy

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from ..checkpoint import unwrap
from ..config import TrainConfig
from ..networks import init_weights


class Precision:
    """Autocast and gradient scaling: bf16 on CUDA where supported, fp16 with a GradScaler otherwise, fp32 on CPU."""

    def __init__(self, device: torch.device, enabled: bool):
        self.device_type = device.type
        self.dtype = None
        if enabled and device.type == "cuda":
            self.dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.dtype == torch.float16)

    @property
    def name(self) -> str:
        return {None: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[self.dtype]

    def autocast(self):
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device_type, dtype=self.dtype)

    def backward(self, loss: torch.Tensor) -> None:
        self.scaler.scale(loss).backward()

    def step(self, optimizer: torch.optim.Optimizer) -> None:
        self.scaler.step(optimizer)

    def update(self) -> None:
        self.scaler.update()


def set_requires_grad(nets, flag: bool) -> None:
    for net in nets:
        for p in net.parameters():
            p.requires_grad_(flag)


def call(net: nn.Module, *inputs: torch.Tensor, sync: bool = True):
    """Run a network; with DDP, all but one forward per backward must skip the gradient-sync setup."""
    if isinstance(net, DistributedDataParallel) and not sync:
        with net.no_sync():
            return net(*inputs)
    return net(*inputs)


@contextlib.contextmanager
def side_effect_free(nets):
    """Run training-mode forwards (batch statistics, dropout) without touching BatchNorm running stats
    or the global RNG, so sample sheets never change the course of training."""
    norms = [m for net in nets for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved = [(m, m.momentum) for m in norms]
    for m in norms:
        m.momentum = 0.0
    devices = [torch.cuda.current_device()] if torch.cuda.is_available() and torch.cuda.is_initialized() else []
    try:
        with torch.random.fork_rng(devices=devices):
            yield
    finally:
        for m, momentum in saved:
            m.momentum = momentum


class Recipe:
    """Networks, optimizers and one training step of a model family; subclasses define the objective."""

    def __init__(self, cfg: TrainConfig, device: torch.device, precision: Precision):
        self.cfg = cfg
        self.device = device
        self.precision = precision
        self.model_config = cfg.model_config()
        # channels_last speeds up cuDNN; on the CPU oneDNN's NCHW kernels are faster for these nets (measured).
        use_channels_last = cfg.channels_last and device.type == "cuda"
        self.memory_format = torch.channels_last if use_channels_last else torch.contiguous_format
        self.nets: dict[str, nn.Module] = {}
        for name in self.model_config.generator_names + self.model_config.discriminator_names:
            build = self.model_config.build_generator if name.startswith("G") else self.model_config.build_discriminator
            net = init_weights(build(name), cfg.init_type, cfg.init_gain)
            self.nets[name] = net.to(device, memory_format=self.memory_format).train()
        self.optimizers = self.build_optimizers()
        # Exponential moving averages of the generators (cfg.ema_decay > 0): what gets exported.
        self.ema = {name: copy.deepcopy(self.nets[name]).requires_grad_(False)
                    for name in self.model_config.generator_names} if cfg.ema_decay > 0 else {}
        self.ema_updates = 0

    def adam(self, names) -> torch.optim.Adam:
        """Adam as the reference (beta2 0.999), fused into one kernel on CPU and CUDA (same math, far fewer passes)."""
        params = [p for name in names for p in self.nets[name].parameters()]
        fused = self.device.type in ("cpu", "cuda")
        return torch.optim.Adam(params, lr=self.cfg.lr, betas=(self.cfg.beta1, 0.999), fused=fused)

    def build_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        opts = {"G": self.adam(self.model_config.generator_names)}
        if self.model_config.discriminator_names:
            opts["D"] = self.adam(self.model_config.discriminator_names)
        return opts

    def distribute(self, device_ids) -> None:
        """Wrap every network in DistributedDataParallel (called by the trainer under torchrun)."""
        self.nets = {name: DistributedDataParallel(net, device_ids=device_ids)
                     for name, net in self.nets.items()}

    def to_device(self, tensor: torch.Tensor) -> torch.Tensor:
        return tensor.to(self.device, non_blocking=True, memory_format=self.memory_format)

    def prepare(self, dataset) -> None:
        """Statistics of the training data that the objective needs, before the first step (none by default)."""

    def train_step(self, batch: dict) -> dict[str, torch.Tensor]:
        """One optimization step; returns detached losses (tensors, so the GPU is not synced every step)."""
        raise NotImplementedError

    @torch.no_grad()
    def update_ema(self) -> None:
        """Move the averaged generators towards the live ones (after each step); buffers are copied.

        The decay ramps up as min(ema_decay, (1 + n) / (10 + n)) so early weights do not linger."""
        if not self.ema:
            return
        self.ema_updates += 1
        decay = min(self.cfg.ema_decay, (1 + self.ema_updates) / (10 + self.ema_updates))
        for name, average in self.ema.items():
            live = unwrap(self.nets[name])
            torch._foreach_lerp_(list(average.parameters()), list(live.parameters()), 1.0 - decay)
            for mine, theirs in zip(average.buffers(), live.buffers()):
                mine.copy_(theirs)

    def visuals(self, batch: dict) -> list[tuple[str, torch.Tensor]]:
        """Labelled RGB batches in [-1, 1] for a sample sheet (training-mode forwards, no side effects)."""
        with torch.no_grad(), side_effect_free(self.nets.values()), self.precision.autocast():
            return [(label, tensor.float()) for label, tensor in self.compute_visuals(batch)]

    def compute_visuals(self, batch: dict) -> list[tuple[str, torch.Tensor]]:
        raise NotImplementedError

    def exported_nets(self) -> dict[str, nn.Module]:
        """The networks a model directory keeps: the averaged generators where EMA is on."""
        return {name: self.ema.get(name, unwrap(net)) for name, net in self.nets.items()}

    def state_dict(self) -> dict:
        state = {
            "nets": {name: unwrap(net).state_dict() for name, net in self.nets.items()},
            "optimizers": {name: opt.state_dict() for name, opt in self.optimizers.items()},
            "scaler": self.precision.scaler.state_dict(),
        }
        if self.ema:
            state["ema"] = {name: net.state_dict() for name, net in self.ema.items()}
            state["ema_updates"] = self.ema_updates
        return state

    def load_state_dict(self, state: dict) -> None:
        for name, net in self.nets.items():
            unwrap(net).load_state_dict(state["nets"][name])
        for name, opt in self.optimizers.items():
            opt.load_state_dict(state["optimizers"][name])
        if state.get("scaler"):
            self.precision.scaler.load_state_dict(state["scaler"])
        for name, net in self.ema.items():
            net.load_state_dict(state["ema"][name])
        self.ema_updates = state.get("ema_updates", 0)
