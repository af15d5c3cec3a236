"""Tab "One image": train a generator on one photo and its edges (DeepSIM), then edit the edges and
watch the photo follow.

Training runs as a job of the Train tab's manager (`demos.training`: its own process, one job at a
time, stop any time) with the 2-core recipe `RECIPE` (docs/one_image.md). The editing canvas is the
live canvas (`demos.canvas`), calling the named endpoint /one_image_render with the run's name.

- `I2I_ONE_IMAGE_TRAINING`: 1 allows this tab's short training even where the Train tab is off (a
  hosted demo), 0 turns it off; default: as the Train tab
- `I2I_ONE_IMAGE_MAX_SECONDS`: the time cap of one training (default 600)
"""
from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path

import gradio as gr
from PIL import Image

from .canvas import SIDE, canvas_model, live_canvas
from .common import guarded, open_photo, user_error
from .runs import list_runs
from .settings import training_enabled, uploads_dir
from .train import loss_frame, sample_image, status_html
from .training import ACTIVE_STATES, manager

SIZE = 256
EXAMPLES_DIR = Path(__file__).resolve().parent / "one_image_examples"   # scikit-image's public-domain photos
DEFAULT_MAX_SECONDS = 600.0
# The 2-core recipe of docs/one_image.md: a 6-level U-Net, 16 filters, resize-conv decoder, L1 only,
# EMA weights, TPS warps of the whole 256 px pair.
RECIPE = dict(model="pix2pix", augment="tps", tps_grid=4, tps_strength=0.04, load_size=SIZE, crop_size=SIZE,
              netG="unet_6", ngf=16, netD="none", no_dropout=True, upsample="nearest", ema_decay=0.999, lr=0.001,
              max_steps=1200, num_workers=0, log_every=10, sample_every=50, save_every=100, amp=False)

EXPLANATION = """
### One image is enough (DeepSIM)
A generator is trained on **a single pair**: the photo and its *primitive*, here its edges.
Learning one pair by heart would be useless, so every training step **warps both images by the same
random thin-plate spline** (a smooth jitter of a 4×4 grid of control points): the network has to learn
*how a line turns into that fur or that shadow*, wherever the line is.

Then edit the primitive: move a line, erase a contour, draw a new one. The photo follows, and since
every output pixel depends mostly on the lines near it, the rest of the photo stays as it was.

*Pen*: adds lines (they are thinned to 1 px, like the edges it learned from); *eraser*: removes them;
🎲 puts the run's own primitive back.
"""


def one_image_training() -> tuple[bool, str, float]:
    """(whether this tab may train here, why not, the time cap of one training in seconds)."""
    try:
        cap = float(os.environ.get("I2I_ONE_IMAGE_MAX_SECONDS") or DEFAULT_MAX_SECONDS)
    except ValueError:
        cap = DEFAULT_MAX_SECONDS
    flag = os.environ.get("I2I_ONE_IMAGE_TRAINING", "").strip()
    if flag == "1":
        return True, "", cap
    if flag == "0":
        return False, "One-image training is disabled on this server (I2I_ONE_IMAGE_TRAINING=0).", cap
    enabled, why = training_enabled()
    if not enabled:
        why += " (I2I_ONE_IMAGE_TRAINING=1 allows this tab's short training.)"
    return enabled, why, cap


def example_names() -> list[str]:
    return sorted(p.stem for p in EXAMPLES_DIR.glob("*.jpg"))


def example_photo(name: str) -> Image.Image:
    path = EXAMPLES_DIR / f"{name}.jpg"
    if name not in example_names():
        raise ValueError(f"unknown example {name!r}; choose one of {', '.join(example_names())}")
    return Image.open(path).convert("RGB")


def _square_photo(photo) -> Image.Image:
    from engine.single_pair import square
    return square(open_photo(photo, what="photo"), SIZE)


@guarded
def one_image_primitive(photo):
    """API: a photo (any size) -> its primitive, the edges the model learns from (its centred square, 256 px)."""
    from engine.single_pair import edge_primitive
    return edge_primitive(_square_photo(photo))


def _save_photo(photo: Image.Image) -> Path:
    """The square photo as a PNG in the uploads folder, named by its content."""
    folder = uploads_dir() / "one_image"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{hashlib.sha1(photo.tobytes()).hexdigest()[:16]}.png"
    if not path.is_file():
        photo.save(path)
    return path


def _outputs(status: dict):
    return status, status_html(status), loss_frame(status), sample_image(status)


@guarded
def one_image_train(photo, max_steps=RECIPE["max_steps"], name=""):
    """API: train on one photo (queued while another job runs), capped at I2I_ONE_IMAGE_MAX_SECONDS;
    the job's status, loss curve and latest samples, as /train_status."""
    allowed, why, cap = one_image_training()
    if not allowed:
        raise user_error(why)
    steps = int(max_steps or RECIPE["max_steps"])
    if not 1 <= steps <= 100_000:
        raise user_error(f"max_steps must be between 1 and 100000, got {max_steps}")
    path = _save_photo(_square_photo(photo))
    options = dict(RECIPE, single_pair=str(path), max_steps=steps, max_seconds=cap,
                   description="Trained from one photo and its edges (DeepSIM), in the One image tab.")
    return _outputs(manager.submit(options, (name or "").strip() or "one_image"))


@guarded
def one_image_status():
    """API: the training job's status, loss curve and latest samples (as /train_status)."""
    return _outputs(manager.status())


@guarded
def one_image_stop():
    """API: stop the running job after its current step; the model of its last checkpoint stays usable."""
    return _outputs(manager.stop())


def _run_config(run_dir: Path) -> dict | None:
    try:
        config = json.loads((run_dir / "model" / "config.json").read_text())
    except (OSError, ValueError):
        return None
    ok = isinstance(config, dict) and (run_dir / "model" / "model.safetensors").is_file()
    return config if ok and (config.get("training") or {}).get("single_pair") else None


def one_image_runs() -> list[str]:
    """Runs trained from one image that have a model, newest first."""
    return [run.name for run in list_runs() if _run_config(run) is not None]


_cache: dict[tuple[str, int], tuple] = {}
_cache_lock = threading.Lock()


def _load_run(name: str):
    """(model config, generator, primitive, extra edges) of run `name`, cached until its model changes."""
    from engine.checkpoint import load_model
    from engine.single_pair import load_pair

    if name not in one_image_runs():
        raise ValueError(f"no one-image run named {name!r}; train one first")
    run_dir = next(run for run in list_runs() if run.name == name)
    key = (str(run_dir), (run_dir / "model" / "model.safetensors").stat().st_mtime_ns)
    with _cache_lock:
        if key not in _cache:
            config, nets = load_model(run_dir / "model")
            training = config.training
            photo = training["single_pair"]
            if not Path(photo).is_file():
                raise ValueError(f"the photo of run {name} is gone ({photo})")
            _, primitive, edges = load_pair(photo, training.get("primitive"), config.crop_size,
                                            bool(training.get("primitive_edges")))
            _cache.clear()
            _cache[key] = (config, nets["G"], primitive, edges)
        return _cache[key]


def run_primitive(name: str) -> Image.Image:
    """The canvas picture of run `name`'s own primitive (SIDE px, lines kept sharp)."""
    _, _, primitive, _ = _load_run(name)
    return primitive.convert("RGB").resize((SIDE, SIDE), Image.Resampling.NEAREST)


@guarded
def one_image_render(drawing, run: str = ""):
    """API: an edited primitive (a drawing of any size: dark lines on white, or a label map for runs
    trained on one) -> the photo run `run` (default: the newest) paints for it, 256 px."""
    from engine.single_pair import drawn_primitive, render

    runs = one_image_runs()
    if not runs:
        raise user_error("no one-image model yet: train one first")
    config, generator, primitive, edges = _load_run((run or "").strip() or runs[0])
    image = open_photo(drawing, what="drawing")
    if config.training.get("primitive"):
        primitive = image.convert("RGB").resize(primitive.size, Image.Resampling.NEAREST)
    else:
        primitive = drawn_primitive(image, config.crop_size)
    with _cache_lock:
        return render(generator, primitive, edges)


def _training_note() -> str:
    allowed, why, cap = one_image_training()
    if not allowed:
        return f"**{why}**"
    return (f"{RECIPE['max_steps']} steps of 256 px: about 2.5 minutes of an idle CPU core, 6-9 minutes on a busy "
            f"2-core machine (docs/one_image.md); stopped after {cap / 60:g} minutes at most. The runs are kept "
            "in `runs/`.")


def _pick_run(current, finished_run=None):
    runs = one_image_runs()
    value = finished_run if finished_run in runs else current if current in runs else (runs[0] if runs else None)
    return gr.update(choices=runs, value=value)


def _tick(current_run, last):
    """Poll the job: status views, the timer, and the run picker once a run of this tab has ended."""
    status = one_image_status()
    state = status[0]["state"]
    active = state in ACTIVE_STATES or bool(status[0].get("queue"))
    signature = f"{status[0].get('name')}|{state}"
    finished = None if active or signature == last else status[0].get("name")
    picker = _pick_run(current_run, finished) if finished else gr.update()
    return (*status, gr.Timer(active=active), picker, signature)


def _start_ui(photo, steps, current_run):
    return (*one_image_train(photo, steps), gr.Timer(active=True), gr.update(), "")


def _stop_ui(current_run, last):
    one_image_stop()
    return _tick(current_run, last)


def build(demo: gr.Blocks) -> None:
    allowed, _, _ = one_image_training()
    runs = one_image_runs()
    first_run = runs[0] if runs else None
    try:
        initial = run_primitive(first_run) if first_run else None
    except (OSError, ValueError):
        initial = None
    with gr.Tab("One image", id="one-image") as tab:
        with gr.Row():
            with gr.Column(scale=4):
                photo = gr.Image(value=example_photo("chelsea"), label="Photo (its centred square is used)",
                                 type="pil", sources=["upload", "clipboard"], height=300, elem_id="one-image-photo")
                example = gr.Radio(example_names(), value="chelsea", label="Public-domain examples (scikit-image)",
                                   elem_id="one-image-example")
                primitive = gr.Image(label="Its primitive: the edges the model learns from", type="pil",
                                     interactive=False, height=300, elem_id="one-image-primitive")
            with gr.Column(scale=5):
                gr.Markdown(_training_note(), elem_id="one-image-note")
                with gr.Row():
                    steps = gr.Number(RECIPE["max_steps"], label="steps", precision=0, minimum=1, maximum=100_000)
                    start = gr.Button("▶ Train on this photo", variant="primary", interactive=allowed,
                                      elem_id="one-image-train")
                    stop = gr.Button("■ Stop", variant="stop", interactive=allowed, elem_id="one-image-stop")
                status = gr.HTML(status_html(manager.status()), elem_id="one-image-status")
                plot = gr.LinePlot(None, x="step", y="value", color="loss", title="Loss", height=220,
                                   elem_id="one-image-plot")
                sample = gr.Image(label="Samples: warped primitive | output | warped photo", type="pil",
                                  format="png", interactive=False, elem_id="one-image-sample")
                with gr.Accordion("Raw status", open=False):
                    raw = gr.JSON(label="status")
            with gr.Column(scale=3, elem_classes="explain"):
                gr.Markdown(EXPLANATION)
        with gr.Row():
            with gr.Column(scale=8):
                run = gr.Dropdown(runs, value=first_run, label="Trained run to edit", allow_custom_value=False,
                                  elem_id="one-image-run")
                canvas = live_canvas("one_image_render", model=first_run, size=SIZE, initial=initial,
                                     example=run_primitive, pen_sizes=(2, 4, 8), eraser_sizes=(8, 16, 32),
                                     default_size=1, blank_hint="Train a model first, then edit its edges here.",
                                     canvas_label="Primitive canvas: draw or erase edges",
                                     save_name="one_image_photo.png", elem_id="one-image-canvas")

        timer = gr.Timer(1.5, active=False)
        signature = gr.State("")
        with gr.Column(visible=False):
            api_photo = gr.File(label="photo", file_count="single")
            api_steps = gr.Number(RECIPE["max_steps"], label="max_steps", precision=0)
            api_name = gr.Textbox("", label="name")
            api_json = gr.JSON(label="status")
            api_html = gr.HTML(label="summary")
            api_plot = gr.LinePlot(x="step", y="value", color="loss", label="losses")
            api_sample = gr.Image(type="pil", format="png", label="sample")
            api_primitive = gr.Image(type="pil", format="png", label="primitive")
            api_drawing = gr.File(label="drawing", file_count="single")
            api_run = gr.Textbox("", label="run")
            api_render = gr.Image(type="pil", format="png", label="photo")
            buttons = {name: gr.Button(name) for name in ("one_image_primitive", "one_image_train",
                                                          "one_image_status", "one_image_stop", "one_image_render")}

    private = dict(api_visibility="private", queue=False)
    ui_outputs = [raw, status, plot, sample, timer, run, signature]
    example.input(example_photo, example, photo, **private)
    photo.change(lambda image: one_image_primitive(image) if image is not None else None, photo, primitive,
                 api_visibility="private", concurrency_limit=1, concurrency_id="inference")
    start.click(_start_ui, [photo, steps, run], ui_outputs, api_visibility="private",
                concurrency_limit=1, concurrency_id="training")
    stop.click(_stop_ui, [run, signature], ui_outputs, **private)
    timer.tick(_tick, [run, signature], ui_outputs, **private)
    tab.select(_tick, [run, signature], ui_outputs, **private)
    tab.select(lambda current: _pick_run(current), run, run, **private)
    demo.load(lambda image: one_image_primitive(image), photo, primitive, api_visibility="private")
    # a new run: point the canvas at it, then load its primitive with the canvas's own 🎲 button
    run.change(lambda name: canvas_model(name, SIZE), run, canvas, **private).then(
        None, None, None, js="() => document.querySelector('#one-image-canvas [data-action=example]')?.click()")

    api_status_outputs = [api_json, api_html, api_plot, api_sample]
    buttons["one_image_primitive"].click(one_image_primitive, api_photo, api_primitive,
                                         api_name="one_image_primitive", concurrency_limit=1,
                                         concurrency_id="inference")
    buttons["one_image_train"].click(one_image_train, [api_photo, api_steps, api_name], api_status_outputs,
                                     api_name="one_image_train", concurrency_limit=1, concurrency_id="training")
    buttons["one_image_status"].click(one_image_status, None, api_status_outputs, api_name="one_image_status",
                                      concurrency_limit=None)
    buttons["one_image_stop"].click(one_image_stop, None, api_status_outputs, api_name="one_image_stop",
                                    concurrency_limit=None)
    buttons["one_image_render"].click(one_image_render, [api_drawing, api_run], api_render,
                                      api_name="one_image_render", concurrency_limit=1, concurrency_id="inference")
