"""A pix2pix class input (--labels_csv with --derive): G(x, c), D(x, c, y), c a photo's label or none."""
import json

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from engine import TrainConfig, Trainer, Translator
from engine.config import ModelConfig
from engine.evaluate import evaluate_dir
from engine.noise_input import LabelInputGenerator, label_planes

COATS = ["black", "ginger", "grey_tabby", "white"]


def _drawing() -> Image.Image:
    image = Image.new("RGB", (64, 64), "white")
    ImageDraw.Draw(image).ellipse((12, 14, 52, 54), outline="black", width=2)
    return image


def test_label_planes_are_one_hot_with_zero_rows_for_no_class():
    planes = label_planes(torch.tensor([2, -1, 0]), 3, 3, torch.device("cpu"))
    assert planes.tolist() == [[0, 0, 1], [0, 0, 0], [1, 0, 0]]
    assert label_planes(None, 3, 2, torch.device("cpu")).abs().sum() == 0
    with pytest.raises(ValueError, match="class indices"):
        label_planes(torch.tensor([3]), 3, 1, torch.device("cpu"))
    net = LabelInputGenerator(torch.nn.Conv2d(1 + 3, 2, 1), 3).eval()
    x = torch.randn(2, 1, 4, 4)
    assert torch.equal(net(x), net(x, torch.tensor([-1, -1])))
    assert not torch.equal(net(x, torch.tensor([0, 0])), net(x, torch.tensor([1, 1])))


def test_class_input_options_are_checked():
    with pytest.raises(ValueError, match="--derive"):
        TrainConfig(model="pix2pix", labels_csv="coats.csv", max_steps=1)
    with pytest.raises(ValueError, match="--derive"):
        TrainConfig(model="pix2pix", derive="drawn", labels_csv="coats.csv", nz=4, max_steps=1)
    with pytest.raises(ValueError, match="stargan, or pix2pix"):
        TrainConfig(model="colorization", labels_csv="coats.csv", max_steps=1)
    with pytest.raises(ValueError, match="need --labels_csv"):
        TrainConfig(model="pix2pix", derive="drawn", domains="a,b", max_steps=1)
    with pytest.raises(ValueError, match="label_dropout"):
        TrainConfig(model="pix2pix", derive="drawn", labels_csv="coats.csv", label_dropout=1.0, max_steps=1)
    with pytest.raises(ValueError, match="class labels"):
        ModelConfig(task="cycle_gan", domains=["a", "b"])
    assert not TrainConfig(model="pix2pix", derive="drawn", max_steps=1).class_input


@pytest.fixture(scope="module")
def coat_model(datasets_dir, tmp_path_factory):
    """(trainer, model dir) of a tiny sketch -> cat face model with the coat as a class input."""
    cfg = TrainConfig(dataroot=str(datasets_dir / "catfaces" / "train"), derive="drawn", labels_csv="coats.csv",
                      netG="unet_6", ngf=8, ndf=8, load_size=72, crop_size=64, upsample="nearest", max_items=8,
                      max_steps=2, save_every=2, sample_every=2, log_every=1, num_workers=0,
                      checkpoints_dir=str(tmp_path_factory.mktemp("coats")), name="run", seed=1)
    trainer = Trainer(cfg, progress=False)
    return trainer, trainer.run()


def test_class_input_trains_translates_and_evaluates(coat_model, datasets_dir, tmp_path):
    trainer, model_dir = coat_model
    config = json.loads((model_dir / "config.json").read_text())
    assert config["domains"] == COATS and config["training"]["label_dropout"] == 0.2
    assert trainer.recipe.nets["D"].model[0].in_channels == 3 + len(COATS) + 3   # D(x, c, y)

    translator = Translator.from_dir(model_dir, device="cpu")
    assert translator.domains == COATS
    drawing = _drawing()
    coats = [np.asarray(translator.translate(drawing, domain=coat), float) for coat in COATS]
    assert all(np.abs(coats[0] - other).max() > 0 for other in coats[1:])
    both = translator.translate([drawing, drawing], domain=["ginger", None])
    assert np.array_equal(np.asarray(both[0]), np.asarray(translator.translate(drawing, domain="ginger")))
    assert np.array_equal(np.asarray(both[1]), np.asarray(translator.translate(drawing)))
    with pytest.raises(ValueError, match="unknown domain 'tortoiseshell'"):
        translator.translate(drawing, domain="tortoiseshell")

    own = evaluate_dir(model_dir, datasets_dir / "catfaces", max_items=2, size=64, progress=False, classes=True)
    chosen = evaluate_dir(model_dir, datasets_dir / "catfaces", max_items=2, size=64, progress=False)
    assert own["classes"] == "each image's own" and "classes" not in chosen and own["n"] == 2
    plain = TrainConfig(dataroot=str(datasets_dir / "catfaces" / "train"), derive="drawn", netG="unet_6", ngf=8,
                        ndf=8, load_size=72, crop_size=64, max_items=4, max_steps=1, num_workers=0,
                        checkpoints_dir=str(tmp_path), name="plain")
    plain_dir = Trainer(plain, progress=False).run()
    with pytest.raises(ValueError, match="class input"):
        evaluate_dir(plain_dir, datasets_dir / "catfaces", max_items=1, size=64, progress=False, classes=True)
    with pytest.raises(ValueError, match="without classes"):
        Translator.from_dir(plain_dir, device="cpu").translate(drawing, domain="ginger")


def test_onnx_export_takes_the_class_planes_as_input_channels(coat_model, tmp_path):
    import onnxruntime as ort

    from engine.onnx_export import export_onnx, read_metadata
    _, model_dir = coat_model
    path = export_onnx(model_dir, tmp_path / "coats.onnx")
    assert read_metadata(path)["classes"] == COATS
    translator = Translator.from_dir(model_dir, device="cpu")
    image = translator.encode(_drawing())[None]
    planes = torch.zeros(1, len(COATS), 64, 64)
    planes[:, COATS.index("ginger")] = 1
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    ginger, none = (session.run(None, {"input": torch.cat([image, p], 1).numpy()})[0]
                    for p in (planes, torch.zeros_like(planes)))
    assert np.abs(ginger - translator.translate_tensor(image, domain="ginger").numpy()).max() < 1e-4
    assert np.abs(none - translator.translate_tensor(image).numpy()).max() < 1e-4
