"""The Coat colour tab through its API: the app launched in-process with a tiny random StarGAN
(I2I_WEIGHTS_DIR), /recolor_coat called with gradio_client (the crop, every coat, the round trips, one-line
errors); the tab's own handlers for the example shown when the tab opens, a click on the preview, and
no model."""
import sys
from types import SimpleNamespace

import numpy as np
import pytest

from app_harness import COATS, make_tiny_stargan, running_app
from conftest import REPO

if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

gradio = pytest.importorskip("gradio")
from gradio_client import handle_file  # noqa: E402
from gradio_client.exceptions import AppError  # noqa: E402
from PIL import Image  # noqa: E402

EXAMPLE = REPO / "demos" / "assets" / "chelsea.jpg"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("coat")
    make_tiny_stargan(tmp / "weights")
    env = {"I2I_WEIGHTS_DIR": str(tmp / "weights"), "I2I_RUNS_DIR": str(tmp / "runs"), "I2I_ENABLE_TRAINING": "0",
           "SPACE_ID": None}
    with running_app(env) as (url, _):
        yield {"url": url, "tmp": tmp}


def _image(path) -> np.ndarray:
    image = Image.open(path)
    assert image.format == "PNG" and image.size == (256, 256)
    return np.asarray(image.convert("RGB"), dtype=float)


def _recolor(client, *args):
    return client.predict(handle_file(EXAMPLE), *args, api_name="/recolor_coat")


def test_endpoint_is_named_with_its_parameters(client):
    endpoint = client.view_api(print_info=False, return_format="dict")["named_endpoints"]["/recolor_coat"]
    assert [p["parameter_name"] for p in endpoint["parameters"]] == ["photo", "zoom", "centre_x", "centre_y", "coat",
                                                                       "model"]
    assert len(endpoint["returns"]) == 4


def test_every_coat_and_the_round_trips(client):
    crop, coats, back, note = _recolor(client, 1.0, 52.0, 50.0, "auto", "")
    x = _image(crop)
    captions = [item["caption"] for item in coats]
    own = [c for c in captions if c.endswith("(own coat)")]
    assert len(captions) == 4 and len(own) == 1 and "guessed" in note
    source = own[0].removesuffix(" (own coat)")
    assert [c.removesuffix(" (own coat)") for c in captions] == [c.replace("_", " ") for c in COATS]
    pictures = [_image(item["image"]) for item in coats]
    assert all(p.std() > 2 for p in pictures) and np.abs(pictures[0] - pictures[3]).mean() > 1
    assert "back to " + source in note and len(back) == 4
    assert all(item["caption"].startswith("via ") and item["caption"].endswith(" dB") for item in back)
    assert all(_image(item["image"]).std() > 2 for item in back)
    zoomed = _image(_recolor(client, 2.0, 52.0, 50.0, "auto", "coat_tiny")[0])
    assert np.abs(zoomed - x).mean() > 5, "the zoom does not change the crop"


def test_the_cat_s_own_coat_can_be_given(client):
    _, coats, back, note = _recolor(client, 1.0, 50.0, 50.0, "white", "")
    assert "as you chose" in note and "**white**" in note
    assert [item["caption"] for item in coats][3] == "white (own coat)"
    assert [item["caption"].split(":")[0] for item in back] == ["via " + c.replace("_", " ") for c in COATS]
    _, coats, _, _ = _recolor(client, 1.0, 50.0, 50.0, "grey tabby", "")   # the label works as well as the name
    assert coats[2]["caption"] == "grey tabby (own coat)"


@pytest.mark.parametrize("args, words", [((5.0, 50, 50, "auto", ""), ("zoom", "4")),
                                         ((1.0, 150, 50, "auto", ""), ("percent",)),
                                         ((1.0, 50, 50, "purple", ""), ("purple", "grey_tabby")),
                                         ((1.0, 50, 50, "auto", "nope"), ("nope", "coat_tiny"))])
def test_bad_options_give_one_line(client, args, words):
    with pytest.raises(AppError) as error:
        _recolor(client, *args)
    message = str(error.value)
    assert all(word in message for word in words), message
    assert "\n" not in message.strip() and "Traceback" not in message


def test_a_file_that_is_not_an_image(client, server):
    bad = server["tmp"] / "notes.png"
    bad.write_text("this is not an image")
    with pytest.raises(AppError) as error:
        client.predict(handle_file(bad), api_name="/recolor_coat")
    assert "notes.png" in str(error.value) and "\n" not in str(error.value).strip()


def test_example_shown_on_load_and_a_click_centres_the_square(server):
    from demos import coat

    preview, crop, coats, back, note, shown = coat._first_view(False, "")
    assert crop.size == (256, 256) and len(coats) == 4 and len(back) == 4 and "coat_tiny" in note and shown
    assert coat._first_view(False, "coat_tiny")[1] is crop, "the example is rendered once per model"
    assert all(output == gradio.update() for output in coat._first_view(True, "")[:5]), "a user's photo is kept"
    width = preview.width
    click = SimpleNamespace(index=[round(width * 0.8), preview.height // 2])
    centre_x, centre_y, _, moved, *_ = coat.click_to_centre(str(EXAMPLE), 2.0, "auto", "", click)
    assert (centre_x, centre_y) == pytest.approx((80.0, 50.0), abs=0.5)
    assert np.abs(np.asarray(moved, float) - np.asarray(crop, float)).mean() > 5


def test_without_a_coat_model_the_tab_still_frames_and_says_why(tmp_path, monkeypatch):
    from demos import coat
    from demos.models import registry

    monkeypatch.setenv("I2I_WEIGHTS_DIR", str(tmp_path / "weights"))
    monkeypatch.setenv("I2I_RUNS_DIR", str(tmp_path / "runs"))
    registry.refresh()
    try:
        preview, crop, coats, back, note, _ = coat._first_view(False, "")
        assert preview is not None and crop.size == (256, 256) and coats == [] and back == []
        assert "not installed yet" in note and "weights/catcoats" in note
        with pytest.raises(gradio.Error, match="no coat-colour"):
            coat.recolor_coat(str(EXAMPLE))
    finally:
        registry.refresh()
