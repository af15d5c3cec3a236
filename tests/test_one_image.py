"""Training from one image (DeepSIM): flags, TPS warps on tensors, the single-pair data, a tiny run that
resumes, and rendering an edited primitive."""
import json
import random
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from engine import TrainConfig, Trainer
from engine.__main__ import _train_config, build_parser
from engine.single_pair import SinglePairDataset, drawn_primitive, load_pair, render, square
from engine.warp import tps_grid, tps_map, tps_warp_tensors

EXAMPLES = Path(__file__).resolve().parents[1] / "demos" / "one_image_examples"


@pytest.fixture(scope="module")
def photo(tmp_path_factory):
    """A public-domain photo (scikit-image's chelsea), 128 px, as a file."""
    path = tmp_path_factory.mktemp("photo") / "chelsea.png"
    Image.open(EXAMPLES / "chelsea.jpg").resize((128, 128), Image.Resampling.BICUBIC).save(path)
    return path


def _parse(*argv):
    parser = build_parser()
    args = parser.parse_args(["train", *argv])
    return _train_config(args, args.subparser)


def test_cli_flags_make_a_single_pair_run(photo, tmp_path):
    cfg = _parse("--model", "pix2pix", "--single_pair", str(photo), "--augment", "tps", "--name", "one",
                 "--checkpoints_dir", str(tmp_path), "--max_steps", "5", "--load_size", "64", "--crop_size", "64",
                 "--device", "cpu", "--tps_grid", "3", "--tps_strength", "0.1", "--max_seconds", "60")
    assert (cfg.single_pair, cfg.augment, cfg.tps_grid, cfg.tps_strength, cfg.input_nc) == (str(photo), "tps", 3, 0.1, 3)
    assert cfg.max_seconds == 60 and cfg.dataroot == ""
    model = cfg.model_config()
    assert model.input_kind == "primitive" and model.training["single_pair"] == str(photo)
    with_labels = _parse("--single_pair", str(photo), "--primitive", str(photo), "--primitive_edges")
    assert with_labels.input_nc == 4
    assert _parse("--single_pair", str(photo), "--augment", "none").augment is None


def test_new_options_are_off_by_default_and_checked(photo):
    cfg = TrainConfig(dataroot="x")
    assert (cfg.single_pair, cfg.primitive, cfg.augment, cfg.max_seconds, cfg.primitive_edges) == (None,) * 4 + (False,)
    with pytest.raises(SystemExit):
        _parse("--model", "pix2pix")   # neither --dataroot nor --single_pair
    for bad in (dict(augment="mixup"), dict(tps_grid=1), dict(max_seconds=0), dict(model="cycle_gan"),
                dict(primitive_edges=True)):
        with pytest.raises(ValueError):
            TrainConfig(single_pair=str(photo), **bad)
    with pytest.raises(ValueError, match="need single_pair"):
        TrainConfig(dataroot="x", augment="tps")


def test_tps_is_the_identity_at_strength_zero():
    image = torch.rand(3, 40, 56)
    (warped,) = tps_warp_tensors([image], grid=4, strength=0.0, rng=random.Random(0))
    assert warped.shape == image.shape
    assert torch.allclose(warped, image, atol=1e-5)


def test_tps_warps_every_tensor_alike_and_keeps_shapes():
    photo, edges = torch.rand(3, 48, 48), torch.rand(1, 48, 48)
    stacked = torch.cat([photo, edges])
    warped_photo, warped_edges, warped_stack = tps_warp_tensors([photo, edges, stacked], grid=4, strength=0.05,
                                                                rng=random.Random(3))
    assert warped_photo.shape == photo.shape and warped_edges.shape == edges.shape
    assert torch.allclose(torch.cat([warped_photo, warped_edges]), warped_stack, atol=1e-6)
    assert (warped_photo - photo).abs().mean() > 0.05           # it did move
    with pytest.raises(ValueError):
        tps_warp_tensors([photo, torch.rand(3, 32, 48)])


def test_tensor_tps_is_the_numpy_tps():
    map_x, map_y = tps_map(50, 30, grid=3, strength=0.05, rng=random.Random(7))
    grid = tps_grid(50, 30, grid=3, strength=0.05, rng=random.Random(7))[0]
    assert np.allclose((grid[..., 0].numpy() + 1) / 2 * 49, map_x, atol=1e-3)
    assert np.allclose((grid[..., 1].numpy() + 1) / 2 * 29, map_y, atol=1e-3)


def test_single_pair_samples_are_seeded_crops_of_the_pair(photo):
    data = SinglePairDataset(photo, load_size=64, crop_size=48, augment="tps", tps_strength=0.05)
    data.reseed(5)
    first = data[0]
    data.reseed(5)
    again = data[0]
    assert first["A"].shape == (3, 48, 48) and first["B"].shape == (3, 48, 48)
    assert torch.equal(first["A"], again["A"]) and torch.equal(first["B"], again["B"])
    plain = SinglePairDataset(photo, load_size=128, crop_size=128, augment=None, no_flip=True)[0]
    photo_square, primitive, _ = load_pair(photo, size=128)
    expected = torch.from_numpy(np.array(photo_square)).permute(2, 0, 1) / 127.5 - 1
    assert torch.allclose(plain["B"], expected, atol=1e-6)
    assert primitive.mode == "L" and np.asarray(primitive).min() == 0    # black lines on white


def test_square_and_drawn_primitive():
    wide = Image.new("RGB", (90, 60), "white")
    assert square(wide, 32).size == (32, 32)
    canvas = Image.new("RGB", (128, 128), "white")
    canvas.paste((0, 0, 0), (20, 60, 100, 68))                      # an 8 px stroke
    lines = np.asarray(drawn_primitive(canvas, 64)) < 128
    assert lines.any() and lines.sum(axis=0).max() <= 2              # thinned to about 1 px, at 64 px


def test_tiny_run_resumes_and_renders(photo, tmp_path):
    options = dict(model="pix2pix", single_pair=str(photo), augment="tps", load_size=64, crop_size=64,
                   netG="unet_6", ngf=4, netD="none", no_dropout=True, upsample="nearest", ema_decay=0.9,
                   max_steps=4, save_every=2, sample_every=2, log_every=1, num_workers=0, device="cpu",
                   checkpoints_dir=str(tmp_path), name="one", seed=1)
    Trainer(TrainConfig(**options), progress=False).run()
    events = []
    model_dir = Trainer(TrainConfig(**dict(options, max_steps=6)), resume=True, on_event=events.append,
                        progress=False).run()
    assert events[0]["type"] == "start" and events[0]["step"] == 4
    steps = [json.loads(line)["step"] for line in (tmp_path / "one" / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4, 5, 6]
    config = json.loads((model_dir / "config.json").read_text())
    assert config["input_kind"] == "primitive" and config["training"]["augment"] == "tps"
    assert "one pair" in (model_dir / "README.md").read_text()
    from engine.checkpoint import load_model
    _, nets = load_model(model_dir)
    image = render(nets["G"], load_pair(photo, size=64)[1])
    assert image.size == (64, 64) and image.mode == "RGB"


def test_max_seconds_stops_with_a_checkpoint(photo, tmp_path):
    events = []
    Trainer(TrainConfig(model="pix2pix", single_pair=str(photo), load_size=64, crop_size=64, netG="unet_6", ngf=4,
                        netD="none", max_steps=50, max_seconds=1e-6, num_workers=0, device="cpu",
                        checkpoints_dir=str(tmp_path), name="capped"), on_event=events.append, progress=False).run()
    done = events[-1]
    assert done["type"] == "done" and done["stopped"] and done["step"] == 1
    assert (tmp_path / "capped" / "state.pt").is_file()
