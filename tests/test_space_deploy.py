"""`python -m engine deploy-space`: which files a Space gets, which go through LFS, and a whole deploy
against a fake Hub on 127.0.0.1 (tests/fake_hub.py): create, variables, preupload, LFS batch + PUT +
verify, commit, deletion of stale files. Nothing leaves the machine."""
import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine import space_deploy
from engine.space_deploy import HOSTED_VARIABLES, deploy_space, space_files
from engine.zoo_base import ZooError
from fake_hub import FakeHub

REPO = Path(__file__).resolve().parents[1]
README = "---\ntitle: Studio\nsdk: gradio\napp_file: app.py\n---\n\n# Studio\n\n![sheet](docs/images/sheet.png)\n"


def write(root: Path, rel: str, data: bytes | str) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


@pytest.fixture
def app_tree(tmp_path):
    """A small copy of the repository's layout, with everything a deploy must leave out."""
    root = tmp_path / "studio"
    files = {
        "README.md": README, "app.py": "print('app')\n", "requirements.txt": "gradio>=6,<7\n",
        "demos/__init__.py": "", "demos/common.py": "X = 1\n", "engine/zoo.py": "Y = 2\n",
        "engine/recipes/base.py": "Z = 3\n", "engine/catalog.json": "{}\n", "docs/zoo.md": "# zoo\n",
        "weights/manifest.json": '{"models": []}\n', "weights/small/config.json": "{}\n",
        "weights/small/model.safetensors": b"\x08\x00\x00\x00\x00\x00\x00\x00{}      " + bytes(2000),
        "weights/big/config.json": "{}\n",
        # text-like (no NUL byte in the first 8000 bytes) but over 10 MB: LFS by size alone
        "weights/big/model.safetensors": b"x" * 9000 + os.urandom(11 * 1000 * 1000),
        "docs/images/sheet.png": b"\x89PNG\r\n\x1a\n\x00" + os.urandom(500),    # named by README.md
        "docs/images/unused.png": b"\x89PNG\r\n\x1a\n\x00" + os.urandom(500),
    }
    left_out = ["runs/job/state.pt", "runs/job/model/model.safetensors", ".venv/lib/site.py", "tests/test_x.py",
                "benchmarks/out.json", "demos/__pycache__/common.cpython-311.pyc", "engine/zoo.pyc", ".git/HEAD",
                ".cache/huggingface/x", "data/facades/a.png", "weights/.manifest.json.tmp", "scripts/run.sh",
                "weights/big/.model.safetensors.part", "notes.txt"]
    for rel, data in files.items():
        write(root, rel, data)
    for rel in left_out:
        write(root, rel, b"\0left out")
    return root, files, left_out


def test_the_selection_leaves_out_runs_venv_tests_and_caches(app_tree):
    root, files, left_out = app_tree
    selected = {f.path: f for f in space_files(root)}
    assert sorted(selected) == sorted(p for p in files if p != "docs/images/unused.png")
    assert not set(selected) & set(left_out)
    assert {p for p, f in selected.items() if f.lfs} == {"weights/small/model.safetensors",
                                                         "weights/big/model.safetensors", "docs/images/sheet.png"}
    assert selected["weights/big/model.safetensors"].size == len(files["weights/big/model.safetensors"])


def test_the_repositorys_own_selection():
    selected = {f.path: f for f in space_files(REPO)}
    for needed in ("app.py", "requirements.txt", "README.md", "demos/common.py", "demos/settings.py",
                   "demos/static/live_canvas.js", "demos/static/live_canvas.css",
                   "engine/zoo.py", "engine/catalog.json", "engine/recipes/pix2pix.py", "weights/manifest.json",
                   "demos/assets/chelsea.jpg"):
        assert needed in selected, needed
    weights = [p for p in selected if p.endswith("model.safetensors")]
    assert weights and all(p.startswith("weights/") and selected[p].lfs for p in weights)
    assert all(f.lfs for f in selected.values() if f.size > space_deploy.LFS_MIN_BYTES)
    assert not [p for p in selected if p.startswith(("runs/", ".venv/", "tests/", "benchmarks/", ".git/", "data/"))
                or "__pycache__" in p or p.endswith(".pyc")]
    assert not [f for f in selected.values() if f.path.endswith((".py", ".md", ".json")) and f.lfs]


def test_dry_run_lists_files_sizes_and_lfs_offline():
    result = subprocess.run([sys.executable, "-m", "engine", "deploy-space", "me/studio", "--dry-run",
                             "--variable", "I2I_MAX_SIDE=768"], cwd=REPO, capture_output=True, text=True,
                            timeout=120, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    listed = {line.split()[-1]: line.split()[0] for line in lines if line.startswith(("LFS ", "git "))}
    assert listed == {f.path: "LFS" if f.lfs else "git" for f in space_files(REPO)}
    assert any("through LFS" in line for line in lines)
    assert "I2I_ENABLE_TRAINING=0" in result.stdout and "I2I_MAX_SIDE=768" in result.stdout
    assert lines[-1] == "dry run: nothing was uploaded"


@pytest.fixture
def hub(monkeypatch):
    import huggingface_hub.constants

    hub = FakeHub()
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_DISABLE_XET", True)   # the LFS path, not Xet
    yield hub
    hub.stop()


def test_deploy_uploads_the_selection_large_files_through_lfs(app_tree, hub):
    root, files, _ = app_tree
    url = deploy_space("me/studio", token="hf_test", private=True, root=root, endpoint=hub.url,
                       variables={"I2I_MAX_SIDE": "768"})
    assert url == f"{hub.url}/spaces/me/studio"
    space = hub.spaces["me/studio"]
    assert space["create"]["type"] == "space" and space["create"]["sdk"] == "gradio"
    assert space["create"].get("private") is True or space["create"].get("visibility") == "private"
    assert space["variables"] == {**HOSTED_VARIABLES, "I2I_MAX_SIDE": "768"}
    assert hub.authorizations == {"Bearer hf_test"}

    expected = {f.path: (root / f.path).read_bytes() for f in space_files(root)}
    assert {p: d for p, d in space["files"].items() if p != ".gitattributes"} == expected
    lfs = {f.path for f in space_files(root) if f.lfs}
    assert {p for p, mode in hub.upload_modes.items() if mode == "lfs"} == lfs     # our prediction = the Hub's
    (commit,) = hub.commits
    committed = {line["value"]["path"]: line["key"] for line in commit if line["key"] in ("file", "lfsFile")}
    assert {p for p, key in committed.items() if key == "lfsFile"} == lfs           # by reference, not inline
    big = files["weights/big/model.safetensors"]
    assert hub.lfs_objects[hashlib.sha256(big).hexdigest()] == big                 # the bytes went by LFS PUT
    assert not any(len(line["value"].get("content", "")) > 100_000 for line in commit)


def test_redeploy_updates_the_space_and_deletes_stale_files(app_tree, hub):
    root, _, _ = app_tree
    deploy_space("me/studio", token="hf_test", root=root, endpoint=hub.url)
    hub.spaces["me/studio"]["files"]["weights/old/model.safetensors"] = b"stale"
    write(root, "app.py", "print('app v2')\n")
    (root / "weights/small/model.safetensors").unlink()
    deploy_space("me/studio", token="hf_test", root=root, endpoint=hub.url)          # the Space exists: 409, fine
    files = hub.spaces["me/studio"]["files"]
    assert files["app.py"] == b"print('app v2')\n" and ".gitattributes" in files
    assert "weights/old/model.safetensors" not in files and "weights/small/model.safetensors" not in files
    assert len(hub.commits) == 2


def test_deploy_refuses_offline_and_without_spaces_metadata(app_tree, hub, monkeypatch):
    root, _, _ = app_tree
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ZooError, match="offline"):
        deploy_space("me/studio", root=root, endpoint=hub.url)
    monkeypatch.delenv("HF_HUB_OFFLINE")
    write(root, "README.md", "# Studio\n")
    with pytest.raises(ZooError, match="sdk: gradio"):
        deploy_space("me/studio", root=root, endpoint=hub.url)
    assert hub.spaces == {} and not hub.server.requests


def test_hub_errors_are_one_line_zoo_errors(app_tree, hub):
    root, _, _ = app_tree
    hub.server.routes.insert(0, ("POST", r"/api/repos/create",
                                 lambda *a: (401, "application/json", b'{"error": "Invalid credentials"}')))
    with pytest.raises(ZooError, match="deploy to me/studio failed") as info:
        deploy_space("me/studio", token="hf_bad", root=root, endpoint=hub.url)
    assert "\n" not in str(info.value)
