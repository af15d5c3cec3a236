"""`python -m engine` commands of the zoo: list-models, download-model, download-dataset, push."""
from __future__ import annotations

import json

from .datasets_hub import download_dataset
from .hub import push_to_hub
from .zoo_base import TABS, TASKS
from .zoo_models import download_model, list_models


def _cmd_list(args, parser) -> int:
    entries = list_models(task=args.task, tab=args.tab, include_remote=not args.offline)
    if args.json:
        print(json.dumps([e.to_dict() for e in entries], indent=2, ensure_ascii=False))
        return 0
    width = max((len(e.name) for e in entries), default=4)
    for e in entries:
        where = ("embedded" if e.source == "embedded" else "cached") if e.available_offline else "download"
        print(f"{e.name:<{width}}  {e.task:<12} {e.tab or '-':<8} {where:<8}  {e.title}")
    if not entries:
        print("no models match")
    return 0


def _cmd_download_model(args, parser) -> int:
    path = download_model(args.name, show_progress=not args.quiet, force=args.force)
    print(f"{args.name}: {path}")
    return 0


def _cmd_download_dataset(args, parser) -> int:
    path = download_dataset(args.name, kind=args.kind, root=args.root, show_progress=not args.quiet)
    print(f"{args.name} ({args.kind}): {path}")
    return 0


def _cmd_push(args, parser) -> int:
    url = push_to_hub(args.model_dir, args.repo_id, token=args.token, private=args.private,
                      commit_message=args.message)
    print(f"pushed {args.model_dir} to {url}")
    return 0


def register_cli(subparsers) -> None:
    """Add list-models, download-model, download-dataset and push to `python -m engine`."""
    p = subparsers.add_parser("list-models", help="models of the zoo (embedded, cached, downloadable)")
    p.add_argument("--task", choices=TASKS)
    p.add_argument("--tab", choices=TABS)
    p.add_argument("--offline", action="store_true", help="only models usable without a network")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=_cmd_list, subparser=p)

    p = subparsers.add_parser("download-model", help="download and convert a published model into the cache")
    p.add_argument("name", help="e.g. style_monet (see list-models)")
    p.add_argument("--force", action="store_true", help="download again even when cached")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=_cmd_download_model, subparser=p)

    p = subparsers.add_parser("download-dataset", help="download an official pix2pix / CycleGAN dataset")
    p.add_argument("name", help="e.g. facades, edges2shoes, horse2zebra")
    p.add_argument("--kind", default="pix2pix", choices=["pix2pix", "cycle_gan"])
    p.add_argument("--root", help="where datasets go (default $I2I_DATASETS_DIR or data/)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=_cmd_download_dataset, subparser=p)

    p = subparsers.add_parser("push", help="upload a model directory to the Hugging Face Hub")
    p.add_argument("model_dir")
    p.add_argument("repo_id", help="owner/name")
    p.add_argument("--private", action="store_true")
    p.add_argument("--token", help="default: the logged-in token / HF_TOKEN")
    p.add_argument("--message", help="commit message")
    p.set_defaults(run=_cmd_push, subparser=p)
