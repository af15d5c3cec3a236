"""The app's settings from the environment: folders (weights, runs, uploads, datasets) and what a hosted
demo allows. The bottom layer of demos/: it imports no other demos module and not gradio.

- `I2I_WEIGHTS_DIR`: folder of models (default: the repository's `weights/`; set, it bypasses engine.zoo)
- `I2I_RUNS_DIR`: where training runs go (default: the repository's `runs/`)
- `I2I_UPLOADS_DIR`: where uploaded dataset archives are extracted (default: `$I2I_RUNS_DIR/_uploads`)
- `I2I_DATA_ROOTS`: folders (os.pathsep-separated) that dataset paths must lie in (default:
  `$I2I_SHARED/datasets` or `../shared/datasets`, and the repository's `data/`); the uploads folder and
  the named-dataset cache (`I2I_DATASETS_DIR`) are always allowed too
- `SPACE_ID` (set on Hugging Face Spaces) disables training unless `I2I_ENABLE_TRAINING=1`, and dataset
  folders typed as paths unless `I2I_ALLOW_LOCAL_DATA=1`; `I2I_ENABLE_TRAINING=0` disables training anywhere
"""
from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
WEIGHTS_ENV = "I2I_WEIGHTS_DIR"
DEFAULT_DATASET_MB = 500   # the largest dataset archive accepted where training is on (I2I_MAX_DATASET_MB)


def training_enabled() -> tuple[bool, str]:
    """(whether training jobs may run here, why not)."""
    flag = os.environ.get("I2I_ENABLE_TRAINING", "").strip()
    if flag == "0":
        return False, "Training is disabled on this server (I2I_ENABLE_TRAINING=0)."
    if os.environ.get("SPACE_ID") and flag != "1":
        return False, ("Training is disabled on this hosted demo (it would need a GPU and hours). "
                       "Clone the repository and run `python app.py` on your own machine to train.")
    return True, ""


def local_data_allowed() -> tuple[bool, str]:
    """Dataset folders typed as server paths: refused on a hosted demo unless I2I_ALLOW_LOCAL_DATA=1."""
    if os.environ.get("SPACE_ID") and os.environ.get("I2I_ALLOW_LOCAL_DATA", "").strip() != "1":
        return False, ("dataset folders on the server are disabled on this hosted demo: upload a zip or choose "
                       "a named dataset (I2I_ALLOW_LOCAL_DATA=1 enables folders)")
    return True, ""


def weights_dir() -> Path:
    return Path(os.environ.get(WEIGHTS_ENV) or REPO / "weights").expanduser()


def runs_dir() -> Path:
    return Path(os.environ.get("I2I_RUNS_DIR") or REPO / "runs").expanduser().resolve()


def uploads_dir() -> Path:
    raw = os.environ.get("I2I_UPLOADS_DIR", "").strip()
    return Path(raw).expanduser().resolve() if raw else runs_dir() / "_uploads"


def datasets_dir() -> Path:
    """The named-dataset cache of engine.datasets_hub ($I2I_DATASETS_DIR, else the repository's data/)."""
    from engine.datasets_hub import datasets_dir as hub_dir
    return hub_dir().resolve()


def data_roots() -> list[Path]:
    """The folders dataset paths must lie in (resolved, without duplicates)."""
    raw = os.environ.get("I2I_DATA_ROOTS", "").strip()
    if raw:
        roots = [Path(p).expanduser() for p in raw.split(os.pathsep) if p.strip()]
    else:
        shared = Path(os.environ.get("I2I_SHARED") or REPO.parent / "shared")
        roots = [shared / "datasets", REPO / "data"]
    unique: list[Path] = []
    for root in [r.resolve() for r in roots] + [uploads_dir(), datasets_dir()]:
        if root not in unique:
            unique.append(root)
    return unique
