"""Export the models the live canvas can run in a visitor's browser: MODEL_DIR/browser.onnx + browser.json.

    OMP_NUM_THREADS=1 python scripts/export_browser_models.py                 # the embedded sketch and facade models
    OMP_NUM_THREADS=1 python scripts/export_browser_models.py weights/my_sketch_model

Each model's generator is exported as an fp32 graph at its input size with per-channel int8 weights
(`engine.onnx_export`, packed_weights="int8": a quarter of the fp32 file; onnxruntime expands them to
float32 when the session loads), or fp16 weights with `--packing fp16` (half the file, closer still). browser.json records what the app and the page need: the digest of the
model.safetensors it was made from (the app serves the ONNX file only while they match), the file's
digest and size, the input size and kind, and its agreement with the torch model the server runs, on
tests/data/catface_drawings for drawings and on 20 random facade label maps for label models, both
preprocessed as the server does. Needs the dev requirements (onnx, onnxruntime).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import onnxruntime as ort  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

from engine.inference import Translator  # noqa: E402
from engine.noise_input import broadcast_noise, label_planes  # noqa: E402
from engine.onnx_export import class_names, export_onnx  # noqa: E402
from engine.zoo_base import sha256_file  # noqa: E402

DEFAULT_MODELS = ("weights/sketch2catface_coats", "weights/sketch2catface", "weights/studio_facades")
DRAWINGS = REPO / "tests" / "data" / "catface_drawings"
FACADE_SEEDS = range(20)
PACKINGS = ("int8", "fp16")
SESSION_CONFIG = {"session.disable_quant_qdq": "1"}   # fold the int8 weights to float32 once, at load


def takes_label_maps(model_dir: Path, input_kind: str) -> bool:
    """Whether the app's Facade tab runs the model (its manifest entry's tab), else its input kind."""
    manifest = model_dir.parent / "manifest.json"
    if manifest.is_file():
        for entry in json.loads(manifest.read_text()).get("models", []):
            if entry.get("path") == model_dir.name and entry.get("tab"):
                return entry["tab"] == "facade"
    return input_kind == "labels"


def agreement_inputs(translator: Translator, size: int, labels: bool) -> torch.Tensor:
    """The model's own kind of input (label maps or drawings), encoded as the server encodes it, as one
    NCHW batch."""
    if labels:
        from demos.examples import random_facade
        from demos.render import snap_labels
        images = [snap_labels(random_facade(seed, size=(size, size))) for seed in FACADE_SEEDS]
    else:
        images = [Image.open(path).convert("RGB").resize((size, size), Image.Resampling.BICUBIC)
                  for path in sorted(DRAWINGS.glob("*.png"))]
    return torch.stack([translator.encode(image) for image in images])


def with_classes(translator: Translator, inputs: torch.Tensor) -> tuple[torch.Tensor, list | None]:
    """A class-input model's feed: the inputs with class planes cycling through no class and each class,
    and those classes by name (None: no class); other models' inputs as they are, and None."""
    classes = class_names(translator.config)
    if not classes:
        return inputs, None
    picked = [([None] + classes)[i % (len(classes) + 1)] for i in range(len(inputs))]
    indices = torch.tensor([-1 if name is None else classes.index(name) for name in picked])
    planes = broadcast_noise(label_planes(indices, len(classes), len(inputs), inputs.device), inputs)
    return torch.cat([inputs, planes], 1), picked


def agreement(onnx_path: Path, translator: Translator, inputs: torch.Tensor) -> dict:
    """How far the ONNX file's outputs are from the torch generator's ([-1, 1] and 8-bit pixels); a
    class-input model's inputs go through no class and each class in turn."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    for key, value in SESSION_CONFIG.items():
        options.add_session_config_entry(key, value)
    session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
    feed, picked = with_classes(translator, inputs)
    exported = session.run(None, {"input": feed.numpy()})[0]
    reference = translator.translate_tensor(inputs, domain=picked).numpy()
    difference = np.abs(exported - reference)
    levels = np.abs(np.round((exported + 1) * 127.5) - np.round((reference + 1) * 127.5))
    return {"images": len(inputs), "max_abs_diff": round(float(difference.max()), 5),
            "mean_abs_diff": round(float(difference.mean()), 6),
            "share_of_8bit_values_off_by_more_than_1": round(float((levels > 1).mean()), 5)}


def export_for_browser(model_dir: Path, packing: str = PACKINGS[0]) -> dict:
    """Write model_dir/browser.onnx (weights packed as `packing`) and browser.json; returns the latter."""
    translator = Translator.from_dir(model_dir, device="cpu")
    config = translator.config
    size = config.crop_size
    onnx_path = export_onnx(model_dir, model_dir / "browser.onnx", size=size, packed_weights=packing)
    about = {
        "file": onnx_path.name, "sha256": sha256_file(onnx_path), "bytes": onnx_path.stat().st_size,
        "weights_sha256": sha256_file(model_dir / "model.safetensors"),
        "precision": f"fp32, {packing} weights" + (" (one scale per output channel)" if packing == "int8" else ""),
        "session_config": SESSION_CONFIG, "size": size, "input_nc": config.input_nc,
        "output_nc": config.output_nc, "input_kind": config.input_kind, "thin_drawings": config.thin_drawings,
        "classes": class_names(config),
        "agreement": agreement(onnx_path, translator, agreement_inputs(
            translator, size, takes_label_maps(model_dir, config.input_kind))),
    }
    (model_dir / "browser.json").write_text(json.dumps(about, indent=2) + "\n")
    return about


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="*", type=Path, default=[REPO / m for m in DEFAULT_MODELS],
                        help="model directories (default: the embedded sketch and facade models)")
    parser.add_argument("--packing", choices=PACKINGS, default=PACKINGS[0],
                        help="weights as int8 (a quarter of fp32's size; default) or fp16 (half, closer)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    for model_dir in args.models:
        about = export_for_browser(model_dir, args.packing)
        print(f"{model_dir}: {about['bytes']:,} B, {json.dumps(about['agreement'])}")


if __name__ == "__main__":
    main()
