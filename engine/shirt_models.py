"""Three answers to the t-shirt toy (engine.shirts), trained on the CPU in about a minute each:

- "l2": least squares on ab: the mean of teal and pink, a grey shirt that never exists;
- "classifier": a per-pixel distribution over the ab bins (engine.ab_classes) that occur in the shirts
  (the gamut's other bins never would), sampled pixel by pixel:
  each pixel picks teal or pink on its own, so colours flip inside one shirt;
- "cgan": G(L, z) with z broadcast over the image, a PacGAN-2 image discriminator, the non-saturating
  loss and a best-of-2 L1 term (two z per shirt, only the closer sample is pulled to the truth:
  Bhattacharyya et al., "best of many"), which keeps both colours and whole shirts in a short CPU run:
  each z gives a whole teal or a whole pink shirt.

    models = train_shirt_models(ShirtConfig())          # {"l2": ShirtModel, ...}
    ab = models["cgan"].generate(L, seed=3)             # (N, 2, 64, 64) ab / 110
    save_shirt_model(models["cgan"], "weights/why_cgan_shirts/cgan")

Seeded throughout (torch.Generator per model); the global RNGs are never drawn from.
"""
from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn

from .ab_classes import gamut_bins
from .color import AB_SCALE
from .shirts import make_shirts

METHODS = ("l2", "classifier", "cgan")
WEIGHTS_FILE = "weights.safetensors"
CONFIG_FILE = "shirt_model.json"


@dataclass(frozen=True)
class ShirtConfig:
    """Data and training budget of the three shirt models."""
    n_train: int = 2000
    seed: int = 0
    width: int = 12          # channels of the first level of every network
    steps: int = 300         # optimizer steps of L2 and the classifier (batches of `batch_size`)
    gan_steps: int = 500     # generator steps of the cGAN (one discriminator step each)
    batch_size: int = 12
    lr: float = 2e-3
    gan_lr: float = 1e-3
    nz: int = 4
    lambda_best: float = 10.0  # cGAN: weight of the best-of-2 L1 (0: the GAN loss alone)

    def __post_init__(self):
        for name in ("n_train", "width", "steps", "gan_steps", "batch_size", "nz"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.GroupNorm(4, cout), nn.LeakyReLU(0.2))


class TinyUNet(nn.Module):
    """64 -> 32 -> 16 -> 8 px encoder, decoder with skips, 1x1 output; the shirt models' generator."""

    def __init__(self, in_channels: int, out_channels: int, width: int = 16):
        super().__init__()
        w = (width, 2 * width, 4 * width, 4 * width)
        self.down = nn.ModuleList([_block(in_channels, w[0]), _block(w[0], w[1]), _block(w[1], w[2]),
                                   _block(w[2], w[3])])
        self.up = nn.ModuleList([_block(w[3] + w[2], w[2]), _block(w[2] + w[1], w[1]), _block(w[1] + w[0], w[0])])
        self.out = nn.Conv2d(w[0], out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for i, block in enumerate(self.down):
            x = block(x if i == 0 else F.avg_pool2d(x, 2))
            skips.append(x)
        for block, skip in zip(self.up, reversed(skips[:-1])):
            x = block(torch.cat([F.interpolate(x, scale_factor=2.0, mode="nearest"), skip], 1))
        return self.out(x)


class PackedDiscriminator(nn.Module):
    """D of PacGAN-2 on whole 64x64 images: two (L, ab) pairs stacked on channels -> one logit."""

    def __init__(self, width: int = 16, pack: int = 2):
        super().__init__()
        self.pack = pack
        layers, cin = [], 3 * pack
        for cout in (width, 2 * width, 4 * width, 4 * width):
            layers += [nn.Conv2d(cin, cout, 4, stride=2, padding=1), nn.LeakyReLU(0.2)]
            cin = cout
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(cin * 4 * 4, 1)

    def forward(self, L: torch.Tensor, ab: torch.Tensor) -> torch.Tensor:
        pairs = torch.cat([L, ab], 1)
        packed = pairs.reshape(pairs.shape[0] // self.pack, self.pack * 3, *pairs.shape[-2:])
        return self.head(self.features(packed).flatten(1))


def occurring_bins(ab_norm: torch.Tensor) -> torch.Tensor:
    """Indices (into gamut_bins) of the bins nearest to some pixel of (N, 2, H, W) ab / 110."""
    return _nearest_bin(ab_norm, gamut_bins() / AB_SCALE).unique()


def _nearest_bin(ab_norm: torch.Tensor, centres: torch.Tensor) -> torch.Tensor:
    flat = ab_norm.permute(0, 2, 3, 1).reshape(-1, 2)
    return torch.cat([torch.cdist(chunk, centres).argmin(1) for chunk in flat.split(65536)]).reshape(
        ab_norm.shape[0], *ab_norm.shape[-2:])


class ShirtModel(nn.Module):
    """One method's network and how it turns L into ab: `generate(L, seed)` -> (N, 2, H, W) ab / 110.
    The classifier's classes are the gamut bins `bins` (indices into engine.ab_classes.gamut_bins)."""

    def __init__(self, method: str, config: ShirtConfig, bins: list[int] | None = None):
        super().__init__()
        if method not in METHODS:
            raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
        if method == "classifier" and not bins:
            raise ValueError("the classifier needs its classes: bins, indices into gamut_bins()")
        self.method, self.config = method, config
        self.bins = list(bins) if method == "classifier" else []
        out = len(self.bins) if method == "classifier" else 2
        extra = config.nz if method == "cgan" else 0
        self.net = TinyUNet(1 + extra, out, config.width)
        self.register_buffer("centres", gamut_bins()[self.bins] / AB_SCALE, persistent=False)
        self.seconds = 0.0

    def forward(self, L: torch.Tensor, z: torch.Tensor | None = None) -> torch.Tensor:
        """Raw output: ab / 110 (l2), logits over the bins (classifier), tanh ab / 110 (cgan, needs z)."""
        if self.method != "cgan":
            return self.net(L)
        return torch.tanh(self.net(torch.cat([L, z[:, :, None, None].expand(-1, -1, *L.shape[-2:])], 1)))

    @torch.no_grad()
    def generate(self, L: torch.Tensor, seed: int = 0, mode: str = "sample") -> torch.Tensor:
        """ab / 110 for each L. The classifier samples each pixel's bin (mode "sample") or takes its most
        likely bin ("mode"); the cGAN draws one z per shirt from `seed`; L2 ignores both."""
        generator = torch.Generator().manual_seed(seed)
        was_training = self.training
        self.eval()
        try:
            if self.method == "l2":
                return self(L)
            if self.method == "cgan":
                return self(L, torch.randn(L.shape[0], self.config.nz, generator=generator))
            probs = torch.softmax(self(L), 1).permute(0, 2, 3, 1)
            if mode == "mode":
                index = probs.argmax(-1)
            else:
                index = torch.multinomial(probs.reshape(-1, probs.shape[-1]), 1, generator=generator)
                index = index.reshape(probs.shape[:-1])
            return self.centres[index].permute(0, 3, 1, 2)
        finally:
            self.train(was_training)


def _batches(count: int, batch_size: int, generator: torch.Generator):
    while True:
        yield from torch.randperm(count, generator=generator).split(batch_size)


def _fit_supervised(model: ShirtModel, L: torch.Tensor, ab: torch.Tensor, generator: torch.Generator) -> None:
    config = model.config
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    targets = _nearest_bin(ab, model.centres) if model.method == "classifier" else None
    batches = _batches(len(L), config.batch_size, generator)
    for _ in range(config.steps):
        index = next(batches)
        out = model(L[index])
        loss = F.mse_loss(out, ab[index]) if targets is None else F.cross_entropy(out, targets[index])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()


def _fit_cgan(model: ShirtModel, L: torch.Tensor, ab: torch.Tensor, generator: torch.Generator) -> None:
    config = model.config
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed * 1000 + len(METHODS))   # the discriminator's initialisation
        discriminator = PackedDiscriminator(config.width)
    opt_g = torch.optim.Adam(model.parameters(), lr=config.gan_lr, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=config.gan_lr, betas=(0.5, 0.999))
    batches = _batches(len(L), config.batch_size, generator)
    for _ in range(config.gan_steps):
        index = next(batches)
        if len(index) % 2:
            index = index[:-1]
        real_L, real_ab = L[index], ab[index]
        twice_L = torch.cat([real_L, real_L])            # two answers per shirt, two z
        z = torch.randn(len(twice_L), config.nz, generator=generator)
        fake_ab = model(twice_L, z)
        loss_d = (F.softplus(-discriminator(real_L, real_ab)).mean()
                  + F.softplus(discriminator(twice_L, fake_ab.detach())).mean())
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()
        distances = (fake_ab - torch.cat([real_ab, real_ab])).abs().mean((1, 2, 3)).view(2, -1)
        best_of_two = distances.min(0).values.mean()
        loss_g = F.softplus(-discriminator(twice_L, fake_ab)).mean() + config.lambda_best * best_of_two
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()


def train_shirt_model(method: str, config: ShirtConfig | None = None,
                      data: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None) -> ShirtModel:
    """Train one method on `config.n_train` shirts (made from config.seed unless `data` is given)."""
    config = config or ShirtConfig()
    L, ab, _ = data if data is not None else make_shirts(config.n_train, config.seed)
    generator = torch.Generator().manual_seed(config.seed * 1000 + METHODS.index(method))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed * 1000 + METHODS.index(method))   # weight initialisation
        model = ShirtModel(method, config, occurring_bins(ab).tolist() if method == "classifier" else None)
    start = time.perf_counter()
    (_fit_cgan if method == "cgan" else _fit_supervised)(model, L, ab, generator)
    model.seconds = time.perf_counter() - start
    return model.eval()


def train_shirt_models(config: ShirtConfig | None = None, methods=METHODS) -> dict[str, ShirtModel]:
    """Train each method on the same shirts."""
    config = config or ShirtConfig()
    data = make_shirts(config.n_train, config.seed)
    return {method: train_shirt_model(method, config, data) for method in methods}


def save_shirt_model(model: ShirtModel, directory: str | Path, card: str | None = None) -> Path:
    """weights.safetensors (fp16) + shirt_model.json (+ README.md) in `directory`."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    save_file({k: v.half().contiguous() for k, v in model.state_dict().items()}, str(directory / WEIGHTS_FILE))
    meta = {"method": model.method, "config": dataclasses.asdict(model.config), "bins": model.bins,
            "seconds": round(model.seconds, 1)}
    (directory / CONFIG_FILE).write_text(json.dumps(meta, indent=2) + "\n")
    if card is not None:
        (directory / "README.md").write_text(card)
    return directory


def load_shirt_model(directory: str | Path) -> ShirtModel:
    """A ShirtModel saved by save_shirt_model (float32, eval mode)."""
    directory = Path(directory)
    meta = json.loads((directory / CONFIG_FILE).read_text())
    model = ShirtModel(meta["method"], ShirtConfig(**meta["config"]), meta.get("bins"))
    model.load_state_dict({k: v.float() for k, v in load_file(str(directory / WEIGHTS_FILE)).items()})
    model.seconds = float(meta.get("seconds", 0.0))
    return model.eval()


EVAL_SEED = 10_001   # the held-out shirts: never the training seed


def evaluate_shirt_models(models: dict[str, ShirtModel], count: int = 200, seed: int = EVAL_SEED,
                          sample_seed: int = 0) -> dict[str, dict[str, float]]:
    """engine.shirts.shirt_colour_stats of each model's shirts for `count` held-out grey shirts (one
    sample each), of the classifier's most likely bins too ("classifier_mode"), and of the data ("data")."""
    from .shirts import shirt_colour_stats
    L, ab, mask = make_shirts(count, seed)
    stats = {"data": shirt_colour_stats(ab, mask)}
    for name, model in models.items():
        stats[name] = shirt_colour_stats(model.generate(L, sample_seed), mask)
        if name == "classifier":
            stats["classifier_mode"] = shirt_colour_stats(model.generate(L, sample_seed, mode="mode"), mask)
    return stats
