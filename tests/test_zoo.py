"""Model zoo: manifest and catalogue, download + convert + cache, offline behaviour, Hub push/load.

Every download goes to a local HTTP server on 127.0.0.1 (I2I_OFFICIAL_BASE_URL); nothing leaves the machine.
"""
import argparse
import hashlib
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from engine import ModelConfig, Translator, official, save_model, zoo, zoo_models
from engine.networks import define_G
from local_http import FileServer

OFFICIAL_PATH = "/cyclegan/pretrained_models/tiny_style.pth"


def tiny_generator():
    torch.manual_seed(0)
    return define_G(3, 3, 4, "resnet_6blocks", "instance", False)


@pytest.fixture(scope="module")
def reference_pth():
    """A reference-style checkpoint: torch.save(net.state_dict()) of a tiny CycleGAN generator."""
    net = tiny_generator()
    buffer = io.BytesIO()
    torch.save(net.state_dict(), buffer)
    return net.eval(), buffer.getvalue()


TINY_ENTRY = {
    "name": "tiny_style", "source": "official", "task": "cycle_gan", "tab": "style", "title": "Tiny style",
    "family": "cyclegan", "official_name": "tiny_style",
    "url": "http://efrosgans.eecs.berkeley.edu" + OFFICIAL_PATH,
    "architecture": {"netG": "resnet_6blocks", "ngf": 4, "norm": "instance", "use_dropout": False,
                     "input_nc": 3, "output_nc": 3},
    "direction": "AtoB", "input_kind": "photo", "output_kind": "painting", "input_size": 64,
    "license": "test only",
}


@pytest.fixture
def env(tmp_path, monkeypatch, reference_pth):
    """An isolated zoo: its own manifest (one tiny official entry), cache, and a local file server."""
    server = FileServer()
    server.files[OFFICIAL_PATH] = reference_pth[1]
    weights = tmp_path / "weights"
    weights.mkdir()
    (weights / "manifest.json").write_text(json.dumps({"format_version": 1, "models": [dict(TINY_ENTRY)]}))
    monkeypatch.setenv("I2I_MANIFEST", str(weights / "manifest.json"))
    monkeypatch.setenv("I2I_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("I2I_OFFICIAL_BASE_URL", server.url)
    for name in ("HF_HUB_OFFLINE", "I2I_OFFLINE", "I2I_HUB_MIRROR"):
        monkeypatch.delenv(name, raising=False)
    zoo.clear_memory_cache()
    yield argparse.Namespace(server=server, weights=weights, cache=tmp_path / "cache", tmp=tmp_path,
                             manifest=weights / "manifest.json")
    zoo.clear_memory_cache()
    server.stop()


def set_entry(env, **changes):
    data = json.loads(env.manifest.read_text())
    data["models"][0].update(changes)
    env.manifest.write_text(json.dumps(data))


def photo(width=40, height=30, seed=0):
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))


def cache_contents(env):
    return sorted(p.name for p in env.cache.iterdir()) if env.cache.exists() else []


# -- import, catalogue, manifest ---------------------------------------------------------------------
def test_import_is_lazy():
    code = "import sys, engine.zoo; print('torch' in sys.modules, 'huggingface_hub' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=zoo.REPO).stdout.split()
    assert out == ["False", "False"]


def test_catalog_has_the_published_models():
    entries = {e["name"]: e for e in zoo.catalog_entries()}
    cyclegan = {n for n, e in entries.items() if e["family"] == "cyclegan"}
    assert cyclegan == {"style_monet", "style_cezanne", "style_ukiyoe", "style_vangogh", "horse2zebra", "zebra2horse",
                        "monet2photo", "apple2orange", "orange2apple", "summer2winter_yosemite",
                        "winter2summer_yosemite", "facades_label2photo", "facades_photo2label", "map2sat", "sat2map",
                        "cityscapes_photo2label", "cityscapes_label2photo", "iphone2dslr_flower"}
    pix2pix = {e["official_name"] for e in entries.values() if e["family"] == "pix2pix"}
    assert pix2pix == {"edges2shoes", "facades_label2photo", "sat2map", "map2sat", "day2night"}
    monet = entries["style_monet"]
    assert monet["url"] == "http://efrosgans.eecs.berkeley.edu/cyclegan/pretrained_models/style_monet.pth"
    assert monet["architecture"]["netG"] == "resnet_9blocks" and monet["architecture"]["norm"] == "instance"
    assert monet["architecture"]["use_dropout"] is False and monet["task"] == "cycle_gan"
    shoes = entries["pix2pix_edges2shoes"]
    assert shoes["url"] == "http://efrosgans.eecs.berkeley.edu/pix2pix/models-pytorch/edges2shoes.pth"
    assert shoes["architecture"]["netG"] == "unet_256" and shoes["architecture"]["norm"] == "batch"
    assert shoes["architecture"]["use_dropout"] is True and shoes["input_kind"] == "edges" and shoes["tab"] == "sketch"
    assert entries["pix2pix_facades_label2photo"]["direction"] == "BtoA"
    for entry in entries.values():
        assert entry["tab"] in zoo.TABS and entry["task"] in zoo.TASKS and entry["description"]


def test_shipped_manifest_lists_the_catalogue():
    data = zoo.read_manifest(zoo.DEFAULT_MANIFEST)
    official = [m for m in data["models"] if m.get("source") == "official"]
    assert official == zoo.catalog_entries(), "weights/manifest.json is stale: run zoo.sync_manifest()"
    names = [m["name"] for m in data["models"]]
    assert len(names) == len(set(names))
    for item in data["models"]:
        assert item.get("path") or item.get("source") in ("official", "hub")


def test_names_and_aliases(env):
    assert zoo.get_entry("edges2shoes").name == "pix2pix_edges2shoes"
    assert zoo.get_entry("pix2pix/sat2map").name == "pix2pix_sat2map"
    assert zoo.get_entry("sat2map").family == "cyclegan"
    with pytest.raises(zoo.UnknownModel, match="nope"):
        zoo.load("nope")


def test_list_models_filters(env):
    everything = zoo.list_models()
    assert everything[0].name == "tiny_style" and len(everything) == 1 + len(zoo.catalog_entries())
    pix2pix = zoo.list_models(task="pix2pix")
    assert {e.name for e in pix2pix} == {"pix2pix_edges2shoes", "pix2pix_facades_label2photo", "pix2pix_sat2map",
                                         "pix2pix_map2sat", "pix2pix_day2night"}
    assert all(e.task == "cycle_gan" for e in zoo.list_models(task="cycle_gan"))
    assert [e.name for e in zoo.list_models(tab="sketch")] == ["pix2pix_edges2shoes"]
    assert {e.name for e in zoo.list_models(tab="facade")} == {"facades_label2photo", "pix2pix_facades_label2photo"}
    assert {e.name for e in zoo.list_models(task="pix2pix", tab="facade")} == {"pix2pix_facades_label2photo"}
    assert zoo.list_models(include_remote=False) == []
    assert not any(e.available_offline for e in everything)
    with pytest.raises(ValueError, match="tab"):
        zoo.list_models(tab="nope")
    with pytest.raises(ValueError, match="task"):
        zoo.list_models(task="nope")


# -- download, convert, caches -----------------------------------------------------------------------
def test_download_convert_load_translate_and_caches(env, reference_pth):
    net, data = reference_pth
    translator = zoo.load("tiny_style", device="cpu")
    assert isinstance(translator, Translator) and translator.config.netG == "resnet_6blocks"
    assert env.server.requests == [OFFICIAL_PATH]
    out = translator.translate(photo())
    assert out.size == (40, 30) and out.mode == "RGB"
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        expected = net(x)
    torch.testing.assert_close(translator.translate_tensor(x), expected, atol=1e-5, rtol=1e-4)

    model_dir = env.cache / "tiny_style"
    assert cache_contents(env) == ["tiny_style"]
    assert sorted(p.name for p in model_dir.iterdir()) == ["README.md", "config.json", "model.safetensors"]
    config = json.loads((model_dir / "config.json").read_text())
    assert config["training"]["download_sha256"] == hashlib.sha256(data).hexdigest()
    assert config["load_size"] == config["crop_size"] == 64

    assert zoo.load("tiny_style", device="cpu") is translator          # memory cache
    entry = zoo.get_entry("tiny_style")
    assert entry.available_offline and entry.path == model_dir
    assert [e.name for e in zoo.list_models(include_remote=False)] == ["tiny_style"]

    env.server.stop()                                                  # disk cache, no network
    zoo.clear_memory_cache()
    again = zoo.load("tiny_style", device="cpu")
    assert again is not translator
    torch.testing.assert_close(again.translate_tensor(x), expected, atol=1e-5, rtol=1e-4)
    assert env.server.requests == [OFFICIAL_PATH]


def test_disk_cache_is_used_by_a_new_process(env):
    zoo.download_model("tiny_style", show_progress=False)
    env.server.stop()
    code = ("from PIL import Image; from engine import zoo; t = zoo.load('tiny_style', device='cpu'); "
            "print(t.translate(Image.new('RGB', (20, 10))).size)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=zoo.REPO,
                            env={**os.environ, "I2I_OFFLINE": "1"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "(20, 10)"


def test_progress_callback(env, reference_pth):
    calls = []
    path = zoo.download_model("tiny_style", progress=lambda done, total: calls.append((done, total)),
                              show_progress=False)
    size = len(reference_pth[1])
    assert path == env.cache / "tiny_style"
    assert calls and calls[-1] == (size, size)
    assert all(a[0] < b[0] for a, b in zip(calls, calls[1:]))


@pytest.mark.parametrize("variable", ["HF_HUB_OFFLINE", "I2I_OFFLINE"])
def test_offline_with_empty_cache(env, monkeypatch, variable):
    monkeypatch.setenv(variable, "1")
    for name in ("style_monet", "tiny_style"):
        with pytest.raises(zoo.ModelUnavailable, match=name) as info:
            zoo.load(name, device="cpu")
        message = str(info.value)
        assert "\n" not in message and "offline" in message
        assert f"python -m engine download-model {name}" in message and str(env.cache / name) in message
    assert env.server.requests == [] and cache_contents(env) == []


def test_unreachable_server_is_unavailable(env, monkeypatch):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("I2I_OFFICIAL_BASE_URL", f"http://127.0.0.1:{port}")
    with pytest.raises(zoo.ModelUnavailable, match="tiny_style.*cannot reach 127.0.0.1"):
        zoo.load("tiny_style", device="cpu")
    assert cache_contents(env) == []


def test_checksum_mismatch_caches_nothing(env, reference_pth):
    set_entry(env, download_sha256="0" * 64)
    with pytest.raises(zoo.ChecksumError, match="sha256"):
        zoo.load("tiny_style", device="cpu")
    assert cache_contents(env) == []
    set_entry(env, download_sha256=hashlib.sha256(reference_pth[1]).hexdigest())
    assert zoo.load("tiny_style", device="cpu").config.name == "tiny_style"


def test_truncated_download_caches_nothing(env):
    env.server.truncate.add(OFFICIAL_PATH)
    with pytest.raises(zoo.DownloadError, match="truncated"):
        zoo.load("tiny_style", device="cpu")
    assert cache_contents(env) == []


def test_http_error_is_a_download_error(env):
    del env.server.files[OFFICIAL_PATH]
    with pytest.raises(zoo.DownloadError, match="404") as info:
        zoo.download_model("tiny_style", show_progress=False)
    assert not isinstance(info.value, zoo.ModelUnavailable)
    assert cache_contents(env) == []


def test_wrong_architecture_is_a_clear_error(env):
    set_entry(env, architecture={**TINY_ENTRY["architecture"], "ngf": 8})
    with pytest.raises(zoo.DownloadError, match="does not fit"):
        zoo.download_model("tiny_style", show_progress=False)
    assert cache_contents(env) == []


def test_hub_mirror(env, monkeypatch, tmp_path, reference_pth):
    mirrored = tmp_path / "mirror" / "tiny_style.pth"
    mirrored.parent.mkdir()
    mirrored.write_bytes(reference_pth[1])
    calls = []

    def fake_mirror(repo_id, filename, local_only):
        calls.append((repo_id, filename, local_only))
        return mirrored

    monkeypatch.setattr(official, "_mirror_file", fake_mirror)
    monkeypatch.setenv("I2I_HUB_MIRROR", "someone/cyclegan-mirror")
    assert zoo.load("tiny_style", device="cpu").config.training["url"] == "hf://someone/cyclegan-mirror/tiny_style.pth"
    assert calls == [("someone/cyclegan-mirror", "tiny_style.pth", False)] and env.server.requests == []


def test_concurrent_loads_build_once(env, monkeypatch):
    builds = []
    original = zoo_models.load_translator

    def slow_build(*args):
        builds.append(threading.get_ident())
        time.sleep(0.3)
        return original(*args)

    monkeypatch.setattr(zoo_models, "load_translator", slow_build)
    barrier = threading.Barrier(4)
    results, errors = [], []

    def worker():
        barrier.wait()
        try:
            results.append(zoo.load("tiny_style", device="cpu"))
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(results) == 4
    assert len(builds) == 1 and all(r is results[0] for r in results)
    assert env.server.requests == [OFFICIAL_PATH]


# -- embedded models -------------------------------------------------------------------------------
def make_model_dir(path, name="sketchy", **overrides):
    options = dict(task="pix2pix", netG="unet_128", ngf=4, norm="batch", use_dropout=True, netD="basic", ndf=4,
                   input_kind="edges", crop_size=128, name=name)
    options.update(overrides)
    config = ModelConfig(**options)
    torch.manual_seed(0)
    nets = {"G": config.build_generator("G"), "D": config.build_discriminator("D")}
    return save_model(path, config, nets, card=f"# {name}\n")


def test_embedded_model_via_add_to_manifest(env, monkeypatch):
    model_dir = make_model_dir(env.weights / "sketchy")
    entry = zoo.add_to_manifest(model_dir, manifest_file=env.manifest, title="Sketchy shoes", license="CC-BY-4.0")
    digest = hashlib.sha256((model_dir / "model.safetensors").read_bytes()).hexdigest()
    assert entry["sha256"] == digest and entry["path"] == "sketchy" and entry["tab"] == "sketch"
    assert entry["architecture"]["receptive_field"] == 70 and entry["architecture"]["discriminator_included"]
    assert entry["input_size"] == 128 and entry["source"] == "embedded"
    zoo.add_to_manifest(model_dir, manifest_file=env.manifest, title="Sketchy v2")   # update in place
    models = json.loads(env.manifest.read_text())["models"]
    assert [m["name"] for m in models] == ["sketchy", "tiny_style"] and models[0]["title"] == "Sketchy v2"
    retrained = zoo.add_to_manifest(model_dir, manifest_file=env.manifest)   # a re-trained model keeps its words
    assert retrained["title"] == "Sketchy v2" and retrained["license"] == "CC-BY-4.0"

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")                                    # embedded models work offline
    offline = zoo.list_models(include_remote=False)
    assert [e.name for e in offline] == ["sketchy"] and offline[0].path == model_dir and offline[0].title == "Sketchy v2"
    translator = zoo.load("sketchy", device="cpu", with_discriminators=True)
    assert sorted(translator.nets) == ["D", "G"] and translator.translate(photo(33, 17)).size == (33, 17)
    assert env.server.requests == []

    zoo.clear_memory_cache()                                                      # a changed file is caught
    with open(model_dir / "model.safetensors", "r+b") as f:
        f.seek(-4, 2)
        f.write(b"\x00\x01\x02\x03")
    with pytest.raises(zoo.ChecksumError, match="sketchy"):
        zoo.load("sketchy", device="cpu")


def test_add_to_manifest_rejects_bad_input(env, tmp_path):
    with pytest.raises(zoo.ZooError, match="not a model directory"):
        zoo.add_to_manifest(tmp_path, manifest_file=env.manifest)
    model_dir = make_model_dir(tmp_path / "elsewhere", name="outside")
    with pytest.raises(ValueError, match="unknown manifest fields"):
        zoo.add_to_manifest(model_dir, manifest_file=env.manifest, colour="red")
    entry = zoo.add_to_manifest(model_dir, manifest_file=env.manifest, tab="facade")
    assert entry["path"] == str(model_dir.resolve()) and entry["tab"] == "facade"
    published = json.loads(env.manifest.read_text())["models"][-1]
    assert published["source"] != "embedded"
    before = env.manifest.read_text()
    with pytest.raises(zoo.ZooError, match="another name"):   # an embedded model never replaces a published one
        zoo.add_to_manifest(model_dir, manifest_file=env.manifest, name=published["name"])
    assert env.manifest.read_text() == before


def test_missing_embedded_model_is_unavailable(env):
    data = json.loads(env.manifest.read_text())
    data["models"].insert(0, {"name": "ghost", "task": "pix2pix", "tab": "sketch", "path": "ghost"})
    env.manifest.write_text(json.dumps(data))
    assert not zoo.get_entry("ghost").available_offline
    with pytest.raises(zoo.ModelUnavailable, match="ghost"):
        zoo.load("ghost", device="cpu")


# -- Hugging Face Hub ------------------------------------------------------------------------------
def fill_hf_cache(cache, repo_id, model_dir, commit="0123456789abcdef0123456789abcdef01234567"):
    """The documented HF cache layout: models--owner--name/{refs/main, snapshots/<commit>/files}."""
    storage = cache / ("models--" + repo_id.replace("/", "--"))
    snapshot = storage / "snapshots" / commit
    snapshot.mkdir(parents=True)
    for name in ("model.safetensors", "config.json", "README.md"):
        shutil.copy(model_dir / name, snapshot / name)
    (storage / "refs").mkdir()
    (storage / "refs" / "main").write_text(commit)
    return snapshot


def test_load_from_prefilled_hub_cache_offline(env, monkeypatch, tmp_path):
    import huggingface_hub.constants

    model_dir = make_model_dir(tmp_path / "pushed", name="hubbed")
    hf_cache = tmp_path / "hf"
    snapshot = fill_hf_cache(hf_cache, "owner/tiny-sketch", model_dir)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    translator = zoo.load_from_hub("owner/tiny-sketch", device="cpu", cache_dir=hf_cache)
    assert translator.config.name == "hubbed" and translator.translate(photo()).size == (40, 30)
    assert zoo.load_from_hub("owner/tiny-sketch", device="cpu", cache_dir=hf_cache) is translator

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(hf_cache))
    assert zoo.load("hub:owner/tiny-sketch", device="cpu").config.name == "hubbed"
    assert zoo.hub_snapshot("owner/tiny-sketch") == snapshot
    with pytest.raises(zoo.ModelUnavailable, match="owner/absent.*offline"):
        zoo.load("hub:owner/absent", device="cpu")

    data = json.loads(env.manifest.read_text())                      # a manifest entry with source hub
    data["models"].append({"name": "from_hub", "source": "hub", "hub_repo": "owner/tiny-sketch",
                           "task": "pix2pix", "tab": "sketch"})
    env.manifest.write_text(json.dumps(data))
    assert zoo.get_entry("from_hub").available_offline
    assert zoo.load("from_hub", device="cpu").config.name == "hubbed"


def test_push_to_hub_uploads_the_three_files(env, monkeypatch, tmp_path):
    from huggingface_hub import HfApi

    model_dir = make_model_dir(tmp_path / "to_push", name="pushme")
    (model_dir / "train_state.pth").write_bytes(b"not uploaded")
    calls = []

    def create_repo(self, repo_id, **kwargs):
        calls.append(("create_repo", repo_id, kwargs))
        return f"https://huggingface.co/{repo_id}"

    def upload_folder(self, **kwargs):
        folder = kwargs["folder_path"]
        files = {p.name: p.read_bytes() for p in Path(folder).iterdir()}
        calls.append(("upload_folder", kwargs["repo_id"], kwargs, files))

    monkeypatch.setattr(HfApi, "create_repo", create_repo)
    monkeypatch.setattr(HfApi, "upload_folder", upload_folder)
    url = zoo.push_to_hub(model_dir, "me/pushme", token="hf_test", private=True)
    assert url == "https://huggingface.co/me/pushme"
    (_, repo, create_kwargs), (_, repo2, upload_kwargs, files) = calls
    assert repo == repo2 == "me/pushme"
    assert create_kwargs["exist_ok"] is True and create_kwargs["private"] is True
    assert sorted(upload_kwargs["allow_patterns"]) == ["README.md", "config.json", "model.safetensors"]
    assert sorted(files) == ["README.md", "config.json", "model.safetensors"]
    assert files["model.safetensors"] == (model_dir / "model.safetensors").read_bytes()
    card = files["README.md"].decode()
    assert card.startswith("---\n") and "pipeline_tag: image-to-image" in card and "# pushme" in card
    assert (model_dir / "README.md").read_text() == "# pushme\n"              # the local card is unchanged

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(zoo.ZooError, match="offline"):
        zoo.push_to_hub(model_dir, "me/pushme")


# -- command line ----------------------------------------------------------------------------------
def run_cli(*argv):
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    zoo.register_cli(sub)
    args = parser.parse_args(list(argv))
    return args.run(args, args.subparser)


def test_cli(env, capsys):
    assert run_cli("list-models", "--tab", "sketch") == 0
    assert "pix2pix_edges2shoes" in capsys.readouterr().out
    assert run_cli("download-model", "tiny_style", "--quiet") == 0
    assert str(env.cache / "tiny_style") in capsys.readouterr().out
    assert run_cli("list-models", "--offline", "--json") == 0
    listed = json.loads(capsys.readouterr().out)
    assert [m["name"] for m in listed] == ["tiny_style"] and listed[0]["available_offline"]


@pytest.mark.parametrize("family,label", [
    ("cyclegan", "resnet_9blocks ngf=64 norm=instance no_dropout (official CycleGAN models)"),
    ("pix2pix", "unet_256 ngf=64 norm=batch dropout (official pix2pix models)"),
])
def test_catalogue_architectures_fit_the_published_checkpoints(fixtures_dir, family, label):
    """The config a download is converted with builds exactly the published generator's keys and shapes."""
    published = json.loads((fixtures_dir / "full_size_state_dict_keys.json").read_text())[label]
    specs = [e for e in zoo.catalog_entries() if e["family"] == family]
    assert all(s["architecture"] == specs[0]["architecture"] and s["task"] == specs[0]["task"] for s in specs)
    config = official._model_config(specs[0], specs[0]["url"], None)
    with torch.device("meta"):
        net = config.build_generator(config.generator_names[0])
    assert {k: list(v.shape) for k, v in net.state_dict().items()} == published


def test_forced_download_keeps_the_cache_when_it_fails(env):
    first = zoo.download_model("tiny_style", show_progress=False)
    env.server.truncate.add(OFFICIAL_PATH)
    with pytest.raises(zoo.DownloadError, match="truncated"):
        zoo.download_model("tiny_style", show_progress=False, force=True)
    assert cache_contents(env) == ["tiny_style"] and (first / "model.safetensors").is_file()
    env.server.truncate.clear()
    assert zoo.download_model("tiny_style", show_progress=False, force=True) == first
    assert cache_contents(env) == ["tiny_style"] and len(env.server.requests) == 3
