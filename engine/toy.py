"""Why a cGAN? A 1-D toy: a pixel of lightness l whose color a is teal or pink (or one of 3 modes).

Five models are fitted to the same samples and their predictive distributions p(a | l) compared with
the true one: L2 regression (the mean), L1 regression (a median), a Gaussian (one broad bump), a
categorical over K bins (both modes, sampled per pixel) and a small conditional GAN G(l, z).

    result = train_toy(toy_preset(n_modes=2, seed=0))
    result.summary["l2_prediction"], result.summary["cgan_mode_shares"]

Uses torch and numpy only; every random number comes from generators seeded by `ToyConfig.seed`, so a
result is reproducible and the global RNG is never touched.
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from typing import Callable

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from .color import decode_lab

A_RANGE = (-1.0, 1.0)        # a is a normalized Lab "a" channel: negative teal/green, positive pink/magenta
MODE_PRESETS = {2: (-0.6, 0.6), 3: (-0.6, 0.0, 0.6)}
MODE_NAMES = {2: ("teal", "pink"), 3: ("teal", "gray", "pink")}
METHODS = ("l2", "l1", "gaussian", "categorical", "cgan")
NEAR_MODE = 0.15             # a cGAN sample counts as "on a mode" within this distance of one
HISTOGRAM_WIDTH = 0.04       # bin width of the cGAN samples' histogram
FIT_BATCH = 1024             # minibatch of the regression fits


@dataclass(frozen=True)
class ToyConfig:
    """The toy data and the training budget."""
    modes: tuple[float, ...] = MODE_PRESETS[2]
    weights: tuple[float, ...] | None = None   # mixture weights of `modes`; None: equal
    spread: float = 0.03                        # standard deviation of a around its mode
    l_fixed: float | None = None                # None: l ~ U[0, 1]; a number: every l is that (constant fits)
    query_l: float = 0.65                       # the l at which the predictive distributions are shown
    bins: int = 9                               # K of the categorical, over A_RANGE
    n_train: int = 4096
    seed: int = 0
    hidden: int = 32                            # width of the regression MLPs
    steps: int = 300                            # Adam steps of each regression fit (minibatches)
    gan_steps: int | None = None                # generator steps of the cGAN; None: 600 per mode
    z_dim: int = 2
    gan_lr: float = 5e-3
    n_samples: int = 4000                       # cGAN samples drawn at query_l for its histogram

    def __post_init__(self):
        if not 1 <= len(self.modes) <= 8 or not all(A_RANGE[0] < m < A_RANGE[1] for m in self.modes):
            raise ValueError(f"modes must be 1..8 values inside {A_RANGE}, got {self.modes}")
        w = self.mode_weights
        if len(w) != len(self.modes) or min(w) < 0 or not math.isclose(sum(w), 1.0, abs_tol=1e-6):
            raise ValueError(f"weights must be one non-negative number per mode summing to 1, got {self.weights}")
        if not 0 < self.spread <= 0.5:
            raise ValueError(f"spread must be in (0, 0.5], got {self.spread}")
        if not 2 <= self.bins <= 64:
            raise ValueError(f"bins must be 2..64, got {self.bins}")
        for name in ("query_l", "l_fixed"):
            value = getattr(self, name)
            if value is not None and not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {value}")

    @property
    def mode_weights(self) -> tuple[float, ...]:
        return tuple(self.weights) if self.weights is not None else (1.0 / len(self.modes),) * len(self.modes)

    @property
    def generator_steps(self) -> int:
        return self.gan_steps if self.gan_steps is not None else 600 * len(self.modes)

    @property
    def conditional(self) -> bool:
        return self.l_fixed is None


def toy_preset(n_modes: int = 2, first_weight: float | None = None, **kw) -> ToyConfig:
    """The chapter's toy: modes at -0.6 and +0.6 (3 modes: also 0). `first_weight` is the weight of the
    first (teal) mode, the others share the rest equally; None: all equal."""
    if n_modes not in MODE_PRESETS:
        raise ValueError(f"n_modes must be one of {sorted(MODE_PRESETS)}, got {n_modes}")
    weights = None
    if first_weight is not None:
        if not 0.0 < first_weight < 1.0:
            raise ValueError(f"first_weight must be in (0, 1), got {first_weight}")
        rest = (1.0 - first_weight) / (n_modes - 1)
        weights = (first_weight,) + (rest,) * (n_modes - 1)
    return ToyConfig(modes=MODE_PRESETS[n_modes], weights=weights, **kw)


@dataclass
class Predictive:
    """One method's predictive distribution p(a | query_l): a density on `ToyResult.grid` and, for the
    regressions, the point prediction (a spike)."""
    method: str
    density: list[float]
    point: float | None = None                  # L2, L1: the prediction; Gaussian: mu; others: None
    sigma: float | None = None                  # Gaussian only
    bin_probs: list[float] | None = None        # categorical only, over `ToyResult.bin_edges`
    samples: list[float] | None = None          # cGAN only: G(query_l, z) for n_samples z
    seconds: float = 0.0                        # wall-clock time of the fit
    cpu_seconds: float = 0.0                    # CPU time of the fitting thread (= wall time on an idle core)


@dataclass
class ToyResult:
    """Everything a figure and the checks need; plain lists and numbers (JSON-ready via `to_dict`)."""
    config: ToyConfig
    grid: list[float]
    true_density: list[float]
    bin_edges: list[float]
    methods: dict[str, Predictive]
    summary: dict[str, object] = field(default_factory=dict)
    seconds: float = 0.0

    def to_dict(self, with_curves: bool = False) -> dict:
        """The numbers: config, summary, per-method point/sigma/bin_probs/seconds (curves on request)."""
        methods = {}
        for name, p in self.methods.items():
            item = {k: v for k, v in asdict(p).items() if v is not None and k not in ("density", "samples", "method")}
            if with_curves:
                item["density"] = p.density
            methods[name] = item
        out = {"config": asdict(self.config), "summary": self.summary, "methods": methods, "seconds": self.seconds}
        if with_curves:
            out.update(grid=self.grid, true_density=self.true_density, bin_edges=self.bin_edges)
        return out


# ---------------------------------------------------------------------------------------------- data

def sample_toy(config: ToyConfig, n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """n pairs (l, a) as two (n, 1) float tensors: l uniform in [0, 1] (or l_fixed), a from the mixture."""
    if config.l_fixed is None:
        l = torch.rand(n, 1, generator=generator)
    else:
        l = torch.full((n, 1), float(config.l_fixed))
    which = torch.multinomial(torch.tensor(config.mode_weights), n, replacement=True, generator=generator)
    centers = torch.tensor(config.modes, dtype=torch.float32)[which].unsqueeze(1)
    return l, centers + config.spread * torch.randn(n, 1, generator=generator)


def true_density(config: ToyConfig, grid: np.ndarray) -> np.ndarray:
    """p(a) of the mixture on `grid` (the same for every l)."""
    s = config.spread
    return sum(w * np.exp(-0.5 * ((grid - m) / s) ** 2) / (s * math.sqrt(2 * math.pi))
               for m, w in zip(config.modes, config.mode_weights))


# -------------------------------------------------------------------------------------------- models

class Constant(nn.Module):
    """A learned constant output of size `out_dim`, whatever the input: the fit when l carries nothing."""

    def __init__(self, out_dim: int):
        super().__init__()
        self.value = nn.Parameter(torch.zeros(out_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.value.expand(x.shape[0], -1)


def mlp(in_dim: int, hidden: int, out_dim: int, generator: torch.Generator, depth: int = 2) -> nn.Sequential:
    """in -> (Linear, LeakyReLU) x depth -> out, initialized from `generator` (Kaiming uniform, zero bias)."""
    dims = [in_dim] + [hidden] * depth
    layers: list[nn.Module] = []
    for a, b in zip(dims[:-1], dims[1:]):
        layers += [_linear(a, b, generator), nn.LeakyReLU(0.2)]
    layers.append(_linear(dims[-1], out_dim, generator))
    return nn.Sequential(*layers)


def _linear(in_dim: int, out_dim: int, generator: torch.Generator) -> nn.Linear:
    layer = torch.nn.utils.skip_init(nn.Linear, in_dim, out_dim)   # no draw from the global RNG
    nn.init.kaiming_uniform_(layer.weight, a=0.2, nonlinearity="leaky_relu", generator=generator)
    nn.init.zeros_(layer.bias)
    return layer


def _head(config: ToyConfig, out_dim: int, generator: torch.Generator) -> nn.Module:
    return mlp(1, config.hidden, out_dim, generator) if config.conditional else Constant(out_dim)


def _fit(model: nn.Module, loss_fn, l: torch.Tensor, target: torch.Tensor, steps: int,
         generator: torch.Generator) -> nn.Module:
    """Adam on loss_fn(model(l), target) over random minibatches of FIT_BATCH, the learning rate decaying
    linearly to 0 (the fit ends at the optimum, not around it). A Constant moves by about the learning
    rate per step, so it gets a larger one (logits must travel ~5)."""
    lr = 5e-2 if isinstance(model, Constant) else 1e-2
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, fused=True)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0 - step / steps)
    for _ in range(steps):
        idx = torch.randint(l.shape[0], (min(FIT_BATCH, l.shape[0]),), generator=generator)
        optimizer.zero_grad(set_to_none=True)
        loss_fn(model(l[idx]), target[idx]).backward()
        optimizer.step()
        scheduler.step()
    return model


def _query(config: ToyConfig, n: int = 1) -> torch.Tensor:
    value = config.query_l if config.l_fixed is None else config.l_fixed
    return torch.full((n, 1), float(value))


# -------------------------------------------------------------------------------------- the five fits

def fit_regression(config: ToyConfig, l, a, generator, loss: str) -> nn.Module:
    """L2 (-> the conditional mean) or L1 (-> a conditional median) regression of a on l."""
    loss_fn = F.mse_loss if loss == "l2" else F.l1_loss
    return _fit(_head(config, 1, generator), loss_fn, l, a, config.steps, generator)


def fit_gaussian(config: ToyConfig, l, a, generator) -> nn.Module:
    """mu(l) and log sigma(l) by Gaussian negative log-likelihood."""
    def nll(out, target):
        mu, log_sigma = out[:, :1], out[:, 1:]
        return (log_sigma + 0.5 * ((target - mu) / log_sigma.exp()) ** 2).mean()
    return _fit(_head(config, 2, generator), nll, l, a, config.steps, generator)


def bin_edges(config: ToyConfig) -> torch.Tensor:
    return torch.linspace(A_RANGE[0], A_RANGE[1], config.bins + 1)


def bin_index(config: ToyConfig, a: torch.Tensor) -> torch.Tensor:
    """The bin of each a (values outside A_RANGE go to the end bins)."""
    width = (A_RANGE[1] - A_RANGE[0]) / config.bins
    return ((a - A_RANGE[0]) / width).floor().long().clamp(0, config.bins - 1)


def fit_categorical(config: ToyConfig, l, a, generator) -> nn.Module:
    """Logits of K bins of a by cross-entropy (colorization as classification)."""
    target = bin_index(config, a).squeeze(1)
    return _fit(_head(config, config.bins, generator), F.cross_entropy, l, target, config.steps, generator)


PACK = 2                 # samples per discriminator decision (PacGAN)
GAN_BATCH = 256          # samples per step (GAN_BATCH // PACK decisions)
INSTANCE_NOISE = 0.2     # std of the noise added to D's a at step 0, annealed to 0 by mid-training


def fit_cgan(config: ToyConfig, l, a, generator) -> Callable[[torch.Tensor], torch.Tensor]:
    """A conditional GAN: G(l, z) against D(l, a), non-saturating loss, Adam (0.5, 0.999), learning
    rates decaying linearly to 0. Returns `generate`: (n, 1) l -> (n, 1) a = G(l, z), z ~ N(0, I).

    Against dropped and starved modes: D judges PACK samples at once (PacGAN: a batch missing a mode
    is easier to tell from a real one), and both real and fake a get instance noise so that early on
    D's gradient reaches across the gaps between modes."""
    cond = 1 if config.conditional else 0
    G = mlp(cond + config.z_dim, 64, 1, generator)
    D = mlp(PACK * (cond + 1), 64, 1, generator)
    optimizers = [torch.optim.Adam(net.parameters(), lr=config.gan_lr, betas=(0.5, 0.999), fused=True)
                  for net in (G, D)]
    steps = config.generator_steps
    schedulers = [torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 1.0 - step / steps) for opt in optimizers]

    def generate(l_batch: torch.Tensor) -> torch.Tensor:
        z = torch.randn(l_batch.shape[0], config.z_dim, generator=generator)
        return G(torch.cat([l_batch, z], 1) if cond else z)

    def judge(l_batch, a_batch, noise: float) -> torch.Tensor:
        a_batch = a_batch + noise * torch.randn(a_batch.shape, generator=generator)
        x = torch.cat([l_batch, a_batch], 1) if cond else a_batch
        return D(x.reshape(-1, PACK * x.shape[1]))

    def step_on(optimizer, loss):
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    real = torch.ones(GAN_BATCH // PACK, 1)
    real_then_fake = torch.cat([real, torch.zeros_like(real)])
    for step in range(steps):
        noise = INSTANCE_NOISE * max(0.0, 1.0 - 2.0 * step / steps)
        l_batch = l[torch.randint(l.shape[0], (GAN_BATCH,), generator=generator)]
        idx = torch.randint(l.shape[0], (GAN_BATCH,), generator=generator)
        with torch.no_grad():
            fake_a = generate(l_batch)
        both = judge(torch.cat([l[idx], l_batch]), torch.cat([a[idx], fake_a]), noise)   # packs never mix the two
        step_on(optimizers[1], 2 * F.binary_cross_entropy_with_logits(both, real_then_fake))
        l_batch = l[torch.randint(l.shape[0], (GAN_BATCH,), generator=generator)]
        # non-saturating: G maximizes log D(G(z)) instead of minimizing log(1 - D(G(z)))
        step_on(optimizers[0], F.binary_cross_entropy_with_logits(judge(l_batch, generate(l_batch), noise), real))
        for scheduler in schedulers:
            scheduler.step()
    return generate


# ---------------------------------------------------------------------------------------- train_toy

def train_toy(config: ToyConfig | None = None, grid_size: int = 201) -> ToyResult:
    """Fit the five models on one sample of the toy and return their predictive distributions at
    `config.query_l` on a grid of a, with the summary numbers (see `summarize`)."""
    config = config or ToyConfig()
    start = time.perf_counter()
    data_gen = torch.Generator().manual_seed(config.seed)
    l, a = sample_toy(config, config.n_train, data_gen)
    grid = np.linspace(A_RANGE[0], A_RANGE[1], grid_size)
    edges = bin_edges(config).numpy()
    q = _query(config)
    methods: dict[str, Predictive] = {}

    def generator(k: int) -> torch.Generator:   # one stream per method: results do not depend on the order
        return torch.Generator().manual_seed(config.seed * 1000 + 17 + k)

    for k, method in enumerate(METHODS):
        t0, cpu0 = time.perf_counter(), time.thread_time()
        g = generator(k)
        if method in ("l2", "l1"):
            model = fit_regression(config, l, a, g, method)
            with torch.no_grad():
                point = float(model(q)[0, 0])
            predictive = Predictive(method, _spike(grid, point).tolist(), point=point)
        elif method == "gaussian":
            model = fit_gaussian(config, l, a, g)
            with torch.no_grad():
                mu, log_sigma = (float(v) for v in model(q)[0])
            sigma = math.exp(log_sigma)
            density = np.exp(-0.5 * ((grid - mu) / sigma) ** 2) / (sigma * math.sqrt(2 * math.pi))
            predictive = Predictive(method, density.tolist(), point=mu, sigma=sigma)
        elif method == "categorical":
            model = fit_categorical(config, l, a, g)
            with torch.no_grad():
                probs = torch.softmax(model(q)[0], 0).numpy()
            width = edges[1] - edges[0]
            density = probs[np.clip(((grid - edges[0]) / width).astype(int), 0, config.bins - 1)] / width
            predictive = Predictive(method, density.tolist(), bin_probs=probs.tolist())
        else:
            generate = fit_cgan(config, l, a, g)
            with torch.no_grad():
                samples = generate(_query(config, config.n_samples))[:, 0].numpy()
            predictive = Predictive(method, _histogram_density(samples, grid).tolist(), samples=samples.tolist())
        predictive.seconds = round(time.perf_counter() - t0, 3)
        predictive.cpu_seconds = round(time.thread_time() - cpu0, 3)
        methods[method] = predictive

    result = ToyResult(config, grid.tolist(), true_density(config, grid).tolist(), edges.tolist(), methods)
    result.summary = summarize(result)
    result.seconds = round(time.perf_counter() - start, 3)
    return result


def _spike(grid: np.ndarray, point: float) -> np.ndarray:
    """A point prediction as a density: all mass in the grid cell nearest to it."""
    density = np.zeros_like(grid)
    step = grid[1] - grid[0]
    density[int(np.clip(round((point - grid[0]) / step), 0, len(grid) - 1))] = 1.0 / step
    return density


def _histogram_density(samples: np.ndarray, grid: np.ndarray, width: float = HISTOGRAM_WIDTH) -> np.ndarray:
    """Histogram density of samples (bins of `width` over A_RANGE) at each grid point."""
    n_bins = round((A_RANGE[1] - A_RANGE[0]) / width)
    counts, edges = np.histogram(samples, bins=n_bins, range=A_RANGE)
    density = counts / (len(samples) * (edges[1] - edges[0]))
    index = np.floor((grid - A_RANGE[0]) / (edges[1] - edges[0]) + 1e-9).astype(int)   # grid points on an edge: the bin above
    return density[np.clip(index, 0, n_bins - 1)]


def summarize(result: ToyResult) -> dict[str, object]:
    """The numbers the chapter's claims are checked on: L2's and L1's predictions, the Gaussian's mu and
    sigma, the categorical's mass in each mode's bin, and the share of cGAN samples within NEAR_MODE of
    a mode and at each mode (nearest mode)."""
    config, m = result.config, result.methods
    modes = np.array(config.modes)
    bins = bin_index(config, torch.tensor(modes)).tolist()
    samples = np.array(m["cgan"].samples)
    distance = np.abs(samples[:, None] - modes[None, :])
    nearest = distance.argmin(1)
    return {
        "modes": list(config.modes),
        "mode_names": list(MODE_NAMES.get(len(modes), [f"mode {i}" for i in range(len(modes))])),
        "weights": list(config.mode_weights),
        "true_mean": float(np.dot(config.mode_weights, modes)),
        "l2_prediction": round(m["l2"].point, 4),
        "l1_prediction": round(m["l1"].point, 4),
        "gaussian_mu": round(m["gaussian"].point, 4),
        "gaussian_sigma": round(m["gaussian"].sigma, 4),
        "categorical_mode_mass": [round(m["categorical"].bin_probs[b], 4) for b in bins],
        "cgan_near_mode": round(float((distance.min(1) <= NEAR_MODE).mean()), 4),
        "cgan_mode_shares": [round(float((nearest == i).mean()), 4) for i in range(len(modes))],
        "seconds": {name: p.seconds for name, p in m.items()},
        "cpu_seconds": {name: p.cpu_seconds for name, p in m.items()},
    }


def toy_colors(a_values, lightness: float) -> list[tuple[int, int, int]]:
    """The sRGB color (0..255) of each a as the normalized Lab a channel (b = 0) at lightness l in [0, 1]."""
    ab = torch.zeros(1, 2, 1, len(a_values))
    ab[0, 0, 0] = torch.as_tensor(np.asarray(a_values, dtype=np.float32))
    L = torch.full((1, 1, 1, len(a_values)), 2.0 * float(lightness) - 1.0)
    rgb = (decode_lab(L, ab)[0, :, 0].T * 255).round().to(torch.uint8)
    return [tuple(int(v) for v in row) for row in rgb]
