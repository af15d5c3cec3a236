"""Translator: run a trained generator on any image, at any size, batched, thread-safe.

    translator = Translator.from_dir("runs/facades/model")          # device "auto": cuda, mps, cpu
    out = translator.translate("photo.jpg")                         # PIL RGB, same size as the input
    outs = translator.translate([a, b, c], size=256)                # list in, list out
    fake, rec = translator.cycle(photo)                             # CycleGAN: G_A(x), G_B(G_A(x))
    ginger = translator.translate(cat, domain="ginger")             # StarGAN, or a class input: G(x, c)
    coats = translator.recolor(cat, source="black")                 # StarGAN: every domain (+ round trips)
    answers = translator.samples(gray, count=4, seed=0)            # several answers: noise z, else dropout
    realness = translator.discriminator_map(x, fake)                # HxW in [0, 1] (with_discriminators)

Thread safety: the networks are shared and never mutated. Eval-mode inference only reads them;
`reference_mode=True` runs a lazily built "twin" of the generator that shares its parameters but has
BatchNorm without running statistics and is permanently in train mode (batch statistics, dropout on),
so concurrent calls of either kind never see a network switched into the wrong mode and the stored
running statistics never change.
"""
from __future__ import annotations

import contextlib
import copy
import math
import threading
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from .checkpoint import load_model
from .color import decode_lab, encode_lab
from .config import ModelConfig
from .device import pick_device
from .images import ImageSource, open_image, to_pil, to_tensor
from .networks import min_input_side, size_multiple

DEFAULT_MAX_SIDE = 1024
DEFAULT_BATCH_SIZE = 8


def pad_to_multiple(batch: torch.Tensor, multiple: int, min_side: int = 1
                    ) -> tuple[torch.Tensor, tuple[int, int]]:
    """Pad an NCHW batch (centered) so both sides are multiples of `multiple` and at least `min_side`.

    Uses reflection, repeated when the padding is wider than the image (a 1-pixel side is replicated).
    Returns the padded batch and the (top, left) offset of the original inside it.
    """
    height, width = batch.shape[-2:]
    target_h = max(math.ceil(height / multiple), math.ceil(min_side / multiple), 1) * multiple
    target_w = max(math.ceil(width / multiple), math.ceil(min_side / multiple), 1) * multiple
    top, left = (target_h - height) // 2, (target_w - width) // 2
    padded = _reflect(batch, left, target_w - width - left, dim=-1)
    padded = _reflect(padded, top, target_h - height - top, dim=-2)
    return padded, (top, left)


def _reflect(batch: torch.Tensor, before: int, after: int, dim: int) -> torch.Tensor:
    while before > 0 or after > 0:
        size = batch.shape[dim]
        if size == 1:
            step_before, step_after, mode = before, after, "replicate"
        else:
            step_before, step_after, mode = min(before, size - 1), min(after, size - 1), "reflect"
        pad = (step_before, step_after, 0, 0) if dim == -1 else (0, 0, step_before, step_after)
        batch = F.pad(batch, pad, mode=mode)
        before, after = before - step_before, after - step_after
    return batch


def _reference_twin(net: nn.Module) -> nn.Module:
    """A copy of `net` sharing its parameters, in train mode, with BatchNorm on batch statistics only."""
    memo = {id(p): p for p in net.parameters()}
    twin = copy.deepcopy(net, memo)
    for module in twin.modules():
        if isinstance(module, _BatchNorm):
            module.track_running_stats = False
            module.running_mean = None
            module.running_var = None
            module.num_batches_tracked = None
    return twin.train()


class Translator:
    """A loaded model ready to translate images.

    By default images run at their own resolution (long side capped at `max_side` by downscaling;
    None: no cap), padded by reflection to the network's size multiple and cropped back, so the output
    has exactly the input's size. `size=N` instead resizes to NxN for the network (as in training) and
    back. Colorizers (color_space "lab") turn any input gray (its L channel), predict ab at the working
    size and recombine it, upsampled, with the input's full-resolution L. Models with input_kind
    "edges" get user drawings normalized (`engine.edges.normalize_drawing`) unless
    `normalize_drawings=False`. Same-size images run in batches of up to `batch_size`. `amp=True`
    autocasts on CUDA (bf16 where supported, else fp16); it has no effect on other devices.
    """

    def __init__(self, config: ModelConfig, nets: dict[str, nn.Module], device: str | torch.device = "auto",
                 max_side: int | None = DEFAULT_MAX_SIDE, *, batch_size: int = DEFAULT_BATCH_SIZE,
                 amp: bool = False, normalize_drawings: bool = True):
        if max_side is not None and max_side < 1:
            raise ValueError(f"max_side must be a positive number of pixels or None, got {max_side}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.config = config
        self.device = pick_device(device) if isinstance(device, str) else torch.device(device)
        self.nets = {name: net.to(self.device).eval() for name, net in nets.items()}
        self.max_side = max_side
        self.batch_size = batch_size
        self.amp = amp
        self.normalize_drawings = normalize_drawings
        self._twins: dict[str, nn.Module] = {}
        self._twin_lock = threading.Lock()
        self._seed_lock = threading.Lock()

    @classmethod
    def from_dir(cls, path: str | Path, device: str | torch.device = "auto", with_discriminators: bool = False,
                 max_side: int | None = DEFAULT_MAX_SIDE, **options) -> "Translator":
        """Load a model directory (model.safetensors + config.json) straight onto `device`."""
        device = pick_device(device) if isinstance(device, str) else torch.device(device)
        config, nets = load_model(path, with_discriminators=with_discriminators, device=device)
        return cls(config, nets, device=device, max_side=max_side, **options)

    def __repr__(self) -> str:
        return (f"Translator({self.config.name or self.config.task!r}, task={self.config.task}, "
                f"netG={self.config.netG}, nets={sorted(self.nets)}, device={self.device})")

    @property
    def directions(self) -> tuple[str, ...]:
        """The directions this model can translate: ("AtoB",) or, for a full CycleGAN, ("AtoB", "BtoA")."""
        if self.config.task == "cycle_gan":
            return tuple(d for d, g in (("AtoB", "G_A"), ("BtoA", "G_B")) if g in self.nets)
        return ("AtoB",)

    @property
    def domains(self) -> list[str]:
        """A StarGAN model's domain labels or a pix2pix model's classes, in its generator's order ([] for others)."""
        return list(self.config.domains)

    def domain_labels(self, domain: str | Sequence[str] | None, count: int) -> torch.Tensor | None:
        """(count,) domain indices (one name for all, or one per image) for a StarGAN model or a pix2pix model
        with a class input; None for other models, and for a class input given no class (its own choice)."""
        if not self.domains:
            if domain is not None:
                raise ValueError(f"domain is for stargan models and models with a class input; "
                                 f"{self.config.name or 'this model'!r} is {self.config.task} without classes")
            return None
        if domain is None and self.config.task != "stargan":
            return None
        names = [domain] * count if isinstance(domain, str) else list(domain or [])
        stargan = self.config.task == "stargan"
        if len(names) != count or not all(isinstance(n, str) or (n is None and not stargan) for n in names):
            raise ValueError(f"a {'stargan model needs a domain' if stargan else 'class input takes a class or None'} "
                             f"per image: one of {', '.join(self.domains)}")
        unknown = sorted({n for n in names if n is not None} - set(self.domains))
        if unknown:
            raise ValueError(f"unknown domain {unknown[0]!r}; this model knows {', '.join(self.domains)}")
        return torch.tensor([-1 if n is None else self.domains.index(n) for n in names])

    def _generator_name(self, direction: str) -> str:
        if direction not in ("AtoB", "BtoA"):
            raise ValueError(f"direction must be AtoB or BtoA, got {direction!r}")
        if direction not in self.directions:
            what = ("only one direction (G_A) was imported" if self.config.task == "cycle_gan"
                    else f"a {self.config.task} model has one generator")
            raise ValueError(f"model {self.config.name or self.config.task!r} has no {direction} generator "
                             f"({what}; available: {', '.join(self.directions)})")
        if self.config.task != "cycle_gan":
            return "G"
        return "G_A" if direction == "AtoB" else "G_B"

    # -- preprocessing -------------------------------------------------------------------------------
    def working_size(self, width: int, height: int, size: int | None = None) -> tuple[int, int]:
        """(width, height) the network runs at for an image of this size."""
        if size is not None:
            if size < 1:
                raise ValueError(f"size must be a positive number of pixels, got {size}")
            return size, size
        if self.max_side is None:
            return width, height
        scale = min(1.0, self.max_side / max(width, height))
        return max(1, round(width * scale)), max(1, round(height * scale))

    def _input_channels(self, direction: str) -> int:
        return self.config.output_nc if direction == "BtoA" else self.config.input_nc

    def encode(self, image: Image.Image, direction: str = "AtoB") -> torch.Tensor:
        """The network's CHW input for an RGB image: L / 50 - 1 for colorizers, else 1 or 3 channels in [-1, 1]."""
        if self.config.color_space == "lab":
            return encode_lab(to_tensor(image).add(1).div(2))[0]
        if self.config.input_kind == "edges" and direction == "AtoB" and self.normalize_drawings:
            try:
                from .edges import normalize_drawing
            except ImportError:  # sketch support not installed: feed the drawing as it is
                normalize_drawing = None
            if normalize_drawing is not None:
                image = normalize_drawing(image, thin=self.config.thin_drawings)
        return to_tensor(image, channels=self._input_channels(direction))

    def decode(self, output: torch.Tensor, original: Image.Image) -> Image.Image:
        """A CHW network output at working size -> an RGB image at the original's size."""
        width, height = original.size
        output = output.detach().float().cpu()
        if self.config.color_space == "lab":
            ab = output.unsqueeze(0)
            if ab.shape[-2:] != (height, width):
                ab = F.interpolate(ab, size=(height, width), mode="bilinear", align_corners=False)
            L = encode_lab(to_tensor(original).add(1).div(2))[0].unsqueeze(0)
            return to_pil(decode_lab(L, ab)[0] * 2 - 1)
        image = to_pil(output).convert("RGB")
        return image if image.size == (width, height) else image.resize((width, height), Image.Resampling.BICUBIC)

    # -- running -------------------------------------------------------------------------------------
    def _autocast(self):
        if self.amp and self.device.type == "cuda":
            dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
            return torch.autocast("cuda", dtype=dtype)
        return contextlib.nullcontext()

    def _reference_net(self, name: str) -> nn.Module:
        with self._twin_lock:
            twin = self._twins.get(name)
            if twin is None:
                twin = self._twins[name] = _reference_twin(self.nets[name])
            return twin

    def _forward(self, net: nn.Module, batch: torch.Tensor, min_input: int = 1,
                 second_input: torch.Tensor | None = None) -> torch.Tensor:
        """Pad to the net's size multiple and smallest side (at least `min_input`), run (with `second_input`: a
        StarGAN G's domain labels or a noise generator's z), and crop back (outputs of input size or patch maps)."""
        height, width = batch.shape[-2:]
        padded, (top, left) = pad_to_multiple(batch.to(self.device, torch.float32), size_multiple(net),
                                           max(min_input, min_input_side(net)))
        with torch.inference_mode(), self._autocast():
            out = (net(padded) if second_input is None else net(padded, second_input.to(self.device))).float()
        if out.shape[-2:] != padded.shape[-2:]:  # a patch map: bring it to pixel resolution before cropping
            out = F.interpolate(out, size=padded.shape[-2:], mode="bilinear", align_corners=False)
        return out[..., top:top + height, left:left + width].cpu()

    def translate_tensor(self, batch: torch.Tensor, *, direction: str = "AtoB", reference_mode: bool = False,
                         domain: str | Sequence[str] | None = None) -> torch.Tensor:
        """The generator on a (N)CHW tensor in the model's input space, any height and width.

        Returns the output (CPU, float32, same height and width) in the model's output space: RGB or
        gray in [-1, 1], or ab / 110 for colorizers. This is what `translate` runs per batch.
        A StarGAN model needs the target `domain`: one name for the batch or one per image.
        """
        name = self._generator_name(direction)
        squeeze = batch.dim() == 3
        batch = batch.unsqueeze(0) if squeeze else batch
        if batch.dim() != 4 or batch.shape[1] != self._input_channels(direction):
            raise ValueError(f"expected a (N, {self._input_channels(direction)}, H, W) tensor for {direction}, "
                             f"got {tuple(batch.shape)}")
        net = self._reference_net(name) if reference_mode else self.nets[name]
        out = self._forward(net, batch, second_input=self.domain_labels(domain, batch.shape[0]))
        return out[0] if squeeze else out

    def translate(self, images: ImageSource | Sequence[ImageSource], *, direction: str = "AtoB",
                  size: int | None = None, reference_mode: bool = False,
                  domain: str | Sequence[str] | None = None) -> Image.Image | list[Image.Image]:
        """Translate one image (returns one RGB image) or a list (returns a list) at each input's size.

        A StarGAN model translates into `domain` (one of `domains`), as does a model with a class input (which
        picks a class itself without one); a list of names gives one per image. `reference_mode=True` runs as the reference implementation's test.py does: BatchNorm on batch
        statistics and dropout on (results then depend on the batch and vary run to run); the model's
        stored statistics are never changed.
        """
        single = not isinstance(images, (list, tuple))
        sources = [images] if single else list(images)
        self._generator_name(direction)
        per_image = domain is not None and not isinstance(domain, str)
        self.domain_labels(domain, len(sources) if per_image else 1)
        originals = [open_image(source) for source in sources]
        groups: dict[tuple[int, int], list[int]] = {}
        for index, image in enumerate(originals):
            groups.setdefault(self.working_size(*image.size, size), []).append(index)
        results: list[Image.Image | None] = [None] * len(originals)
        for working, indices in groups.items():
            for start in range(0, len(indices), self.batch_size):
                chunk = indices[start:start + self.batch_size]
                inputs = [self._resized(originals[i], working) for i in chunk]
                batch = torch.stack([self.encode(image, direction) for image in inputs])
                outputs = self.translate_tensor(batch, direction=direction, reference_mode=reference_mode,
                                                domain=[domain[i] for i in chunk] if per_image else domain)
                for i, output in zip(chunk, outputs):
                    results[i] = self.decode(output, originals[i])
        return results[0] if single else results

    __call__ = translate

    @staticmethod
    def _resized(image: Image.Image, size: tuple[int, int]) -> Image.Image:
        return image if image.size == size else image.resize(size, Image.Resampling.BICUBIC)

    def cycle(self, image: ImageSource, direction: str = "AtoB", *, size: int | None = None,
              reference_mode: bool = False) -> tuple[Image.Image, Image.Image]:
        """CycleGAN: the translation G_A(x) and its reconstruction G_B(G_A(x)) (BtoA: G_B then G_A).

        The reconstruction is computed from the float output, not from a rounded 8-bit image.
        """
        if self.config.task != "cycle_gan":
            raise ValueError(f"cycle needs a CycleGAN model; {self.config.name or 'this model'!r} is "
                             f"{self.config.task}")
        back = "BtoA" if direction == "AtoB" else "AtoB"
        self._generator_name(direction)
        self._generator_name(back)
        original = open_image(image)
        x = self.encode(self._resized(original, self.working_size(*original.size, size)), direction)
        fake = self.translate_tensor(x.unsqueeze(0), direction=direction, reference_mode=reference_mode)
        rec = self.translate_tensor(fake, direction=back, reference_mode=reference_mode)
        return self.decode(fake[0], original), self.decode(rec[0], original)

    def recolor(self, image: ImageSource, domains: Sequence[str] | None = None, *, source: str | None = None,
                size: int | None = None) -> dict[str, Image.Image]:
        """StarGAN: the image in each of `domains` (default: all, in the model's order), by name. With the
        input's own domain as `source`, also "reconstruction/<domain>": G(G(x, domain), source) for each
        other domain, computed from the float translation."""
        domains = list(self.domains if domains is None else domains)
        self.domain_labels(domains, len(domains))
        if source is not None:
            self.domain_labels(source, 1)
        original = open_image(image)
        x = self.encode(self._resized(original, self.working_size(*original.size, size)))
        fakes = self.translate_tensor(x.expand(len(domains), -1, -1, -1), domain=domains)
        result = {name: self.decode(fake, original) for name, fake in zip(domains, fakes)}
        if source is not None:
            back = [i for i, name in enumerate(domains) if name != source]
            if back:
                recs = self.translate_tensor(fakes[back], domain=source)
                result.update({f"reconstruction/{domains[i]}": self.decode(rec, original) for i, rec in zip(back, recs)})
        return result

    def samples(self, image: ImageSource, count: int = 4, *, seed: int = 0,
                size: int | None = None) -> list[Image.Image]:
        """`count` answers for one image. A model with a noise input (nz > 0) runs G(x, z) for z ~ N(0, I)
        drawn from `seed`; any other pix2pix or colorization model runs with dropout on (reference mode,
        one image per batch), pix2pix's only noise. Same seed, same answers."""
        outputs, original = self.sample_outputs(image, count, seed=seed, size=size)
        return [self.decode(output, original) for output in outputs]

    def sample_outputs(self, image: ImageSource, count: int = 4, *, seed: int = 0,
                       size: int | None = None) -> tuple[torch.Tensor, Image.Image]:
        """`samples` before decoding: the generator's (count, C, h, w) outputs (a colorizer's ab / 110) and
        the opened image they decode onto."""
        if self.config.task not in ("pix2pix", "colorization"):
            raise ValueError(f"samples is for pix2pix and colorization models; {self.config.name or 'this model'!r} "
                             f"is {self.config.task}")
        if not 1 <= count <= 64:
            raise ValueError(f"count must be in 1..64, got {count}")
        original = open_image(image)
        x = self.encode(self._resized(original, self.working_size(*original.size, size))).unsqueeze(0)
        if self.config.nz:
            z = torch.randn(count, self.config.nz, generator=torch.Generator().manual_seed(seed))
            outputs = self._forward(self.nets["G"], x.expand(count, -1, -1, -1), second_input=z)
        else:
            twin = self._reference_net("G")
            with self._seed_lock, torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                outputs = torch.cat([self._forward(twin, x) for _ in range(count)])
        return outputs, original

    # -- discriminators ------------------------------------------------------------------------------
    def discriminator_map(self, input_image: ImageSource, output_image: ImageSource, direction: str = "AtoB",
                          size: int | None = None) -> np.ndarray:
        """Where the model's discriminator thinks `output_image` is real: HxW float32 in [0, 1], output's size.

        pix2pix and colorization judge the pair D(input, output) in the model's color space; CycleGAN's
        D_A judges domain-B images (direction AtoB) and D_B domain-A ones (`input_image` is unused).
        The patch map is upsampled bilinearly. gan_mode "vanilla" (and "wgangp", as a squashing of the
        critic's score) maps logits with a sigmoid; "lsgan" clamps the score to [0, 1].
        Images smaller than the discriminator's receptive field are padded by reflection first.
        """
        if self.config.task == "stargan":
            raise ValueError("discriminator_map is for pix2pix, colorization and CycleGAN models, not stargan")
        if self.config.task == "cycle_gan":
            if direction not in ("AtoB", "BtoA"):
                raise ValueError(f"direction must be AtoB or BtoA, got {direction!r}")
            name = "D_A" if direction == "AtoB" else "D_B"
        else:
            name = "D"
        if name not in self.nets:
            raise ValueError(f"model {self.config.name or self.config.task!r} was loaded without its discriminator "
                             f"{name}; load it with with_discriminators=True")
        output = open_image(output_image)
        working = self.working_size(*output.size, size)
        resized = self._resized(output, working)
        if self.config.color_space == "lab":
            judged = torch.cat(encode_lab(to_tensor(resized).add(1).div(2)), 0)[1:]  # ab
        elif self.config.task == "cycle_gan":
            judged = to_tensor(resized, channels=self.config.input_nc if name == "D_B" else self.config.output_nc)
        else:
            judged = to_tensor(resized, channels=self.config.output_nc)
        if self.config.task != "cycle_gan":
            condition = self._resized(open_image(input_image), working)
            judged = torch.cat([self.encode(condition, "AtoB"), judged], 0)
        logits = self._forward(self.nets[name], judged.unsqueeze(0), min_input=self.config.receptive_field or 1)
        gan_mode = self.config.training.get("gan_mode", "vanilla")
        realness = logits.clamp(0, 1) if gan_mode == "lsgan" else torch.sigmoid(logits)
        if realness.shape[-2:] != (output.height, output.width):
            realness = F.interpolate(realness, size=(output.height, output.width), mode="bilinear",
                                     align_corners=False)
        return realness[0, 0].clamp(0, 1).numpy().astype(np.float32)
