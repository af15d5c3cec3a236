"""Training end to end on tiny networks and real data: runs, checkpoints, exact resume, faults, events."""
import json
import math

import pytest
import torch
from safetensors.torch import load_file

from engine import TrainConfig, Trainer, TrainingError
from engine.trainer import lr_factor


def tiny(datasets_dir, tmp_path, **overrides) -> TrainConfig:
    options = dict(dataroot=str(datasets_dir / "facades"), model="pix2pix", direction="BtoA", netG="unet_6", ngf=8,
                   ndf=8, load_size=72, crop_size=64, max_items=8, max_steps=6, save_every=3, sample_every=3,
                   log_every=1, num_workers=0, checkpoints_dir=str(tmp_path), name="run", seed=1)
    options.update(overrides)
    return TrainConfig(**options)


def test_pix2pix_run_writes_everything(datasets_dir, tmp_path):
    events = []
    model_dir = Trainer(tiny(datasets_dir, tmp_path), on_event=events.append, progress=False).run()
    run = tmp_path / "run"
    assert (run / "state.pt").is_file() and (run / "train_config.json").is_file()
    assert sorted(p.name for p in model_dir.iterdir()) == ["README.md", "config.json", "model.safetensors"]
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in metrics] == [1, 2, 3, 4, 5, 6]
    assert {"G_GAN", "G_L1", "D_real", "D_fake", "lr"} <= set(metrics[-1])
    assert sorted(p.name for p in (run / "samples").iterdir()) == ["step_0000003.png", "step_0000006.png"]
    kinds = [e["type"] for e in events]
    assert kinds[0] == "start" and kinds[-1] == "done" and "sample" in kinds and "checkpoint" in kinds
    assert any(e["type"] == "log" and e["eta_seconds"] >= 0 for e in events)
    tensors = load_file(str(model_dir / "model.safetensors"))
    assert any(k.startswith("G.") for k in tensors) and any(k.startswith("D.") for k in tensors)
    card = (model_dir / "README.md").read_text()
    assert "| steps | 6 |" in card and "receptive field 70x70" in card
    from engine import Translator
    translator = Translator.from_dir(model_dir, device="cpu")
    out = translator.translate(torch.zeros(3, 50, 40).numpy().transpose(1, 2, 0).astype("uint8"))
    assert out.size == (40, 50)


def _final_weights(model_dir):
    return load_file(str(model_dir / "model.safetensors"))


@pytest.mark.parametrize("model,overrides", [
    ("pix2pix", {}),
    ("pix2pix", {"upsample": "nearest", "ema_decay": 0.9}),
    ("cycle_gan", {"dataroot": "horse2zebra", "netG": "resnet_6blocks", "ngf": 4, "ndf": 4, "norm": "instance",
                   "gan_mode": "lsgan", "no_dropout": True, "pool_size": 2, "load_size": 40, "crop_size": 32}),
])
def test_resume_is_exact(datasets_dir, tmp_path, model, overrides):
    if "dataroot" in overrides:
        overrides = {**overrides, "dataroot": str(datasets_dir / overrides["dataroot"])}
    straight = Trainer(tiny(datasets_dir, tmp_path, model=model, name="straight", **overrides), progress=False).run()

    first = Trainer(tiny(datasets_dir, tmp_path, model=model, name="resumed", **overrides), progress=False)
    first.on_event = lambda event: first.stop() if event["type"] == "log" and event["step"] == 3 else None
    first.run()
    state = torch.load(tmp_path / "resumed" / "state.pt", weights_only=True)
    assert state["step"] == 3
    resumed = Trainer(tiny(datasets_dir, tmp_path, model=model, name="resumed", **overrides), progress=False,
                      resume=True).run()
    a, b = _final_weights(straight), _final_weights(resumed)
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=1e-6, msg=key)
    metrics = [json.loads(line) for line in (tmp_path / "resumed" / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in metrics] == [1, 2, 3, 4, 5, 6]


def test_colorization_and_regression_only(datasets_dir, tmp_path):
    cfg = tiny(datasets_dir, tmp_path, model="colorization", dataroot=str(datasets_dir / "monet2photo" / "trainB"),
               netD="none", max_steps=2, save_every=2)
    assert (cfg.input_nc, cfg.output_nc) == (1, 2)
    model_dir = Trainer(cfg, progress=False).run()
    config = json.loads((model_dir / "config.json").read_text())
    assert config["color_space"] == "lab" and config["netD"] is None
    assert not any(k.startswith("D.") for k in _final_weights(model_dir))


def test_derived_edges_pairs_train(datasets_dir, tmp_path):
    cfg = tiny(datasets_dir, tmp_path, dataroot=str(datasets_dir / "cats" / "train"), derive="edges", max_steps=2,
               save_every=2, netD="pixel")
    model_dir = Trainer(cfg, progress=False).run()
    assert json.loads((model_dir / "config.json").read_text())["input_kind"] == "edges"


def test_drawn_sketches_train_and_keep_stroke_width(datasets_dir, tmp_path):
    cfg = tiny(datasets_dir, tmp_path, dataroot=str(datasets_dir / "catfaces" / "train"), derive="drawn",
               max_steps=2, save_every=2, upsample="bilinear")
    model_dir = Trainer(cfg, progress=False).run()
    config = json.loads((model_dir / "config.json").read_text())
    assert config["input_kind"] == "edges" and config["thin_drawings"] is False
    assert config["upsample"] == "bilinear"
    from engine.config import ModelConfig
    from engine.evaluate import evaluate_dir, ground_truth_pairs
    paths = sorted((datasets_dir / "catfaces" / "val").glob("*.jpg"))[:2]
    first, again = (list(ground_truth_pairs(ModelConfig.load(model_dir / "config.json"), paths)) for _ in range(2))
    assert first[0][1].size == (64, 64) and first[0][1].tobytes() == again[0][1].tobytes()   # seeded by the name
    metrics = evaluate_dir(model_dir, datasets_dir / "catfaces", max_items=2, size=64, progress=False)
    assert metrics["n"] == 2 and math.isfinite(metrics["checkerboard"])


def test_spectral_norm_and_feature_matching_train_and_reload_with_discriminator(datasets_dir, tmp_path):
    cfg = tiny(datasets_dir, tmp_path, spectral_norm=True, lambda_feat=10.0, max_steps=2, save_every=2)
    model_dir = Trainer(cfg, progress=False).run()
    metrics = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert metrics[-1]["G_feat"] > 0
    from engine import Translator
    translator = Translator.from_dir(model_dir, device="cpu", with_discriminators=True)
    assert any("parametrizations" in key for key in translator.nets["D"].state_dict())


def test_ema_exports_the_averaged_generator(datasets_dir, tmp_path):
    trainer = Trainer(tiny(datasets_dir, tmp_path, ema_decay=0.5, max_steps=4, save_every=4), progress=False)
    model_dir = trainer.run()
    exported = _final_weights(model_dir)
    live = trainer.recipe.nets["G"].state_dict()
    average = trainer.recipe.ema["G"].state_dict()
    weight = next(k for k in live if k.endswith("weight") and live[k].dim() == 4)
    assert not torch.equal(live[weight], average[weight])
    torch.testing.assert_close(exported[f"G.{weight}"].float(), average[weight], rtol=0, atol=1e-6)
    assert trainer.recipe.ema_updates == 4


def test_non_finite_loss_stops_and_keeps_last_checkpoint(datasets_dir, tmp_path):
    trainer = Trainer(tiny(datasets_dir, tmp_path), progress=False)
    original = None

    def on_event(event):
        nonlocal original
        if event["type"] == "checkpoint" and original is None:
            original = trainer.recipe.train_step
            trainer.recipe.train_step = lambda batch: {**original(batch), "G_L1": torch.tensor(math.nan)}
    trainer.on_event = on_event
    with pytest.raises(TrainingError, match="non-finite"):
        trainer.run()
    assert torch.load(tmp_path / "run" / "state.pt", weights_only=True)["step"] == 3


def test_lr_schedule_linear_decay():
    assert lr_factor(0, 200, 100) == 1.0
    assert lr_factor(99, 200, 100) == 1.0
    assert lr_factor(100, 200, 100) == 1.0
    assert lr_factor(150, 200, 100) == pytest.approx(1 - 50 / 101)
    assert 0 < lr_factor(199, 200, 100) < 0.02


@pytest.mark.parametrize("bad,message", [
    ({"lr": -1}, "lr"), ({"batch_size": 0}, "batch_size"), ({"crop_size": 300, "load_size": 286}, "crop_size"),
    ({"model": "vae"}, "unknown model"), ({"netD": "none", "model": "cycle_gan"}, "CycleGAN"),
    ({"upsample": "pixelshuffle"}, "upsample"), ({"ema_decay": 1.0}, "ema_decay"),
    ({"sketch_outline": 1.5}, "sketch_outline"), ({"sketch_features": -0.1}, "sketch_features"), ({"sketch_cartoon": 2}, "sketch_cartoon"), ({"derive": "hed"}, "derive"),
])
def test_nonsense_options_are_rejected(bad, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(dataroot="x", **bad)


def test_missing_dataset_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match=str(tmp_path / "nowhere")):
        Trainer(TrainConfig(dataroot=str(tmp_path / "nowhere"), checkpoints_dir=str(tmp_path)), progress=False).run()
