"""engine.edges: the sketch domain from photos and from users' drawings."""
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw
from scipy import ndimage  # installed with scikit-image
from skimage import data as skdata

from engine.edges import (extract_lines, normalize_drawing, prune_spurs, remove_small_components, sketch_from_photo,
                          thin_lines)

DATASETS = Path("/work/shared/datasets")


def ink(img: Image.Image) -> np.ndarray:
    """Boolean mask of line pixels of a sketch-domain image."""
    return np.asarray(img) < 128


def assert_sketch_domain(img: Image.Image, size):
    assert img.mode == "L" and img.size == size
    assert set(np.unique(np.asarray(img)).tolist()) <= {0, 255}


def max_run_across(mask: np.ndarray, axis: int) -> int:
    """Widest run of line pixels across the given axis (0: per column, 1: per row)."""
    return int(mask.sum(axis=axis).max())


@pytest.fixture(scope="module")
def chelsea() -> Image.Image:
    photo = Image.fromarray(skdata.chelsea())
    return photo.resize((385, 256), Image.Resampling.BICUBIC)


def test_cat_photo_gives_sparse_but_present_lines(chelsea):
    sketch = sketch_from_photo(chelsea)
    assert_sketch_domain(sketch, chelsea.size)
    white = 1 - ink(sketch).mean()
    assert 0.85 < white < 0.995


def test_real_cat_photos():
    files = sorted((DATASETS / "cats" / "val").glob("*.jpg"))[:3]
    if not files:
        pytest.skip("datasets not available")
    for path in files:
        sketch = sketch_from_photo(path)
        assert_sketch_domain(sketch, Image.open(path).size)
        assert 0.85 < 1 - ink(sketch).mean() < 0.995


def test_lines_are_thin(chelsea):
    lines = ink(sketch_from_photo(chelsea))
    neighbors = sum(np.roll(np.roll(lines, dy, 0), dx, 1) for dy in (-1, 0, 1) for dx in (-1, 0, 1))
    assert np.mean(neighbors[lines] >= 6) < 0.02  # almost no line pixel sits inside a blob


def test_object_outline_is_found_and_texture_dropped():
    rng = np.random.default_rng(0)
    photo = np.full((256, 256, 3), 200, np.uint8)
    photo[64:192, 64:192] = (150, 60, 40)                       # a flat object on a flat background
    speckle = rng.integers(-12, 13, (256, 256, 1))              # mild fine texture everywhere
    photo = np.clip(photo.astype(int) + speckle, 0, 255).astype(np.uint8)
    lines = ink(sketch_from_photo(photo))
    ring = np.zeros_like(lines)
    ring[58:198, 58:198] = True
    ring[70:186, 70:186] = False
    assert lines[ring].sum() > 0.8 * 4 * 128            # the outline is (nearly) all there
    assert lines[~ring].sum() < 0.05 * lines.sum()       # and nothing else
    assert max_run_across(lines[100:150, :], 1) <= 4 and max_run_across(lines[:, 100:150], 0) <= 4


def test_flat_or_noisy_image_is_blank():
    assert not ink(sketch_from_photo(np.full((64, 80, 3), 90, np.uint8))).any()
    noise = np.random.default_rng(0).normal(128, 10, (256, 256, 3))
    assert not ink(sketch_from_photo(np.clip(noise, 0, 255).astype(np.uint8))).any()  # sensor noise is no line


def test_size_argument(chelsea, tmp_path):
    assert sketch_from_photo(chelsea, size=128).size == (192, 128)  # 192.5 rounds to even
    assert sketch_from_photo(chelsea, size=(100, 60)).size == (100, 60)
    path = tmp_path / "cat.png"
    chelsea.save(path)
    assert_sketch_domain(sketch_from_photo(path), chelsea.size)


def test_extract_lines_on_array(chelsea):
    mask = extract_lines(np.asarray(chelsea))
    assert mask.dtype == bool and mask.shape == (256, 385) and mask.any()


def test_thin_lines_reduces_thick_strokes():
    mask = np.zeros((60, 120), bool)
    mask[26:35, 10:110] = True                       # 9 px wide horizontal bar
    mask[5:55, 60:69] = True                         # crossed by a 9 px wide vertical bar
    thin = thin_lines(mask)
    assert max_run_across(thin[:, 20:50], 0) <= 2 and max_run_across(thin[10:20, :], 1) <= 2
    assert thin[30, 20:50].all()                     # centered line of the horizontal bar remains
    assert remove_small_components(thin, 1).sum() == thin.sum()
    assert ndimage.label(thin, structure=np.ones((3, 3)))[1] == 1


def test_prune_spurs_removes_short_branches_only():
    lines = np.zeros((30, 60), bool)
    lines[15, 5:55] = True        # main line
    lines[12:15, 30] = True       # 3 px spur
    lines[2:15, 45] = True        # 13 px branch
    pruned = prune_spurs(lines, 4)
    assert pruned[15, 5:55].all()                      # main line keeps its full length
    assert not pruned[12:15, 30].any()
    assert pruned[2:15, 45].all()


def test_remove_small_components():
    mask = np.zeros((20, 20), bool)
    mask[2, 2:4] = True
    mask[10, 2:15] = True
    kept = remove_small_components(mask, 5)
    assert not kept[2].any() and kept[10, 2:15].all()


def canvas_with_strokes(width=9, color=(255, 215, 0, 255)) -> Image.Image:
    canvas = Image.new("RGBA", (200, 160), (0, 0, 0, 0))
    draw = ImageDraw.Draw(canvas)
    draw.line([(20, 80), (180, 80)], fill=color, width=width)
    draw.ellipse([60, 20, 140, 140], outline=(120, 170, 255, 160), width=width)
    return canvas


def test_normalize_drawing_colored_strokes_on_transparent_canvas():
    out = normalize_drawing(canvas_with_strokes())
    assert_sketch_domain(out, (200, 160))
    lines = ink(out)
    assert lines[78:83, 26:60].any(axis=0).all()             # yellow stroke found along its length
    assert lines[15:25, 95:105].any()                         # light-blue, half transparent ellipse found
    assert max_run_across(lines[:, 25:55], 0) <= 3            # 9 px stroke thinned
    assert lines.mean() < 0.05


def test_normalize_drawing_without_thinning_keeps_width():
    lines = ink(normalize_drawing(canvas_with_strokes(), thin=False))
    assert 7 <= max_run_across(lines[:, 25:55], 0) <= 11


def test_normalize_drawing_light_on_dark_and_white_canvas():
    dark = np.zeros((100, 100, 3), np.uint8)
    dark[48:53, 10:90] = 255
    lines = ink(normalize_drawing(dark))
    assert lines[48:53, 15:85].any(axis=0).all() and lines.sum() < 120
    pencil = np.full((100, 100), 255, np.uint8)
    pencil[40:43, 10:90] = 150                               # light gray pencil on white paper
    assert ink(normalize_drawing(pencil))[40:43, 15:85].any(axis=0).all()


def test_normalize_drawing_blank_and_noise():
    assert not ink(normalize_drawing(Image.new("RGBA", (64, 64), (0, 0, 0, 0)))).any()
    paper = np.random.default_rng(0).integers(235, 256, (64, 64), dtype=np.uint8)  # scanned paper grain
    assert not ink(normalize_drawing(paper)).any()


def test_normalize_drawing_size():
    out = normalize_drawing(canvas_with_strokes(width=4), size=80)
    assert_sketch_domain(out, (100, 80))
    assert ink(out)[36:44, 14:86].any(axis=0).all()
    assert normalize_drawing(canvas_with_strokes(), size=(50, 50)).size == (50, 50)
