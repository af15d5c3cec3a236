"""Image-to-image translation studio: the Gradio app.

    python app.py            # http://127.0.0.1:7860 (PORT or GRADIO_SERVER_PORT to change it)

This file only assembles the tabs; each tab lives in its own module in `demos/`. Models come from
`weights/` (or `$I2I_WEIGHTS_DIR`), see demos/models.py. No network access is needed. The API
(named endpoints for gradio_client) is described in docs/app.md.
"""
from __future__ import annotations

import logging
import os

from demos.common import CSS, blocked_paths, configure_environment, max_upload_bytes, theme

configure_environment()   # before gradio is imported anywhere: no analytics, no Hub calls

import gradio as gr  # noqa: E402

from demos import browser_models, coat, colorize, one_image, sketch, style, train, why_cgan  # noqa: E402

TITLE = "Image-to-image translation studio"
INTRO = """
# 🎨 Image-to-image translation studio
Draw a sketch and get a photo, colorize a photo while comparing discriminator patch sizes, restyle a
photo with CycleGAN, recolour a cat's coat with StarGAN, and train your own model. Each tab explains
the idea behind it and names the model it runs.
"""
DEFAULT_PORT = 7860
# Uploads and results in Gradio's cache: every hour, delete those older than 4 hours (a public app writes
# a PNG per stroke; an open page keeps its downloads for an afternoon's class).
CACHE_CLEANUP = (3600, 4 * 3600)


def build_app() -> gr.Blocks:
    with gr.Blocks(title=TITLE, delete_cache=CACHE_CLEANUP) as demo:
        gr.Markdown(INTRO)
        with gr.Tabs():
            sketch.build(demo)
            colorize.build(demo)
            why_cgan.build(demo)
            style.build(demo)
            coat.build(demo)
            one_image.build(demo)
            train.build(demo)
    demo.queue(default_concurrency_limit=1, max_size=64)
    return demo


def server_port() -> int:
    for key in ("PORT", "GRADIO_SERVER_PORT"):
        value = os.environ.get(key, "").strip()
        if value:
            try:
                return int(value)
            except ValueError:
                raise SystemExit(f"{key} must be a port number, got {value!r}") from None
    return DEFAULT_PORT


def launch_kwargs() -> dict:
    """Keyword arguments of Blocks.launch shared by `python app.py` and the tests: look, the upload size
    limit ($I2I_MAX_UPLOAD_MB), the folders never served (docs/reliability.md) and the routes of in-browser
    inference (demos/browser_models.py)."""
    return dict(theme=theme(), css=CSS, show_error=True, footer_links=["api", "settings"],
                max_file_size=max_upload_bytes(), blocked_paths=blocked_paths(),
                app_kwargs={"routes": browser_models.routes()})


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    threads = os.environ.get("I2I_TORCH_THREADS", "").strip()
    if threads.isdigit() and int(threads) > 0:
        import torch
        torch.set_num_threads(int(threads))
    demo = build_app()
    try:
        demo.launch(server_name=os.environ.get("GRADIO_SERVER_NAME") or "127.0.0.1", server_port=server_port(),
                    **launch_kwargs())
    finally:
        train.manager.shutdown()


if __name__ == "__main__":
    main()
