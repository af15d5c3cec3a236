"""Translator: run a trained generator on any image, at any size, batched, thread-safe."""
from __future__ import annotations

import contextlib
import threading
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from .checkpoint import load_model
from .color import decode_lab, encode_lab
from .config import ModelConfig
from .device import pick_device
from .images import ImageSource, open_image, to_pil, to_tensor
from .networks import size_multiple


class Translator:
    """A loaded model ready to translate images.

    By default images run at their own resolution (long side capped at `max_side`), padded to the
    network's size multiple and cropped back, so the output has exactly the input's size. `size=N`
    instead resizes to NxN for the network (as in training) and back. Colorizers predict ab at the
    working size and recombine it with the input's full-resolution L.
    """

    def __init__(self, config: ModelConfig, nets: dict[str, nn.Module], device: str | torch.device = "auto",
                 max_side: int = 1024):
        self.config = config
        self.device = pick_device(device) if isinstance(device, str) else device
        self.nets = {name: net.to(self.device).eval() for name, net in nets.items()}
        self.max_side = max_side
        self._mode_lock = threading.Lock()

    @classmethod
    def from_dir(cls, path: str | Path, device: str | torch.device = "auto", with_discriminators: bool = False,
                 max_side: int = 1024) -> "Translator":
        config, nets = load_model(path, with_discriminators=with_discriminators)
        return cls(config, nets, device=device, max_side=max_side)

    @property
    def directions(self) -> tuple[str, ...]:
        if self.config.task == "cycle_gan":
            return tuple(d for d, g in (("AtoB", "G_A"), ("BtoA", "G_B")) if g in self.nets)
        return ("AtoB",)

    def _generator_name(self, direction: str) -> str:
        if direction not in ("AtoB", "BtoA"):
            raise ValueError(f"direction must be AtoB or BtoA, got {direction!r}")
        if direction not in self.directions:
            raise ValueError(f"model {self.config.name or self.config.task!r} has no {direction} generator "
                             f"(available: {', '.join(self.directions)})")
        if self.config.task != "cycle_gan":
            return "G"
        return "G_A" if direction == "AtoB" else "G_B"

    # -- preprocessing -------------------------------------------------------------------------------
    def _working_size(self, width: int, height: int, size: int | None) -> tuple[int, int]:
        if size is not None:
            return size, size
        scale = min(1.0, self.max_side / max(width, height))
        return max(1, round(width * scale)), max(1, round(height * scale))

    def _input_channels(self, direction: str) -> int:
        return self.config.output_nc if direction == "BtoA" else self.config.input_nc

    def _encode(self, image: Image.Image, direction: str) -> torch.Tensor:
        """The network's input for an RGB image at working size: L for colorizers, else 1 or 3 channels."""
        if self.config.color_space == "lab":
            rgb01 = to_tensor(image).add(1).div(2)
            return encode_lab(rgb01)[0]
        if self.config.input_kind == "edges" and direction == "AtoB":
            from .edges import normalize_drawing
            image = normalize_drawing(image)
        return to_tensor(image, channels=self._input_channels(direction))

    @staticmethod
    def _pad(batch: torch.Tensor, multiple: int) -> tuple[torch.Tensor, tuple[int, int]]:
        height, width = batch.shape[-2:]
        pad_h, pad_w = (-height) % multiple, (-width) % multiple
        if not pad_h and not pad_w:
            return batch, (0, 0)
        top, left = pad_h // 2, pad_w // 2
        mode = "reflect" if pad_h < height and pad_w < width else "replicate"
        return F.pad(batch, (left, pad_w - left, top, pad_h - top), mode=mode), (top, left)

    # -- running -------------------------------------------------------------------------------------
    def _run(self, name: str, batch: torch.Tensor, reference_mode: bool) -> torch.Tensor:
        net = self.nets[name]
        padded, (top, left) = self._pad(batch.to(self.device), size_multiple(net))
        with self._reference_mode(net) if reference_mode else contextlib.nullcontext(), torch.inference_mode():
            out = net(padded).float()
        height, width = batch.shape[-2:]
        return out[..., top:top + height, left:left + width].cpu()

    @contextlib.contextmanager
    def _reference_mode(self, net: nn.Module):
        """As the reference's test.py: BatchNorm on batch statistics, dropout on; running stats untouched."""
        with self._mode_lock:
            norms = [m for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
            momenta = [m.momentum for m in norms]
            for m in norms:
                m.momentum = 0.0
            net.train()
            try:
                yield
            finally:
                net.eval()
                for m, momentum in zip(norms, momenta):
                    m.momentum = momentum

    def translate(self, images: ImageSource | list[ImageSource], *, direction: str = "AtoB", size: int | None = None,
                  reference_mode: bool = False) -> Image.Image | list[Image.Image]:
        """Translate one image (returns one) or a list (returns a list; same-size images run as one batch)."""
        single = not isinstance(images, (list, tuple))
        sources = [images] if single else list(images)
        name = self._generator_name(direction)
        originals = [open_image(source) for source in sources]
        groups: dict[tuple[int, int], list[int]] = {}
        for index, image in enumerate(originals):
            groups.setdefault(self._working_size(*image.size, size), []).append(index)
        results: list[Image.Image | None] = [None] * len(originals)
        for working, indices in groups.items():
            inputs = [originals[i] if originals[i].size == working
                      else originals[i].resize(working, Image.Resampling.BICUBIC) for i in indices]
            batch = torch.stack([self._encode(image, direction) for image in inputs])
            outputs = self._run(name, batch, reference_mode)
            for i, output in zip(indices, outputs):
                results[i] = self._decode(output, originals[i])
        return results[0] if single else results

    __call__ = translate

    def _decode(self, output: torch.Tensor, original: Image.Image) -> Image.Image:
        """Network output at working size -> RGB image at the original size."""
        width, height = original.size
        if self.config.color_space == "lab":
            ab = output.unsqueeze(0)
            if ab.shape[-2:] != (height, width):
                ab = F.interpolate(ab, size=(height, width), mode="bilinear", align_corners=False)
            L = encode_lab(to_tensor(original).add(1).div(2))[0].unsqueeze(0)
            return to_pil(decode_lab(L, ab)[0] * 2 - 1)
        image = to_pil(output).convert("RGB")
        return image if image.size == (width, height) else image.resize((width, height), Image.Resampling.BICUBIC)

    def cycle(self, image: ImageSource, direction: str = "AtoB", size: int | None = None
              ) -> tuple[Image.Image, Image.Image]:
        """CycleGAN: the translation G(x) and the reconstruction F(G(x))."""
        back = "BtoA" if direction == "AtoB" else "AtoB"
        translated = self.translate(image, direction=direction, size=size)
        return translated, self.translate(translated, direction=back, size=size)

    # -- discriminators ------------------------------------------------------------------------------
    def discriminator_map(self, input_image: ImageSource, output_image: ImageSource, direction: str = "AtoB",
                          size: int | None = None) -> np.ndarray:
        """Where the model's discriminator thinks `output_image` is real: HxW in [0, 1] at the output's size.

        pix2pix and colorization judge the pair D(x, y); CycleGAN's D_A judges domain-B images and D_B domain A.
        """
        if self.config.task == "cycle_gan":
            name = "D_A" if direction == "AtoB" else "D_B"
        else:
            name = "D"
        if name not in self.nets:
            raise ValueError(f"model {self.config.name or self.config.task!r} was loaded without its discriminator "
                             f"{name}; load it with with_discriminators=True")
        output = open_image(output_image)
        working = self._working_size(*output.size, size)
        resized = output.resize(working, Image.Resampling.BICUBIC) if output.size != working else output
        if self.config.color_space == "lab":
            judged = torch.cat(encode_lab(to_tensor(resized).add(1).div(2)), 0)
        else:
            channels = self.config.input_nc if name == "D_B" else self.config.output_nc
            judged = to_tensor(resized, channels=channels)
        if self.config.task != "cycle_gan":
            condition = open_image(input_image).resize(working, Image.Resampling.BICUBIC)
            judged = torch.cat([self._encode(condition, "AtoB"), judged[-self.config.output_nc:]], 0)
        logits = self._run(name, judged.unsqueeze(0), reference_mode=False)
        gan_mode = self.config.training.get("gan_mode", "vanilla")
        realness = logits.clamp(0, 1) if gan_mode == "lsgan" else torch.sigmoid(logits)
        realness = F.interpolate(realness, size=output.size[::-1], mode="bilinear", align_corners=False)
        return realness[0, 0].numpy()
