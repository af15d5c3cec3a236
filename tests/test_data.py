"""engine.data: file discovery, joint transforms, the four datasets, bad files, the factory."""
import logging
import random
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from engine.color import decode_lab
from engine.data import (AlignedDataset, ColorizationDataset, DerivedPairDataset, TransformParams,
                         UnalignedDataset, apply_transform, build_dataset, find_images, get_params,
                         resolve_phase_folder, seed_worker)

DATASETS = Path("/work/shared/datasets")
RED, BLUE = (220, 30, 30), (30, 30, 220)


def noise_image(width=48, height=40, seed=0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))


def side_by_side(left: Image.Image, right: Image.Image) -> Image.Image:
    pair = Image.new("RGB", (left.width + right.width, left.height))
    pair.paste(left, (0, 0))
    pair.paste(right, (left.width, 0))
    return pair


def photo_with_object(width=72, height=64) -> Image.Image:
    photo = np.full((height, width, 3), 210, np.uint8)
    photo[height // 4: 3 * height // 4, width // 4: 3 * width // 4] = (150, 60, 40)
    return Image.fromarray(photo)


@pytest.fixture
def aligned_root(tmp_path) -> Path:
    """root/train with 3 pairs whose halves are identical noise, and root/val with red|blue pairs."""
    (tmp_path / "train").mkdir()
    (tmp_path / "val").mkdir()
    for i in range(3):
        half = noise_image(seed=i)
        side_by_side(half, half).save(tmp_path / "train" / f"{i}.png")
    for i in range(2):
        side_by_side(Image.new("RGB", (40, 32), RED), Image.new("RGB", (40, 32), BLUE)).save(
            tmp_path / "val" / f"{i}.png")
    return tmp_path


@pytest.fixture
def unaligned_root(tmp_path) -> Path:
    for folder, count, color in (("trainA", 3, RED), ("trainB", 5, BLUE), ("testA", 1, RED), ("testB", 1, BLUE)):
        (tmp_path / folder).mkdir()
        for i in range(count):
            Image.new("RGB", (36, 30), color).save(tmp_path / folder / f"{i}.jpg")
    return tmp_path


@pytest.fixture
def photo_folder(tmp_path) -> Path:
    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(3):
        photo_with_object(72 + 8 * i, 64).save(folder / f"{i}.png")
    return folder


def small(**opts) -> dict:
    return {"load_size": 36, "crop_size": 32, **opts}


# --- discovery ---------------------------------------------------------------------------------------

def test_find_images(tmp_path):
    for name in ("b.JPG", "a.png", "c.jpeg", "d.Webp", "e.tif", "f.TIFF", "g.bmp", "notes.txt", ".hidden.jpg"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "h.jpg").write_bytes(b"x")
    assert [p.name for p in find_images(tmp_path)] == ["a.png", "b.JPG", "c.jpeg", "d.Webp", "e.tif", "f.TIFF",
                                                      "g.bmp"]
    with pytest.raises(ValueError, match="nope"):
        find_images(tmp_path / "nope")


def test_resolve_phase_folder(aligned_root, photo_folder, tmp_path):
    assert resolve_phase_folder(aligned_root, "train") == aligned_root / "train"
    assert resolve_phase_folder(aligned_root, "test") == aligned_root / "val"    # val and test stand in
    assert resolve_phase_folder(photo_folder, "train") == photo_folder           # plain folder of photos
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no 'train' subfolder"):
        resolve_phase_folder(tmp_path / "empty", "train")
    with pytest.raises(ValueError, match="missing"):
        resolve_phase_folder(tmp_path / "missing", "train")


# --- transforms --------------------------------------------------------------------------------------

@pytest.mark.parametrize("preprocess, size, expected", [
    ("resize_and_crop", (100, 60), (32, 32)),
    ("crop", (100, 60), (32, 32)),
    ("crop", (20, 10), (32, 32)),                 # too small: enlarged first, then cropped
    ("scale_width", (100, 60), (36, 32)),         # height would be 21.6, kept at least crop_size
    ("scale_width", (72, 144), (36, 72)),
    ("scale_width_and_crop", (72, 144), (32, 32)),
    ("none", (101, 61), (100, 60)),               # sides rounded to a multiple of 4
    ("none", (64, 48), (64, 48)),
])
def test_preprocess_output_sizes(preprocess, size, expected):
    params = get_params(size, preprocess, 36, 32, no_flip=False, rng=random.Random(0))
    out = apply_transform(noise_image(*size), params)
    assert out.size == expected


def test_crop_stays_inside_and_resize_is_bicubic():
    rng = random.Random(1)
    for _ in range(50):
        params = get_params((100, 60), "resize_and_crop", 286, 256, no_flip=True, rng=rng)
        assert params.resize == (286, 286) and not params.flip
        x, y = params.crop_pos
        assert 0 <= x <= 30 and 0 <= y <= 30
    img = noise_image(10, 10)
    out = apply_transform(img, TransformParams(resize=(20, 20), crop_pos=None, crop_size=20, flip=False))
    assert out.tobytes() == img.resize((20, 20), Image.Resampling.BICUBIC).tobytes()


def test_params_are_reproducible_and_flip_is_random():
    draws = [get_params((64, 64), "resize_and_crop", 72, 64, False, random.Random(5)) for _ in range(2)]
    assert draws[0] == draws[1]
    rng = random.Random(0)
    flips = {get_params((64, 64), "crop", 72, 32, False, rng).flip for _ in range(40)}
    assert flips == {True, False}
    assert not any(get_params((64, 64), "crop", 72, 32, True, rng).flip for _ in range(40))
    img = noise_image(8, 8)
    flipped = apply_transform(img, TransformParams(resize=None, crop_pos=None, crop_size=8, flip=True))
    assert np.array_equal(np.asarray(flipped), np.asarray(img)[:, ::-1])


def test_transform_validation():
    with pytest.raises(ValueError, match="crop_size .* must not exceed load_size"):
        get_params((64, 64), "resize_and_crop", 256, 286, False, random.Random(0))
    with pytest.raises(ValueError, match="unknown preprocess"):
        get_params((64, 64), "zoom", 256, 256, False, random.Random(0))
    with pytest.raises(ValueError, match="crop_size"):
        AlignedDataset("/nonexistent", load_size=128, crop_size=256)


# --- aligned -----------------------------------------------------------------------------------------

def test_aligned_pairs_share_one_random_crop_and_flip(aligned_root):
    dataset = AlignedDataset(aligned_root, "train", **small(), seed=3)
    assert len(dataset) == 3
    for i in range(3):
        sample = dataset[i]
        assert sample["A"].shape == sample["B"].shape == (3, 32, 32)
        assert sample["A"].dtype == torch.float32 and -1 <= sample["A"].min() and sample["A"].max() <= 1
        torch.testing.assert_close(sample["A"], sample["B"])  # identical halves stay identical
        assert sample["A_path"] == sample["B_path"] == str(aligned_root / "train" / f"{i}.png")


def test_aligned_direction_and_channels(aligned_root):
    forward = AlignedDataset(aligned_root, "val", **small(), no_flip=True)[0]
    assert forward["A"][0].mean() > 0.5 and forward["B"][2].mean() > 0.5      # A red (left), B blue
    backward = AlignedDataset(aligned_root, "val", direction="BtoA", **small(), input_nc=1)[0]
    assert backward["A"].shape == (1, 32, 32) and backward["B"][0].mean() > 0.5  # A = gray of blue, B red
    with pytest.raises(ValueError, match="direction"):
        AlignedDataset(aligned_root, direction="sideways")
    with pytest.raises(ValueError, match="input_nc"):
        AlignedDataset(aligned_root, input_nc=2)


def test_same_seed_same_samples(aligned_root):
    first = [AlignedDataset(aligned_root, **small(), seed=11)[i]["A"] for i in range(3)]
    second = [AlignedDataset(aligned_root, **small(), seed=11)[i]["A"] for i in range(3)]
    for a, b in zip(first, second):
        torch.testing.assert_close(a, b)


def test_aligned_too_narrow_pair_is_skipped(aligned_root):
    Image.new("RGB", (1, 8)).save(aligned_root / "train" / "0-narrow.png")
    dataset = AlignedDataset(aligned_root, **small())
    assert dataset[0]["A_path"].endswith("/0.png") and list(dataset.bad_files) == [
        str(aligned_root / "train" / "0-narrow.png")]


def test_max_items(aligned_root):
    assert len(AlignedDataset(aligned_root, **small(), max_items=2)) == 2


def test_real_facades():
    if not (DATASETS / "facades").is_dir():
        pytest.skip("datasets not available")
    dataset = build_dataset("pix2pix", DATASETS / "facades", "val", direction="BtoA", max_items=2, seed=0)
    sample = dataset[0]
    assert len(dataset) == 2 and sample["A"].shape == sample["B"].shape == (3, 256, 256)
    assert dataset.folder == DATASETS / "facades" / "val"


# --- unaligned ---------------------------------------------------------------------------------------

def test_unaligned_length_indexing_and_direction(unaligned_root):
    dataset = UnalignedDataset(unaligned_root, **small(), serial_batches=True)
    assert len(dataset) == 5
    assert [Path(dataset[i]["A_path"]).name for i in range(5)] == ["0.jpg", "1.jpg", "2.jpg", "0.jpg", "1.jpg"]
    assert [Path(dataset[i]["B_path"]).name for i in range(5)] == [f"{i}.jpg" for i in range(5)]
    sample = dataset[0]
    assert sample["A"][0].mean() > 0.5 and sample["B"][2].mean() > 0.5
    swapped = UnalignedDataset(unaligned_root, direction="BtoA", **small())
    assert "trainB" in swapped[0]["A_path"] and swapped[0]["A"][2].mean() > 0.5


def test_unaligned_random_B_is_seeded(unaligned_root):
    def b_names(seed):
        dataset = UnalignedDataset(unaligned_root, **small(), seed=seed)
        return [dataset[i % 3]["B_path"] for i in range(12)]
    assert b_names(1) == b_names(1)
    assert len(set(b_names(1))) > 1


def test_unaligned_phase_alias_and_missing(unaligned_root, tmp_path):
    assert "testA" in UnalignedDataset(unaligned_root, "val", **small()).A_paths[0].parent.name
    with pytest.raises(ValueError, match="trainB"):
        (tmp_path / "lonely" / "trainA").mkdir(parents=True)
        UnalignedDataset(tmp_path / "lonely", **small())


# --- derived pairs -----------------------------------------------------------------------------------

def test_derived_edges(photo_folder):
    dataset = DerivedPairDataset(photo_folder, derive="edges", **small(load_size=64, crop_size=64), no_flip=True)
    sample = dataset[0]
    assert sample["A"].shape == (3, 64, 64) and sample["B"].shape == (3, 64, 64)
    sketch = sample["A"][0]
    assert (sketch > 0.9).float().mean() > 0.8 and sketch.min() < -0.5          # white paper, some dark lines
    torch.testing.assert_close(sample["A"][0], sample["A"][1])
    gray_input = DerivedPairDataset(photo_folder, derive="edges", input_nc=1, **small())[1]
    assert gray_input["A"].shape == (1, 32, 32)


def test_derived_edges_cache_and_joint_flip(photo_folder):
    dataset = DerivedPairDataset(photo_folder, **small(load_size=64, crop_size=64), seed=0)
    assert [dataset.draw_params((72, 64)).flip for _ in range(2)] == [False, True]  # seed 0 draws
    dataset.reseed(0)
    first, second = dataset[0], dataset[0]
    assert len(dataset._edge_cache) == 1
    torch.testing.assert_close(first["A"], second["A"].flip(-1))   # A and B flipped together
    torch.testing.assert_close(first["B"], second["B"].flip(-1))
    uncached = DerivedPairDataset(photo_folder, **small(load_size=64, crop_size=64), seed=0, edge_cache_size=0)
    dataset.reseed(0)
    torch.testing.assert_close(uncached[0]["A"], dataset[0]["A"])
    assert len(uncached._edge_cache) == 0


def test_derived_gray(photo_folder):
    sample = DerivedPairDataset(photo_folder, derive="gray", **small(), seed=0)[2]
    assert torch.equal(sample["A"][0], sample["A"][2])
    gray_of_B = 0.299 * sample["B"][0] + 0.587 * sample["B"][1] + 0.114 * sample["B"][2]
    assert (sample["A"][0] - gray_of_B).abs().max() < 0.05
    with pytest.raises(ValueError, match="derive"):
        DerivedPairDataset(photo_folder, derive="depth")


# --- colorization ------------------------------------------------------------------------------------

def test_colorization(photo_folder):
    dataset = ColorizationDataset(photo_folder, **small(), no_flip=True, seed=0)
    sample = dataset[0]
    assert sample["A"].shape == (1, 32, 32) and sample["B"].shape == (2, 32, 32)
    assert sample["A"].min() >= -1 and sample["A"].max() <= 1 and sample["B"].abs().max() <= 1
    rgb = decode_lab(sample["A"], sample["B"])
    dataset.reseed(0)
    params = dataset.draw_params((72, 64))
    expected = apply_transform(Image.open(photo_folder / "0.png").convert("RGB"), params)
    expected = torch.from_numpy(np.asarray(expected, np.float32) / 255).permute(2, 0, 1)
    assert (rgb - expected).abs().max() < 1e-3
    with pytest.raises(ValueError, match="colorization"):
        ColorizationDataset(photo_folder, input_nc=3)


# --- unreadable files ----------------------------------------------------------------------------------

def test_corrupt_file_is_reported_and_skipped(photo_folder, caplog):
    (photo_folder / "1.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    (photo_folder / "3.jpg").write_bytes((photo_folder / "0.png").read_bytes()[:0])
    good = photo_folder / "2.png"
    data = good.read_bytes()
    (photo_folder / "0b.jpg").write_bytes(data[: len(data) // 3])   # truncated
    dataset = build_dataset("colorization", photo_folder, "train", **small(), seed=0)
    assert len(dataset) == 5
    with caplog.at_level(logging.WARNING, logger="engine.data"):
        samples = [dataset[i] for i in range(len(dataset))]
    assert [Path(s["A_path"]).name for s in samples] == ["0.png", "2.png", "2.png", "2.png", "0.png"]
    assert set(map(lambda p: Path(p).name, dataset.bad_files)) == {"0b.jpg", "1.png", "3.jpg"}
    for name in ("0b.jpg", "1.png", "3.jpg"):
        assert sum(name in record.getMessage() for record in caplog.records) == 1   # warned once, by name
    with caplog.at_level(logging.WARNING, logger="engine.data"):
        dataset[1]
    assert sum("1.png" in record.getMessage() for record in caplog.records) == 1


def test_all_files_unreadable(tmp_path):
    (tmp_path / "a.jpg").write_bytes(b"nope")
    dataset = DerivedPairDataset(tmp_path, **small())
    with pytest.raises(RuntimeError, match="none of the images"):
        dataset[0]


def test_unaligned_skips_bad_B(unaligned_root):
    for i in range(4):
        (unaligned_root / "trainB" / f"{i}.jpg").write_bytes(b"")
    dataset = UnalignedDataset(unaligned_root, **small(), seed=0)
    assert all(dataset[i]["B_path"].endswith("4.jpg") for i in range(3))
    assert len(dataset.bad_files) == 4


# --- factory and workers -------------------------------------------------------------------------------

def test_build_dataset(aligned_root, unaligned_root, photo_folder, tmp_path):
    assert isinstance(build_dataset("pix2pix", aligned_root, "train", **small()), AlignedDataset)
    derived = build_dataset("pix2pix", photo_folder, "train", derive="gray", **small())
    assert isinstance(derived, DerivedPairDataset) and derived.derive == "gray"
    cycle = build_dataset("cycle_gan", unaligned_root, "train", **small(), serial_batches=True, input_nc=1)
    assert isinstance(cycle, UnalignedDataset) and cycle.serial_batches
    color = build_dataset("colorization", photo_folder, "val", direction="AtoB", serial_batches=True, **small())
    assert isinstance(color, ColorizationDataset)   # options of other dataset kinds are ignored
    with pytest.raises(TypeError, match="lod_size"):
        build_dataset("pix2pix", aligned_root, lod_size=3)
    with pytest.raises(ValueError, match="unknown task"):
        build_dataset("stylegan", aligned_root)
    with pytest.raises(ValueError, match=str(tmp_path / "nowhere")):
        build_dataset("colorization", tmp_path / "nowhere")
    with pytest.raises(ValueError, match="no images in"):
        (tmp_path / "hollow" / "train").mkdir(parents=True)
        build_dataset("pix2pix", tmp_path / "hollow", "train")


def test_real_cats_derived_and_horse2zebra():
    if not DATASETS.is_dir():
        pytest.skip("datasets not available")
    cats = build_dataset("pix2pix", DATASETS / "cats", "val", derive="edges", max_items=2, seed=0)
    sample = cats[0]
    assert sample["A"].shape == sample["B"].shape == (3, 256, 256)
    assert (sample["A"] > 0.5).float().mean() > 0.8
    horses = build_dataset("cycle_gan", DATASETS / "horse2zebra", "test", max_items=2)
    assert len(horses) == 2 and "testA" in horses[0]["A_path"]


def test_dataloader_workers_are_seeded_and_reproducible(aligned_root):
    def run() -> list[torch.Tensor]:
        dataset = AlignedDataset(aligned_root, **small(load_size=48))
        loader = DataLoader(dataset, batch_size=1, num_workers=2, worker_init_fn=seed_worker,
                            generator=torch.Generator().manual_seed(123))
        return [batch["A"] for batch in loader]
    first, second = run(), run()
    assert len(first) == 3
    for a, b in zip(first, second):
        torch.testing.assert_close(a, b)
