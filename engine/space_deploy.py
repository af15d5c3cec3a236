"""Publish the app to a Hugging Face Space: its files (large and binary ones through LFS) and the
settings of a hosted demo.

    python -m engine deploy-space USER/SPACE --dry-run     # the files, their sizes, which go through LFS
    python -m engine deploy-space USER/SPACE [--private] [--token T] [--variable KEY=VALUE]

The Space gets app.py, requirements.txt, README.md (its Spaces metadata), demos/, engine/, weights/,
docs/*.md and the small images README.md names; never runs/, data/, tests/, benchmarks/, caches,
virtual environments or hidden files. `HfApi.upload_folder` sends files over 10 MB and binary files
through LFS (or Xet, its successor), which a Space needs: it rejects such files in plain git. The
upload mirrors the selection: files the Space holds but the selection does not are deleted (except
.gitattributes). Space variables switch the app to hosted mode (`HOSTED_VARIABLES`). The engine never
imports gradio; this module only copies the app's files.
"""
from __future__ import annotations

import fnmatch
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .zoo_base import REPO, ZooError, is_offline, offline_reason

INCLUDE = ("app.py", "requirements.txt", "README.md", "demos/*.py", "demos/static/*", "demos/assets/*",
           "engine/*.py", "engine/*.json", "weights/*", "docs/*.md")
EXCLUDE = (".*", "*/.*", "__pycache__/*", "*/__pycache__/*", "*.pyc", "*.part", "*.partial", "*.tmp",
           "runs/*", "data/*", "tests/*", "benchmarks/*", "scripts/*", ".venv/*", "venv/*", "*.egg-info/*")
LFS_MIN_BYTES = 10 * 1000 * 1000      # a Space refuses larger files outside LFS
MAX_README_IMAGE_BYTES = 1 << 20      # README images larger than this stay home
README_IMAGE = re.compile(r"docs/images/[\w.-]+\.(?:png|jpe?g|gif|webp|svg)")
BINARY_SAMPLE = 8000                  # bytes looked at for a NUL byte, as git does

# Space variables of a hosted demo on the free CPU Space (2 vCPU, 16 GB). SPACE_ID, which the Space
# sets itself, already turns training and server-side dataset folders off (demos/settings.py).
HOSTED_VARIABLES = {
    "I2I_ENABLE_TRAINING": "0",       # no training jobs on a shared 2-vCPU machine
    "I2I_MAX_UPLOAD_MB": "25",        # uploads are photos and drawings, not dataset archives
    "I2I_TORCH_THREADS": "2",         # the Space's vCPUs; torch would size its pool by the host's cores
    "GRADIO_SERVER_NAME": "0.0.0.0",  # listen beyond localhost (the Space's proxy connects from outside)
    "GRADIO_SSR_MODE": "false",       # client-side rendering, as tested: no Node server to start
}


@dataclass(frozen=True)
class SpaceFile:
    """One file of the Space: its path in the repository (and the Space), size, and whether LFS carries it."""

    path: str
    size: int
    lfs: bool


def _matches(path: str, patterns) -> bool:
    return any(fnmatch.fnmatchcase(path, pattern) for pattern in patterns)


def _is_binary(path: Path) -> bool:
    with open(path, "rb") as f:
        return b"\0" in f.read(BINARY_SAMPLE)


def needs_lfs(path: Path, size: int) -> bool:
    """True for a file a Space accepts through LFS only: over 10 MB, or binary (a NUL byte near its start)."""
    return size > LFS_MIN_BYTES or _is_binary(path)


def readme_images(root: Path) -> list[str]:
    """The images under docs/images/ that README.md names and that are at most 1 MB."""
    readme = root / "README.md"
    text = readme.read_text(encoding="utf-8") if readme.is_file() else ""
    found = sorted(set(README_IMAGE.findall(text)))
    return [p for p in found if (root / p).is_file() and (root / p).stat().st_size <= MAX_README_IMAGE_BYTES]


def space_files(root: str | Path = REPO) -> list[SpaceFile]:
    """The files a Space of the app needs, sorted by path (INCLUDE and README images, minus EXCLUDE)."""
    root = Path(root)
    extra = set(readme_images(root))
    selected = []
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = Path(dirpath).relative_to(root).as_posix()
        prefix = "" if rel_dir == "." else f"{rel_dir}/"
        dirnames[:] = sorted(d for d in dirnames if not _matches(f"{prefix}{d}/", EXCLUDE))
        for name in filenames:
            rel = f"{prefix}{name}"
            path = root / rel
            if path.is_symlink() or not path.is_file() or _matches(rel, EXCLUDE):
                continue
            if _matches(rel, INCLUDE) or rel in extra:
                size = path.stat().st_size
                selected.append(SpaceFile(rel, size, needs_lfs(path, size)))
    return sorted(selected, key=lambda f: f.path)


def check_space_readme(root: str | Path = REPO) -> None:
    """ZooError unless README.md opens with the Spaces metadata a Gradio Space needs (sdk, app_file)."""
    readme = Path(root) / "README.md"
    text = readme.read_text(encoding="utf-8") if readme.is_file() else ""
    header = text.split("---", 2)[1] if text.startswith("---") and text.count("---") >= 2 else ""
    fields = dict(line.split(":", 1) for line in header.splitlines() if ":" in line)
    if fields.get("sdk", "").strip() != "gradio" or fields.get("app_file", "").strip() != "app.py":
        raise ZooError(f"{readme} needs a Spaces metadata header (---, sdk: gradio, app_file: app.py, ---)")


def _size(n: int) -> str:
    if n < 1000:
        return f"{n} B"
    return f"{n / 1000:.1f} kB" if n < 1000 * 1000 else f"{n / 1000 / 1000:.1f} MB"


def describe(files: list[SpaceFile], repo_id: str, variables: dict[str, str]) -> str:
    """The dry-run report: one line per file (LFS or git, size, path), totals, the Space variables."""
    lfs = [f for f in files if f.lfs]
    lines = [f"{'LFS' if f.lfs else 'git':<4} {_size(f.size):>9}  {f.path}" for f in files]
    lines.append(f"{len(files)} files, {_size(sum(f.size for f in files))} for Space {repo_id}; "
                 f"{len(lfs)} through LFS ({_size(sum(f.size for f in lfs))}): over 10 MB or binary")
    lines.append("Space variables: " + ", ".join(f"{k}={v}" for k, v in variables.items()))
    return "\n".join(lines)


def _stage(root: Path, files: list[SpaceFile], staging: Path) -> None:
    """Hard links (copies across file systems) of exactly `files` under `staging`."""
    for f in files:
        target = staging / f.path
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(root / f.path, target)
        except OSError:
            shutil.copy2(root / f.path, target)


def deploy_space(repo_id: str, *, token: str | None = None, private: bool = False, root: str | Path = REPO,
                 variables: dict[str, str] | None = None, endpoint: str | None = None) -> str:
    """Create (or update) the Gradio Space `repo_id` with the app's files and hosted-mode variables; its URL.

    `variables` are added to HOSTED_VARIABLES (and win). `endpoint` is the Hub's address (default:
    huggingface.co or $HF_ENDPOINT). Raises ZooError offline, without Spaces metadata in README.md, or
    when the Hub refuses (e.g. no token: log in with `hf auth login` or pass a token).
    """
    from huggingface_hub import HfApi
    from huggingface_hub.utils import HfHubHTTPError

    root = Path(root)
    if is_offline():
        raise ZooError(f"cannot deploy to {repo_id}: this machine is offline ({offline_reason()})")
    check_space_readme(root)
    files = space_files(root)
    settings = {**HOSTED_VARIABLES, **(variables or {})}
    api = HfApi(endpoint=endpoint, token=token)
    try:
        url = api.create_repo(repo_id, repo_type="space", space_sdk="gradio", private=private, exist_ok=True)
        for key, value in settings.items():   # before the upload, so that the first start has them
            api.add_space_variable(repo_id, key, value)
        with tempfile.TemporaryDirectory(prefix="i2i-space-") as staging:
            _stage(root, files, Path(staging))
            api.upload_folder(repo_id=repo_id, repo_type="space", folder_path=staging, delete_patterns="*",
                              commit_message="Deploy the image-to-image studio")
    except HfHubHTTPError as e:
        raise ZooError(f"deploy to {repo_id} failed: {' '.join(str(e).split())}") from e
    return str(url)


def _cmd_deploy(args, parser) -> int:
    variables = {}
    for item in args.variable:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            parser.error(f"--variable takes KEY=VALUE, got {item!r}")
        variables[key.strip()] = value
    check_space_readme()
    settings = {**HOSTED_VARIABLES, **variables}
    print(describe(space_files(), args.repo_id, settings))
    if args.dry_run:
        print("dry run: nothing was uploaded")
        return 0
    url = deploy_space(args.repo_id, token=args.token, private=args.private, variables=variables)
    print(f"deployed to {url} (the Space builds and starts in a few minutes)")
    return 0


def register_cli(subparsers) -> None:
    """Add deploy-space to `python -m engine`."""
    p = subparsers.add_parser("deploy-space", help="publish the app to a Hugging Face Space")
    p.add_argument("repo_id", help="USER/SPACE")
    p.add_argument("--token", help="a write token (default: the logged-in token / HF_TOKEN)")
    p.add_argument("--private", action="store_true", help="create the Space private")
    p.add_argument("--dry-run", action="store_true", help="list the files, sizes and LFS use; upload nothing")
    p.add_argument("--variable", action="append", default=[], metavar="KEY=VALUE",
                   help="another Space variable (repeatable; wins over the hosted-mode defaults)")
    p.set_defaults(run=_cmd_deploy, subparser=p)
