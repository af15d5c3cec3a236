"""Drawn-style training sketches (engine.sketches) and thin-plate-spline warps (engine.warp)."""
import random

import numpy as np
import pytest
from PIL import Image

from engine.data import build_dataset
from engine.sketches import draw_width, drop_strokes, random_drawing
from engine.warp import tps_map, tps_warp


def _face(datasets_dir, index=0, side=128):
    path = sorted((datasets_dir / "catfaces" / "train").glob("*.jpg"))[index]
    return np.asarray(Image.open(path).convert("RGB").resize((side, side), Image.Resampling.BICUBIC))


def test_tps_with_no_jitter_is_the_identity():
    map_x, map_y = tps_map(40, 30, grid=4, strength=0.0, rng=random.Random(0))
    ys, xs = np.mgrid[0:30, 0:40]
    assert np.abs(map_x - xs).max() < 1e-4 and np.abs(map_y - ys).max() < 1e-4


def test_tps_is_smooth_seeded_and_of_the_asked_strength():
    a = tps_map(128, 128, grid=4, strength=0.02, rng=random.Random(3))
    b = tps_map(128, 128, grid=4, strength=0.02, rng=random.Random(3))
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    ys, xs = np.mgrid[0:128, 0:128]
    offset = np.hypot(a[0] - xs, a[1] - ys)
    assert 0.3 < offset.mean() < 8.0          # about 0.02 * 127 px
    assert np.abs(np.diff(a[0], axis=1)).max() < 1.5   # neighbours move together: no tearing
    with pytest.raises(ValueError):
        tps_map(10, 10, grid=1)


def test_tps_warp_moves_content_a_little():
    image = np.zeros((64, 64), np.uint8)
    image[20:44, 20:44] = 255
    warped = tps_warp(image, strength=0.03, rng=random.Random(1))
    assert warped.shape == image.shape
    changed = np.mean(warped != image)
    assert 0.0 < changed < 0.25


def test_drawings_are_binary_lines_of_the_drawn_width(datasets_dir):
    photo = _face(datasets_dir)
    for seed in range(6):
        drawing = np.asarray(random_drawing(photo, random.Random(seed)))
        assert drawing.shape == (128, 128) and set(np.unique(drawing)) <= {0, 255}
        assert 0.002 < np.mean(drawing == 0) < 0.35
    lines = np.zeros((32, 32), bool)
    lines[16, 4:28] = True
    assert draw_width(lines, 3).sum() == pytest.approx(3 * 24, rel=0.2)
    assert draw_width(lines, 1).sum() == 24


def test_drawings_vary_in_detail_and_stroke_width(datasets_dir):
    photo = _face(datasets_dir, 3)
    inks = [np.mean(np.asarray(random_drawing(photo, random.Random(seed))) == 0) for seed in range(12)]
    assert max(inks) > 2 * min(inks)


def test_dropping_strokes_removes_whole_strokes():
    lines = np.zeros((20, 60), bool)
    for row in (3, 9, 15):
        lines[row, 5:55] = True
    assert drop_strokes(lines, 0.0, random.Random(0)).sum() == lines.sum()
    assert drop_strokes(lines, 1.0, random.Random(0)).sum() == 0
    kept = drop_strokes(lines, 0.5, random.Random(2)).sum()
    assert kept % 50 == 0


def test_drawn_pairs_are_new_at_every_draw_and_repeatable_by_seed(datasets_dir):
    ds = build_dataset("pix2pix", datasets_dir / "catfaces", "train", derive="drawn", load_size=72, crop_size=64,
                       max_items=4)
    ds.reseed(5)
    first = ds[0]
    ds.reseed(5)
    again = ds[0]
    ds.reseed(6)
    other = ds[0]
    assert first["A"].shape == (3, 64, 64) and first["B"].shape == (3, 64, 64)
    assert np.array_equal(first["A"].numpy(), again["A"].numpy())
    assert not np.array_equal(first["A"].numpy(), other["A"].numpy())


def test_head_outline_is_an_open_oval_with_two_ears_around_the_centre():
    from engine.sketches import head_outline
    outline = head_outline(128, 128, random.Random(0))
    ys, xs = np.nonzero(outline)
    assert 0.5 * 128 < xs.max() - xs.min() < 0.95 * 128          # a head, most of the width
    assert ys.min() < 0.2 * 128 and ys.max() > 0.7 * 128          # ear tips near the top, chin low
    left, right = outline[:, :64], outline[:, 64:]
    assert abs(int(left.sum()) - int(right.sum())) < 0.35 * outline.sum()   # roughly symmetric
    assert not np.array_equal(outline, head_outline(128, 128, random.Random(1)))


def test_outline_share_adds_outlines_only_when_asked(datasets_dir):
    photo = _face(datasets_dir, 2)
    plain = [np.asarray(random_drawing(photo, random.Random(s))) for s in range(8)]
    framed = [np.asarray(random_drawing(photo, random.Random(s), outline_share=1.0)) for s in range(8)]
    ink = lambda images: np.mean([np.mean(image == 0) for image in images])   # noqa: E731
    assert ink(framed) > ink(plain) + 0.01


def test_face_features_put_eyes_and_a_nose_where_aligned_faces_have_them():
    from engine.sketches import EYES, NOSE, face_features
    for seed in range(6):
        features = face_features(128, 128, random.Random(seed))
        for x, y in (*EYES, NOSE):      # ink within ~12 px of each eye and of the nose
            cx, cy = round(x * 127), round(y * 127)
            assert features[cy - 12:cy + 13, cx - 12:cx + 13].any()
        assert not features[:10].any() and features.mean() < 0.12   # nothing at the top, no blobs
    assert not np.array_equal(face_features(128, 128, random.Random(0)), face_features(128, 128, random.Random(1)))


def test_features_share_adds_features_only_when_asked():
    from engine.sketches import EYES
    blank = np.full((128, 128, 3), 255, np.uint8)                 # a flat photo gives no lines of its own
    x, y = round(EYES[0][0] * 127), round(EYES[0][1] * 127)

    def eye_drawn(**shares):
        return [bool((np.asarray(random_drawing(blank, random.Random(s), **shares))[y - 8:y + 9, x - 8:x + 9] == 0).any())
                for s in range(12)]
    assert not any(eye_drawn(outline_share=1.0))
    assert sum(eye_drawn(outline_share=1.0, features_share=1.0)) >= 10


def test_outline_follows_the_face_in_a_random_crop():
    """The drawn head outline of a cropped aligned face is the whole face's outline, cropped with it."""
    from engine.data import TransformParams, face_frame
    from engine.sketches import head_outline, in_frame
    whole = head_outline(171, 171, random.Random(3))
    params = TransformParams(resize=(171, 171), crop_pos=(30, 12), crop_size=128, flip=False)
    frame = face_frame((256, 256), params)
    assert frame == (-30, -12, 171, 171)
    cropped = in_frame(head_outline, 128, 128, frame, random.Random(3))
    assert np.array_equal(cropped, whole[12:140, 30:158])
    assert cropped.any() and not np.array_equal(cropped, head_outline(128, 128, random.Random(3)))
    flipped = face_frame((256, 256), TransformParams(resize=(171, 171), crop_pos=(30, 12), crop_size=128, flip=True))
    assert flipped == (128 - 171 + 30, -12, 171, 171)
    assert face_frame((256, 256), TransformParams(resize=None, crop_pos=None, crop_size=256, flip=False)) is None


def test_cartoon_share_draws_an_empty_face_with_outline_and_features(datasets_dir):
    """Cartoons: the head outline and (mostly) eyes drawn, and of the photo far fewer lines than a sketch."""
    from engine.sketches import EYES, HEAD_CENTER, HEAD_RADII, SIGMA_RANGE, cartoon_lines, dog_lines
    photo = _face(datasets_dir, 2)
    blank = np.full_like(photo, 255)
    side = photo.shape[0]
    cartoons = [cartoon_lines(photo, random.Random(s)) for s in range(8)]
    drawn_parts = [cartoon_lines(blank, random.Random(s)) for s in range(8)]   # same draws, no photo lines
    cy, ry = round(HEAD_CENTER[1] * side), round(HEAD_RADII[1] * side)
    assert sum(c[cy + ry - 8:cy + ry + 9, side // 2 - 4:side // 2 + 5].any() for c in cartoons) >= 7  # chin
    eye_x, eye_y = round(EYES[0][0] * side), round(EYES[0][1] * side)
    assert sum(c[eye_y - 10:eye_y + 11, eye_x - 10:eye_x + 11].any() for c in cartoons) >= 5
    photo_lines = np.mean([(c & ~d).mean() for c, d in zip(cartoons, drawn_parts)])
    sketch_lines = dog_lines(photo, SIGMA_RANGE[0], 86.0, 12).mean()
    assert 0 < photo_lines < sketch_lines / 3
    plain = np.asarray(random_drawing(photo, random.Random(0)))
    assert not np.array_equal(plain, np.asarray(random_drawing(photo, random.Random(0), cartoon_share=1.0)))
