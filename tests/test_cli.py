"""The command line as a user runs it: train, resume, translate, evaluate, import-official, torchrun."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
TINY = ["--netG", "unet_6", "--ngf", "4", "--ndf", "4", "--load_size", "72", "--crop_size", "64",
        "--max_items", "6", "--num_workers", "0", "--log_every", "1", "--quiet"]


def engine(*args, cwd=None, check=True):
    result = subprocess.run([sys.executable, "-m", "engine", *map(str, args)], cwd=cwd or REPO, text=True,
                            capture_output=True, timeout=300, env={**os.environ, "PYTHONPATH": str(REPO)})
    if check and result.returncode != 0:
        raise AssertionError(f"exit {result.returncode}\n{result.stdout}\n{result.stderr}")
    return result


def test_train_continue_translate_evaluate(datasets_dir, tmp_path):
    runs = tmp_path / "runs"
    facades = datasets_dir / "facades"
    engine("train", "--dataroot", facades, "--direction", "BtoA", "--name", "f", "--checkpoints_dir", runs,
           "--max_steps", 2, "--save_every", 2, *TINY)
    # --continue with a larger budget picks the saved options up and goes on from step 2
    engine("train", "--name", "f", "--checkpoints_dir", runs, "--continue", "--max_steps", 4, "--save_every", 2,
           "--quiet", "--dataroot", facades)
    metrics = [json.loads(x) for x in (runs / "f" / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in metrics] == [1, 2, 3, 4]
    saved = json.loads((runs / "f" / "train_config.json").read_text())
    assert saved["netG"] == "unet_6" and saved["direction"] == "BtoA"

    inputs = tmp_path / "in"
    inputs.mkdir()
    Image.fromarray(np.full((70, 90, 3), 200, np.uint8)).save(inputs / "a.png")
    (inputs / "broken.png").write_bytes(b"not an image")
    result = engine("translate", inputs, "--model_dir", runs / "f" / "model", "--out", tmp_path / "out")
    assert Image.open(tmp_path / "out" / "a.png").size == (90, 70)
    assert "broken.png" in result.stderr and "1 skipped" in result.stdout

    result = engine("evaluate", "--model_dir", runs / "f" / "model", "--dataroot", facades, "--phase", "val",
                    "--max_items", 3, "--size", 64, "--json", tmp_path / "m.json", "--write_card")
    metrics = json.loads((tmp_path / "m.json").read_text())
    assert metrics["n"] == 3 and 0 <= metrics["hist_a"] <= 1 and metrics["psnr"] > 0
    assert f"PSNR {metrics['psnr']:.2f} dB" in (runs / "f" / "model" / "README.md").read_text()

    engine("export", runs / "f" / "model", "--out", tmp_path / "small", "--half", "--input_kind", "labels")
    from safetensors.torch import load_file
    tensors = load_file(str(tmp_path / "small" / "model.safetensors"))
    assert tensors["G.model.model.0.weight"].dtype.is_floating_point and tensors["G.model.model.0.weight"].itemsize == 2
    assert json.loads((tmp_path / "small" / "config.json").read_text())["input_kind"] == "labels"
    assert "PSNR" in (tmp_path / "small" / "README.md").read_text()
    assert Image.open(tmp_path / "out" / "a.png").size == (90, 70)


def test_train_errors_are_one_line(tmp_path):
    result = engine("train", "--dataroot", tmp_path / "missing", "--checkpoints_dir", tmp_path, check=False)
    assert result.returncode == 2 and "Traceback" not in result.stderr and "missing" in result.stderr
    result = engine("train", "--dataroot", tmp_path, "--lr", "-1", check=False)
    assert result.returncode == 2 and "lr must be positive" in result.stderr


def test_import_official(fixtures_dir, tmp_path):
    out = tmp_path / "style"
    engine("import-official", fixtures_dir / "cyclegan_resnet9_instance_legacy.pth", "--ngf", 8, "--netG",
           "resnet_9blocks", "--norm", "instance", "--no_dropout", "--out", out)
    config = json.loads((out / "config.json").read_text())
    assert config["task"] == "cycle_gan" and config["netG"] == "resnet_9blocks"
    from engine import Translator
    from engine.checkpoint import load_model
    _, nets = load_model(out)
    import torch
    x = torch.from_numpy(np.load(fixtures_dir / "cyclegan_resnet9_instance_legacy.input.npy"))
    with torch.no_grad():
        np.testing.assert_allclose(nets["G_A"](x).numpy(),
                                   np.load(fixtures_dir / "cyclegan_resnet9_instance_legacy.output.npy"), atol=1e-4)
    assert Translator.from_dir(out, device="cpu").translate(Image.new("RGB", (33, 21))).size == (33, 21)
    result = engine("import-official", fixtures_dir / "cyclegan_resnet9_instance.pth", "--ngf", 8, "--out",
                    tmp_path / "wrong", "--netG", "unet_256", check=False)
    assert result.returncode == 2 and "does not fit" in result.stderr


def test_refuses_pickled_objects(tmp_path):
    import torch
    evil = tmp_path / "evil.pth"
    torch.save({"weights": torch.zeros(1), "payload": Path("x")}, evil)  # not a pure tensor dict
    result = engine("import-official", evil, "--out", tmp_path / "o", check=False)
    assert result.returncode == 2 and "refusing to unpickle" in result.stderr


@pytest.mark.skipif(shutil.which("torchrun", path=str(Path(sys.executable).parent)) is None, reason="no torchrun")
def test_torchrun_two_processes(datasets_dir, tmp_path):
    torchrun = Path(sys.executable).parent / "torchrun"
    result = subprocess.run(
        [torchrun, "--standalone", "--nproc_per_node", "2", "-m", "engine", "train", "--model", "cycle_gan",
         "--dataroot", datasets_dir / "horse2zebra", "--netG", "resnet_6blocks", "--ngf", "4", "--ndf", "4",
         "--norm", "instance", "--gan_mode", "lsgan", "--no_dropout", "--load_size", "40", "--crop_size", "32",
         "--max_items", "8", "--max_steps", "2", "--save_every", "2", "--log_every", "1", "--num_workers", "0",
         "--checkpoints_dir", tmp_path, "--name", "ddp", "--quiet"],
        cwd=REPO, text=True, capture_output=True, timeout=300, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count("model saved") == 1
    config = json.loads((tmp_path / "ddp" / "model" / "config.json").read_text())
    assert config["training"]["world_size"] == 2
