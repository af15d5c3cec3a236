"""Training runs on disk (`$I2I_RUNS_DIR/NAME/`): their exported models, where those show up, a zip of
one, a push to the Hub, and the loss curves of metrics.jsonl."""
from __future__ import annotations

import json
import re
import tempfile
import zipfile
from pathlib import Path

from .models import tab_for
from .settings import runs_dir


def list_runs() -> list[Path]:
    """The run folders of runs_dir(), newest first."""
    root = runs_dir()
    if not root.is_dir():
        return []
    runs = [p for p in root.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))]
    return sorted(runs, key=lambda p: p.stat().st_mtime, reverse=True)


def _is_model_dir(path: Path) -> bool:
    return (path / "config.json").is_file() and (path / "model.safetensors").is_file()


def trained_models() -> list[str]:
    """Runs with an exported model (`runs/NAME/model/`), newest first."""
    return [run.name for run in list_runs() if _is_model_dir(run / "model")]


def run_model_dir(name: str) -> Path:
    """The exported model of run `name` (one of trained_models(); ValueError otherwise)."""
    name = (name or "").strip()
    if name not in trained_models():
        raise ValueError(f"run {name!r} has no exported model in {runs_dir()}; choose one of the trained models")
    return runs_dir() / name / "model"


def model_tab(model_dir: str | Path) -> str | None:
    """The tab where a trained model shows up (sketch, facade, colorize, style), None when none fits."""
    try:
        config = json.loads((Path(model_dir) / "config.json").read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(config, dict):
        return None
    return tab_for(config.get("task", ""), config.get("input_kind", ""),
                   f"{config.get('name', '')} {config.get('description', '')}")


def model_zip(name: str) -> Path:
    """A zip of run `name`'s model: `NAME/` with model.safetensors, config.json and README.md (the card)."""
    model = run_model_dir(name)
    out = Path(tempfile.mkdtemp(prefix="i2i-model-")) / f"{name}_model.zip"
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for filename in ("model.safetensors", "config.json", "README.md"):
            if (model / filename).is_file():
                zf.write(model / filename, f"{name}/{filename}")
    return out


def push_model(name: str, repo_id: str, token: str = "") -> str:
    """Upload run `name`'s model to the Hugging Face Hub (`engine.zoo.push_to_hub`); the repository URL."""
    from engine import zoo

    model = run_model_dir(name)
    repo_id = (repo_id or "").strip()
    if not re.fullmatch(r"[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*", repo_id):
        raise ValueError(f"the repository id must look like owner/name, got {repo_id!r}")
    try:
        return zoo.push_to_hub(model, repo_id, token=(token or "").strip() or None)
    except (zoo.ZooError, OSError, ImportError) as e:
        raise ValueError(f"push to {repo_id} failed: {e}") from None


def read_metrics(run_dir: str | Path | None, max_points: int = 2000) -> list[dict]:
    """metrics.jsonl as long-format rows {step, loss, value} for a line plot (thinned to max_points steps)."""
    if not run_dir:
        return []
    path = Path(run_dir) / "metrics.jsonl"
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return []
    records = []
    for line in lines:
        try:
            records.append(json.loads(line))
        except ValueError:
            continue
    if len(records) > max_points:
        stride = -(-len(records) // max_points)
        records = records[::stride] + ([records[-1]] if (len(records) - 1) % stride else [])
    skip = {"step", "epoch", "lr", "sec_per_step", "elapsed"}
    rows = []
    for record in records:
        for key, value in record.items():
            if key not in skip and isinstance(value, (int, float)):
                rows.append({"step": record.get("step", 0), "loss": key, "value": float(value)})
    return rows
