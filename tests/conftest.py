"""Shared test setup: offline environment, paths to ../shared fixtures and datasets."""
import os
from pathlib import Path

import pytest

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("I2I_SHARED", REPO.parent / "shared"))
FIXTURES = SHARED / "fixtures" / "official"
DATASETS = SHARED / "datasets"


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    if not FIXTURES.is_dir():
        pytest.fail(f"reference fixtures not found at {FIXTURES} (set I2I_SHARED)")
    return FIXTURES


@pytest.fixture(scope="session")
def datasets_dir() -> Path:
    if not DATASETS.is_dir():
        pytest.fail(f"datasets not found at {DATASETS} (set I2I_SHARED)")
    return DATASETS


@pytest.fixture(scope="module")
def client(server):
    """A gradio_client Client for the module's in-process `server` fixture ({"url", "tmp"})."""
    from gradio_client import Client

    return Client(server["url"], verbose=False, download_files=str(server["tmp"] / "downloads"))
