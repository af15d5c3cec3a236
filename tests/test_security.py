"""Security checks: nothing unpickles untrusted data, the app serves only its own files (even when
GRADIO_ALLOWED_PATHS is set too wide), handlers never read server files named by a client, and a
hosted demo (SPACE_ID) does not train."""
import ast
import os
import sys
from pathlib import Path

import pytest

from conftest import DATASETS, REPO
from app_harness import make_tiny_models, running_app

if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

pytest.importorskip("gradio")
import httpx  # noqa: E402
from gradio_client import Client, handle_file  # noqa: E402
from gradio_client.exceptions import AppError  # noqa: E402
from PIL import Image  # noqa: E402

SOURCES = [REPO / "app.py", *sorted((REPO / "engine").rglob("*.py")), *sorted((REPO / "demos").rglob("*.py"))]
PICKLE_MODULES = {"pickle", "cPickle", "_pickle", "dill", "joblib", "cloudpickle"}


def _unsafe_loads(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, call) of every call that can unpickle: pickle-family load(s)/Unpickler, pandas read_pickle,
    torch.load without weights_only=True, numpy load without allow_pickle=False."""
    found = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        owner = node.func.value.id if isinstance(node.func.value, ast.Name) else ""
        name = node.func.attr
        keywords = {k.arg: k.value for k in node.keywords}

        def constant(key):
            value = keywords.get(key)
            return value.value if isinstance(value, ast.Constant) else None

        unsafe = ((owner in PICKLE_MODULES and name in ("load", "loads", "Unpickler"))
                  or name == "read_pickle"
                  or (owner == "torch" and name == "load" and constant("weights_only") is not True)
                  or (owner in ("np", "numpy") and name == "load" and constant("allow_pickle") is not False))
        if unsafe:
            found.append((node.lineno, f"{owner}.{name}"))
    return found


def test_the_unpickling_check_catches_each_pattern():
    code = ("torch.load(p)\ntorch.load(p, weights_only=False)\ntorch.load(p, weights_only=flag)\n"
            "pickle.load(f)\npickle.loads(b)\nnp.load(p)\nnumpy.load(p, allow_pickle=True)\npd.read_pickle(p)\n"
            "torch.load(p, map_location='cpu', weights_only=True)\nnp.load(p, allow_pickle=False)\n")
    assert [line for line, _ in _unsafe_loads(ast.parse(code))] == list(range(1, 9))


def test_no_code_path_unpickles_untrusted_data():
    assert len(SOURCES) > 10
    offenders = [f"{path.relative_to(REPO)}:{line}: {call}" for path in SOURCES
                 for line, call in _unsafe_loads(ast.parse(path.read_text(), str(path)))]
    assert not offenders, "calls that can unpickle untrusted data:\n" + "\n".join(offenders)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("security")
    runs = tmp / "runs"
    (runs / "job").mkdir(parents=True)
    (runs / "job" / "state.pt").write_bytes(b"private training state")
    (tmp / "public").mkdir()
    (tmp / "public" / "note.txt").write_text("a file the operator chose to share")
    env = {"I2I_WEIGHTS_DIR": str(make_tiny_models(tmp / "weights")), "I2I_RUNS_DIR": str(runs)}
    env.update(dict.fromkeys(("I2I_DATA_ROOTS", "SPACE_ID", "I2I_ENABLE_TRAINING", "GRADIO_ALLOWED_PATHS",
                              "GRADIO_BLOCKED_PATHS")))
    with running_app(env) as (url, demo):
        yield {"url": url.rstrip("/"), "tmp": tmp, "demo": demo}


def _dataset_file() -> Path | None:
    """Some file of the shared datasets (the default dataset root), if they are here."""
    for root, _, names in os.walk(DATASETS):
        if names:
            return Path(root) / sorted(names)[0]
    return None


def _private_files(server) -> list[Path]:
    files = [REPO / "engine" / "zoo.py", REPO / "app.py", REPO / "weights" / "manifest.json",
             server["tmp"] / "runs" / "job" / "state.pt", _dataset_file()]
    return [path for path in files if path is not None and path.is_file()]


def _get(server, path: str) -> httpx.Response:
    return httpx.get(server["url"] + path, timeout=30)


def _refused(response: httpx.Response, secret: str = "") -> bool:
    return response.status_code in (403, 404) and (not secret or secret not in response.text)


TRAVERSALS = ["/gradio_api/file=/etc/passwd", "/file=/etc/passwd", "/gradio_api/file/etc/passwd",
              "/gradio_api/file=../../../../../../etc/passwd", "/gradio_api/file=%2Fetc%2Fpasswd",
              "/gradio_api/file=..%2F..%2F..%2F..%2F..%2F..%2Fetc%2Fpasswd",
              "/gradio_api/file=%252Fetc%252Fpasswd", "/gradio_api/file=....//....//....//etc/passwd",
              "/gradio_api/file=/proc/self/environ", "/gradio_api/file=engine/zoo.py",
              "/gradio_api/file=weights/manifest.json", "/gradio_api/file=./app.py",
              "/gradio_api/file=file:///etc/passwd", "/gradio_api/file=http://127.0.0.1:1/",
              "/static/../../../../etc/passwd", "/assets/..%2F..%2F..%2Fetc%2Fpasswd"]


@pytest.mark.parametrize("path", TRAVERSALS)
def test_file_route_refuses_server_files(server, path):
    response = _get(server, path)
    assert _refused(response, "root:"), (path, response.status_code, response.text[:200])


def test_own_source_runs_weights_and_datasets_are_never_served(server, monkeypatch):
    """By default Gradio serves only its uploads and outputs. Even with GRADIO_ALLOWED_PATHS set to the
    folder above the repository (a plausible mistake), launch's blocked_paths keep the repository,
    runs/ and the datasets private, while an allowed file elsewhere is served (the check can fail)."""
    private = _private_files(server)
    assert len(private) >= 4
    for path in private:
        assert _refused(_get(server, f"/gradio_api/file={path}")), path
    monkeypatch.setattr(server["demo"], "allowed_paths", [str(REPO.parent), str(server["tmp"])])
    for path in private:
        for route in (f"/gradio_api/file={path}", f"/gradio_api/file={path.parent}/../{path.parent.name}/{path.name}"):
            response = _get(server, route)
            assert _refused(response), (route, response.status_code)
    shared = _get(server, f"/gradio_api/file={server['tmp'] / 'public' / 'note.txt'}")
    assert shared.status_code == 200 and "operator chose" in shared.text


def test_blocked_paths_cover_repo_runs_weights_and_data(monkeypatch, tmp_path):
    import app

    monkeypatch.setenv("I2I_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("I2I_WEIGHTS_DIR", str(tmp_path / "weights"))
    monkeypatch.setenv("I2I_DATA_ROOTS", os.pathsep.join([str(tmp_path / "data"), str(DATASETS)]))
    monkeypatch.setenv("GRADIO_BLOCKED_PATHS", str(tmp_path / "extra"))
    blocked = app.launch_kwargs()["blocked_paths"]
    for folder in (REPO, tmp_path / "runs", tmp_path / "weights", tmp_path / "data", DATASETS, tmp_path / "extra"):
        assert str(folder.resolve()) in blocked, (folder, blocked)
    monkeypatch.setenv("I2I_DATA_ROOTS", "/")   # would block every upload: left out
    assert "/" not in app.launch_kwargs()["blocked_paths"]


def _call_raw(server, api: str, data: list) -> str:
    """The event stream of one call through Gradio's plain HTTP API (no gradio_client checks)."""
    posted = httpx.post(f"{server['url']}/gradio_api/call/{api}", json={"data": data}, timeout=30)
    posted.raise_for_status()
    return httpx.get(f"{server['url']}/gradio_api/call/{api}/{posted.json()['event_id']}", timeout=60).text


@pytest.mark.parametrize("target", ["/etc/passwd", str(REPO / "weights" / "manifest.json"), "../../etc/passwd"])
def test_handlers_never_read_server_files_named_by_a_client(server, target):
    """A FileData input pointing at a server path is refused before the handler runs."""
    stream = _call_raw(server, "sketch", [{"path": target, "meta": {"_type": "gradio.FileData"}}, ""])
    assert "event: error" in stream and "root:" not in stream, stream[:300]
    assert "not a recognized image" not in stream, "the handler opened a server file: " + stream[:300]


def test_the_app_serves_its_own_outputs(server):
    drawing = server["tmp"] / "drawing.png"
    Image.new("RGB", (64, 64), "white").save(drawing)
    client = Client(server["url"], verbose=False, download_files=False)
    output = client.predict(handle_file(str(drawing)), api_name="/sketch")
    url = output["url"] if isinstance(output, dict) else output
    assert httpx.get(url, timeout=30).status_code == 200


def test_hosted_mode_does_not_train(server, monkeypatch):
    from demos.training import training_enabled

    monkeypatch.delenv("I2I_ENABLE_TRAINING", raising=False)
    monkeypatch.setenv("SPACE_ID", "someone/studio")
    enabled, why = training_enabled()
    assert enabled is False and "disabled" in why
    client = Client(server["url"], verbose=False, download_files=False)
    with pytest.raises(AppError, match="disabled"):
        client.predict(api_name="/train_start")
    monkeypatch.setenv("I2I_ENABLE_TRAINING", "0")
    assert training_enabled()[0] is False
    monkeypatch.delenv("SPACE_ID")
    assert training_enabled()[0] is False
    monkeypatch.delenv("I2I_ENABLE_TRAINING")
    assert training_enabled()[0] is True
