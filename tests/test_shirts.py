"""The t-shirt toy (engine.shirts, engine.shirt_models): the data, the numbers, the three models, saving."""
import dataclasses

import pytest
import torch

from engine.color import AB_SCALE
from engine.shirt_models import (METHODS, ShirtConfig, evaluate_shirt_models, load_shirt_model, save_shirt_model,
                                 train_shirt_model)
from engine.shirts import COLOURS, make_shirts, shirt_colour_stats, shirt_images

TINY = ShirtConfig(n_train=16, width=4, steps=2, gan_steps=2, batch_size=4)


def test_shirts_are_seeded_and_half_teal():
    L, ab, mask = make_shirts(40, seed=3)
    again = make_shirts(40, seed=3)
    assert torch.equal(L, again[0]) and torch.equal(ab, again[1]) and torch.equal(mask, again[2])
    assert L.shape == (40, 1, 64, 64) and ab.shape == (40, 2, 64, 64) and mask.dtype == torch.bool
    assert 0.1 < mask.float().mean() < 0.6 and L.min() >= -1 and L.max() <= 1
    stats = shirt_colour_stats(ab, mask)
    assert stats["one_colour"] == 1.0 and stats["mixed"] == 0.0 and stats["teal"] + stats["pink"] == 1.0
    assert 0.2 < stats["teal"] < 0.8 and stats["saturation"] > 30
    assert len(shirt_images(L[:2], ab[:2])) == 2


def test_colour_stats_tell_grey_mixed_and_one_colour_apart():
    mask = torch.ones(3, 4, 4, dtype=torch.bool)
    teal, pink = (torch.tensor(COLOURS[c]).view(2, 1, 1) / AB_SCALE for c in ("teal", "pink"))
    whole = teal.expand(2, 4, 4)
    halves = torch.cat([teal.expand(2, 4, 2), pink.expand(2, 4, 2)], -1)
    grey = torch.zeros(2, 4, 4)
    stats = shirt_colour_stats(torch.stack([whole, halves, grey]), mask)
    assert stats["one_colour"] == pytest.approx(1 / 3) and stats["mixed"] == pytest.approx(1 / 3)
    assert stats["grey"] == pytest.approx(1 / 3)


@pytest.mark.parametrize("method", METHODS)
def test_each_method_trains_generates_and_reloads(method, tmp_path):
    model = train_shirt_model(method, TINY)
    L = make_shirts(4, seed=9)[0]
    out = model.generate(L, seed=1)
    assert out.shape == (4, 2, 64, 64) and torch.isfinite(out).all()
    assert torch.equal(out, model.generate(L, seed=1))
    saved = load_shirt_model(save_shirt_model(model, tmp_path / method, card="# card\n"))
    assert saved.method == method and dataclasses.asdict(saved.config) == dataclasses.asdict(TINY)
    z = torch.zeros(4, TINY.nz) if method == "cgan" else None
    with torch.no_grad():
        assert torch.allclose(saved(L, z), model(L, z), atol=5e-2)   # fp16 weights
    assert (tmp_path / method / "README.md").read_text() == "# card\n"
    if method == "cgan":
        assert not torch.equal(out, model.generate(L, seed=2))


def test_evaluation_reports_every_method_and_the_data():
    models = {m: train_shirt_model(m, TINY) for m in METHODS}
    stats = evaluate_shirt_models(models, count=8)
    assert set(stats) == {"data", "l2", "classifier", "classifier_mode", "cgan"}
    assert all(s["shirts"] == 8 for s in stats.values())
