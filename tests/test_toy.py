"""engine.toy, the 1-D "Why cGAN?" toy: the chapter's claims on the two-mode toy (modes at -0.6 and
+0.6), reproducibility with the seed, three modes, unequal weights, a fixed l (constant fits), data and
config checks."""
import math

import numpy as np
import pytest
import torch

from engine import ToyConfig, toy_colors, toy_preset, train_toy
from engine.toy import METHODS, Constant, bin_index, fit_categorical, fit_regression, sample_toy

FAST = dict(n_train=512, steps=40, gan_steps=60, n_samples=400)   # for checks that need no converged fits


@pytest.fixture(scope="module", params=[0, 1], ids=["seed0", "seed1"])
def two_modes(request):
    return train_toy(toy_preset(2, seed=request.param))


def _integral(result, density) -> float:
    grid = np.asarray(result.grid)
    return float(np.sum(density) * (grid[1] - grid[0]))


def test_done_when_two_modes(two_modes):
    """L2 predicts the mean, the categorical keeps both modes, the cGAN samples land on the modes."""
    s = two_modes.summary
    assert s["modes"] == [-0.6, 0.6] and s["weights"] == [0.5, 0.5]
    assert abs(s["l2_prediction"]) <= 0.05, s
    assert all(mass >= 0.40 for mass in s["categorical_mode_mass"]), s
    assert s["cgan_near_mode"] >= 0.90, s
    assert all(0.35 <= share <= 0.65 for share in s["cgan_mode_shares"]), s


def test_the_other_fits_and_the_curves(two_modes):
    s, m = two_modes.summary, two_modes.methods
    assert abs(s["gaussian_mu"]) <= 0.05 and abs(s["gaussian_sigma"] - 0.6) <= 0.05, s   # one broad bump
    assert -0.6 <= s["l1_prediction"] <= 0.6, s          # with 50/50 every point between the modes is a median
    assert sorted(m) == sorted(METHODS)
    assert len(m["categorical"].bin_probs) == 9 and math.isclose(sum(m["categorical"].bin_probs), 1, abs_tol=1e-5)
    for name in ("categorical", "cgan", "l2", "l1"):   # every density is a density on the grid
        assert _integral(two_modes, m[name].density) == pytest.approx(1.0, abs=0.06), name
    mu, sigma = m["gaussian"].point, m["gaussian"].sigma   # the Gaussian's mass inside [-1, 1]
    inside = 0.5 * (math.erf((1 - mu) / (sigma * 2 ** 0.5)) - math.erf((-1 - mu) / (sigma * 2 ** 0.5)))
    assert _integral(two_modes, m["gaussian"].density) == pytest.approx(inside, abs=0.02)
    assert _integral(two_modes, two_modes.true_density) == pytest.approx(1.0, abs=1e-3)
    gaussian = np.asarray(m["gaussian"].density)
    grid = np.asarray(two_modes.grid)
    assert gaussian[np.abs(grid).argmin()] > gaussian[np.abs(grid - 0.6).argmin()]   # its peak is between the modes
    assert all(t > 0 for t in s["seconds"].values()) and all(t > 0 for t in s["cpu_seconds"].values())
    numbers = two_modes.to_dict()
    assert set(numbers) == {"config", "summary", "methods", "seconds"} and "density" not in numbers["methods"]["cgan"]


def test_same_seed_same_result_and_global_rng_untouched():
    state = torch.random.get_rng_state()
    first = train_toy(toy_preset(2, seed=5, **FAST)).to_dict(with_curves=True)
    second = train_toy(toy_preset(2, seed=5, **FAST)).to_dict(with_curves=True)
    other = train_toy(toy_preset(2, seed=6, **FAST)).to_dict(with_curves=True)
    assert torch.equal(torch.random.get_rng_state(), state)
    for numbers in (first, second, other):
        for key in ("seconds", "cpu_seconds"):
            numbers["summary"].pop(key)
        numbers.pop("seconds")
        for method in numbers["methods"].values():
            method.pop("seconds"), method.pop("cpu_seconds")
    assert first == second
    assert first["summary"] != other["summary"]


def test_three_modes():
    result = train_toy(toy_preset(3, seed=0))
    s = result.summary
    assert s["modes"] == [-0.6, 0.0, 0.6] and s["mode_names"] == ["teal", "gray", "pink"]
    assert abs(s["l2_prediction"]) <= 0.05, s
    assert all(mass >= 0.28 for mass in s["categorical_mode_mass"]), s
    assert s["cgan_near_mode"] >= 0.80, s
    assert all(0.22 <= share <= 0.45 for share in s["cgan_mode_shares"]), s


def test_unequal_weights_move_the_mean_and_the_median():
    result = train_toy(toy_preset(2, first_weight=0.7, seed=0))
    s = result.summary
    assert s["weights"] == pytest.approx([0.7, 0.3])
    assert s["l2_prediction"] == pytest.approx(0.7 * -0.6 + 0.3 * 0.6, abs=0.05), s
    assert s["l1_prediction"] == pytest.approx(-0.6, abs=0.1), s      # the median is in the heavier mode
    assert 0.58 <= s["cgan_mode_shares"][0] <= 0.82, s
    assert s["categorical_mode_mass"][0] > 2 * s["categorical_mode_mass"][1], s


def test_fixed_l_fits_constants():
    """With every l the same, the regressions, the Gaussian and the categorical are learned constants and
    G sees z only; the claims still hold."""
    config = toy_preset(2, seed=0, l_fixed=0.3, n_train=2048)
    generator = torch.Generator().manual_seed(0)
    l, a = sample_toy(config, 64, generator)
    assert isinstance(fit_regression(config, l, a, generator, "l2"), Constant)
    assert isinstance(fit_categorical(config, l, a, generator), Constant)
    result = train_toy(config)
    s = result.summary
    assert abs(s["l2_prediction"]) <= 0.05 and abs(s["gaussian_sigma"] - 0.6) <= 0.05, s
    assert all(mass >= 0.40 for mass in s["categorical_mode_mass"]), s
    assert s["cgan_near_mode"] >= 0.85 and all(0.3 <= share <= 0.7 for share in s["cgan_mode_shares"]), s


def test_sample_toy_draws_the_mixture():
    config = toy_preset(3, first_weight=0.5)
    l, a = sample_toy(config, 20_000, torch.Generator().manual_seed(0))
    assert l.shape == a.shape == (20_000, 1) and 0 <= l.min() and l.max() <= 1 and l.std() > 0.25
    nearest = (a - torch.tensor(config.modes)).abs().argmin(1)
    shares = torch.bincount(nearest, minlength=3).float() / len(a)
    assert shares.tolist() == pytest.approx([0.5, 0.25, 0.25], abs=0.015)
    assert (a - torch.tensor(config.modes)[nearest].unsqueeze(1)).std() == pytest.approx(config.spread, rel=0.05)
    l_fixed, _ = sample_toy(ToyConfig(l_fixed=0.3), 10, torch.Generator().manual_seed(0))
    assert torch.all(l_fixed == 0.3)


def test_bins_and_colors():
    config = ToyConfig(bins=9)
    assert bin_index(config, torch.tensor([-1.5, -0.6, 0.0, 0.6, 1.0, 1.5])).tolist() == [0, 1, 4, 7, 8, 8]
    teal, gray, pink = toy_colors([-0.6, 0.0, 0.6], 0.65)
    assert teal[1] > teal[0] + 100 and teal[2] > teal[0] + 100           # green and blue, no red
    assert max(gray) - min(gray) <= 2                                       # a = 0 is neutral
    assert pink[0] > pink[1] + 100 and pink[2] > pink[1]                   # red and blue over green


@pytest.mark.parametrize("kwargs", [dict(modes=()), dict(modes=(-0.6, 1.2)), dict(weights=(0.6, 0.6)),
                                    dict(weights=(1.0,)), dict(spread=0.0), dict(bins=1), dict(query_l=1.5),
                                    dict(l_fixed=-0.1)])
def test_bad_configs_are_refused(kwargs):
    with pytest.raises(ValueError):
        ToyConfig(**kwargs)


def test_bad_presets_are_refused():
    with pytest.raises(ValueError):
        toy_preset(4)
    with pytest.raises(ValueError):
        toy_preset(2, first_weight=1.0)
