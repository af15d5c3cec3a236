"""Datasets and joint random transforms, following junyanz/pytorch-CycleGAN-and-pix2pix.

Samples are dicts ``{"A": tensor, "B": tensor, "A_path": str, "B_path": str}`` with CHW float32
tensors in [-1, 1] (colorization: A = L / 50 - 1, B = ab / 110). Randomness comes from each
dataset's own `random.Random` (`seed=`), reseeded per DataLoader worker by `seed_worker`.
Unreadable files are logged on the "engine.data" logger, remembered in `dataset.bad_files` and
replaced by the next readable sample.
"""
from __future__ import annotations

import inspect
import logging
import random
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset, get_worker_info

from .color import encode_lab
from .edges import extract_lines
from .images import ImageError, open_image, to_tensor
from .sketches import random_drawing

logger = logging.getLogger("engine.data")

IMG_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
PREPROCESS_MODES = ("resize_and_crop", "crop", "scale_width", "scale_width_and_crop", "none")
DERIVATIONS = ("edges", "drawn", "gray")
SIZE_BASE = 4            # preprocess "none" rounds sides to a multiple of this (reference: base 4)
_PHASE_ALIASES = {"val": ("test",), "test": ("val",)}


def find_images(folder: str | Path) -> list[Path]:
    """Sorted image files directly in `folder` (extensions case-insensitive, hidden files skipped)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"image folder not found: {folder}")
    return sorted(p for p in folder.iterdir()
                  if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMG_EXTENSIONS)


def resolve_phase_folder(root: str | Path, phase: str) -> Path:
    """root/phase when it exists (val and test stand in for each other), else root itself if it
    holds images; ValueError naming the path otherwise."""
    root = Path(root)
    if not root.is_dir():
        raise ValueError(f"dataset folder not found: {root}")
    for name in (phase, *_PHASE_ALIASES.get(phase, ())):
        if (root / name).is_dir():
            return root / name
    if find_images(root):
        return root
    raise ValueError(f"{root} has no '{phase}' subfolder and no images of its own")


def _image_list(folder: Path, max_items: int | None) -> list[Path]:
    paths = find_images(folder)
    if not paths:
        raise ValueError(f"no images in {folder} (looked for {', '.join(IMG_EXTENSIONS)})")
    return paths[:max_items] if max_items is not None else paths


@dataclass(frozen=True)
class TransformParams:
    """One draw of the random transform, applied identically to both images of a pair.

    `resize` is the (width, height) to resize to first (None: keep), `crop_pos` the top-left corner
    of a `crop_size` square (None: no crop), `flip` a horizontal flip.
    """

    resize: tuple[int, int] | None
    crop_pos: tuple[int, int] | None
    crop_size: int
    flip: bool


def check_transform_options(preprocess: str, load_size: int, crop_size: int) -> None:
    """ValueError for an unknown mode or sizes that cannot work together."""
    if preprocess not in PREPROCESS_MODES:
        raise ValueError(f"unknown preprocess {preprocess!r}; choose one of {', '.join(PREPROCESS_MODES)}")
    if load_size <= 0 or crop_size <= 0:
        raise ValueError(f"load_size and crop_size must be positive, got {load_size} and {crop_size}")
    if preprocess in ("resize_and_crop", "scale_width_and_crop") and crop_size > load_size:
        raise ValueError(f"crop_size ({crop_size}) must not exceed load_size ({load_size}) "
                         f"with preprocess={preprocess!r}")


def face_frame(size: tuple[int, int], params: TransformParams) -> tuple[int, int, int, int] | None:
    """(left, top, width, height) of the whole (resized) image in the coordinates of its transformed crop,
    mirrored with a flip; None without a crop (the transformed image is the whole image)."""
    if params.crop_pos is None:
        return None
    width, height = params.resize or size
    left, top = -params.crop_pos[0], -params.crop_pos[1]
    if params.flip:
        left = params.crop_size - (left + width)
    return left, top, width, height


def get_params(size: tuple[int, int], preprocess: str, load_size: int, crop_size: int, no_flip: bool,
               rng: random.Random) -> TransformParams:
    """Draw the transform for an image of `size` (width, height), as the reference's get_params:

    resize_and_crop: resize to load_size x load_size, random crop_size crop; crop: random crop only
    (an image smaller than crop_size is first enlarged, aspect kept); scale_width: width to
    load_size keeping the aspect (height at least crop_size); scale_width_and_crop: then a random
    crop; none: sides rounded to a multiple of 4. Random horizontal flip unless no_flip.
    """
    check_transform_options(preprocess, load_size, crop_size)
    width, height = size
    if preprocess == "resize_and_crop":
        new_w, new_h = load_size, load_size
    elif preprocess.startswith("scale_width"):
        new_w, new_h = load_size, int(max(load_size * height / width, crop_size))
    elif preprocess == "crop":
        grow = max(1.0, crop_size / min(width, height))
        new_w, new_h = max(crop_size, round(width * grow)), max(crop_size, round(height * grow))
    else:
        new_w = max(SIZE_BASE, round(width / SIZE_BASE) * SIZE_BASE)
        new_h = max(SIZE_BASE, round(height / SIZE_BASE) * SIZE_BASE)
    crop_pos = None
    if preprocess.endswith("crop"):
        crop_pos = (rng.randint(0, max(0, new_w - crop_size)), rng.randint(0, max(0, new_h - crop_size)))
    flip = not no_flip and rng.random() > 0.5
    resize = None if (new_w, new_h) == (width, height) else (new_w, new_h)
    return TransformParams(resize=resize, crop_pos=crop_pos, crop_size=crop_size, flip=flip)


def apply_transform(img: Image.Image, params: TransformParams, *,
                    resample: Image.Resampling = Image.Resampling.BICUBIC) -> Image.Image:
    """Resize, crop and flip `img` as drawn in `params` (bicubic, like the reference)."""
    if params.resize is not None and params.resize != img.size:
        img = img.resize(params.resize, resample)
    if params.crop_pos is not None:
        x, y = params.crop_pos
        img = img.crop((x, y, x + params.crop_size, y + params.crop_size))
    if params.flip:
        img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    return img


def seed_worker(worker_id: int) -> None:
    """DataLoader `worker_init_fn`: reseed the worker's dataset copy from torch's per-worker seed, so
    workers draw different crops and a seeded DataLoader generator makes runs repeatable."""
    info = get_worker_info()
    dataset = info.dataset
    while not hasattr(dataset, "reseed") and hasattr(dataset, "dataset"):  # Subset and similar wrappers
        dataset = dataset.dataset
    if hasattr(dataset, "reseed"):
        dataset.reseed(info.seed)


def _check_channels(**channels: int) -> None:
    for name, value in channels.items():
        if value not in (1, 3):
            raise ValueError(f"{name} must be 1 or 3, got {value}")


class ImageFolderDataset(Dataset):
    """Shared machinery: transform options, seeded RNG, and skipping of unreadable files."""

    def __init__(self, *, preprocess: str, load_size: int, crop_size: int, no_flip: bool,
                 seed: int | None):
        check_transform_options(preprocess, load_size, crop_size)
        self.preprocess = preprocess
        self.load_size = load_size
        self.crop_size = crop_size
        self.no_flip = no_flip
        self.rng = random.Random(seed)
        self.bad_files: dict[str, str] = {}

    def reseed(self, seed: int) -> None:
        self.rng.seed(seed)

    def draw_params(self, size: tuple[int, int]) -> TransformParams:
        return get_params(size, self.preprocess, self.load_size, self.crop_size, self.no_flip, self.rng)

    def open(self, path: Path) -> Image.Image:
        """The image at `path` in RGB; ImageError (logged once, remembered in bad_files) if unreadable."""
        key = str(path)
        if key in self.bad_files:
            raise ImageError(self.bad_files[key])
        try:
            return open_image(path)
        except ImageError as exc:
            self.reject(exc)

    def reject(self, error: ImageError) -> NoReturn:
        """Log and remember an unusable file (named in the error), then raise the error."""
        self.bad_files[error.name or str(error)] = str(error)
        logger.warning("skipping unreadable image %s", error)
        raise error

    def __getitem__(self, index: int) -> dict:
        """Sample `index`, or the next readable one when its file cannot be read."""
        for offset in range(len(self)):
            try:
                return self.load_sample((index + offset) % len(self))
            except ImageError:
                continue
        raise RuntimeError(f"{type(self).__name__}: none of the images can be read "
                           f"({len(self.bad_files)} unreadable, first: {next(iter(self.bad_files.values()), '')})")

    def load_sample(self, index: int) -> dict:
        raise NotImplementedError


class AlignedDataset(ImageFolderDataset):
    """Pairs stored side by side (A left, B right) in root/phase; BtoA swaps them."""

    def __init__(self, root: str | Path, phase: str = "train", direction: str = "AtoB",
                 preprocess: str = "resize_and_crop", load_size: int = 286, crop_size: int = 256,
                 no_flip: bool = False, input_nc: int = 3, output_nc: int = 3,
                 max_items: int | None = None, seed: int | None = None):
        super().__init__(preprocess=preprocess, load_size=load_size, crop_size=crop_size, no_flip=no_flip,
                         seed=seed)
        if direction not in ("AtoB", "BtoA"):
            raise ValueError(f"direction must be AtoB or BtoA, got {direction!r}")
        _check_channels(input_nc=input_nc, output_nc=output_nc)
        self.folder = resolve_phase_folder(root, phase)
        self.paths = _image_list(self.folder, max_items)
        self.direction = direction
        self.input_nc = input_nc
        self.output_nc = output_nc

    def __len__(self) -> int:
        return len(self.paths)

    def load_sample(self, index: int) -> dict:
        path = self.paths[index]
        pair = self.open(path)
        half = pair.width // 2
        if half == 0:
            self.reject(ImageError(f"a side-by-side pair needs a width of at least 2, got {pair.width}", str(path)))
        left, right = pair.crop((0, 0, half, pair.height)), pair.crop((half, 0, 2 * half, pair.height))
        A, B = (right, left) if self.direction == "BtoA" else (left, right)
        params = self.draw_params(A.size)
        return {"A": to_tensor(apply_transform(A, params), self.input_nc),
                "B": to_tensor(apply_transform(B, params), self.output_nc),
                "A_path": str(path), "B_path": str(path)}


class UnalignedDataset(ImageFolderDataset):
    """Unpaired domains in root/{phase}A and root/{phase}B (BtoA swaps them). Length is the larger
    domain; A is taken in order, B at random (in order too with serial_batches)."""

    def __init__(self, root: str | Path, phase: str = "train", direction: str = "AtoB",
                 preprocess: str = "resize_and_crop", load_size: int = 286, crop_size: int = 256,
                 no_flip: bool = False, input_nc: int = 3, output_nc: int = 3,
                 serial_batches: bool = False, max_items: int | None = None, seed: int | None = None):
        super().__init__(preprocess=preprocess, load_size=load_size, crop_size=crop_size, no_flip=no_flip,
                         seed=seed)
        if direction not in ("AtoB", "BtoA"):
            raise ValueError(f"direction must be AtoB or BtoA, got {direction!r}")
        _check_channels(input_nc=input_nc, output_nc=output_nc)
        folder_a, folder_b = (_domain_folder(root, phase, side) for side in ("A", "B"))
        if direction == "BtoA":
            folder_a, folder_b = folder_b, folder_a
        self.folder_A, self.folder_B = folder_a, folder_b
        self.A_paths = _image_list(folder_a, max_items)
        self.B_paths = _image_list(folder_b, max_items)
        self.input_nc = input_nc
        self.output_nc = output_nc
        self.serial_batches = serial_batches

    def __len__(self) -> int:
        return max(len(self.A_paths), len(self.B_paths))

    def load_sample(self, index: int) -> dict:
        a_path = self.A_paths[index % len(self.A_paths)]
        A = self.open(a_path)
        b_path, B = self._readable_B(index)
        return {"A": to_tensor(apply_transform(A, self.draw_params(A.size)), self.input_nc),
                "B": to_tensor(apply_transform(B, self.draw_params(B.size)), self.output_nc),
                "A_path": str(a_path), "B_path": str(b_path)}

    def _readable_B(self, index: int) -> tuple[Path, Image.Image]:
        """A readable B image: at index (serial) or at random, trying others when unreadable."""
        count = len(self.B_paths)
        for attempt in range(count):
            b_index = (index + attempt) % count if self.serial_batches else self.rng.randint(0, count - 1)
            try:
                return self.B_paths[b_index], self.open(self.B_paths[b_index])
            except ImageError:
                continue
        raise ImageError(f"no readable image found in {self.folder_B} after {count} tries")


def _domain_folder(root: str | Path, phase: str, side: str) -> Path:
    root = Path(root)
    if not root.is_dir():
        raise ValueError(f"dataset folder not found: {root}")
    for name in (phase, *_PHASE_ALIASES.get(phase, ())):
        if (root / f"{name}{side}").is_dir():
            return root / f"{name}{side}"
    raise ValueError(f"unpaired dataset folder not found: {root / f'{phase}{side}'}")


class DerivedPairDataset(ImageFolderDataset):
    """Pairs made from a plain folder of photos: B = the photo, A = its sketch (derive="edges", via
    engine.edges, cached) or its grayscale (derive="gray"), derived at full size before the joint
    random transform; or (derive="drawn") a drawn-looking sketch of the transformed photo, new at
    every draw (engine.sketches: random detail, dropped strokes, stroke width, TPS warp; on aligned faces
    `sketch_outline` of them also get a drawn head outline, `sketch_features` drawn eyes, nose, mouth and
    whiskers; `sketch_cartoon` of them are cartoons with an empty face instead). With `class_of` ({file
    name: class index}) a sample also has "label", -1 for photos it does not name."""

    def __init__(self, folder: str | Path, derive: str = "edges", preprocess: str = "resize_and_crop",
                 load_size: int = 286, crop_size: int = 256, no_flip: bool = False, input_nc: int = 3,
                 output_nc: int = 3, max_items: int | None = None, seed: int | None = None,
                 edge_cache_size: int = 2048, sketch_outline: float = 0.0, sketch_features: float = 0.0,
                 sketch_cartoon: float = 0.0, class_of: dict[str, int] | None = None):
        super().__init__(preprocess=preprocess, load_size=load_size, crop_size=crop_size, no_flip=no_flip,
                         seed=seed)
        if derive not in DERIVATIONS:
            raise ValueError(f"derive must be one of {', '.join(DERIVATIONS)}, got {derive!r}")
        _check_channels(input_nc=input_nc, output_nc=output_nc)
        self.folder = Path(folder)
        self.paths = _image_list(self.folder, max_items)
        self.derive = derive
        self.input_nc = input_nc
        self.output_nc = output_nc
        self.edge_cache_size = edge_cache_size
        self.sketch_outline = sketch_outline
        self.sketch_features = sketch_features
        self.sketch_cartoon = sketch_cartoon
        self.class_of = class_of
        self._edge_cache: OrderedDict[str, tuple[np.ndarray, tuple[int, int]]] = OrderedDict()

    def __len__(self) -> int:
        return len(self.paths)

    def load_sample(self, index: int) -> dict:
        path = self.paths[index]
        photo = self.open(path)
        params = self.draw_params(photo.size)
        if self.derive == "drawn":   # drawn on the cropped photo: stroke widths stay as drawn
            frame = face_frame(photo.size, params)
            photo = apply_transform(photo, params)
            derived = random_drawing(np.asarray(photo), self.rng, outline_share=self.sketch_outline,
                                     features_share=self.sketch_features, face_frame=frame,
                                     cartoon_share=self.sketch_cartoon)
        else:                        # derived at full size, then transformed with the photo
            derived = self._sketch(path, photo) if self.derive == "edges" else photo.convert("L")
            derived, photo = apply_transform(derived, params), apply_transform(photo, params)
        sample = {"A": to_tensor(derived, self.input_nc), "B": to_tensor(photo, self.output_nc),
                  "A_path": str(path), "B_path": str(path)}
        if self.class_of is not None:   # a class input: the photo's class index, -1 when it has none
            sample["label"] = torch.tensor(self.class_of.get(path.name, -1))
        return sample

    def _sketch(self, path: Path, photo: Image.Image) -> Image.Image:
        """The photo's sketch (mode L), from an LRU cache of bit-packed line masks."""
        key = str(path)
        if key in self._edge_cache:
            self._edge_cache.move_to_end(key)
            packed, shape = self._edge_cache[key]
            lines = np.unpackbits(packed, count=shape[0] * shape[1]).reshape(shape).astype(bool)
        else:
            lines = extract_lines(np.asarray(photo))
            if self.edge_cache_size > 0:
                self._edge_cache[key] = (np.packbits(lines), lines.shape)
                if len(self._edge_cache) > self.edge_cache_size:
                    self._edge_cache.popitem(last=False)
        return Image.fromarray(np.where(lines, 0, 255).astype(np.uint8))


class ColorizationDataset(ImageFolderDataset):
    """A plain folder of color photos: A = L / 50 - 1 (1 channel), B = ab / 110 (2 channels)."""

    def __init__(self, folder: str | Path, preprocess: str = "resize_and_crop", load_size: int = 286,
                 crop_size: int = 256, no_flip: bool = False, input_nc: int = 1, output_nc: int = 2,
                 max_items: int | None = None, seed: int | None = None):
        super().__init__(preprocess=preprocess, load_size=load_size, crop_size=crop_size, no_flip=no_flip,
                         seed=seed)
        if (input_nc, output_nc) != (1, 2):
            raise ValueError(f"colorization maps L (1 channel) to ab (2 channels); got input_nc={input_nc}, "
                             f"output_nc={output_nc}")
        self.folder = Path(folder)
        self.paths = _image_list(self.folder, max_items)

    def __len__(self) -> int:
        return len(self.paths)

    def load_sample(self, index: int) -> dict:
        path = self.paths[index]
        photo = self.open(path)
        photo = apply_transform(photo, self.draw_params(photo.size))
        rgb01 = torch.from_numpy(np.asarray(photo, dtype=np.float32) / 255.0).permute(2, 0, 1)
        L_norm, ab_norm = encode_lab(rgb01)
        return {"A": L_norm, "B": ab_norm, "A_path": str(path), "B_path": str(path)}


_DATASETS = {
    "aligned": AlignedDataset,
    "unaligned": UnalignedDataset,
    "derived": DerivedPairDataset,
    "colorization": ColorizationDataset,
}
_KNOWN_OPTIONS = {name for cls in _DATASETS.values() for name in inspect.signature(cls).parameters} - {
    "root", "folder", "phase"}


def build_dataset(task: str, dataroot: str | Path, phase: str = "train", **opts) -> ImageFolderDataset:
    """The dataset for a task: "pix2pix" (side-by-side pairs in dataroot/phase, or pairs derived from
    plain photos with derive="edges"|"drawn"|"gray"), "cycle_gan" (dataroot/{phase}A and {phase}B) or
    "colorization" (plain photos). Plain photo folders use dataroot/phase when it exists, else
    dataroot itself. Options another dataset kind understands are ignored; unknown ones raise TypeError.
    """
    unknown = set(opts) - _KNOWN_OPTIONS
    if unknown:
        raise TypeError(f"unknown dataset option(s): {', '.join(sorted(unknown))}")
    if task == "pix2pix":
        kind = "derived" if opts.get("derive") else "aligned"
    elif task == "cycle_gan":
        kind = "unaligned"
    elif task == "colorization":
        kind = "colorization"
    else:
        raise ValueError(f"unknown task {task!r}; choose pix2pix, cycle_gan or colorization")
    cls = _DATASETS[kind]
    accepted = inspect.signature(cls).parameters
    kwargs = {name: value for name, value in opts.items() if name in accepted}
    if kind in ("derived", "colorization"):
        return cls(resolve_phase_folder(dataroot, phase), **kwargs)
    return cls(dataroot, phase, **kwargs)
