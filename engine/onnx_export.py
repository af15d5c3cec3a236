"""ONNX export of a model directory's generator, for onnxruntime (Python, or onnxruntime-web in a browser).

    export_onnx("weights/sketch2cat", "sketch2cat.onnx")                     # fp32, 1x3x128x128 in and out
    export_onnx("weights/sketch2cat", "s.onnx", dtype="fp16", dynamic=True)  # half the size, any canvas size
    export_onnx("weights/sketch2cat", "s8.onnx", quantize_int8=True, calibration=["drawings/"])

The graph takes "input", NCHW float32 in the model's input space ([-1, 1]; colorizers: L / 50 - 1) and
gives "output" in its output space ([-1, 1]; colorizers: ab / 110), always float32 at the edges. The
batch dimension is dynamic; height and width are fixed unless `dynamic=True`. A pix2pix model with a class
input takes its one-hot class planes as further input channels (all zero: no class), after the image's;
its metadata "classes" names them in order. The model's settings a
browser needs are stored as metadata_props (`METADATA_KEYS`): strings as they are, numbers and booleans
as JSON ("3", "true").

Exporter: torch's TorchScript-based exporter (`torch.onnx.export(..., dynamo=False)`). In torch 2.14 it
is deprecated but present and needs no extra package. The torch.export-based default (`dynamo=True`)
needs onnxscript, and with dynamic height and width it fails on the U-Net: the 1x1 bottleneck
specialises the input side to the traced one (a guard from the contiguity check of size-1 tensors).

fp16 converts weights and activations with onnxconverter-common, keeping float32 input and output.
int8 is static QDQ quantisation (onnxruntime.quantization.quantize_static, MinMax ranges) calibrated on
images of the model's own input kind, encoded as `Translator.encode` does. Dynamic quantisation
(quantize_dynamic) is not offered: it leaves the transposed convolutions in fp32, so the file stays
larger than fp16's, and its error is still far above fp16's (see docs/benchmarks.md).

Packed weights (`packed_weights="int8"` or `"fp16"`) shrink only the file: each float weight is stored
as int8 with one scale per output channel (DequantizeLinear) or as fp16 (Cast), and the session expands
it back to float32 when it loads, so the arithmetic stays fp32. This is the browser's format
(scripts/export_browser_models.py): half (fp16) or a quarter (int8) of the download, as fast as fp32
once loaded (onnxruntime folds the expansion away with `session.disable_quant_qdq` set to "1"; without
it the int8 expansion runs on every call).
"""
from __future__ import annotations

import copy
import json
import tempfile
import warnings
from pathlib import Path
from typing import Sequence

import torch
from PIL import Image
from torch import nn

from .checkpoint import atomic_write, load_model
from .config import ModelConfig
from .networks import UpConv, min_input_side, size_multiple

DEFAULT_OPSET = 17
DTYPES = ("fp32", "fp16")
PACKINGS = ("fp16", "int8")
PACKED_MIN_ELEMENTS = 1024   # smaller weights (biases, norms) stay float32
METADATA_KEYS = ("name", "task", "generator", "input_kind", "output_kind", "color_space", "input_nc",
                 "output_nc", "thin_drawings", "size", "dynamic", "size_multiple", "min_side", "precision", "classes")
_JSON_KEYS = frozenset({"input_nc", "output_nc", "thin_drawings", "size", "dynamic", "size_multiple", "min_side",
                        "classes"})
INSTALL_HINT = "pip install onnx onnxruntime"


def _require(module: str, install: str = INSTALL_HINT):
    """Import an optional export dependency or raise RuntimeError saying how to install it."""
    try:
        return __import__(module, fromlist=["_"])
    except ImportError as e:
        raise RuntimeError(f"ONNX export needs the {module} package: {install}") from e


def exportable(net: nn.Module) -> nn.Module:
    """An eval-mode copy of `net` whose UpConv layers are plain ConvTranspose2d (ONNX ConvTranspose).

    UpConv's CPU path (a GEMM plus F.fold on small inputs) is a speed trick that computes the same
    thing; traced, it would fix the branch to the traced size and need Col2Im.
    """
    net = copy.deepcopy(net).eval()
    for module in net.modules():
        if isinstance(module, UpConv):
            module.__class__ = nn.ConvTranspose2d
    return net


def export_onnx(model_dir: str | Path, out_path: str | Path, *, size: int | None = None,
                opset: int = DEFAULT_OPSET, dtype: str = "fp32", quantize_int8: bool = False,
                calibration: Sequence[str | Path] = (), dynamic: bool = False,
                generator: str | None = None, packed_weights: str | None = None) -> Path:
    """Export a model directory's generator to `out_path` (written atomically); returns the path.

    `size`: the input side (default: the model's crop_size); must be a multiple of the network's size
    multiple. `generator`: "G" (default), or for CycleGAN "G_A" (default) or "G_B". `quantize_int8`
    needs `calibration`: image files or folders of the model's input kind (drawings for a sketch model).
    `packed_weights` ("fp16" or "int8") stores the weights compactly for an fp32 graph (see above).
    """
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
    if packed_weights is not None and (packed_weights not in PACKINGS or dtype != "fp32" or quantize_int8):
        raise ValueError(f"packed_weights must be one of {', '.join(PACKINGS)}, with dtype='fp32' and no "
                         f"quantize_int8; got {packed_weights!r}")
    if quantize_int8 and dtype != "fp32":
        raise ValueError("int8 quantisation starts from the fp32 graph; use dtype='fp32' with quantize_int8")
    if quantize_int8 and not calibration:
        raise ValueError("int8 quantisation needs calibration images of the model's input kind "
                         "(e.g. drawings for a sketch model)")
    onnx = _require("onnx")
    float16 = _require("onnxconverter_common", "pip install onnxconverter-common") if dtype == "fp16" else None
    quantization = _require("onnxruntime.quantization") if quantize_int8 else None
    config, nets = load_model(model_dir)
    if config.task == "stargan":
        raise ValueError("ONNX export takes one input; a stargan generator also needs its domain label")
    name = generator or config.generator_names[0]
    if name not in nets:
        raise ValueError(f"{Path(model_dir).name} has no generator {name!r} (available: {', '.join(sorted(nets))})")
    classes = class_names(config)
    net = exportable(nets[name].generator if classes else nets[name])   # class planes: plain input channels
    size = size or config.crop_size
    multiple, min_side = size_multiple(net), min_input_side(net)
    if size % multiple or size < min_side:
        raise ValueError(f"size {size} does not fit {config.netG}: use a multiple of {multiple} "
                         f"of at least {max(multiple, min_side)}")
    direction = "BtoA" if name == "G_B" else "AtoB"
    with tempfile.TemporaryDirectory() as tmp:
        graph = Path(tmp) / "fp32.onnx"
        _trace(net, (config.output_nc if direction == "BtoA" else config.input_nc) + len(classes), size, graph,
               opset, dynamic)
        if quantization is not None:
            images = [torch.cat([image, image.new_zeros(len(classes), *image.shape[1:])])
                      for image in _calibration_inputs(config, nets, calibration, size, direction)]
            graph = _quantize_static(quantization, graph, Path(tmp) / "int8.onnx", images)
        model = onnx.load(str(graph))
    if float16 is not None:
        with warnings.catch_warnings():  # one per weight below fp16's smallest subnormal, which becomes 1e-7
            warnings.filterwarnings("ignore", message=".*will be truncated to", category=UserWarning)
            model = float16.convert_float_to_float16(model, keep_io_types=True)
    if packed_weights is not None:
        pack_weights(model, packed_weights)
    precision = "int8" if quantize_int8 else f"fp32, {packed_weights} weights" if packed_weights else dtype
    metadata = model_metadata(config, name, size=size, dynamic=dynamic, precision=precision,
                              multiple=multiple, min_side=min_side)
    for key, value in metadata.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value if isinstance(value, str) else json.dumps(value)
    out_path = Path(out_path)
    atomic_write(out_path, lambda path: path.write_bytes(model.SerializeToString()))
    return out_path


def _trace(net: nn.Module, input_nc: int, size: int, path: Path, opset: int, dynamic: bool) -> None:
    axes = {0: "batch", 2: "height", 3: "width"} if dynamic else {0: "batch"}
    with warnings.catch_warnings():  # the exporter's deprecation notice, and notes on InstanceNorm and Slice
        warnings.filterwarnings("ignore", message=".*legacy TorchScript-based ONNX export", category=DeprecationWarning)
        warnings.filterwarnings("ignore", category=UserWarning, module=r"torch\.onnx")
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"torch\.onnx")
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning, module=r"torch\.nn")  # shape checks
        torch.onnx.export(net, (torch.zeros(1, input_nc, size, size),), str(path), dynamo=False,
                          input_names=["input"], output_names=["output"], opset_version=opset,
                          dynamic_axes={"input": axes, "output": axes})


def _calibration_inputs(config: ModelConfig, nets: dict[str, nn.Module], sources: Sequence[str | Path],
                        size: int, direction: str) -> list[torch.Tensor]:
    """The sources' images as the network sees them (Translator.encode at size x size), one CHW each."""
    from .data import find_images
    from .images import open_image
    from .inference import Translator
    translator = Translator(config, nets, device="cpu")
    paths: list[Path] = []
    for source in map(Path, sources):
        paths += find_images(source) if source.is_dir() else [source]
    if not paths:
        raise ValueError(f"no calibration images found in {', '.join(map(str, sources))}")
    return [translator.encode(open_image(p).resize((size, size), Image.Resampling.BICUBIC), direction)
            for p in paths]


def _quantize_static(quantization, src: Path, dst: Path, images: list[torch.Tensor]) -> Path:
    """Static QDQ int8 (weights int8, activations uint8, MinMax ranges over `images`); returns `dst`."""

    class Reader(quantization.CalibrationDataReader):
        def __init__(self):
            self.feeds = iter([{"input": image.unsqueeze(0).numpy()} for image in images])

        def get_next(self):
            return next(self.feeds, None)

    quantization.quantize_static(str(src), str(dst), Reader(), quant_format=quantization.QuantFormat.QDQ,
                                 activation_type=quantization.QuantType.QUInt8,
                                 weight_type=quantization.QuantType.QInt8)
    return dst


def pack_weights(model, packing: str) -> None:
    """Store `model`'s large float32 weights as fp16 (Cast back) or per-channel int8 (DequantizeLinear
    back; the channel axis is 1 for ConvTranspose, else 0), in place; the graph still computes in fp32."""
    onnx = _require("onnx")
    import numpy as np
    from onnx import numpy_helper
    graph = model.graph
    first_user = {}
    for node in graph.node:
        for name in node.input:
            first_user.setdefault(name, node.op_type)
    kept, expanders = [], []
    for initializer in graph.initializer:
        weights = numpy_helper.to_array(initializer)
        name = initializer.name
        if weights.dtype != np.float32 or weights.size < PACKED_MIN_ELEMENTS:
            kept.append(initializer)
        elif packing == "fp16":
            kept.append(numpy_helper.from_array(weights.astype(np.float16), f"{name}_fp16"))
            expanders.append(onnx.helper.make_node("Cast", [f"{name}_fp16"], [name], to=onnx.TensorProto.FLOAT))
        else:
            axis = 1 if first_user.get(name) == "ConvTranspose" else 0
            peaks = np.abs(np.moveaxis(weights, axis, 0).reshape(weights.shape[axis], -1)).max(axis=1)
            scales = np.where(peaks > 0, peaks / 127.0, 1.0).astype(np.float32)
            shape = [1] * weights.ndim
            shape[axis] = -1
            quantized = np.clip(np.round(weights / scales.reshape(shape)), -127, 127).astype(np.int8)
            kept += [numpy_helper.from_array(quantized, f"{name}_int8"),
                     numpy_helper.from_array(scales, f"{name}_scale")]
            expanders.append(onnx.helper.make_node("DequantizeLinear", [f"{name}_int8", f"{name}_scale"], [name],
                                                   axis=axis))
    nodes = expanders + list(graph.node)
    del graph.initializer[:], graph.node[:]
    graph.initializer.extend(kept)
    graph.node.extend(nodes)


def class_names(config: ModelConfig) -> list[str]:
    """The classes of a pix2pix model's class input, in the order of its class planes ([] without one)."""
    return list(config.domains) if config.task == "pix2pix" else []


def model_metadata(config: ModelConfig, generator: str, *, size: int, dynamic: bool, precision: str,
                   multiple: int, min_side: int) -> dict:
    """What a browser needs to feed the exported generator and read its output, keyed as METADATA_KEYS."""
    input_nc, output_nc, input_kind, output_kind = (config.input_nc, config.output_nc, config.input_kind,
                                                    config.output_kind)
    if generator == "G_B":  # CycleGAN's way back
        input_nc, output_nc, input_kind, output_kind = output_nc, input_nc, output_kind, input_kind
    return {"name": config.name, "task": config.task, "generator": generator, "input_kind": input_kind,
            "output_kind": output_kind, "color_space": config.color_space, "input_nc": input_nc,
            "output_nc": output_nc, "thin_drawings": config.thin_drawings, "size": size, "dynamic": dynamic,
            "size_multiple": multiple, "min_side": min_side, "precision": precision,
            "classes": class_names(config)}


def read_metadata(path: str | Path) -> dict:
    """An exported file's metadata_props, numbers and booleans decoded."""
    onnx = _require("onnx")
    model = onnx.load(str(path), load_external_data=False)
    return {entry.key: entry.value if entry.key not in _JSON_KEYS else json.loads(entry.value)
            for entry in model.metadata_props}
