"""The one config object of a model, saved as config.json beside its weights."""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

from torch import nn

from .ab_classes import DEFAULT_REBALANCE, DEFAULT_TEMPERATURE, ABClassifier
from .networks import (UPSAMPLINGS, define_conditional_G, define_D, define_G, define_stargan_D, receptive_field,
                       stargan_receptive_field)
from .noise_input import LabelInputGenerator, NoiseInputGenerator

TASKS = ("pix2pix", "cycle_gan", "colorization", "stargan")
AUGMENTATIONS = ("tps",)  # single-pair training augmentations (engine.single_pair)
COLORIZATION_LOSSES = ("l1", "classification")
FORMAT_VERSION = 1


def _check_known_fields(cls, data: dict, what: str) -> None:
    unknown = sorted(set(data) - {f.name for f in dataclasses.fields(cls)})
    if unknown:
        raise ValueError(f"unknown {what}: {', '.join(unknown)}")


@dataclass
class ModelConfig:
    """Everything needed to rebuild a trained model and feed it the way it was trained.

    `input_kind` names the input domain ("photo", "edges", "labels", "gray") so an app knows what to
    show and how to preprocess; `color_space` is "rgb" or "lab" (colorization: L in, ab out).
    `upsample` is the generator's decoder (networks.define_G); `thin_drawings` tells whether user drawings
    are thinned to 1-px lines (models trained on extracted edges) or keep their stroke width ("drawn").
    `domains` (stargan) names the domain labels in the order of the generator's label input; a pix2pix
    model with `domains` takes a class as a second input (one-hot planes; engine.noise_input), e.g. a coat.
    `colorization_loss` "classification": the generator predicts a distribution over ab bins and
    decodes it by the annealed mean at `temperature` (engine.ab_classes). `nz` > 0: the generator takes
    that many noise channels, broadcast and concatenated to its input (engine.noise_input).
    """

    task: str = "pix2pix"
    netG: str = "unet_256"
    ngf: int = 64
    norm: str = "batch"
    use_dropout: bool = True
    input_nc: int = 3
    output_nc: int = 3
    netD: str | None = None
    ndf: int = 64
    n_layers_D: int = 3
    direction: str = "AtoB"
    input_kind: str = "photo"
    output_kind: str = "photo"
    color_space: str = "rgb"
    load_size: int = 286
    crop_size: int = 256
    preprocess: str = "resize_and_crop"
    upsample: str = "transpose"
    unet_padding: str = "zeros"
    spectral_norm: bool = False
    thin_drawings: bool = True
    domains: list[str] = field(default_factory=list)
    colorization_loss: str = "l1"
    temperature: float = DEFAULT_TEMPERATURE
    nz: int = 0
    name: str = ""
    description: str = ""
    training: dict = field(default_factory=dict)
    format_version: int = FORMAT_VERSION

    def __post_init__(self):
        if self.task not in TASKS:
            raise ValueError(f"unknown task {self.task!r}; choose one of {', '.join(TASKS)}")
        if self.direction not in ("AtoB", "BtoA"):
            raise ValueError(f"direction must be AtoB or BtoA, got {self.direction!r}")
        if self.color_space not in ("rgb", "lab"):
            raise ValueError(f"color_space must be rgb or lab, got {self.color_space!r}")
        if self.task == "stargan" and len(self.domains) < 2:
            raise ValueError(f"a stargan model needs at least 2 domains, got {self.domains}")
        if self.colorization_loss not in COLORIZATION_LOSSES:
            raise ValueError(f"colorization_loss must be one of {', '.join(COLORIZATION_LOSSES)}, "
                             f"got {self.colorization_loss!r}")
        if self.colorization_loss == "classification" and self.task != "colorization":
            raise ValueError("colorization_loss classification is for colorization models")
        if self.nz < 0 or (self.nz and self.task not in ("pix2pix", "colorization")):
            raise ValueError(f"nz (noise channels) is a non-negative number for pix2pix and colorization, "
                             f"got {self.nz}")
        if self.domains and (self.task not in ("stargan", "pix2pix") or len(self.domains) < 2 or self.nz):
            raise ValueError(f"class labels (domains) are for stargan, or pix2pix without noise, and need 2 or "
                             f"more; got {self.domains} for {self.task}")

    @property
    def generator_names(self) -> tuple[str, ...]:
        return ("G_A", "G_B") if self.task == "cycle_gan" else ("G",)

    @property
    def discriminator_names(self) -> tuple[str, ...]:
        if self.netD is None:
            return ()
        return ("D_A", "D_B") if self.task == "cycle_gan" else ("D",)

    @property
    def receptive_field(self) -> int | None:
        if self.netD is None:
            return None
        if self.task == "stargan":
            return stargan_receptive_field(self.crop_size)
        return receptive_field(self.netD, self.n_layers_D)

    def build_generator(self, name: str = "G") -> nn.Module:
        """G (pix2pix, colorization) maps input_nc->output_nc; CycleGAN's G_B maps back; StarGAN's G(x, c)."""
        inp, out = (self.output_nc, self.input_nc) if name == "G_B" else (self.input_nc, self.output_nc)
        if self.task == "stargan":
            return define_conditional_G(inp, out, len(self.domains), self.ngf, self.netG, self.norm, self.use_dropout,
                                        upsample=self.upsample)
        if self.colorization_loss == "classification":
            features = define_G(inp, 2 * self.ngf, self.ngf, self.netG, self.norm, self.use_dropout,
                                upsample=self.upsample, tanh=False)
            return ABClassifier(features, 2 * self.ngf, self.temperature)
        extra = self.nz or len(self.domains)
        if extra:
            wrapper = NoiseInputGenerator if self.nz else LabelInputGenerator
            return wrapper(define_G(inp + extra, out, self.ngf, self.netG, self.norm, self.use_dropout,
                                    upsample=self.upsample, unet_padding=self.unet_padding), extra)
        return define_G(inp, out, self.ngf, self.netG, self.norm, self.use_dropout, upsample=self.upsample,
                        unet_padding=self.unet_padding)

    def build_discriminator(self, name: str = "D") -> nn.Module:
        """Conditional D(x, y) for pix2pix/colorization; D_A judges domain B images, D_B domain A (as the reference)."""
        if self.netD is None:
            raise ValueError("this model has no discriminator (netD is None)")
        if self.task == "stargan":  # real/fake and domain heads, sized for the training crops
            return define_stargan_D(self.output_nc, len(self.domains), self.crop_size, self.ndf,
                                    spectral_norm=self.spectral_norm)
        if self.task == "cycle_gan":
            channels = self.output_nc if name == "D_A" else self.input_nc
        else:  # D(x, y), and the class planes too for a pix2pix model with labels
            channels = self.input_nc + len(self.domains) + self.output_nc
        return define_D(channels, self.ndf, self.netD, self.n_layers_D, self.norm, spectral_norm=self.spectral_norm)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "ModelConfig":
        _check_known_fields(cls, data, "model config keys")
        if data.get("format_version", FORMAT_VERSION) > FORMAT_VERSION:
            raise ValueError(f"model format {data['format_version']} is newer than this engine understands "
                             f"({FORMAT_VERSION}); upgrade the engine")
        return cls(**data)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> "ModelConfig":
        return cls.from_dict(json.loads(Path(path).read_text()))


@dataclass
class TrainConfig:
    """One training run: data, model, objective, schedule and bookkeeping. Saved as train_config.json.

    Field names follow the reference implementation's flags where the concept is shared.
    """

    dataroot: str = ""
    model: str = "pix2pix"
    name: str = "experiment"
    checkpoints_dir: str = "runs"
    # data
    direction: str = "AtoB"
    derive: str | None = None  # plain photo folder -> pairs: "edges", "drawn" (sketch->photo) or "gray"
    sketch_outline: float = 0.0  # derive "drawn" on aligned faces: share of sketches given a drawn head outline
    sketch_features: float = 0.0  # ... and the share given drawn eyes, nose, mouth and whiskers
    sketch_cartoon: float = 0.0  # ... and the share that are cartoons (empty face, drawn outline and features)
    preprocess: str = "resize_and_crop"
    load_size: int = 286
    crop_size: int = 256
    no_flip: bool = False
    max_items: int | None = None
    num_workers: int = 2
    domains: str | None = None  # stargan: comma-separated labels in the generator's order; None: all in the data
    labels_csv: str | None = None  # stargan: file,label CSV in the image folder (None: its only .csv, else subfolders);
    #                                pix2pix with --derive: the class CSV that turns on a class input (None: off)
    label_dropout: float = 0.2  # pix2pix with a class input: share of training items shown with no class
    single_pair: str | None = None  # pix2pix from one photo (DeepSIM): its path; dataroot is then not used
    primitive: str | None = None  # single_pair: the photo's primitive (label map, drawing); None: its edges
    primitive_edges: bool = False  # single_pair with a primitive: add the photo's edges as a 4th input channel
    augment: str | None = None  # single_pair: "tps" (the same random thin-plate-spline warp on both images)
    tps_grid: int = 4  # TPS control points per side
    tps_strength: float = 0.04  # TPS jitter of the control points (std, fraction of the image side)
    # networks
    input_nc: int = 3
    output_nc: int = 3
    netG: str = "unet_256"
    ngf: int = 64
    upsample: str = "transpose"  # generator decoder: transpose (reference), nearest or bilinear resize-conv
    unet_padding: str = "zeros"  # U-Net conv padding: zeros (reference) or reflect (needs a resize-conv decoder)
    ema_decay: float = 0.0  # > 0: exported generator weights are this exponential moving average
    netD: str = "basic"  # "none": no discriminator, pure regression
    ndf: int = 64
    n_layers_D: int = 3
    spectral_norm: bool = False  # spectral normalization of every discriminator conv
    norm: str = "batch"
    no_dropout: bool = False
    init_type: str = "normal"
    init_gain: float = 0.02
    # objective
    gan_mode: str | None = None  # None: wgangp for stargan (as the paper), vanilla otherwise
    lambda_L1: float = 100.0
    lambda_feat: float = 0.0  # pix2pix/colorization: discriminator feature matching (pix2pixHD), e.g. 10
    regression: str = "l1"  # pix2pix reconstruction term: l1 or l2
    colorization_loss: str = "l1"  # colorization: l1 (regression, the default) or classification over ab bins
    rebalance: float = DEFAULT_REBALANCE  # classification: lambda of the class rebalancing (0: none, 1: uniform)
    temperature: float = DEFAULT_TEMPERATURE  # classification: annealed-mean temperature of the decoding
    nz: int = 0  # pix2pix/colorization: noise channels concatenated to the input (0: none)
    lambda_ms: float = 0.0  # with nz: weight of the mode-seeking diversity term (Mao et al. 2019); 0: off
    ms_pool: int = 1  # mode seeking on outputs averaged over ms_pool x ms_pool blocks (1: per pixel, as Mao et al.)
    lambda_A: float = 10.0
    lambda_B: float = 10.0
    lambda_identity: float = 0.5
    lambda_gp: float = 10.0
    pool_size: int = 50
    lambda_cls: float = 1.0  # stargan: domain classification (D on real images, G on its translations)
    lambda_rec: float = 10.0  # stargan: reconstruction L1 of G(G(x, c), c_x) against x
    n_critic: int = 2  # stargan: D steps per G step (paper: 5; why 2: docs/stargan.md); a run step is one D step
    # schedule
    batch_size: int = 1
    n_epochs: int = 100
    n_epochs_decay: int = 100
    max_steps: int | None = None
    lr: float = 0.0002
    beta1: float = 0.5
    # runtime
    seed: int = 0
    device: str = "auto"
    amp: bool = True
    channels_last: bool = True  # CUDA only
    max_seconds: float | None = None  # stop (with a checkpoint) once training has run this long
    save_every: int = 1000
    sample_every: int = 200
    log_every: int = 20
    input_kind: str | None = None
    description: str = ""

    def __post_init__(self):
        if self.model not in TASKS:
            raise ValueError(f"unknown model {self.model!r}; choose one of {', '.join(TASKS)}")
        if self.model == "colorization":
            self.input_nc, self.output_nc = 1, 2
        if self.augment in ("", "none"):
            self.augment = None
        if self.single_pair:
            self.input_nc = 4 if self.primitive and self.primitive_edges else 3  # RGB primitive (+ edges)
        if self.gan_mode is None:
            self.gan_mode = "wgangp" if self.model == "stargan" else "vanilla"
        if self.domains is not None:
            self.domains = ",".join(d.strip() for d in self.domains.split(",") if d.strip())
        checks = [
            (self.lr > 0, f"lr must be positive, got {self.lr}"),
            (0 <= self.beta1 < 1, f"beta1 must be in [0, 1), got {self.beta1}"),
            (self.batch_size >= 1, f"batch_size must be at least 1, got {self.batch_size}"),
            (self.crop_size >= 1 and self.load_size >= 1, "load_size and crop_size must be positive"),
            (self.preprocess != "resize_and_crop" or self.crop_size <= self.load_size,
             f"crop_size {self.crop_size} is larger than load_size {self.load_size}"),
            (self.n_epochs >= 0 and self.n_epochs_decay >= 0, "n_epochs and n_epochs_decay must be >= 0"),
            (self.max_steps is None or self.max_steps >= 1, f"max_steps must be at least 1, got {self.max_steps}"),
            (self.max_steps is not None or self.n_epochs + self.n_epochs_decay > 0,
             "nothing to train: n_epochs + n_epochs_decay is 0 and no max_steps"),
            (self.pool_size >= 0, f"pool_size must be >= 0, got {self.pool_size}"),
            (self.lambda_L1 >= 0 and self.lambda_feat >= 0 and self.lambda_A >= 0 and self.lambda_B >= 0 and self.lambda_identity >= 0,
             "loss weights must be >= 0"),
            (self.regression in ("l1", "l2"), f"regression must be l1 or l2, got {self.regression!r}"),
            *self._colorization_checks(),
            (self.direction in ("AtoB", "BtoA"), f"direction must be AtoB or BtoA, got {self.direction!r}"),
            (self.derive in (None, "edges", "drawn", "gray"),
             f"derive must be edges, drawn or gray, got {self.derive!r}"),
            (self.upsample in UPSAMPLINGS, f"upsample must be one of {', '.join(UPSAMPLINGS)}, got {self.upsample!r}"),
            (self.unet_padding == "zeros" or (self.unet_padding == "reflect" and self.upsample != "transpose"),
             f"unet_padding must be zeros, or reflect with --upsample nearest|bilinear; got {self.unet_padding!r}"),
            (0 <= self.ema_decay < 1, f"ema_decay must be in [0, 1), got {self.ema_decay}"),
            (0 <= self.sketch_outline <= 1, f"sketch_outline must be in [0, 1], got {self.sketch_outline}"),
            (0 <= self.sketch_features <= 1, f"sketch_features must be in [0, 1], got {self.sketch_features}"),
            (0 <= self.sketch_cartoon <= 1, f"sketch_cartoon must be in [0, 1], got {self.sketch_cartoon}"),
            (self.model != "cycle_gan" or self.netD != "none", "CycleGAN needs discriminators (netD none)"),
            *self._stargan_checks(),
            *self._single_pair_checks(),
            (self.save_every >= 1 and self.sample_every >= 1 and self.log_every >= 1,
             "save_every, sample_every and log_every must be at least 1"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)

    def _colorization_checks(self) -> list[tuple[bool, str]]:
        classification = self.colorization_loss == "classification"
        return [(self.colorization_loss in COLORIZATION_LOSSES,
                 f"colorization_loss must be one of {', '.join(COLORIZATION_LOSSES)}, got {self.colorization_loss!r}"),
                (not classification or self.model == "colorization", "colorization_loss classification needs "
                                                                     "--model colorization"),
                (not classification or self.netD == "none", "classification colorization trains without a "
                                                            "discriminator, as Zhang et al.: add --netD none"),
                (not classification or self.nz == 0, "classification colorization takes no noise input (nz 0)"),
                (0 <= self.rebalance <= 1, f"rebalance must be in [0, 1], got {self.rebalance}"),
                (self.temperature > 0, f"temperature must be positive, got {self.temperature}"),
                (self.nz >= 0 and (self.nz == 0 or self.model in ("pix2pix", "colorization")),
                 f"nz (noise channels) is a non-negative number for pix2pix and colorization, got {self.nz}"),
                (self.lambda_ms >= 0 and (self.lambda_ms == 0 or self.nz > 0),
                 "lambda_ms (mode seeking) needs noise channels (--nz) and must be >= 0"),
                (self.ms_pool >= 1, f"ms_pool must be at least 1, got {self.ms_pool}")]

    def _stargan_checks(self) -> list[tuple[bool, str]]:
        domains = self.domain_list
        checks = [(self.lambda_cls >= 0 and self.lambda_rec >= 0, "loss weights must be >= 0"),
                  (self.n_critic >= 1, f"n_critic must be at least 1, got {self.n_critic}"),
                  (self.domains is None or (len(domains) >= 2 and len(set(domains)) == len(domains)),
                   f"domains must name at least 2 different labels, got {self.domains!r}"),
                  (self.model in ("stargan", "pix2pix") or not (self.labels_csv or self.domains),
                   "labels_csv and domains are for stargan, or pix2pix with a class input"),
                  (self.model != "pix2pix" or self.labels_csv or not self.domains,
                   "pix2pix domains need --labels_csv (the class of each training image)"),
                  (not self.class_input or (self.derive and not self.single_pair and self.nz == 0),
                   "a pix2pix class input (--labels_csv) needs pairs derived from a labelled photo folder "
                   "(--derive) and no noise input (--nz 0)"),
                  (0 <= self.label_dropout < 1, f"label_dropout must be in [0, 1), got {self.label_dropout}")]
        if self.model == "stargan":
            checks += [(self.netG.startswith("resnet_"), f"stargan's generator is a resnet_<N>blocks (the paper: "
                                                         f"--netG resnet_6blocks --norm instance --no_dropout), got {self.netG!r}"),
                       (self.norm in ("instance", "batch"), f"stargan's generator conditions its norm layers on the "
                                                            f"domain: --norm instance (the paper) or batch, got {self.norm!r}"),
                       (self.netD in ("basic", "stargan"), f"stargan has its own discriminator (netD stargan), got {self.netD!r}"),
                       (self.lambda_feat == 0, "lambda_feat (feature matching) is for pix2pix and colorization")]
        return checks

    def _single_pair_checks(self) -> list[tuple[bool, str]]:
        return [(self.augment in (None, *AUGMENTATIONS), f"augment must be tps or none, got {self.augment!r}"),
                (self.tps_grid >= 2 and self.tps_strength >= 0, "tps_grid must be >= 2 and tps_strength >= 0"),
                (self.max_seconds is None or self.max_seconds > 0, f"max_seconds must be positive, got {self.max_seconds}"),
                (not self.single_pair or self.model == "pix2pix", "single_pair trains a pix2pix model"),
                (not (self.primitive or self.augment) or self.single_pair, "primitive and augment need single_pair"),
                (not self.primitive_edges or self.primitive, "primitive_edges needs a primitive")]

    @property
    def class_input(self) -> bool:
        """A pix2pix run whose generator is also told each image's class (from labels_csv)."""
        return self.model == "pix2pix" and bool(self.labels_csv)

    @property
    def domain_list(self) -> list[str]:
        """The stargan domains as a list ([] while they are still to be read from the data)."""
        return self.domains.split(",") if self.domains else []

    @property
    def run_dir(self) -> Path:
        return Path(self.checkpoints_dir) / self.name

    def model_config(self) -> ModelConfig:
        """The config of the model this run trains."""
        input_kind = self.input_kind or {"edges": "edges", "drawn": "edges", "gray": "gray"}.get(self.derive or "",
                                                                                              "photo")
        if self.model == "colorization":
            input_kind = "gray"
        if self.single_pair:
            input_kind = self.input_kind or "primitive"
        return ModelConfig(
            task=self.model, netG=self.netG, ngf=self.ngf, norm=self.norm, use_dropout=not self.no_dropout,
            input_nc=self.input_nc, output_nc=self.output_nc,
            netD=None if self.netD == "none" else "stargan" if self.model == "stargan" else self.netD, ndf=self.ndf,
            n_layers_D=self.n_layers_D, domains=self.domain_list,
            direction=self.direction, input_kind=input_kind,
            color_space="lab" if self.model == "colorization" else "rgb",
            load_size=self.load_size, crop_size=self.crop_size, preprocess=self.preprocess,
            upsample=self.upsample, unet_padding=self.unet_padding, spectral_norm=self.spectral_norm,
            thin_drawings=self.derive != "drawn",
            colorization_loss=self.colorization_loss, temperature=self.temperature, nz=self.nz,
            name=self.name, description=self.description,
            training={"gan_mode": self.gan_mode, "derive": self.derive, "dataroot": self.dataroot,
                      "ema_decay": self.ema_decay, "lambda_feat": self.lambda_feat,
                      "sketch_outline": self.sketch_outline,
                      **({"sketch_features": self.sketch_features} if self.sketch_features else {}),
                      **({"sketch_cartoon": self.sketch_cartoon} if self.sketch_cartoon else {}),
                      **({"single_pair": self.single_pair, "primitive": self.primitive,
                          "primitive_edges": self.primitive_edges, "augment": self.augment,
                          "tps_grid": self.tps_grid, "tps_strength": self.tps_strength} if self.single_pair else {}),
                      **({"rebalance": self.rebalance} if self.colorization_loss == "classification" else {}),
                      **({"lambda_ms": self.lambda_ms, "ms_pool": self.ms_pool} if self.nz else {}),
                      **({"labels_csv": self.labels_csv, "label_dropout": self.label_dropout}
                         if self.class_input else {}),
                      **({"labels_csv": self.labels_csv, "lambda_cls": self.lambda_cls, "lambda_rec": self.lambda_rec,
                          "lambda_gp": self.lambda_gp, "n_critic": self.n_critic} if self.model == "stargan" else {})})

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "TrainConfig":
        _check_known_fields(cls, data, "training options")
        return cls(**data)
