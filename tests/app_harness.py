"""Test harness for the app: tiny randomly initialized models for every tab, a free loopback port, and
the app launched in this process (API, hostile-input, security and Train-tab tests; the browser tests
run `python app.py` in a subprocess instead)."""
import contextlib
import socket
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
