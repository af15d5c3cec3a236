"""What the photo tabs open with: a public-domain example photo and its outputs, rendered the first time
a tab is opened (so that start-up loads no model) and then kept for the life of the process, per model.

The photos are scikit-image's sample images, both CC0: "chelsea" (Stefan van der Walt), a cat the
colorizers have seen the like of, and "coffee" (Rachel Michetti) for the styles.
"""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Callable, Hashable

ASSETS = Path(__file__).resolve().parent / "assets"
COLORIZE_EXAMPLE = ASSETS / "chelsea.jpg"
STYLE_EXAMPLE = ASSETS / "coffee.jpg"

_lock = threading.Lock()
_rendered: dict[Hashable, object] = {}


def rendered_once(key: Hashable, render: Callable[[], object]):
    """`render()`'s result for `key`, computed once per process (a failure is not kept)."""
    with _lock:
        if key in _rendered:
            return _rendered[key]
    result = render()
    with _lock:
        return _rendered.setdefault(key, result)


def first_view(shown: bool, key: Hashable, render: Callable[[], tuple], count: int) -> tuple:
    """For a tab's `select` event: the example's `count` outputs and True the first time this page opens
    the tab (`shown` is a gr.State), no change afterwards, so the user's own photo is never replaced."""
    if shown:
        return (*[_no_change()] * count, True)
    return (*rendered_once(key, render), True)


def _no_change():
    import gradio as gr
    return gr.update()
