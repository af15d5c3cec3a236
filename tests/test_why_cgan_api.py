"""The "Why cGAN?" tab through its API: the app launched in-process (no models needed), /why_cgan_toy
called with gradio_client: the five-panel figure, the numbers of the chapter's claims, 3 modes, and
one-line errors for bad options."""
import sys

import numpy as np
import pytest

from app_harness import running_app
from conftest import REPO

if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

gradio = pytest.importorskip("gradio")
from gradio_client.exceptions import AppError  # noqa: E402
from PIL import Image  # noqa: E402

TEAL_STRIP = (0, 185, 156)   # toy_colors(-0.6, 0.65): the color strip under each panel at a = -0.6


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("why_cgan")
    (tmp / "weights").mkdir()
    env = {"I2I_WEIGHTS_DIR": str(tmp / "weights"), "I2I_RUNS_DIR": str(tmp / "runs"), "I2I_ENABLE_TRAINING": "0",
           "SPACE_ID": None}
    with running_app(env) as (url, _):
        yield {"url": url, "tmp": tmp}


def _figure(path) -> np.ndarray:
    image = Image.open(path)
    assert image.format == "PNG" and image.size == (5 * 330, 300)
    return np.asarray(image.convert("RGB")).astype(int)


def _has_color(pixels: np.ndarray, color, tolerance: int = 12) -> bool:
    return bool((np.abs(pixels - np.array(color)).max(axis=-1) <= tolerance).any())


def test_endpoint_is_named_with_its_parameters(client):
    endpoint = client.view_api(print_info=False, return_format="dict")["named_endpoints"]["/why_cgan_toy"]
    assert [p["parameter_name"] for p in endpoint["parameters"]] == ["n_modes", "teal_weight", "bins", "seed"]
    assert all(p["parameter_has_default"] for p in endpoint["parameters"])
    assert len(endpoint["returns"]) == 2


def test_two_modes_default(client):
    """The defaults are the chapter's toy: the Done-when numbers hold, each panel is drawn."""
    figure, numbers = client.predict(api_name="/why_cgan_toy")
    s = numbers["summary"]
    assert numbers["config"]["seed"] == 0 and numbers["config"]["bins"] == 9 and s["modes"] == [-0.6, 0.6]
    assert abs(s["l2_prediction"]) <= 0.05
    assert min(s["categorical_mode_mass"]) >= 0.40
    assert s["cgan_near_mode"] >= 0.90 and all(0.35 <= share <= 0.65 for share in s["cgan_mode_shares"])
    assert set(numbers["methods"]) == {"l2", "l1", "gaussian", "categorical", "cgan"}
    pixels = _figure(figure)
    for i, color in enumerate([(200, 60, 40), (220, 130, 0), (60, 90, 200), (120, 60, 170), (20, 130, 60)]):
        panel = pixels[:, i * 330:(i + 1) * 330]
        assert _has_color(panel, color, tolerance=4), f"panel {i} has no curve of its method's color"
        assert _has_color(panel, TEAL_STRIP), f"panel {i} has no color strip"


def test_three_modes_unequal_weights_more_bins(client):
    figure, numbers = client.predict(3, 0.5, 12, 3, api_name="/why_cgan_toy")
    s = numbers["summary"]
    assert s["mode_names"] == ["teal", "gray", "pink"] and s["weights"] == pytest.approx([0.5, 0.25, 0.25])
    assert len(numbers["methods"]["categorical"]["bin_probs"]) == 12 and numbers["config"]["seed"] == 3
    assert s["l2_prediction"] == pytest.approx(0.5 * -0.6 + 0.25 * 0.6, abs=0.05)
    assert s["cgan_mode_shares"][0] > s["cgan_mode_shares"][1] and s["cgan_mode_shares"][0] > s["cgan_mode_shares"][2]
    _figure(figure)


@pytest.mark.parametrize("args, words", [((4, 0.5, 9, 0), ("4", "choices")), ((2, 1.5, 9, 0), ("1.5", "maximum")),
                                         ((2, 0.5, 1, 0), ("1", "minimum")), ((2, 0.5, 9.5, 0), ("bins", "whole")),
                                         ((2, 0.5, 9, -1), ("-1", "minimum"))])
def test_bad_options_give_one_line(client, args, words):
    """Out of range: Gradio's own check of the control; a fractional K: the tab's (no training starts)."""
    with pytest.raises(AppError) as error:
        client.predict(*args, api_name="/why_cgan_toy")
    message = str(error.value)
    assert all(word in message for word in words), message
    assert "\n" not in message.strip() and "Traceback" not in message
