"""Tab 4: train a model in a separate process, with a live loss curve, samples, progress and ETA."""
from __future__ import annotations

import html
from pathlib import Path

import gradio as gr
import pandas as pd
from PIL import Image

from .common import guarded
from .training import (ACTIVE_STATES, NET_D, PRESET_NOTES, PRESETS, TASKS, data_roots, manager, preset_options,
                       read_metrics, training_enabled)

EXPLANATION = """
### What happens when you press Start
A separate process runs the engine's trainer (the same as `python -m engine train ...`), so the app
stays responsive and a crashed job cannot take it down. Every few steps it logs the losses:

- **G_GAN**: how well G fools the discriminator (pix2pix/colorization), **G_L1**: λ·L1 distance to
  the target; **D_real / D_fake**: the discriminator's loss on real and generated pairs.
- CycleGAN: **G_A, G_B** (adversarial), **cycle_A, cycle_B** (reconstruction), **idt_A, idt_B**.

A healthy GAN does not drive D's loss to zero: G and D keep each other in balance. The sample grid
shows the same training items at every step, so you can watch them sharpen.
Runs are saved in `runs/NAME/` (`model/` is the exported model: copy it into `weights/` to use it
in the other tabs). One job runs at a time.
"""

TASK_HINTS = {
    "pix2pix": "aligned pairs side by side in `train/` (e.g. facades: use direction BtoA for labels → photo), "
               "or a plain photo folder with derive = edges (sketch → photo)",
    "colorization": "a folder of color photos (the gray input is derived); netD none = L1 only",
    "cycle_gan": "unpaired `trainA/` and `trainB/` folders (e.g. horse2zebra)",
}


def _duration(seconds) -> str:
    if seconds is None:
        return "-"
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def status_html(status: dict) -> str:
    state = status["state"]
    colors = {"idle": "#888", "starting": "#d90", "running": "#2a2", "stopping": "#d90", "done": "#26c",
              "stopped": "#26c", "failed": "#c22"}
    total = status.get("total_steps")
    step = status.get("step", 0)
    percent = int(round(100 * status.get("progress", 0.0)))
    lines = [f'<div style="font-size:1.05em"><b style="color:{colors.get(state, "#888")}">{state.upper()}</b> '
             f'{html.escape(status.get("message") or "")}</div>']
    if status.get("name"):
        lines.append(f"<div>run <code>{html.escape(status['name'])}</code> ({html.escape(status.get('task', ''))})"
                     + (f", {status['dataset_size']} training items" if status.get("dataset_size") else "")
                     + "</div>")
        lines.append(f'<progress value="{step}" max="{total or 1}" style="width:100%;height:14px"></progress>')
        lines.append(f"<div>step {step} / {total or '?'} ({percent}%) · ETA {_duration(status.get('eta_seconds'))}"
                     f" · elapsed {_duration(status.get('elapsed'))}</div>")
        losses = status.get("losses") or {}
        if losses:
            lines.append("<div>" + " · ".join(f"{html.escape(k)} {v:.3f}" for k, v in losses.items()) + "</div>")
        if status.get("model_dir"):
            lines.append(f"<div>model: <code>{html.escape(status['model_dir'])}</code></div>")
    lines.append(f"<div>device: <b>{html.escape(status.get('device') or '?')}</b>"
                 + (f" ({html.escape(status['precision'])})" if status.get("precision") else "") + "</div>")
    return "\n".join(lines)


def loss_frame(status: dict | None = None) -> pd.DataFrame | None:
    """Long-format losses (step, loss, value); None before the first log line.

    (A LinePlot first drawn from an empty frame keeps no color encoding once data arrives, while one
    starting from None draws its lines, so "no data" is None.)
    """
    rows = read_metrics((status or {}).get("run_dir"))
    if not rows:
        return None
    frame = pd.DataFrame(rows, columns=["step", "loss", "value"])
    return frame.astype({"step": "int64", "loss": "str", "value": "float64"})


def sample_image(status: dict):
    path = status.get("sample")
    if not path or not Path(path).is_file():
        return None
    try:
        with Image.open(path) as image:
            return image.convert("RGB")
    except OSError:   # being written right now: the next poll gets it
        return None


def _outputs(status: dict):
    return status, status_html(status), loss_frame(status), sample_image(status)


@guarded
def train_start(task="pix2pix", dataroot="", preset="CPU-tiny", name="", max_steps=0, lr=0.0, batch_size=0,
                ngf=0, crop_size=0, net_g="", net_d="basic", n_layers_d=3, lambda_l1=100.0, direction="AtoB",
                derive="none"):
    """API: start a training job (one at a time). Zero / empty values take the preset's defaults."""
    status = manager.start(task=task, dataroot=dataroot, preset=preset, name=name, max_steps=max_steps, lr=lr,
                           batch_size=batch_size, ngf=ngf, crop_size=crop_size, netG=net_g, netD=net_d,
                           n_layers_D=n_layers_d, lambda_L1=lambda_l1, direction=direction, derive=derive)
    return _outputs(status)


@guarded
def train_status():
    """API: the job's state, progress, ETA, device, losses; the loss curve; the latest sample grid."""
    return _outputs(manager.status())


@guarded
def train_stop():
    """API: stop the running job after its current step (a checkpoint is kept)."""
    return _outputs(manager.stop())


def _start_ui(*args):
    outputs = train_start(*args)
    return (*outputs, gr.Timer(active=True))


def _tick():
    outputs = train_status()
    return (*outputs, gr.Timer(active=outputs[0]["state"] in ACTIVE_STATES))


def _stop_ui():
    outputs = train_stop()
    return (*outputs, gr.Timer(active=True))


def known_datasets() -> list[str]:
    found = []
    for root in data_roots():
        if root.is_dir():
            found += [str(p) for p in sorted(root.iterdir()) if p.is_dir() and not p.name.startswith(".")]
    return found


def _preset_fields(task, preset):
    try:
        options = preset_options(task, preset)
    except ValueError:
        return [gr.update()] * 6
    return (options.get("max_steps") or 0, options["batch_size"], options["ngf"], options["crop_size"],
            options["netG"], f"*{PRESET_NOTES.get(preset, '')}*  \nData: {TASK_HINTS.get(task, '')}")


def build(demo: gr.Blocks) -> None:
    enabled, why = training_enabled()
    datasets = known_datasets()
    default_data = next((d for d in datasets if Path(d).name == "facades"), datasets[0] if datasets else "")
    first = preset_options("pix2pix", "CPU-tiny")
    with gr.Tab("Train", id="train"):
        if not enabled:
            gr.Markdown(f"**{why}**", elem_id="train-disabled")
        with gr.Row():
            with gr.Column(scale=4):
                task = gr.Radio(list(TASKS), value="pix2pix", label="Task", interactive=enabled)
                with gr.Row():
                    dataroot = gr.Textbox(default_data, label="Dataset folder",
                                          info="must be inside: " + ", ".join(str(r) for r in data_roots()),
                                          scale=3, interactive=enabled, elem_id="train-dataroot")
                    picker = gr.Dropdown(datasets, value=None, label="Known datasets", scale=2,
                                         interactive=enabled and bool(datasets))
                with gr.Row():
                    direction = gr.Radio(["AtoB", "BtoA"], value="BtoA", label="Direction", interactive=enabled)
                    derive = gr.Dropdown(["none", "edges", "gray"], value="none", label="Derive pairs (pix2pix)",
                                         interactive=enabled)
                preset = gr.Radio(list(PRESETS), value="CPU-tiny", label="Size preset", interactive=enabled)
                note = gr.Markdown(f"*{PRESET_NOTES['CPU-tiny']}*  \nData: {TASK_HINTS['pix2pix']}")
                name = gr.Textbox("", label="Run name (optional)", placeholder="e.g. my_facades",
                                  interactive=enabled)
                with gr.Accordion("Hyperparameters", open=False):
                    with gr.Row():
                        max_steps = gr.Number(first["max_steps"], label="max steps (0 = epochs)", precision=0,
                                              minimum=0)
                        lr = gr.Number(0.0002, label="learning rate", minimum=0)
                        batch_size = gr.Number(first["batch_size"], label="batch size", precision=0, minimum=1)
                    with gr.Row():
                        ngf = gr.Number(first["ngf"], label="ngf (generator width)", precision=0, minimum=1)
                        crop_size = gr.Number(first["crop_size"], label="crop size", precision=0, minimum=16)
                        netG = gr.Textbox(first["netG"], label="netG")
                    with gr.Row():
                        netD = gr.Dropdown(list(NET_D), value="basic", label="netD (basic = 70×70, none = L1 only)")
                        n_layers_D = gr.Slider(1, 5, value=3, step=1, label="n_layers_D (for netD n_layers)")
                        lambda_L1 = gr.Number(100.0, label="λ L1", minimum=0)
                with gr.Row():
                    start = gr.Button("▶ Start", variant="primary", interactive=enabled, elem_id="train-start")
                    stop = gr.Button("■ Stop", variant="stop", interactive=enabled, elem_id="train-stop")
            with gr.Column(scale=5):
                status = gr.HTML(status_html(manager.status()), elem_id="train-status")
                plot = gr.LinePlot(None, x="step", y="value",
                                   color="loss", title="Losses", height=260, elem_id="train-plot")
                sample = gr.Image(label="Latest samples (input | output | target)", type="pil", format="png",
                                  interactive=False, elem_id="train-sample")
                with gr.Accordion("Raw status", open=False):
                    raw = gr.JSON(label="status")
            with gr.Column(scale=3, elem_classes="explain"):
                gr.Markdown(EXPLANATION)

        timer = gr.Timer(1.5, active=False)
        with gr.Column(visible=False):
            api_json = gr.JSON(label="status")
            api_html = gr.HTML(label="summary")
            api_plot = gr.LinePlot(x="step", y="value", color="loss", label="losses")
            api_sample = gr.Image(type="pil", format="png", label="sample")
            api_start = gr.Button("train_start")
            api_status = gr.Button("train_status")
            api_stop = gr.Button("train_stop")

    fields = [task, dataroot, preset, name, max_steps, lr, batch_size, ngf, crop_size, netG, netD, n_layers_D,
              lambda_L1, direction, derive]
    ui_outputs = [raw, status, plot, sample, timer]
    fast = dict(api_visibility="private", queue=False)
    start.click(_start_ui, fields, ui_outputs, api_visibility="private", concurrency_limit=1,
                concurrency_id="training")
    stop.click(_stop_ui, None, ui_outputs, **fast)
    timer.tick(_tick, None, ui_outputs, **fast)
    demo.load(_tick, None, ui_outputs, **fast)
    picker.change(lambda d: d or gr.update(), picker, dataroot, **fast)
    for trigger in (task.change, preset.change):
        trigger(_preset_fields, [task, preset], [max_steps, batch_size, ngf, crop_size, netG, note], **fast)

    api_outputs = [api_json, api_html, api_plot, api_sample]
    api_start.click(train_start, fields, api_outputs, api_name="train_start", concurrency_limit=1,
                    concurrency_id="training")
    api_status.click(train_status, None, api_outputs, api_name="train_status", concurrency_limit=None)
    api_stop.click(train_stop, None, api_outputs, api_name="train_stop", concurrency_limit=None)
