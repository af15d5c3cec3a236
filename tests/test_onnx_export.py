"""ONNX export: onnxruntime agrees with the torch generator on our own drawings; fp16, int8, CLI, errors."""
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from PIL import Image

from engine.__main__ import main
from engine.checkpoint import load_model
from engine.inference import Translator
from engine.onnx_export import METADATA_KEYS, export_onnx, read_metadata

REPO = Path(__file__).resolve().parents[1]
WEIGHTS = REPO / "weights"
DRAWINGS = sorted((REPO / "tests" / "data" / "catface_drawings").glob("*.png"))


def session(path) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def drawings_batch(translator: Translator, width: int, height: int, direction: str = "AtoB") -> torch.Tensor:
    """Our drawings as the network sees them: resized to the working size, then Translator.encode."""
    return torch.stack([translator.encode(Image.open(p).convert("RGB").resize((width, height),
                                                                              Image.Resampling.BICUBIC), direction)
                        for p in DRAWINGS])


def torch_and_onnx(model_name: str, onnx_path, width: int, height: int, generator: str = "G"):
    """(torch output, onnxruntime output) of the generator on the drawings at width x height."""
    config, nets = load_model(WEIGHTS / model_name)
    translator = Translator(config, nets, device="cpu")
    batch = drawings_batch(translator, width, height, "BtoA" if generator == "G_B" else "AtoB")
    with torch.inference_mode():
        expected = nets[generator](batch).numpy()
    got = session(onnx_path).run(["output"], {"input": batch.numpy()})[0]
    return expected, got


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """fp32 exports at the models' crop size (128; the facades model 256), by model name."""
    folder = tmp_path_factory.mktemp("onnx")
    return {name: export_onnx(WEIGHTS / name, folder / f"{name}.onnx")
            for name in ("sketch2catface", "studio_facades", "colorize_l1")}


@pytest.mark.parametrize("model_name", ["sketch2catface", "studio_facades", "colorize_l1"])
def test_fp32_agrees_with_torch_on_our_drawings(exported, model_name):
    path = exported[model_name]
    onnx.checker.check_model(str(path))
    dims = [d.dim_value or d.dim_param for d in onnx.load(str(path)).graph.input[0].type.tensor_type.shape.dim]
    config, _ = load_model(WEIGHTS / model_name)
    side = config.crop_size
    assert dims == ["batch", config.input_nc, side, side]
    expected, got = torch_and_onnx(model_name, path, side, side)
    assert got.shape == expected.shape == (len(DRAWINGS), config.output_nc, side, side)
    # the drawings give real, varied outputs, not a constant (a colorizer's ab on black-and-white line
    # drawings stays near grey: measured std 0.016 for colorize_l1, 0.3 and more for the others)
    assert expected.std() > (0.005 if config.task == "colorization" else 0.05)
    assert np.abs(got - expected).max() < 1e-3  # measured: 2e-6 (sketch2cat), 3e-6 (facades), 3e-7 (colorize)


def test_dynamic_size_runs_any_multiple_of_the_network(tmp_path):
    path = export_onnx(WEIGHTS / "sketch2catface", tmp_path / "dynamic.onnx", dynamic=True)
    expected, got = torch_and_onnx("sketch2catface", path, 384, 256)
    assert got.shape == (len(DRAWINGS), 3, 256, 384)
    assert np.abs(got - expected).max() < 1e-3
    assert read_metadata(path)["dynamic"] is True and read_metadata(path)["size_multiple"] == 128


def test_cycle_gan_way_back(tmp_path):
    path = export_onnx(WEIGHTS / "studio_monet2photo", tmp_path / "g_b.onnx", generator="G_B", dynamic=True)
    expected, got = torch_and_onnx("studio_monet2photo", path, 96, 64, generator="G_B")
    assert np.abs(got - expected).max() < 1e-3
    meta = read_metadata(path)
    assert meta["generator"] == "G_B" and meta["task"] == "cycle_gan" and meta["min_side"] == 8


def test_fp16_is_half_the_size_and_within_a_quarter_level(exported, tmp_path):
    path = export_onnx(WEIGHTS / "sketch2catface", tmp_path / "fp16.onnx", dtype="fp16")
    assert path.stat().st_size < 0.55 * exported["sketch2catface"].stat().st_size
    expected, got = torch_and_onnx("sketch2catface", path, 128, 128)
    assert got.dtype == np.float32  # input and output stay float32
    # measured: max 1.6e-3, mean 2e-4 (one 8-bit level is 7.8e-3)
    assert np.abs(got - expected).max() < 5e-3
    assert read_metadata(path)["precision"] == "fp16"


def test_int8_is_a_quarter_of_the_size_and_close_on_unseen_drawings(exported, tmp_path):
    path = export_onnx(WEIGHTS / "sketch2catface", tmp_path / "int8.onnx", quantize_int8=True,
                       calibration=DRAWINGS[:10])
    assert path.stat().st_size < 0.3 * exported["sketch2catface"].stat().st_size
    expected, got = torch_and_onnx("sketch2catface", path, 128, 128)
    error = np.abs(got - expected)[10:]  # drawings not used for calibration
    # measured: mean 0.047 (6 of 255 levels), max 0.37 (thin line edges)
    assert error.mean() < 0.08 and error.max() < 0.6
    assert read_metadata(path)["precision"] == "int8"


@pytest.mark.parametrize("packing, share, tolerance", [("int8", 0.27, 0.08), ("fp16", 0.52, 5e-3)])
def test_packed_weights_shrink_the_file_and_compute_in_fp32(exported, tmp_path, packing, share, tolerance):
    path = export_onnx(WEIGHTS / "sketch2catface", tmp_path / f"{packing}.onnx", packed_weights=packing)
    assert path.stat().st_size < share * exported["sketch2catface"].stat().st_size
    graph = onnx.load(str(path)).graph
    assert {node.op_type for node in graph.node} >= {"DequantizeLinear" if packing == "int8" else "Cast", "Conv"}
    expected, got = torch_and_onnx("sketch2catface", path, 128, 128)
    # measured on the 20 drawings: int8 max 0.033, mean 0.003 (a third of an 8-bit level); fp16 max 6e-4
    assert np.abs(got - expected).max() < tolerance
    assert read_metadata(path)["precision"] == f"fp32, {packing} weights"


def test_cli_writes_the_file_with_its_metadata(tmp_path, capsys):
    out = tmp_path / "facades.onnx"
    assert main(["export-onnx", str(WEIGHTS / "studio_facades"), "--out", str(out)]) == 0
    assert "facades.onnx" in capsys.readouterr().out
    meta = read_metadata(out)
    assert set(METADATA_KEYS) <= set(meta)
    assert meta["name"] == "studio_facades" and meta["input_kind"] == "labels" and meta["size"] == 256
    assert meta["input_nc"] == 3 and meta["output_nc"] == 3 and meta["thin_drawings"] is True
    assert meta["dynamic"] is False and meta["precision"] == "fp32"


def test_cli_refuses_a_folder_that_is_not_a_model(tmp_path, capsys):
    (tmp_path / "photo.png").write_bytes(b"")
    assert main(["export-onnx", str(tmp_path), "--out", str(tmp_path / "x.onnx")]) == 2
    assert "is not a model directory: config.json is missing" in capsys.readouterr().err
    assert not (tmp_path / "x.onnx").exists()


@pytest.mark.parametrize("options, message", [
    ({"size": 100}, "use a multiple of 128"),
    ({"generator": "G_B"}, "has no generator 'G_B'"),
    ({"quantize_int8": True}, "needs calibration images"),
    ({"dtype": "int4"}, "dtype must be one of"),
    ({"packed_weights": "int4"}, "packed_weights must be one of"),
    ({"packed_weights": "int8", "dtype": "fp16"}, "packed_weights must be one of"),
])
def test_bad_options_say_what_is_wrong(tmp_path, options, message):
    with pytest.raises(ValueError, match=message):
        export_onnx(WEIGHTS / "sketch2catface", tmp_path / "x.onnx", **options)


def test_missing_onnx_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)  # import onnx now raises ImportError
    with pytest.raises(RuntimeError, match="pip install onnx onnxruntime"):
        export_onnx(WEIGHTS / "sketch2catface", tmp_path / "x.onnx")
