"""Metrics against ground truth: L1, PSNR, Lab histogram intersection (pix2pix paper, Fig. 7), checkerboard.

Conventions (all metrics take PIL images or HxW / HxWx3 numpy arrays: uint8, uint16, or float in [0, 1]):
- `l1`: mean absolute error of RGB on the [0, 1] scale (multiply by 2 for the [-1, 1] scale the
  networks use; 0 is identical, 1 is black against white).
- `psnr`: 10 log10(255^2 / MSE) of 8-bit RGB in dB; identical images give PSNR_CAP (100 dB) rather
  than infinity so averages stay finite.
- `lab_histogram_intersection`: per channel (L, a, b), the normalized histograms of all predicted and
  of all ground-truth pixels of a set, and the sum of their bin-wise minima: 1.0 for identical
  distributions, 0.0 for disjoint ones.
- `checkerboard_share` / `checkerboard_ratio`: the share of spectral power on the 2-pixel period (the
  Nyquist row and column of the 2-D DFT of the luminance), and the predictions' mean share over the
  targets' mean share: 1.0 is like the real photos, transposed-convolution grids give 3-5.
"""
from __future__ import annotations

import random
import time
import zlib
from pathlib import Path
from typing import Iterator, Sequence, Union

import numpy as np
import torch
from PIL import Image

from .checkpoint import CONFIG_FILE
from .color import rgb_to_lab
from .config import ModelConfig
from .data import find_images, resolve_phase_folder
from .domain_data import class_indices
from .images import ImageError, open_image

PSNR_CAP = 100.0  # dB, reported for identical images
DEFAULT_BINS = 64
HIST_RANGES = {"L": (0.0, 100.0), "a": (-110.0, 110.0), "b": (-110.0, 110.0)}
LUMA = np.array([0.299, 0.587, 0.114])  # ITU-R BT.601, as PIL's convert("L")

ImageLike = Union[Image.Image, np.ndarray]


def _as_float(image: ImageLike) -> np.ndarray:
    """HxWx3 float64 RGB in [0, 1]."""
    if isinstance(image, Image.Image):
        return np.asarray(image.convert("RGB"), dtype=np.float64) / 255.0
    array = np.asarray(image)
    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim != 3 or array.shape[2] not in (1, 3, 4):
        raise ValueError(f"expected an HxW or HxWx(1|3|4) image array, got shape {array.shape}")
    if array.shape[2] == 4:
        array = array[:, :, :3]
    if array.dtype == np.uint8:
        values = array.astype(np.float64) / 255.0
    elif array.dtype == np.uint16:
        values = array.astype(np.float64) / 65535.0
    elif np.issubdtype(array.dtype, np.floating):
        values = np.clip(array.astype(np.float64), 0.0, 1.0)
    else:
        raise ValueError(f"unsupported image dtype {array.dtype} (use uint8, uint16 or float in [0, 1])")
    return np.repeat(values, 3, axis=2) if values.shape[2] == 1 else values


def _pair(pred: ImageLike, target: ImageLike) -> tuple[np.ndarray, np.ndarray]:
    a, b = _as_float(pred), _as_float(target)
    if a.shape != b.shape:
        raise ValueError(f"prediction and target differ in size: {a.shape[1]}x{a.shape[0]} vs "
                         f"{b.shape[1]}x{b.shape[0]}")
    return a, b


def l1(pred: ImageLike, target: ImageLike) -> float:
    """Mean absolute error of RGB on the [0, 1] scale."""
    a, b = _pair(pred, target)
    return float(np.abs(a - b).mean())


def psnr(pred: ImageLike, target: ImageLike) -> float:
    """Peak signal-to-noise ratio of 8-bit RGB in dB (peak 255); PSNR_CAP for identical images."""
    a, b = _pair(pred, target)
    a, b = np.round(a * 255.0), np.round(b * 255.0)
    mse = float(((a - b) ** 2).mean())
    return PSNR_CAP if mse == 0 else min(PSNR_CAP, float(10 * np.log10(255.0 ** 2 / mse)))


class LabHistograms:
    """Accumulates per-channel Lab histograms (L in [0, 100], a and b in [-110, 110]) of a set of images."""

    def __init__(self, bins: int = DEFAULT_BINS):
        if bins < 1:
            raise ValueError(f"bins must be at least 1, got {bins}")
        self.bins = bins
        self.counts = {channel: np.zeros(bins) for channel in HIST_RANGES}

    def add(self, image: ImageLike) -> None:
        rgb = torch.from_numpy(_as_float(image)).permute(2, 0, 1).float()
        lab = rgb_to_lab(rgb).numpy()
        for index, (channel, (low, high)) in enumerate(HIST_RANGES.items()):
            self.counts[channel] += np.histogram(np.clip(lab[index], low, high), bins=self.bins,
                                                 range=(low, high))[0]

    def intersection(self, other: "LabHistograms") -> dict[str, float]:
        """Sum of minima of the normalized histograms, per channel: 1.0 for identical distributions."""
        if other.bins != self.bins:
            raise ValueError(f"histograms have different bins ({self.bins} vs {other.bins})")
        result = {}
        for channel in HIST_RANGES:
            mine = self.counts[channel] / max(self.counts[channel].sum(), 1)
            theirs = other.counts[channel] / max(other.counts[channel].sum(), 1)
            result[channel] = float(np.minimum(mine, theirs).sum())
        return result


def lab_histogram_intersection(pred_rgb: ImageLike | Sequence[ImageLike], target_rgb: ImageLike | Sequence[ImageLike],
                               bins: int = DEFAULT_BINS) -> dict[str, float]:
    """{"L", "a", "b"}: histogram intersection of the predictions' and the targets' channels over the whole set.

    Takes one image each or two sequences (the histograms pool every pixel of each set, as the
    pix2pix paper's colorfulness comparison does; the sets need not have the same sizes or lengths).
    """
    preds = list(pred_rgb) if isinstance(pred_rgb, (list, tuple)) else [pred_rgb]
    targets = list(target_rgb) if isinstance(target_rgb, (list, tuple)) else [target_rgb]
    if not preds or not targets:
        raise ValueError("lab_histogram_intersection needs at least one prediction and one target")
    ours, truth = LabHistograms(bins), LabHistograms(bins)
    for pred in preds:
        ours.add(pred)
    for target in targets:
        truth.add(target)
    return ours.intersection(truth)


def nyquist_share(image: ImageLike, channels: str = "luma") -> float:
    """Share of one image's spectral power on the Nyquist row and column of its 2-D DFT (0.0 if flat).

    `channels` "luma": the luminance (BT.601 weights of RGB in [0, 1]); "ab": the mean share of the Lab
    a and b channels (a colorizer's own output: its L is the photo's). Each channel is cropped to even
    sides (odd sides have no exact Nyquist line; the last row or column goes), its mean is subtracted
    (no DC), and the power |F|^2 on the row ky = H/2 and the column kx = W/2 (their crossing counted
    once) is divided by the total. No window: the border discontinuity leaks some power onto these
    lines in predictions and targets alike (a Hann window lowers the ratios, e.g. studio_facades 3.6 ->
    2.4 at 128 px).
    """
    rgb = _as_float(image)
    if channels == "luma":
        planes = [rgb @ LUMA]
    elif channels == "ab":
        lab = rgb_to_lab(torch.from_numpy(rgb).permute(2, 0, 1).float()).double().numpy()
        planes = [lab[1], lab[2]]
    else:
        raise ValueError(f"channels must be luma or ab, got {channels!r}")
    return planes_nyquist_share(planes)


def planes_nyquist_share(planes) -> float:
    """Mean Nyquist share of 2-D planes, e.g. a colorizer's float (2, H, W) a/b output before rounding."""
    return float(np.mean([_plane_nyquist_share(np.asarray(plane, np.float64)) for plane in planes]))


def _plane_nyquist_share(y: np.ndarray) -> float:
    y = y[: y.shape[0] // 2 * 2, : y.shape[1] // 2 * 2]
    if y.size == 0 or np.ptp(y) < 1e-9:
        return 0.0
    power = np.abs(np.fft.fft2(y - y.mean())) ** 2
    h, w = y.shape
    nyquist = power[h // 2].sum() + power[:, w // 2].sum() - power[h // 2, w // 2]
    return float(nyquist / power.sum())


def checkerboard_share(images: ImageLike | Sequence[ImageLike]) -> float:
    """Mean `nyquist_share` over one image or a sequence of images (white noise gives ~(H+W)/(H*W))."""
    images = list(images) if isinstance(images, (list, tuple)) else [images]
    if not images:
        raise ValueError("checkerboard_share needs at least one image")
    return float(np.mean([nyquist_share(image) for image in images]))


def share_ratio(fake_shares: Sequence[float], real_shares: Sequence[float]) -> float:
    """Ratio of the mean shares (not the mean of per-pair ratios: one near-flat target would dominate)."""
    fake, real = float(np.mean(fake_shares)), float(np.mean(real_shares))
    if real == 0:
        return 1.0 if fake == 0 else float("inf")
    return fake / real


def checkerboard_ratio(pred_rgb: ImageLike | Sequence[ImageLike], target_rgb: ImageLike | Sequence[ImageLike]) -> float:
    """checkerboard_share(predictions) / checkerboard_share(targets): 1.0 like the real photos, >1 gridded.

    A ratio of set means, so the sets need not pair up (or be the same length).
    """
    return share_ratio([checkerboard_share(pred_rgb)], [checkerboard_share(target_rgb)])


def _gray(image: Image.Image) -> Image.Image:
    return image.convert("L").convert("RGB")


def _phase_names(phase: str) -> tuple[str, ...]:
    return (phase, *{"val": ("test",), "test": ("val",)}.get(phase, ()))


def _aligned_cycle_folder(dataroot: str | Path, phase: str) -> Path | None:
    """An aligned A|B folder (ground truth) for a CycleGAN, if the dataset has one."""
    return next((Path(dataroot) / n for n in _phase_names(phase) if (Path(dataroot) / n).is_dir()), None)


def _unpaired_folders(dataroot: str | Path, phase: str) -> tuple[Path, Path] | None:
    """({phase}A, {phase}B) of an unaligned dataset (val and test stand in for each other)."""
    for name in _phase_names(phase):
        a, b = Path(dataroot) / f"{name}A", Path(dataroot) / f"{name}B"
        if a.is_dir() and b.is_dir():
            return a, b
    return None


def _evaluation_folder(config, dataroot: str | Path, phase: str) -> Path:
    if config.task == "cycle_gan":
        folder = _aligned_cycle_folder(dataroot, phase)
        if folder is None:
            raise ValueError(f"CycleGAN data is unpaired: evaluation needs an aligned A|B folder with ground truth "
                             f"or {phase}A/ and {phase}B/ folders ({Path(dataroot) / phase} not found)")
        return folder
    return resolve_phase_folder(dataroot, phase)


def _readable(paths: Sequence[Path], size: int | None, limit: int | None) -> list[Image.Image]:
    images = []
    for path in paths:
        if limit is not None and len(images) >= limit:
            break
        try:
            image = open_image(path)
        except ImageError:
            continue
        images.append(image.resize((size, size), Image.Resampling.BICUBIC) if size else image)
    return images


def evaluate_unpaired(model_dir: str | Path, dataroot: str | Path, phase: str = "test", *,
                      max_items: int | None = None, size: int | None = 256, device: str = "auto",
                      bins: int = DEFAULT_BINS, progress: bool = True) -> dict:
    """A CycleGAN on unpaired {phase}A/ and {phase}B/ folders, which have no ground truth.

    For each direction the model has (AtoB translates {phase}A, BtoA {phase}B):
    - `hist_*`: Lab histogram intersection of the translations with the real images of the target
      domain, and `hist_*_input` the same for the untranslated inputs: a translation that reaches the
      target domain's colors raises it;
    - `checkerboard`: `checkerboard_ratio` of the translations to the real images of the target domain;
    - `cycle_l1`, `cycle_psnr`: how well F(G(x)) reconstructs x (needs both generators).
    Returns {"AtoB": {...}, "BtoA": {...}, "n", "size", "phase", "seconds", "kind": "unpaired"}.
    """
    from tqdm.auto import tqdm

    from .inference import Translator

    folders = _unpaired_folders(dataroot, phase)
    if folders is None:
        raise ValueError(f"no {phase}A/ and {phase}B/ folders in {dataroot}")
    translator = Translator.from_dir(model_dir, device=device)
    if translator.config.task != "cycle_gan":
        raise ValueError(f"unpaired evaluation is for CycleGAN models; {model_dir} is {translator.config.task}")
    start = time.perf_counter()
    domains = {"A": _readable(find_images(folders[0]), size, max_items),
               "B": _readable(find_images(folders[1]), size, max_items)}
    if not domains["A"] or not domains["B"]:
        raise ValueError(f"no readable images in {folders[0]} or {folders[1]}")
    results: dict = {}
    both = len(translator.directions) == 2
    for direction in translator.directions:
        source, target = ("A", "B") if direction == "AtoB" else ("B", "A")
        real = LabHistograms(bins)
        for image in domains[target]:
            real.add(image)
        real_shares = [nyquist_share(image) for image in domains[target]]
        fakes, inputs = LabHistograms(bins), LabHistograms(bins)
        l1s, psnrs, fake_shares = [], [], []
        for image in tqdm(domains[source], unit="img", desc=f"evaluate {direction}", disable=not progress):
            if both:
                fake, reconstruction = translator.cycle(image, direction)
                l1s.append(l1(reconstruction, image))
                psnrs.append(psnr(reconstruction, image))
            else:
                fake = translator.translate(image, direction=direction)
            fakes.add(fake)
            inputs.add(image)
            fake_shares.append(nyquist_share(fake))
        scores = {f"hist_{k}": round(v, 4) for k, v in fakes.intersection(real).items()}
        scores.update({f"hist_{k}_input": round(v, 4) for k, v in inputs.intersection(real).items()})
        scores["checkerboard"] = round(share_ratio(fake_shares, real_shares), 3)
        if l1s:
            scores.update(cycle_l1=round(float(np.mean(l1s)), 5), cycle_psnr=round(float(np.mean(psnrs)), 3))
        scores["n"] = len(domains[source])
        results[direction] = scores
    results.update(kind="unpaired", size=size, phase=phase, seconds=round(time.perf_counter() - start, 2))
    return results


def _describe_checkerboard(metrics: dict) -> str:
    return f", checkerboard {metrics['checkerboard']:.2f}" if "checkerboard" in metrics else ""


def describe_metrics(metrics: dict) -> str:
    """One Markdown sentence of an evaluation's numbers (paired or unpaired), for model cards."""
    if metrics.get("kind") != "unpaired":
        return (f"{metrics['n']} images at {metrics['size']}px: L1 {metrics['l1']:.4f}, PSNR {metrics['psnr']:.2f} dB, "
                f"Lab histogram intersection L {metrics['hist_L']:.3f} / a {metrics['hist_a']:.3f} / "
                f"b {metrics['hist_b']:.3f}" + _describe_checkerboard(metrics))
    parts = []
    for direction in ("AtoB", "BtoA"):
        m = metrics.get(direction)
        if not m:
            continue
        text = (f"{direction} ({m['n']} images at {metrics['size']}px): Lab histogram intersection with the target "
                f"domain L {m['hist_L']:.3f} / a {m['hist_a']:.3f} / b {m['hist_b']:.3f} (inputs before translation "
                f"{m['hist_L_input']:.3f} / {m['hist_a_input']:.3f} / {m['hist_b_input']:.3f})"
                + _describe_checkerboard(m))
        if "cycle_l1" in m:
            text += f", cycle reconstruction L1 {m['cycle_l1']:.4f}, PSNR {m['cycle_psnr']:.2f} dB"
        parts.append(text)
    return "; ".join(parts)


def ground_truth_pairs(config, paths: Sequence[Path], direction: str | None = None
                       ) -> Iterator[tuple[Path, Image.Image, Image.Image]]:
    """(path, input, target) for each readable file, the way the model was trained.

    Aligned A|B files are split (`direction`, default the model's, AtoB: the left half is the input).
    Plain photo folders (colorization, or pix2pix trained with derive "edges"/"drawn"/"gray") give the
    photo as the target and derive the input: its sketch (`engine.edges.sketch_from_photo`; for "drawn",
    one `engine.sketches.random_drawing` at the model's crop size, seeded by the file name), its
    grayscale, or, for colorizers, the photo itself (the Translator turns it gray: its exact Lab L
    channel, which is what a colorizer was trained on).
    """
    derive = config.training.get("derive")
    for path in paths:
        try:
            image = open_image(path)
        except ImageError:
            continue
        if config.task == "colorization":
            yield path, image, image
        elif derive == "edges":
            from .edges import sketch_from_photo
            yield path, sketch_from_photo(image).convert("RGB"), image
        elif derive == "drawn":
            yield path, _drawn(image, config.crop_size, path.name), image
        elif derive == "gray":
            yield path, _gray(image), image
        else:
            half = image.width // 2
            if half < 1:
                continue
            left, right = image.crop((0, 0, half, image.height)), image.crop((half, 0, 2 * half, image.height))
            yield (path, left, right) if (direction or config.direction) == "AtoB" else (path, right, left)


def _drawn(image: Image.Image, side: int, name: str) -> Image.Image:
    """A drawn-style sketch of `image` at a short side of `side`, the same for the same file name."""
    from .sketches import random_drawing
    scale = side / min(image.size)
    small = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))),
                         Image.Resampling.BICUBIC)
    return random_drawing(np.asarray(small), random.Random(zlib.crc32(name.encode()))).convert("RGB")


def _translate_pending(translator, sources: list[Image.Image], direction: str, classes: list[str | None] | None = None
                       ) -> tuple[list[Image.Image], np.ndarray | None]:
    """The translations of `sources` (all one size) and, for a colorizer, its a/b output before 8-bit
    rounding ((N, 2, H, W), ab / 110; the share is scale-free): the checkerboard of a nearly flat a/b output is otherwise
    dominated by the white rounding noise of the RGB image (docs/quality.md)."""
    if translator.config.task != "colorization":
        return translator.translate(sources, direction=direction, domain=classes), None
    batch = torch.stack([translator.encode(source) for source in sources])
    ab = translator.translate_tensor(batch, direction=direction)
    preds = [translator.decode(output, source) for output, source in zip(ab, sources)]
    return preds, ab.double().numpy()


def _classes_of(config, folder: Path, classes: bool) -> dict[str, str] | None:
    """{file name: class name} of the evaluated folder for a class-input model asked to use them, else None."""
    if not classes:
        return None
    if config.task != "pix2pix" or not config.domains:
        raise ValueError("classes: only a pix2pix model with a class input takes each image's class")
    indices = class_indices(folder, "", config.training.get("labels_csv"), list(config.domains))   # "": folder itself
    return {name: config.domains[index] for name, index in indices.items()}


def evaluate_dir(model_dir: str | Path, dataroot: str | Path, phase: str = "val", *, direction: str | None = None,
                 max_items: int | None = None, size: int | None = 256, device: str = "auto",
                 bins: int = DEFAULT_BINS, batch_size: int = 8, progress: bool = True, classes: bool = False) -> dict:
    """Translate a held-out split and compare with its ground truth.

    Inputs and targets are resized to size x size (None: each image's own size, long side capped at
    1024 px); L1 and PSNR are averaged per image, the histogram intersections pool the whole set, and
    "checkerboard" is `checkerboard_ratio` of the predictions to the targets (for colorizers on the Lab
    a and b channels, their actual output, taken before 8-bit rounding).
    For a CycleGAN, `direction` (default the model's) also picks the generator: the model's own
    direction runs G_A, the other G_B; on unpaired {phase}A/ and {phase}B/ folders the CycleGAN is
    scored by `evaluate_unpaired` instead. `classes`: a model with a class input is told each image's
    class (from the labels CSV it trained with, in the evaluated folder); without, it chooses itself.
    Returns {"l1", "psnr", "hist_L", "hist_a", "hist_b", "checkerboard", "n", "seconds", ...};
    "seconds" times the translation and scoring, not the model loading.
    """
    from tqdm.auto import tqdm

    from .inference import Translator

    task = ModelConfig.load(Path(model_dir) / CONFIG_FILE).task if (Path(model_dir) / CONFIG_FILE).is_file() else None
    if task == "stargan":
        raise ValueError("a stargan model has no ground truth to compare with: score it with "
                         "engine.evaluate_stargan.evaluate_stargan (python -m engine evaluate does)")
    if task == "cycle_gan" and _aligned_cycle_folder(dataroot, phase) is None \
            and _unpaired_folders(dataroot, phase) is not None:
        return evaluate_unpaired(model_dir, dataroot, phase, max_items=max_items, size=size, device=device,
                                 bins=bins, progress=progress)
    if direction not in (None, "AtoB", "BtoA"):
        raise ValueError(f"direction must be AtoB or BtoA, got {direction!r}")
    if max_items is not None and max_items < 1:
        raise ValueError(f"max_items must be at least 1, got {max_items}")
    translator = Translator.from_dir(model_dir, device=device, batch_size=batch_size,
                                     normalize_drawings=False)  # derived sketches are fed as in training
    config = translator.config
    data_direction = direction or config.direction
    run_direction = "AtoB"
    if config.task == "cycle_gan" and data_direction != config.direction:
        run_direction = "BtoA"
    translator._generator_name(run_direction)  # fail before reading data when G_B is missing
    folder = _evaluation_folder(config, dataroot, phase)
    paths = find_images(folder)
    class_of = _classes_of(config, folder, classes)
    total = len(paths) if max_items is None else min(len(paths), max_items)

    start = time.perf_counter()
    channels = "ab" if config.task == "colorization" else "luma"   # a colorizer's L is the photo's own
    l1s, psnrs, fake_shares, real_shares = [], [], [], []
    ours, truth = LabHistograms(bins), LabHistograms(bins)
    pending: list[tuple[Image.Image, Image.Image, str | None]] = []

    def flush():
        preds, fake_ab = _translate_pending(translator, [source for source, _, _ in pending], run_direction,
                                            [name for _, _, name in pending] if class_of is not None else None)
        for index, (pred, (_, target, _)) in enumerate(zip(preds, pending)):
            l1s.append(l1(pred, target))
            psnrs.append(psnr(pred, target))
            ours.add(pred)
            truth.add(target)
            fake_shares.append(nyquist_share(pred, channels) if fake_ab is None
                               else planes_nyquist_share(fake_ab[index]))
            real_shares.append(nyquist_share(target, channels))
        bar.update(len(pending))
        pending.clear()

    with tqdm(total=total, unit="img", desc="evaluate", disable=not progress) as bar:
        for count, (path, source, target) in enumerate(ground_truth_pairs(config, paths, data_direction)):
            if max_items is not None and count >= max_items:
                break
            if size is not None:
                source = source.resize((size, size), Image.Resampling.BICUBIC)
                target = target.resize((size, size), Image.Resampling.BICUBIC)
            else:
                target = target.resize(translator.working_size(*target.size), Image.Resampling.BICUBIC)
                source = source.resize(target.size, Image.Resampling.BICUBIC)
            pending.append((source, target, (class_of or {}).get(Path(path).name)))
            if len(pending) >= batch_size:
                flush()
        if pending:
            flush()
    if not l1s:
        raise ValueError(f"no readable images to evaluate in {dataroot} ({phase})")
    hist = ours.intersection(truth)
    return {"l1": round(float(np.mean(l1s)), 5), "psnr": round(float(np.mean(psnrs)), 3),
            "hist_L": round(hist["L"], 4), "hist_a": round(hist["a"], 4), "hist_b": round(hist["b"], 4),
            "checkerboard": round(share_ratio(fake_shares, real_shares), 3),
            "n": len(l1s), "size": size, "phase": phase, "direction": data_direction,
            **({"classes": "each image's own"} if class_of is not None else {}),
            "seconds": round(time.perf_counter() - start, 2)}
