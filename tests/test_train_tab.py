"""The Train tab: datasets from a folder, an uploaded zip or a name; the job queue; resume; trained models in
the other tabs' pickers; download and push; one-line errors for hostile inputs. The app runs in-process
(as in test_app_api.py) with an empty weights folder, so every model in a picker comes from a run here."""
import io
import json
import os
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from conftest import DATASETS, REPO
from app_harness import running_app

if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

gradio = pytest.importorskip("gradio")
from gradio_client import handle_file  # noqa: E402
from gradio_client.exceptions import AppError  # noqa: E402
from PIL import Image  # noqa: E402

FACADES = DATASETS / "facades"
TINY = dict(task="pix2pix", preset="CPU-tiny", ngf=4, crop_size=64, net_g="unet_6", direction="BtoA", batch_size=1)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("train_tab")
    (tmp / "weights").mkdir()
    (tmp / "data").mkdir()
    env = {"I2I_WEIGHTS_DIR": str(tmp / "weights"), "I2I_RUNS_DIR": str(tmp / "runs"),
           "I2I_DATA_ROOTS": os.pathsep.join([str(DATASETS), str(tmp / "data")]),
           "I2I_DATASETS_DIR": str(tmp / "cache"), "I2I_TRAIN_THREADS": "1"}
    env.update(dict.fromkeys(("SPACE_ID", "I2I_ENABLE_TRAINING", "I2I_ALLOW_LOCAL_DATA", "I2I_UPLOADS_DIR",
                              "I2I_MAX_DATASET_MB")))
    with running_app(env) as (url, _):
        yield {"url": url, "tmp": tmp}


def _png(seed: int, size=(128, 64)) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG")
    return buffer.getvalue()


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def _one_line(excinfo, *fragments) -> str:
    message = str(excinfo.value)
    assert "\n" not in message and "Traceback" not in message and 0 < len(message) <= 300, message
    for fragment in fragments:
        assert fragment in message, message
    return message


def _status(client) -> dict:
    return client.predict(api_name="/train_status")[0]


def _wait(client, until, timeout=120.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = _status(client)
        if until(status):
            return status
        time.sleep(0.3)
    raise AssertionError(f"training never got there; last status: {json.dumps(status)}")


def _events(run_dir: Path, kind: str) -> list[dict]:
    lines = (run_dir / "app_events.jsonl").read_text().splitlines()
    return [e for e in map(json.loads, lines) if e.get("type") == kind]


def test_hostile_inputs_give_one_line_errors(server, client, monkeypatch, tmp_path):
    from demos.settings import runs_dir, uploads_dir
    from demos.train import train_start

    def refused(*fragments, **kwargs):
        with pytest.raises(gradio.Error) as excinfo:
            train_start(**{**TINY, "max_steps": 2, **kwargs})
        return _one_line(excinfo, *fragments)

    before = sorted(p.name for p in runs_dir().iterdir()) if runs_dir().is_dir() else []
    good = {f"mini/train/{i}.png": _png(i) for i in range(3)}
    archives = {
        "traversal.zip": ({**good, "../escape.png": _png(9)}, "outside"),
        "absolute.zip": ({**good, "/tmp/i2i_abs_escape.png": _png(9)}, "absolute path"),
        "bomb.zip": ({"mini/train/0.png": _png(0), "mini/bomb.bin": bytes(8 << 20)}, "more than"),
        "noimages.zip": ({"mini/readme.txt": b"no pictures here"}, "no images"),
    }
    monkeypatch.setenv("I2I_MAX_DATASET_MB", "1")   # archives may expand to 4 MB: the 8 MB member is a bomb
    for filename, (members, fragment) in archives.items():
        refused(fragment, dataset_zip=str(_zip(tmp_path / filename, members)))
    (tmp_path / "empty.zip").write_bytes(b"")
    refused("empty (0 bytes)", dataset_zip=str(tmp_path / "empty.zip"))
    (tmp_path / "notes.zip").write_text("this is a text file, not an archive\n" * 20)
    refused("neither a zip nor a tar", dataset_zip=str(tmp_path / "notes.zip"))
    monkeypatch.setenv("I2I_MAX_DATASET_MB", "0.01")
    refused("the limit is", "I2I_MAX_DATASET_MB", dataset_zip=str(tmp_path / "traversal.zip"))
    monkeypatch.delenv("I2I_MAX_DATASET_MB")
    with pytest.raises(AppError) as excinfo:   # the same through the API, as an upload
        client.predict(dataset_zip=handle_file(tmp_path / "traversal.zip"), api_name="/train_start", **TINY)
    _one_line(excinfo, "outside")

    link = server["tmp"] / "data" / "link_to_etc"
    link.symlink_to("/etc")
    for path in ("/etc", "../../", "../../../../etc", str(link)):
        refused("dataset folder must be inside", dataroot=path)
    refused("dataset folder not found", dataroot=str(server["tmp"] / "data" / "missing"))
    refused("offline", dataset_name="maps")
    refused("unknown pix2pix dataset", dataset_name="../../etc")

    nan, inf = float("nan"), float("inf")
    for kwargs, fragment in [
        (dict(lr=-1), "lr must be between"), (dict(lr=nan), "finite"), (dict(lr=inf), "finite"),
        (dict(batch_size=0), "batch_size must be between"), (dict(batch_size=2.5), "whole number"),
        (dict(crop_size=128, load_size=64), "crop_size 128 is larger than load_size 64"),
        (dict(ngf=0), "ngf must be between"), (dict(ngf="nan"), "finite"), (dict(ngf="wide"), "must be a number"),
        (dict(max_steps=10**12), "max_steps must be between"), (dict(max_steps=-5), "max_steps"),
        (dict(crop_size=100000), "crop_size must be between"), (dict(lambda_l1=nan), "finite"),
        (dict(task="gan"), "unknown task"), (dict(net_g="unet_999"), "unknown netG"),
        (dict(net_g="resnet_100000blocks"), "unknown netG"), (dict(net_g="unet_256"), "too small"),
        (dict(net_d="huge"), "netD must be one of"), (dict(n_layers_d=9), "n_layers_D"),
        (dict(direction="sideways"), "direction"), (dict(preset="GPU-huge"), "unknown preset"),
        (dict(derive="magic"), "derive"),
    ]:
        refused(fragment, dataroot=str(FACADES), **kwargs)

    # hosted: training off unless enabled; then server folders off unless I2I_ALLOW_LOCAL_DATA=1
    monkeypatch.setenv("SPACE_ID", "someone/studio")
    refused("Training is disabled", dataroot=str(FACADES))
    monkeypatch.setenv("I2I_ENABLE_TRAINING", "1")
    refused("disabled on this hosted demo", "I2I_ALLOW_LOCAL_DATA", dataroot=str(FACADES))
    monkeypatch.setenv("I2I_ALLOW_LOCAL_DATA", "1")
    refused("dataset folder not found", dataroot=str(server["tmp"] / "data" / "missing"))

    after = sorted(p.name for p in runs_dir().iterdir()) if runs_dir().is_dir() else []
    assert after == before or after == sorted(before + ["_uploads"]), "a refused start left a run folder"
    assert not uploads_dir().is_dir() or not any(uploads_dir().iterdir()), "a refused archive left files behind"
    assert not (uploads_dir().parent / "escape.png").exists() and not Path("/tmp/i2i_abs_escape.png").exists()


def test_zip_queue_cancel_resume_and_trained_model_in_pickers(server, client, tmp_path):
    from demos.models import picker, registry
    from demos.settings import uploads_dir
    from demos.training import manager

    pairs = {f"facades_mini/train/{i}.png": _png(i) for i in range(6)}
    archive = _zip(tmp_path / "facades_mini.zip", pairs)
    first, *_ = client.predict(dataset_zip=handle_file(archive), name="zipjob", max_steps=100000,
                               api_name="/train_start", **TINY)
    assert first["name"] == "zipjob" and first["state"] in ("starting", "running"), first
    zip_run = Path(first["run_dir"])
    dataroot = Path(json.loads((zip_run / "app_job.json").read_text())["dataroot"])
    assert dataroot.name == "facades_mini" and uploads_dir() in dataroot.parents
    assert sorted(p.name for p in (dataroot / "train").iterdir()) == sorted(Path(n).name for n in pairs)

    second, *_ = client.predict(dataset_name="facades", name="second", max_steps=2, api_name="/train_start", **TINY)
    third, *_ = client.predict(dataroot=str(FACADES), name="third", max_steps=2, api_name="/train_start", **TINY)
    assert (second["state"], second["position"], third["state"], third["position"]) == ("queued", 1, "queued", 2)
    assert [q["name"] for q in _status(client)["queue"]] == ["second", "third"]
    cancelled, *_ = client.predict(name="third", api_name="/train_stop")
    assert cancelled["state"] == "cancelled" and not Path(third["run_dir"]).exists()
    assert [q["name"] for q in _status(client)["queue"]] == ["second"]
    assert "zipjob" not in manager.resumable_runs()

    running = _wait(client, lambda s: s["name"] == "zipjob" and s["state"] == "running" and s["step"] >= 5)
    assert running["queue"] == [{"name": "second", "task": "pix2pix", "position": 1}]
    client.predict(api_name="/train_stop")
    _wait(client, lambda s: s["name"] == "second")          # the queue moves on by itself
    stopped_at = _events(zip_run, "done")[-1]
    assert stopped_at["stopped"] and stopped_at["step"] >= 5
    step = stopped_at["step"]

    # the stopped run's checkpoint is a model of the facade tab (labels -> photo), and resumable
    labels = [label for label, _ in picker("facade")["choices"]]
    assert "zipjob (trained here)" in labels and not picker("sketch")["choices"]
    assert "zipjob" in manager.resumable_runs()
    resumed, *_ = client.predict(run="zipjob", max_steps=step + 3, api_name="/train_resume")
    assert resumed["state"] == "queued" and resumed["position"] == 1, resumed
    done = _wait(client, lambda s: s["name"] == "zipjob" and s["state"] in ("done", "failed", "stopped"))
    assert done["state"] == "done" and done["step"] == step + 3 and done["resumed"], done
    assert done["tab"] == "facade"
    starts = _events(zip_run, "start")
    assert [s["step"] for s in starts] == [0, step], "the resumed job did not start from the checkpoint"
    second_done = _events(Path(second["run_dir"]), "done")[-1]
    assert second_done["step"] == 2 and second_done["time"] < starts[-1]["time"], "the queue is not first in, first out"
    assert {e.name for e in registry.models("facade")} >= {"zipjob", "second"}

    photo = client.predict(handle_file(_labels_png(tmp_path)), "zipjob", api_name="/facade")
    assert Image.open(photo).size == (96, 80)

    path = client.predict("zipjob", api_name="/train_download")
    with zipfile.ZipFile(path) as zf:
        assert sorted(zf.namelist()) == ["zipjob/README.md", "zipjob/config.json", "zipjob/model.safetensors"]
        assert json.loads(zf.read("zipjob/config.json"))["training"]["steps"] == step + 3
        assert zf.read("zipjob/model.safetensors") == (zip_run / "model" / "model.safetensors").read_bytes()
    with pytest.raises(AppError) as excinfo:
        client.predict("zipjob", "me/zipjob", "", api_name="/train_push")
    _one_line(excinfo, "push to me/zipjob failed", "offline")
    with pytest.raises(AppError) as excinfo:
        client.predict("nope", api_name="/train_download")
    _one_line(excinfo, "has no exported model")


def _labels_png(tmp_path: Path) -> Path:
    path = tmp_path / "labels.png"
    path.write_bytes(_png(42, size=(96, 80)))
    return path


def test_push_to_hub_uploads_the_model(server, monkeypatch):
    from huggingface_hub import HfApi

    from demos.runs import push_model
    from demos.settings import runs_dir
    from engine import ModelConfig, save_model

    cfg = ModelConfig(task="pix2pix", netG="unet_128", ngf=4, name="pushme")
    save_model(runs_dir() / "pushme" / "model", cfg, {"G": cfg.build_generator()}, card="# pushme\n")
    uploads = {}
    monkeypatch.setattr(HfApi, "create_repo", lambda self, repo_id, **kw: f"https://huggingface.co/{repo_id}")
    monkeypatch.setattr(HfApi, "upload_folder", lambda self, **kw: uploads.update(
        {p.name: p.read_bytes() for p in Path(kw["folder_path"]).iterdir()}))
    with pytest.raises(ValueError, match="owner/name"):
        push_model("pushme", "not a repo id", "hf_x")
    with pytest.raises(ValueError, match="offline"):
        push_model("pushme", "me/pushme", "hf_x")
    assert not uploads
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    assert push_model("pushme", "me/pushme", "hf_x") == "https://huggingface.co/me/pushme"
    assert sorted(uploads) == ["README.md", "config.json", "model.safetensors"]
    assert "# pushme" in uploads["README.md"].decode()
