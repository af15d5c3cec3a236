"""StarGAN: conditional generator, two-headed discriminator, labelled data, training, resume, translation,
evaluation with a domain classifier; tiny networks on 32 px crops."""
import json
import math

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from engine import TrainConfig, Trainer, Translator
from engine.config import ModelConfig
from engine.domain_classifier import (DomainClassifier, domain_accuracy, load_classifier, save_classifier,
                                      train_domain_classifier)
from engine.domain_data import DomainDataset, find_domains, labelled_images
from engine.evaluate import evaluate_dir
from engine.evaluate_stargan import describe_stargan_metrics, evaluate_stargan
from engine.networks import define_conditional_G, define_G, define_stargan_D, stargan_depth
from engine.trainer import SeededItems

COATS = ("black", "ginger", "grey_tabby", "white")
COLOURS = {"black": (25, 22, 20), "ginger": (215, 120, 40), "grey_tabby": (128, 128, 120), "white": (235, 235, 230)}


def tiny(datasets_dir, tmp_path, **overrides) -> TrainConfig:
    options = dict(dataroot=str(datasets_dir / "catfaces"), model="stargan", netG="resnet_2blocks", ngf=4, ndf=4,
                   norm="instance", no_dropout=True, load_size=36, crop_size=32, max_items=8, max_steps=6,
                   save_every=3, sample_every=3, log_every=1, num_workers=0, n_critic=2,
                   checkpoints_dir=str(tmp_path), name="run", seed=1)
    options.update(overrides)
    return TrainConfig(**options)


def coloured_folder(folder, per_domain=3, csv_name="coats.csv", seed=0):
    """Noisy flat-coloured 40x40 images, `per_domain` of each coat, listed in a labels CSV."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    rows = ["file,coat"]
    for d, coat in enumerate(COATS):
        for i in range(per_domain):
            pixels = np.clip(np.array(COLOURS[coat]) + rng.normal(0, 12, (40, 40, 3)), 0, 255).astype(np.uint8)
            name = f"{d}{i:03d}.png"
            Image.fromarray(pixels).save(folder / name)
            rows.append(f"{name},{coat}")
    if csv_name:
        (folder / csv_name).write_text("\n".join(rows) + "\n")
    return folder


# -- networks ----------------------------------------------------------------------------------------

def test_generator_keeps_the_size_and_follows_the_label():
    torch.manual_seed(0)
    G = define_conditional_G(3, 3, 4, 8, "resnet_2blocks", "instance", upsample="nearest").eval()
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        black, white = G(x, torch.tensor([0, 0])), G(x, torch.tensor([3, 3]))
        one_hot = G(x, torch.eye(4)[[3, 3]])
    assert black.shape == x.shape
    assert (black - white).abs().mean() > 1e-2
    torch.testing.assert_close(one_hot, white)
    with torch.no_grad():   # with neutral modulations it is exactly the ResnetGenerator it wraps
        G.domain_shift.zero_()
        torch.testing.assert_close(G(x, torch.tensor([1, 2])), G.net(x))
    # why the label is not simply concatenated to the input: instance norm after a reflection-padded conv
    # removes any constant map, so such a generator gives the same output for every label
    plain = define_G(3 + 4, 3, 8, "resnet_2blocks", "instance").eval()
    maps = [torch.eye(4)[i].view(1, 4, 1, 1).expand(2, 4, 32, 32) for i in (0, 3)]
    with torch.no_grad():
        outputs = [plain(torch.cat([x, m], 1)) for m in maps]
    torch.testing.assert_close(outputs[0], outputs[1], atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="resnet"):
        define_conditional_G(3, 3, 4, 8, "unet_128")
    with pytest.raises(ValueError, match="normalization"):
        define_conditional_G(3, 3, 4, 8, "resnet_2blocks", "none")


@pytest.mark.parametrize("crop,layers,side", [(32, 4, 2), (48, 4, 3), (128, 6, 2)])
def test_discriminator_heads(crop, layers, side):
    assert stargan_depth(crop) == (layers, side)
    D = define_stargan_D(3, 4, crop, ndf=4)
    patches, classes = D(torch.zeros(2, 3, crop, crop))
    assert patches.shape == (2, 1, side, side) and classes.shape == (2, 4)
    assert sum(isinstance(m, torch.nn.Conv2d) for m in D.main) == layers


# -- data --------------------------------------------------------------------------------------------

def test_labels_from_the_csv_and_from_subfolders(tmp_path):
    folder = coloured_folder(tmp_path / "csv")
    data = DomainDataset(folder, crop_size=32, load_size=36, seed=0)
    assert data.domains == sorted(COATS) and len(data) == 12
    sample = data[0]
    assert sample["A"].shape == (3, 32, 32) and int(sample["label"]) == 0 and 0 <= int(sample["target"]) < 4
    subset = DomainDataset(folder, domains="white,black", crop_size=32, load_size=36)
    assert subset.domains == ["white", "black"] and len(subset) == 6
    assert {int(subset[i]["label"]) for i in range(6)} == {0, 1}

    by_folder = tmp_path / "folders"
    for coat in ("black", "white"):
        coloured_folder(by_folder / coat, per_domain=2, csv_name=None)
    assert find_domains(by_folder) == ["black", "white"]
    assert [label for _, label in labelled_images(by_folder)] == ["black"] * 8 + ["white"] * 8


def test_labels_csv_problems_are_clear(tmp_path):
    folder = coloured_folder(tmp_path / "csv")
    with pytest.raises(ValueError, match="unknown domain.*purple"):
        DomainDataset(folder, domains=["black", "purple"])
    with pytest.raises(ValueError, match="labels CSV not found"):
        DomainDataset(folder, labels_csv="labels.csv")
    (folder / "coats.csv").write_text("file,coat\n0000.png,black\nnot_here.png,white\n")
    with pytest.raises(ValueError, match="names 1 image.*not_here.png"):
        labelled_images(folder)
    (folder / "coats.csv").write_text("name,coat\n0000.png,black\n")
    with pytest.raises(ValueError, match="header"):
        labelled_images(folder)
    (folder / "coats.csv").write_text("file,coat\n0000.png,\n")
    with pytest.raises(ValueError, match="line 2"):
        labelled_images(folder)
    (folder / "other.csv").write_text("file,coat\n")
    with pytest.raises(ValueError, match="several CSV"):
        labelled_images(folder)
    with pytest.raises(ValueError, match="no labels CSV and no subfolders"):
        labelled_images(coloured_folder(tmp_path / "bare", csv_name=None))


def test_target_domains_are_seeded_per_item(tmp_path):
    data = SeededItems(DomainDataset(coloured_folder(tmp_path / "csv"), crop_size=32, load_size=36))
    first = [int(data[(i, 100 + i)]["target"]) for i in range(12)]
    again = [int(data[(i, 100 + i)]["target"]) for i in range(12)]
    assert first == again and len(set(first)) > 1


def test_config_defaults_and_checks():
    cfg = TrainConfig(dataroot="x", model="stargan", netG="resnet_6blocks", domains=" black, white ")
    assert cfg.gan_mode == "wgangp" and cfg.domains == "black,white" and cfg.lambda_rec == 10 and cfg.lambda_cls == 1
    assert cfg.model_config().domains == ["black", "white"] and cfg.model_config().netD == "stargan"
    assert TrainConfig(dataroot="x").gan_mode == "vanilla"
    assert TrainConfig(dataroot="x", model="stargan", netG="resnet_6blocks", gan_mode="lsgan").gan_mode == "lsgan"
    for bad, message in [({"netG": "unet_256"}, "resnet"), ({"domains": "black,black"}, "domains"),
                         ({"n_critic": 0}, "n_critic"), ({"netD": "pixel"}, "discriminator"), ({"norm": "none"}, "norm")]:
        with pytest.raises(ValueError, match=message):
            TrainConfig(**{"dataroot": "x", "model": "stargan", "netG": "resnet_6blocks", **bad})
    old = ModelConfig(task="cycle_gan").to_dict()
    del old["domains"]
    assert ModelConfig.from_dict(old).domains == []  # config.json files from before stargan still load
    with pytest.raises(ValueError, match="2 domains"):
        ModelConfig(task="stargan", domains=["black"])


# -- training ----------------------------------------------------------------------------------------

def test_stargan_trains_translates_and_evaluates(datasets_dir, tmp_path):
    model_dir = Trainer(tiny(datasets_dir, tmp_path), progress=False).run()
    metrics = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in metrics] == [1, 2, 3, 4, 5, 6]
    assert {"D_real", "D_fake", "D_cls", "D_gp", "G_GAN", "G_cls", "G_rec"} <= set(metrics[0])
    config = json.loads((model_dir / "config.json").read_text())
    assert config["task"] == "stargan" and config["domains"] == sorted(COATS)
    assert json.loads((tmp_path / "run" / "train_config.json").read_text())["domains"] == ",".join(sorted(COATS))
    card = (model_dir / "README.md").read_text()
    assert "| domains | black, ginger, grey_tabby, white |" in card and "reconstruction L1 x 10.0" in card
    sheet = Image.open(tmp_path / "run" / "samples" / "step_0000006.png")
    assert sheet.width > sheet.height   # input and 4 domains side by side

    translator = Translator.from_dir(model_dir, device="cpu")
    photo = Image.open(sorted((datasets_dir / "catfaces" / "val").glob("*.jpg"))[0])
    assert translator.translate(photo, domain="ginger").size == photo.size
    coats = translator.recolor(photo, source="black", size=32)
    assert list(coats) == [*sorted(COATS), *(f"reconstruction/{c}" for c in ("ginger", "grey_tabby", "white"))]
    assert all(image.size == photo.size for image in coats.values())
    with pytest.raises(ValueError, match="domain"):
        translator.translate(photo)
    with pytest.raises(ValueError, match="unknown domain 'purple'"):
        translator.translate(photo, domain="purple")
    with pytest.raises(ValueError, match="evaluate_stargan"):
        evaluate_dir(model_dir, datasets_dir / "catfaces", max_items=2, progress=False)

    labelled = coloured_folder(tmp_path / "labelled" / "val", per_domain=2)
    judge = train_domain_classifier(labelled.parent, phase="val", steps=3, batch_size=8)
    scores = evaluate_stargan(model_dir, labelled.parent, classifier=save_classifier(judge, tmp_path / "c.st"),
                              progress=False)
    assert scores["n"] == 8 and scores["size"] == 32 and set(scores["domains"]) == set(COATS)
    for coat, row in scores["domains"].items():
        assert row["n"] == 6 and 0 <= row["target_share"] <= 1 and 0 <= row["input_share"] <= 1
        assert 0 < row["rec_l1"] < 1 and math.isfinite(row["rec_psnr"])
    assert 0 <= scores["classifier_accuracy"] <= 1 and "reconstruction L1" in describe_stargan_metrics(scores)
    assert "target_share" not in evaluate_stargan(model_dir, labelled.parent, max_items=4, progress=False)

    from engine.onnx_export import export_onnx
    pytest.importorskip("onnx")
    with pytest.raises(ValueError, match="domain label"):
        export_onnx(model_dir, tmp_path / "g.onnx")


def test_stargan_resume_is_exact(datasets_dir, tmp_path):
    options = dict(ema_decay=0.9, upsample="nearest")
    straight = Trainer(tiny(datasets_dir, tmp_path, name="straight", **options), progress=False).run()
    first = Trainer(tiny(datasets_dir, tmp_path, name="resumed", **options), progress=False)
    first.on_event = lambda event: first.stop() if event["type"] == "log" and event["step"] == 3 else None
    first.run()
    assert torch.load(tmp_path / "resumed" / "state.pt", weights_only=True)["step"] == 3
    resumed = Trainer(tiny(datasets_dir, tmp_path, name="resumed", **options), progress=False, resume=True).run()
    a, b = load_file(str(straight / "model.safetensors")), load_file(str(resumed / "model.safetensors"))
    assert a.keys() == b.keys() and any(k.startswith("D.") for k in a) and "G.domain_shift" in a
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=1e-6, msg=key)


def test_command_line_trains_and_evaluates(datasets_dir, tmp_path, capsys):
    from engine.__main__ import main
    flags = ["--model", "stargan", "--dataroot", str(datasets_dir / "catfaces"), "--netG", "resnet_1blocks",
             "--ngf", "4", "--ndf", "4", "--norm", "instance", "--no_dropout", "--load_size", "36", "--crop_size", "32",
             "--max_items", "6", "--max_steps", "2", "--n_critic", "1", "--domains", "white,black",
             "--num_workers", "0", "--checkpoints_dir", str(tmp_path), "--name", "cli", "--quiet"]
    assert main(["train", *flags]) == 0
    assert json.loads((tmp_path / "cli" / "model" / "config.json").read_text())["domains"] == ["white", "black"]
    capsys.readouterr()
    assert main(["evaluate", "--model_dir", str(tmp_path / "cli" / "model"), "--dataroot",
                 str(datasets_dir / "catfaces"), "--max_items", "4"]) == 0
    scores = json.loads(capsys.readouterr().out)
    assert scores["kind"] == "stargan" and scores["size"] == 32 and set(scores["domains"]) == {"white", "black"}
    with pytest.raises(SystemExit) as exit_:
        main(["train", "--help"])
    assert exit_.value.code == 0 and "--n_critic" in capsys.readouterr().out


# -- the domain classifier ----------------------------------------------------------------------------

def test_domain_classifier_learns_colours_and_round_trips(tmp_path):
    root = tmp_path / "coats"
    coloured_folder(root / "train", per_domain=6, seed=1)
    coloured_folder(root / "val", per_domain=3, seed=2)
    model = train_domain_classifier(root, steps=60, batch_size=16, width=8)
    scores = domain_accuracy(model, root)
    assert scores["accuracy"] == 1.0 and scores["balanced_accuracy"] == 1.0 and scores["n"] == 12
    loaded = load_classifier(save_classifier(model, tmp_path / "coats.safetensors"))
    images = [Image.open(p) for p in sorted((root / "val").glob("*.png"))]
    assert loaded.predict(images) == model.predict(images) == [c for c in COATS for _ in range(3)]
    assert isinstance(loaded, DomainClassifier) and loaded.domains == sorted(COATS)
    with pytest.raises(ValueError, match="not a domain classifier"):
        from safetensors.torch import save_file
        save_file({"x": torch.zeros(1)}, str(tmp_path / "other.safetensors"))
        load_classifier(tmp_path / "other.safetensors")
