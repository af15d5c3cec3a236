"""Test harness for the app: tiny randomly initialized models for every tab, a free loopback port, the
app launched in this process (API, hostile-input, security and Train-tab tests), and `python app.py`
as a subprocess (browser tests and the benchmarks)."""
import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Iterator

import pytest


def make_tiny_models(root: Path) -> Path:
    """Write tiny models for every tab under `root`, with larger-than-usual random weights so outputs are
    not flat gray. Returns `root`."""
    import torch
    from torch import nn

    from engine import ModelConfig, save_model

    torch.manual_seed(0)

    def make(dirname, **kw):
        cfg = ModelConfig(ndf=4, **kw)
        nets = {n: cfg.build_generator(n) for n in cfg.generator_names}
        nets.update({n: cfg.build_discriminator(n) for n in cfg.discriminator_names})
        for net in nets.values():
            for m in net.modules():
                if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                    nn.init.normal_(m.weight, 0.0, 0.2)
        save_model(root / dirname, cfg, nets)

    unet = dict(netG="unet_128", ngf=4, crop_size=128, load_size=142)
    make("sketch_tiny", task="pix2pix", input_kind="edges", name="sketch_tiny", netD="basic", **unet)
    make("facade_tiny", task="pix2pix", input_kind="labels", name="facades_tiny", netD="basic", **unet)
    for netD, layers, name in [(None, 3, "l1"), ("pixel", 3, "1x1"), ("n_layers", 1, "16x16"),
                               ("basic", 3, "70x70"), ("n_layers", 5, "286x286")]:
        make(f"colorize_{name}", task="colorization", input_nc=1, output_nc=2, color_space="lab",
             input_kind="gray", netD=netD, n_layers_D=layers, name=f"colorize_{name}", **unet)
    make("style_tiny", task="cycle_gan", netG="resnet_6blocks", ngf=4, norm="instance", use_dropout=False,
         netD="basic", name="style_tiny")
    return root


COATS = ["black", "ginger", "grey_tabby", "white"]


def _save_random_generator(root: Path, **config) -> Path:
    """Save a ModelConfig(**config)'s generator alone, seeded, with larger-than-usual conv weights (so that
    every class gives a different, non-flat image), to root/NAME. Returns the model directory."""
    import torch
    from torch import nn

    from engine import ModelConfig, save_model

    torch.manual_seed(0)
    cfg = ModelConfig(**config)
    G = cfg.build_generator()
    for m in G.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.normal_(m.weight, 0.0, 0.2)
    save_model(root / cfg.name, cfg, {"G": G})
    return root / cfg.name


def make_tiny_stargan(root: Path, name: str = "coat_tiny") -> Path:
    """Write a tiny randomly initialized StarGAN (the four coats, 32 px crops, no discriminator) to
    `root/name`. Returns its model directory."""
    return _save_random_generator(root, task="stargan", netG="resnet_2blocks", ngf=4, norm="instance",
                                  use_dropout=False, upsample="nearest", domains=COATS, crop_size=32, load_size=36,
                                  name=name, description="tiny random StarGAN for tests")


def make_tiny_class_sketch_model(root: Path, name: str = "sketch_tiny_coats") -> Path:
    """Write a tiny randomly initialized sketch model with a class input (the four coats) to `root/name`.
    Returns its model directory."""
    return _save_random_generator(root, task="pix2pix", netG="unet_128", ngf=4, input_kind="edges", domains=COATS,
                                  crop_size=128, load_size=142, upsample="nearest", thin_drawings=False, name=name,
                                  description="tiny random sketch -> cat face model with a coat input, for tests")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running_app(env: dict[str, str | None]) -> Iterator[tuple[str, object]]:
    """The app built and launched in this process on a free 127.0.0.1 port, with `env` set (None
    unsets a variable) and torch on one thread while it runs. Yields (url ending in "/", demo)."""
    import torch

    patch = pytest.MonkeyPatch()
    for key, value in env.items():
        if value is None:
            patch.delenv(key, raising=False)
        else:
            patch.setenv(key, value)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)

    import app
    from demos import training
    from demos.models import registry

    registry.refresh()
    demo = app.build_app()
    port = free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, ssr_mode=False,
                **app.launch_kwargs())
    try:
        yield f"http://127.0.0.1:{port}/", demo
    finally:
        training.manager.shutdown()
        demo.close()
        registry.refresh()
        torch.set_num_threads(threads)
        patch.undo()


REPO = Path(__file__).resolve().parents[1]
OFFLINE_ENV = {"GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1"}
CHROMIUM = os.environ.get("I2I_CHROMIUM", "/usr/bin/chromium")   # Debian's; never `playwright install`
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage"]


@contextlib.contextmanager
def launch_chromium():
    """Debian's headless Chromium through Playwright (never a downloaded build), closed on exit."""
    from playwright.sync_api import sync_playwright
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


@contextlib.contextmanager
def app_process(env: dict[str, str | None], log_path: Path, timeout: float = 120.0) -> Iterator[str]:
    """`start_app_process` as a context (`python app.py` in a subprocess): yields its URL, stops it on exit."""
    process, url, _ = start_app_process(env, log_path, timeout)
    try:
        yield url
    finally:
        stop_app_process(process)


def require_chromium() -> None:
    """Skip the calling test module without Chromium on a developer machine; fail in CI (CI=true), so CI
    can never pass without running the browser tests."""
    if shutil.which(CHROMIUM) or Path(CHROMIUM).is_file():
        return
    message = f"Chromium not found at {CHROMIUM}: install Debian's chromium (`.ci/run` does)"
    if os.environ.get("CI"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message, allow_module_level=True)


def start_app_process(env: dict[str, str | None], log_path: Path, timeout: float = 120.0
                      ) -> tuple[subprocess.Popen, str, float]:
    """`python app.py` (the README's command) on a free 127.0.0.1 port, with this process's environment,
    the offline variables and `env` (None unsets). Returns (process, url ending in "/", seconds until
    its first HTTP 200); RuntimeError with the log's tail when it exits or does not answer in time."""
    port = free_port()
    full_env = dict(os.environ, **OFFLINE_ENV, PORT=str(port), GRADIO_SERVER_NAME="127.0.0.1")
    for key, value in env.items():
        if value is None:
            full_env.pop(key, None)
        else:
            full_env[key] = value
    start = time.perf_counter()
    with open(log_path, "wb") as log:
        process = subprocess.Popen([sys.executable, "app.py"], cwd=REPO, env=full_env, stdout=log,
                                   stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    while time.perf_counter() - start < timeout:
        if process.poll() is not None:
            raise RuntimeError(f"app.py exited with {process.returncode}:\n{log_path.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return process, url, time.perf_counter() - start
        except OSError:
            time.sleep(0.05)
    stop_app_process(process)
    raise RuntimeError(f"app.py gave no HTTP 200 in {timeout:.0f} s:\n{log_path.read_text()[-3000:]}")


def stop_app_process(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def memory_mib(pid: int) -> dict[str, float]:
    """Resident memory of a process now and at its peak (VmRSS, VmHWM) in MiB (Linux /proc)."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = round(int(value.split()[0]) / 1024, 1)
    return fields
