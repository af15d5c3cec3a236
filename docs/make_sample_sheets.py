"""Render the sample sheets of the embedded models (docs/images/samples_*.jpg) from our own drawings and
public-domain photos only (scikit-image's bundled images); never from the research datasets.

    python docs/make_sample_sheets.py [--only sketch facade colorize style] [--sketch_model DIR]
    python docs/make_sample_sheets.py --classes weights/sketch2catface_coats --out_name sketch2catface_coats

Each sheet is made by the public engine API (`Translator`) from the model directories in weights/.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from PIL import Image
from skimage import data

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "docs"))

from demos.examples import example_photo, random_doodle, random_facade  # noqa: E402
from engine import Translator  # noqa: E402
from engine.edges import sketch_from_photo  # noqa: E402
from engine.images import image_grid, open_image  # noqa: E402
from make_edge_examples import on_checkerboard, synthetic_drawing  # noqa: E402

WEIGHTS = REPO / "weights"
IMAGES = REPO / "docs" / "images"
SIDE = 256
PUBLIC_DOMAIN_PHOTOS = ("chelsea", "coffee", "astronaut", "rocket")
CATFACE_DRAWINGS = REPO / "tests" / "data" / "catface_drawings"   # ours: docs/make_catface_drawings.py
PAIRS_PER_ROW = 4
COLORIZERS = [("colorize_l1", "L1 only"), ("colorize_pixelgan", "1x1"), ("colorize_patchgan16", "16x16"),
              ("colorize_patchgan70", "70x70"), ("colorize_imagegan286", "286x286")]


def square(image: Image.Image, side: int = SIDE) -> Image.Image:
    """The central square of `image`, resized to side x side."""
    short = min(image.size)
    left, top = (image.width - short) // 2, (image.height - short) // 2
    return image.crop((left, top, left + short, top + short)).resize((side, side), Image.Resampling.LANCZOS)


def public_photo(name: str) -> Image.Image:
    return square(open_image(getattr(data, name)()))


def horse_scene(seed: int, coat: tuple[int, int, int]) -> Image.Image:
    """scikit-image's public-domain horse silhouette, given a coat color, on one of our synthetic landscapes."""
    import numpy as np

    scene = example_photo(seed, size=(SIDE, SIDE))
    horse = Image.fromarray(~data.horse()).resize((SIDE * 3 // 4, SIDE * 3 * 328 // (4 * 400)), Image.Resampling.NEAREST)
    shade = np.linspace(0.75, 1.1, horse.height)[:, None, None] * np.array(coat)[None, None, :]
    coat_image = Image.fromarray(np.clip(np.broadcast_to(shade, (horse.height, horse.width, 3)), 0, 255).astype(np.uint8))
    scene.paste(coat_image, (SIDE // 8, SIDE - horse.height - SIDE // 10), horse)
    return scene


def model(name: str | Path) -> Translator:
    """The model weights/NAME, or the model directory at the path NAME."""
    path = Path(name) if Path(name).is_dir() else WEIGHTS / name
    if not (path / "config.json").is_file():
        raise SystemExit(f"{path} is not a model directory")
    return Translator.from_dir(path)


def save(sheet: Image.Image, name: str) -> None:
    IMAGES.mkdir(parents=True, exist_ok=True)
    out = IMAGES / f"samples_{name}.jpg"
    sheet.save(out, quality=88, optimize=True)
    print(f"wrote {out.relative_to(REPO)}")


def sketch_sheet(model_dir: str | Path = "sketch2catface", out_name: str | None = None) -> None:
    """Our cat-face drawings (tests/data/catface_drawings), a doodle and the sketch of a public-domain cat
    photo -> photos, PAIRS_PER_ROW (drawing, photo) pairs a row, at the size the app shows them."""
    translator = model(model_dir)
    size = translator.config.crop_size
    drawings = our_drawings()
    drawings += [on_checkerboard(synthetic_drawing()).resize((SIDE, SIDE), Image.Resampling.LANCZOS),
                 random_doodle(4, size=SIDE, subject="cat"),
                 sketch_from_photo(public_photo("chelsea")).convert("RGB")]
    pairs = [[drawing, translator.translate(drawing, size=size)] for drawing in drawings]
    pairs += [[Image.new("RGB", (SIDE, SIDE), "white")] * 2] * (-len(pairs) % PAIRS_PER_ROW)
    rows = [sum(pairs[i:i + PAIRS_PER_ROW], []) for i in range(0, len(pairs), PAIRS_PER_ROW)]
    name = Path(model_dir).name
    save(image_grid(rows, labels=["drawing (ours)", name] * PAIRS_PER_ROW), out_name or name)



def our_drawings(count: int | None = None) -> list[Image.Image]:
    """The first `count` (default all) of our cat-face drawings, at the sheets' side."""
    return [open_image(path).resize((SIDE, SIDE), Image.Resampling.LANCZOS)
            for path in sorted(CATFACE_DRAWINGS.glob("*.png"))[:count]]


def compare_sheet(model_dirs: list[str], out_name: str, count: int = 6) -> None:
    """The first `count` of our cat-face drawings through several sketch models, a column each (ablations)."""
    translators = [model(path) for path in model_dirs]
    drawings = our_drawings(count)
    rows = [[drawing] + [t.translate(drawing, size=t.config.crop_size) for t in translators] for drawing in drawings]
    names = [Path(path).parent.name if Path(path).name == "model" else Path(path).name   # a run's model/
             for path in model_dirs]
    save(image_grid(rows, labels=["drawing (ours)"] + names), out_name)


def noise_sheet(model_dir: str, out_name: str, count: int = 6, answers: int = 4) -> None:
    """The first `count` of our drawings through a sketch model with a noise input (nz > 0): its z = 0
    answer (what the app shows) and `answers` answers for random z (seeded by the drawing's index)."""
    translator = model(model_dir)
    size = translator.config.crop_size
    drawings = our_drawings(count)
    rows = [[drawing, translator.translate(drawing, size=size)]
            + translator.samples(drawing, answers, seed=index, size=size) for index, drawing in enumerate(drawings)]
    save(image_grid(rows, labels=["drawing (ours)", "z = 0"] + [f"random z {i + 1}" for i in range(answers)]),
         out_name)


def class_sheet(model_dir: str, out_name: str, count: int | None = None, side: int = 160) -> None:
    """Our drawings through a sketch model with a class input (e.g. a coat): its answer with no class (the
    model's own choice) and one per class, a row per drawing, at `side` pixels."""
    translator = model(model_dir)
    classes = [None, *translator.domains]
    if len(classes) < 2:
        raise SystemExit(f"{model_dir} has no class input")
    rows = []
    for drawing in our_drawings(count):
        outputs = translator.translate([drawing] * len(classes), size=translator.config.crop_size, domain=classes)
        rows.append([image.resize((side, side), Image.Resampling.LANCZOS) for image in [drawing, *outputs]])
    labels = ["drawing (ours)", "no class"] + [name.replace("_", " ") for name in classes[1:]]
    save(image_grid(rows, labels=labels), out_name)


def facade_sheet() -> None:
    """Our own procedural label maps -> facade photos."""
    translator = model("studio_facades")
    rows = []
    for seed in (1, 2, 3, 4):
        labels = random_facade(seed, size=(SIDE, SIDE))
        rows.append([labels, translator.translate(labels, size=translator.config.crop_size)])
    save(image_grid(rows, labels=["label map (procedural)", "studio_facades"]), "facades")


def colorize_sheet() -> None:
    """Public-domain photos made gray, colorized by the five objectives."""
    translators = [(model(name), label) for name, label in COLORIZERS]
    rows = []
    for name in PUBLIC_DOMAIN_PHOTOS:
        photo = public_photo(name)
        rows.append([photo, photo.convert("L").convert("RGB")] + [t.translate(photo) for t, _ in translators])
    save(image_grid(rows, labels=["original", "input (L)"] + [label for _, label in translators]), "colorize")


def style_sheet() -> None:
    """Public-domain photos (for horses: the public-domain silhouette on our own landscapes) through each
    embedded CycleGAN, with the cycle reconstruction."""
    horses = [horse_scene(3, (92, 56, 34)), horse_scene(8, (40, 30, 25)), horse_scene(12, (200, 190, 175))]
    photos = [public_photo(name) for name in PUBLIC_DOMAIN_PHOTOS]
    for name, direction, label, inputs in (("studio_monet2photo", "BtoA", "photo -> Monet", photos),
                                           ("studio_horse2zebra", "AtoB", "horse -> zebra", horses + photos[:1])):
        if not (WEIGHTS / name).is_dir():
            print(f"skipped {name}: not in weights/")
            continue
        translator = model(name)
        rows = []
        for photo in inputs:
            fake, reconstruction = translator.cycle(photo, direction)
            rows.append([photo, fake, reconstruction])
        save(image_grid(rows, labels=["input (public domain / ours)", label, "cycle reconstruction"]),
             name.removeprefix("studio_"))


SHEETS = {"sketch": sketch_sheet, "facade": facade_sheet, "colorize": colorize_sheet, "style": style_sheet}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="+", choices=list(SHEETS), default=list(SHEETS))
    parser.add_argument("--sketch_model", help="model directory for the sketch sheet (default weights/sketch2catface)")
    parser.add_argument("--out_name", help="sheet name for --sketch_model or --compare (docs/images/samples_NAME.jpg)")
    parser.add_argument("--compare", nargs="+", metavar="DIR", help="only a comparison sheet of these sketch models")
    parser.add_argument("--noise_samples", metavar="DIR",
                        help="only a sheet of a noise-input sketch model: z = 0 and random z per drawing")
    parser.add_argument("--classes", metavar="DIR",
                        help="only a sheet of a class-input sketch model: no class and each class per drawing")
    args = parser.parse_args()
    if args.classes:
        class_sheet(args.classes, args.out_name or f"{Path(args.classes).name}_classes")
        return
    if args.noise_samples:
        noise_sheet(args.noise_samples, args.out_name or "ablation_noise")
        return
    if args.compare:
        compare_sheet(args.compare, args.out_name or "ablation")
        return
    for name in args.only:
        if name == "sketch" and args.sketch_model:
            sketch_sheet(args.sketch_model, args.out_name)
        else:
            SHEETS[name]()


if __name__ == "__main__":
    main()
