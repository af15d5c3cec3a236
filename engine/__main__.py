"""Command line: python -m engine train | translate | evaluate | export-onnx | import-official ...

Flag names mirror the reference implementation (pytorch-CycleGAN-and-pix2pix) where the concept is shared.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import shlex
import signal
import sys
import typing
from pathlib import Path

from .config import ModelConfig, TrainConfig

HELP = {
    "dataroot": "dataset folder: aligned A|B images in train/ (pix2pix), trainA/ + trainB/ (cycle_gan), "
                "or a folder of photos (colorization, or pix2pix with --derive)",
    "model": "pix2pix | cycle_gan | colorization | stargan",
    "derive": "make pairs from a plain photo folder: edges (extracted contours -> photo), drawn (sketch-like "
              "strokes of random width, dropped strokes and warps -> photo; see docs/edges.md) or gray",
    "upsample": "generator decoder: transpose (the reference's; its checkpoints), nearest or bilinear "
                "(resize then 3x3 conv: no checkerboard)",
    "unet_padding": "U-Net conv padding: zeros (the reference's) or reflect (with --upsample nearest|bilinear: "
                    "no frames or rings from maps that are constant over the image, e.g. a noise input --nz)",
    "sketch_outline": "with --derive drawn on aligned faces: the share of training sketches that also get a "
                      "drawn head outline with two ears (0-1; e.g. 0.5 for catfaces)",
    "sketch_features": "with --derive drawn on aligned faces: the share of training sketches that also get "
                       "drawn eyes, nose, mouth and whiskers where aligned faces have them (0-1)",
    "sketch_cartoon": "with --derive drawn on aligned faces: the share of training sketches that are cartoons "
                      "instead: drawn outline and features, an empty face, the photo's strongest lines (0-1)",
    "spectral_norm": "spectral normalization of the discriminator's convolutions",
    "lambda_feat": "pix2pix/colorization: weight of discriminator feature matching (pix2pixHD; e.g. 10); 0: off",
    "ema_decay": "export an exponential moving average of the generator's weights (e.g. 0.999); 0: off",
    "direction": "AtoB or BtoA (facades: labels->photo is BtoA)",
    "netD": "basic (70x70) | n_layers | pixel (1x1) | none (no discriminator: pure L1/L2 regression)",
    "netG": "unet_128 | unet_256 | unet_<downs> | resnet_6blocks | resnet_9blocks",
    "gan_mode": "vanilla | lsgan | wgangp | hinge (default: wgangp for stargan, vanilla otherwise)",
    "max_steps": "stop after this many steps (the linear decay then covers the last n_epochs_decay share)",
    "device": "auto (cuda, mps, cpu) or an explicit device such as cpu or cuda:1",
    "amp": "mixed precision on CUDA (bf16 where supported)",
    "domains": "stargan: comma-separated domain labels in the generator's order (default: every label in the "
               "data, sorted); images with other labels are left out",
    "labels_csv": "stargan: CSV with a file,label header; a bare name is looked up in each image folder "
                  "(default: the folder's only .csv, e.g. catfaces' coats.csv; none: one subfolder per domain). "
                  "pix2pix with --derive: turns on a class input, G(x, c), c each photo's label (e.g. its coat)",
    "label_dropout": "pix2pix with a class input: share of training items shown with no class, so the model "
                     "also works without one (its own choice)",
    "lambda_cls": "stargan: weight of the domain classification losses (paper: 1)",
    "lambda_rec": "stargan: weight of the reconstruction L1 of G(G(x, c), c_x) (paper: 10)",
    "n_critic": "stargan: discriminator steps per generator step; a run's steps count D steps (paper: 5; default 2, "
                "which keeps the critic ahead of G at two thirds of the paper's CPU time per G step: docs/stargan.md)",
    "lambda_gp": "wgangp: weight of the gradient penalty (paper: 10)",
    "colorization_loss": "colorization: l1 (regression, default) or classification (Zhang et al.: a distribution "
                         "over the ab bins of the sRGB gamut, rebalanced cross-entropy; needs --netD none)",
    "rebalance": "classification: lambda of the class rebalancing by the empirical prior (paper: 0.5)",
    "temperature": "classification: temperature of the annealed-mean decoding (paper: 0.38; 1: the mean)",
    "nz": "pix2pix/colorization: noise channels z broadcast and concatenated to the input (0: none)",
    "lambda_ms": "with --nz: weight of the mode-seeking term that keeps samples of one input apart (e.g. 1)",
    "ms_pool": "with --lambda_ms: compare samples averaged over KxK blocks, so pixel-level stripes earn no diversity",
    "single_pair": "pix2pix from one photo (DeepSIM; docs/one_image.md): the photo's path, instead of --dataroot",
    "primitive": "with --single_pair: the photo's primitive, a label map or drawing of it (default: its edges)",
    "primitive_edges": "with --primitive: also feed the photo's edges, as a 4th input channel",
    "augment": "with --single_pair: tps (one random thin-plate-spline warp of both images per sample) or none",
    "tps_grid": "TPS augmentation: control points per side",
    "tps_strength": "TPS augmentation: jitter of the control points (std, a fraction of the image side)",
    "max_seconds": "stop after this many seconds of training (a checkpoint is saved)",
}


def _add_train_flags(parser: argparse.ArgumentParser) -> None:
    hints = typing.get_type_hints(TrainConfig)
    for field in dataclasses.fields(TrainConfig):
        flag = f"--{field.name}"
        hint = hints[field.name]
        help_text = HELP.get(field.name, "")
        if hint is bool:
            if field.default:
                parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=True, help=help_text)
            else:
                parser.add_argument(flag, action="store_true", help=help_text)
            continue
        base = next((t for t in typing.get_args(hint) if t is not type(None)), hint)
        parser.add_argument(flag, type=base, default=field.default, help=help_text or None,
                            metavar=field.name.upper())
    parser.add_argument("--continue", "--continue_train", dest="continue_train", action="store_true",
                        help="resume the run in checkpoints_dir/name from its last checkpoint")
    parser.add_argument("--config", help="JSON file of options (flags given on the command line win)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def _train_config(args: argparse.Namespace, parser: argparse.ArgumentParser) -> TrainConfig:
    """Flags given on the command line win over a --config file, then over a resumed run's saved options."""
    names = [f.name for f in dataclasses.fields(TrainConfig)]
    values = {name: getattr(args, name) for name in names}
    defaults = {name: parser.get_default(name) for name in names}
    saved_run = Path(values["checkpoints_dir"]) / values["name"] / "train_config.json"
    sources = [Path(args.config)] if args.config else []
    if args.continue_train and saved_run.exists():
        sources.append(saved_run)
    for source in sources:
        for key, value in json.loads(source.read_text()).items():
            if key in values and values[key] == defaults[key]:
                values[key] = value
    if not values["dataroot"] and not values["single_pair"]:
        parser.error("--dataroot (or --single_pair PHOTO) is required")
    return TrainConfig(**values)


def cmd_train(args, parser) -> int:
    from .trainer import Trainer
    cfg = _train_config(args, parser)
    command = "python -m engine " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    trainer = Trainer(cfg, resume=args.continue_train, progress=not args.quiet, command=command)
    signal.signal(signal.SIGTERM, lambda *_: trainer.stop())
    try:
        model_dir = trainer.run()
    except KeyboardInterrupt:
        print("interrupted; resume with --continue", file=sys.stderr)
        return 130
    if trainer.is_main:
        print(f"model saved to {model_dir}")
    return 0


def cmd_translate(args, parser) -> int:
    from .data import find_images
    from .inference import Translator
    translator = Translator.from_dir(args.model_dir, device=args.device)
    inputs: list[Path] = []
    for item in args.inputs:
        path = Path(item)
        inputs += find_images(path) if path.is_dir() else [path]
    if not inputs:
        parser.error("no input images found")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    from tqdm.auto import tqdm
    failures = 0
    for path in tqdm(inputs, unit="img", disable=args.quiet):
        try:
            result = translator.translate(path, direction=args.direction, size=args.size,
                                          reference_mode=args.reference_mode)
        except ValueError as e:
            print(f"skipped {path}: {e}", file=sys.stderr)
            failures += 1
            continue
        result.save(out / f"{path.stem}.png")
    print(f"wrote {len(inputs) - failures} images to {out}" + (f" ({failures} skipped)" if failures else ""))
    return 1 if failures == len(inputs) else 0


def cmd_diversity(args, parser) -> int:
    from .diversity import sample_diversity
    metrics = sample_diversity(args.model_dir, args.dataroot, args.phase, count=args.count, size=args.size,
                               net_size=args.net_size, max_items=args.max_items, seed=args.seed, device=args.device)
    text = json.dumps(metrics, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")
    return 0


def cmd_evaluate(args, parser) -> int:
    from .checkpoint import CONFIG_FILE
    from .evaluate import describe_metrics, evaluate_dir
    config = Path(args.model_dir) / CONFIG_FILE
    if config.is_file() and ModelConfig.load(config).task == "stargan":
        from .evaluate_stargan import describe_stargan_metrics, evaluate_stargan
        metrics = evaluate_stargan(args.model_dir, args.dataroot, phase=args.phase, classifier=args.classifier,
                                   labels_csv=args.labels_csv, max_items=args.max_items, size=args.size)
        describe_metrics = describe_stargan_metrics
    else:
        metrics = evaluate_dir(args.model_dir, args.dataroot, phase=args.phase, max_items=args.max_items,
                               size=args.size or 256, direction=args.direction, classes=args.classes)
    text = json.dumps(metrics, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")
    if args.write_card:
        from .checkpoint import CARD_FILE
        card = Path(args.model_dir) / CARD_FILE
        classes = " --classes" if args.classes else ""
        told = ", each image's own class" if args.classes else ""
        line = (f"\nEvaluation on `{args.dataroot}` ({args.phase}{told}, {describe_metrics(metrics)}) "
                f"(`python -m engine evaluate --model_dir {args.model_dir} --dataroot {args.dataroot} "
                f"--phase {args.phase}{classes}`).\n")
        card.write_text((card.read_text() if card.is_file() else "") + line)
    return 0


def cmd_train_classifier(args, parser) -> int:
    from .domain_classifier import domain_accuracy, save_classifier, train_domain_classifier
    domains = [d for d in args.domains.split(",") if d] if args.domains else None
    model = train_domain_classifier(args.dataroot, args.labels_csv, domains=domains, steps=args.steps,
                                    batch_size=args.batch_size, seed=args.seed,
                                    on_log=lambda step, loss: print(f"step {step} loss {loss:.4f}", flush=True))
    out = save_classifier(model, args.out)
    print(f"saved {out} ({out.stat().st_size / 2**10:.0f} KiB)")
    if args.val_phase:
        print(json.dumps(domain_accuracy(model, args.dataroot, args.labels_csv, phase=args.val_phase), indent=2))
    return 0


def cmd_export(args, parser) -> int:
    from .checkpoint import CARD_FILE, load_model, save_model
    config, nets = load_model(args.model_dir, with_discriminators=not args.no_discriminators)
    for key in ("name", "description", "input_kind"):
        if getattr(args, key):
            setattr(config, key, getattr(args, key))
    card = Path(args.model_dir) / CARD_FILE
    out = save_model(args.out, config, nets, half=args.half, card=card.read_text() if card.is_file() else None)
    size = (out / "model.safetensors").stat().st_size / 2**20
    print(f"exported {args.model_dir} -> {out} ({size:.1f} MiB{', fp16' if args.half else ''})")
    return 0


def cmd_export_onnx(args, parser) -> int:
    from .onnx_export import export_onnx
    out = export_onnx(args.model_dir, args.out, size=args.size, opset=args.opset, dtype=args.dtype,
                      quantize_int8=args.int8, calibration=args.calibration, dynamic=args.dynamic,
                      generator=args.generator)
    precision = "int8" if args.int8 else args.dtype
    print(f"exported {args.model_dir} -> {out} ({out.stat().st_size / 2**20:.1f} MiB, {precision})")
    return 0


def cmd_import(args, parser) -> int:
    from .checkpoint import import_official
    config = ModelConfig(task=args.model, netG=args.netG, ngf=args.ngf, norm=args.norm,
                         use_dropout=not args.no_dropout, input_nc=args.input_nc, output_nc=args.output_nc,
                         direction=args.direction, name=args.name or Path(args.out).name,
                         input_kind=args.input_kind, crop_size=args.crop_size, load_size=args.crop_size,
                         color_space="lab" if args.model == "colorization" else "rgb")
    out = import_official(args.path, args.out, config)
    print(f"imported {args.path} -> {out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m engine", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser("train", help="train a pix2pix, CycleGAN, colorization or StarGAN model")
    _add_train_flags(train)
    train.set_defaults(run=cmd_train, subparser=train)

    translate = sub.add_parser("translate", help="run a trained model on images or folders")
    translate.add_argument("inputs", nargs="+", help="image files or folders")
    translate.add_argument("--model_dir", required=True, help="model directory (model.safetensors + config.json)")
    translate.add_argument("--out", default="results", help="output folder")
    translate.add_argument("--direction", default="AtoB", choices=["AtoB", "BtoA"], help="CycleGAN direction")
    translate.add_argument("--size", type=int, help="resize to SIZE x SIZE for the network (default: native size)")
    translate.add_argument("--reference_mode", action="store_true",
                           help="as the reference's test.py: BatchNorm batch statistics and dropout on")
    translate.add_argument("--device", default="auto")
    translate.add_argument("--quiet", action="store_true")
    translate.set_defaults(run=cmd_translate, subparser=translate)

    evaluate = sub.add_parser("evaluate", help="L1, PSNR and Lab histogram intersection against ground truth")
    evaluate.add_argument("--model_dir", required=True)
    evaluate.add_argument("--dataroot", required=True)
    evaluate.add_argument("--phase", default="val")
    evaluate.add_argument("--direction", choices=["AtoB", "BtoA"], help="default: the model's own")
    evaluate.add_argument("--size", type=int, help="resize to SIZE x SIZE (default: 256; stargan: its crop size)")
    evaluate.add_argument("--max_items", type=int)
    evaluate.add_argument("--classifier", help="stargan: a domain classifier (python -m engine train-classifier)")
    evaluate.add_argument("--labels_csv", help="stargan: the labels CSV (default: the folder's only .csv)")
    evaluate.add_argument("--classes", action="store_true",
                          help="a model with a class input (pix2pix --labels_csv): tell it each image's class from "
                               "the labels CSV it trained with (default: no class, the model chooses)")
    evaluate.add_argument("--json", help="also write the metrics to this file")
    evaluate.add_argument("--write_card", action="store_true", help="append the metrics to the model card")
    evaluate.set_defaults(run=cmd_evaluate, subparser=evaluate)

    diversity = sub.add_parser("diversity", help="several samples per input: mean pairwise L1 and Lab histogram "
                                                 "intersection (noise z, or dropout alone)")
    diversity.add_argument("--model_dir", required=True)
    diversity.add_argument("--dataroot", required=True)
    diversity.add_argument("--phase", default="val")
    diversity.add_argument("--count", type=int, default=4, help="samples per input")
    diversity.add_argument("--size", type=int, default=128, help="photos are resized to SIZE x SIZE")
    diversity.add_argument("--net_size", type=int, help="the network runs at this size (default: SIZE)")
    diversity.add_argument("--max_items", type=int, default=100)
    diversity.add_argument("--seed", type=int, default=0)
    diversity.add_argument("--device", default="cpu")
    diversity.add_argument("--json", help="also write the metrics to this file")
    diversity.set_defaults(run=cmd_diversity, subparser=diversity)

    classifier = sub.add_parser("train-classifier", help="train a small domain classifier (for stargan evaluation)")
    classifier.add_argument("--dataroot", required=True, help="labelled images in DATAROOT/train (or DATAROOT)")
    classifier.add_argument("--out", required=True, help="the .safetensors file to write")
    classifier.add_argument("--labels_csv", help="default: the folder's only .csv; none: one subfolder per domain")
    classifier.add_argument("--domains", help="comma-separated labels (default: all, sorted)")
    classifier.add_argument("--steps", type=int, default=400)
    classifier.add_argument("--batch_size", type=int, default=64)
    classifier.add_argument("--seed", type=int, default=0)
    classifier.add_argument("--val_phase", default="val", help="report the accuracy on this split ('' : none)")
    classifier.set_defaults(run=cmd_train_classifier, subparser=classifier)

    export = sub.add_parser("export", help="copy a trained model directory, e.g. in fp16 for embedding")
    export.add_argument("model_dir")
    export.add_argument("--out", required=True)
    export.add_argument("--half", action="store_true", help="store floating-point tensors in fp16")
    export.add_argument("--no_discriminators", action="store_true", help="keep only the generators")
    export.add_argument("--name", default="")
    export.add_argument("--description", default="")
    export.add_argument("--input_kind", default="", help="photo | edges | labels | gray")
    export.set_defaults(run=cmd_export, subparser=export)

    onnx = sub.add_parser("export-onnx", help="export a model's generator to ONNX (needs onnx, onnxruntime)")
    onnx.add_argument("model_dir")
    onnx.add_argument("--out", required=True, help="the .onnx file to write")
    onnx.add_argument("--size", type=int, help="input side (default: the model's crop_size)")
    onnx.add_argument("--dynamic", action="store_true", help="any input height and width (multiples of the net's)")
    onnx.add_argument("--dtype", default="fp32", choices=["fp32", "fp16"])
    onnx.add_argument("--int8", action="store_true", help="static int8 quantisation, calibrated on --calibration")
    onnx.add_argument("--calibration", nargs="+", default=[], help="images or folders of the model's input kind")
    onnx.add_argument("--generator", choices=["G", "G_A", "G_B"], help="default: G, or G_A for CycleGAN")
    onnx.add_argument("--opset", type=int, default=17)
    onnx.set_defaults(run=cmd_export_onnx, subparser=onnx)

    imp = sub.add_parser("import-official", help="convert a reference .pth generator into a model directory")
    imp.add_argument("path", help="e.g. latest_net_G.pth of a published model")
    imp.add_argument("--out", required=True, help="model directory to write")
    imp.add_argument("--model", default="cycle_gan", choices=["pix2pix", "cycle_gan", "colorization"])
    imp.add_argument("--netG", default="resnet_9blocks")
    imp.add_argument("--ngf", type=int, default=64)
    imp.add_argument("--norm", default="instance", choices=["batch", "instance", "none"])
    imp.add_argument("--no_dropout", action="store_true")
    imp.add_argument("--input_nc", type=int, default=3)
    imp.add_argument("--output_nc", type=int, default=3)
    imp.add_argument("--direction", default="AtoB", choices=["AtoB", "BtoA"])
    imp.add_argument("--input_kind", default="photo")
    imp.add_argument("--crop_size", type=int, default=256)
    imp.add_argument("--name", default="")
    imp.set_defaults(run=cmd_import, subparser=imp)

    from .space_deploy import register_cli as register_deploy_cli
    from .zoo import register_cli
    register_cli(sub)
    register_deploy_cli(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args, args.subparser)
    except (ValueError, RuntimeError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
