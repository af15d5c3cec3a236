"""Tab 4: train a model in a separate process, with a live loss curve, samples, progress and ETA."""
from __future__ import annotations

import html
from pathlib import Path

import gradio as gr
import pandas as pd
from PIL import Image

from . import common
from .common import guarded
from .runs import model_zip, push_model, read_metrics, trained_models
from .settings import data_roots, local_data_allowed, training_enabled
from .train_data import max_dataset_bytes, named_datasets
from .training import ACTIVE_STATES, NET_D, PRESET_NOTES, PRESETS, TASKS, manager, preset_options

EXPLANATION = """
### What happens when you press Start
A separate process runs the engine's trainer (the same as `python -m engine train ...`), so the app
stays responsive and a crashed job cannot take it down. Every few steps it logs the losses:

- **G_GAN**: how well G fools the discriminator (pix2pix/colorization), **G_L1**: λ·L1 distance to
  the target; **D_real / D_fake**: the discriminator's loss on real and generated pairs.
- CycleGAN: **G_A, G_B** (adversarial), **cycle_A, cycle_B** (reconstruction), **idt_A, idt_B**.

A healthy GAN does not drive D's loss to zero: G and D keep each other in balance. The sample grid
shows the same training items at every step, so you can watch them sharpen.
Runs are saved in `runs/NAME/`; `model/` is the exported model, which shows up in the tab that
fits it (sketch, facade, colorize or style) as soon as the job ends. One job runs at a time: a
start meanwhile is queued and begins when the running job ends. A stopped or failed run can be
resumed from its last checkpoint.
"""

TAB_TITLES = {"sketch": "Sketch → Photo (Sketch)", "facade": "Sketch → Photo (Facade labels)",
              "colorize": "Colorize", "style": "Style (CycleGAN)"}
SOURCES = ("Folder", "Upload zip", "Named dataset")

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
    colors = {"idle": "#888", "queued": "#888", "cancelled": "#888", "starting": "#d90", "running": "#2a2",
              "stopping": "#d90", "done": "#26c", "stopped": "#26c", "failed": "#c22"}
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
            where = ""
            if status.get("tab") in TAB_TITLES:
                when = " once the job ends" if state in ACTIVE_STATES else ""
                where = f" (in the {html.escape(TAB_TITLES[status['tab']])} tab{when})"
            lines.append(f"<div>model: <code>{html.escape(status['model_dir'])}</code>{where}</div>")
    queue = status.get("queue") or []
    if queue:
        lines.append("<div>queue: " + ", ".join(f"{q['position']}. <code>{html.escape(q['name'])}</code> "
                                                 f"({html.escape(q['task'])})" for q in queue) + "</div>")
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
def train_start(task="pix2pix", dataroot="", preset="CPU-tiny", name="", max_steps=None, lr=None, batch_size=None,
                ngf=None, crop_size=None, net_g="", net_d="basic", n_layers_d=3, lambda_l1=100.0, direction="AtoB",
                derive="none", dataset_zip=None, dataset_name="", load_size=0):
    """API: start a training job, queued while another runs. Empty values take the preset's; max_steps 0
    trains for the preset's epochs; load_size 0 follows crop_size. The dataset is the first given of
    dataset_zip (an archive), dataset_name (a named dataset) and dataroot (a folder in the allowed roots)."""
    status = manager.start(task=task, dataroot=dataroot, dataset_zip=dataset_zip, dataset_name=dataset_name,
                           preset=preset, name=name, max_steps=max_steps, lr=lr, batch_size=batch_size, ngf=ngf,
                           crop_size=crop_size, load_size=load_size or None, netG=net_g, netD=net_d,
                           n_layers_D=n_layers_d, lambda_L1=lambda_l1, direction=direction, derive=derive)
    return _outputs(status)


@guarded
def train_resume(run="", max_steps=0):
    """API: continue a stopped or failed run from its last checkpoint (max_steps > 0 changes its length)."""
    return _outputs(manager.resume(run, max_steps or None))


@guarded
def train_status():
    """API: the job's state, progress, ETA, device, losses, queue; the loss curve; the latest sample grid."""
    return _outputs(manager.status())


@guarded
def train_stop(name=""):
    """API: stop the running job after its current step (a checkpoint is kept), or cancel a queued job by name."""
    return _outputs(manager.stop(name))


@guarded
def train_download(run=""):
    """API: a zip of a trained run's model (NAME/model.safetensors, config.json, README.md)."""
    return str(model_zip(run))


@guarded
def train_push(run="", repo_id="", token=""):
    """API: push a trained run's model to the Hugging Face Hub; a one-line message with the repository URL."""
    return f"Pushed `{run}` to {push_model(run, repo_id, token)}"


def _signature(status: dict) -> str:
    return f"{status.get('name')}|{status['state']}|{','.join(q['name'] for q in status.get('queue') or [])}"


def _keep(choices: list[str], current):
    return gr.update(choices=choices, value=current if current in choices else (choices[0] if choices else None))


def _ui(outputs, queued, run, model, last=None):
    """The UI outputs for a status: the status views, the timer and, when the jobs changed, the pickers."""
    status = outputs[0]
    signature = _signature(status)
    if signature == last:
        pickers = (gr.update(),) * 3
    else:
        pickers = (_keep([q["name"] for q in status.get("queue") or []], queued),
                   _keep(manager.resumable_runs(), run), _keep(trained_models(), model))
    active = status["state"] in ACTIVE_STATES or bool(status.get("queue"))
    return (*outputs, gr.Timer(active=active), *pickers, signature)


def _start_ui(source, dataset_zip, dataset_name, task, dataroot, preset, name, max_steps, lr, batch_size, ngf,
              crop_size, net_g, net_d, n_layers_d, lambda_l1, direction, derive, load_size, queued, run, model):
    if source == "Upload zip" and not dataset_zip:
        raise gr.Error("upload a dataset archive (.zip) first", print_exception=False)
    if source == "Named dataset" and not dataset_name:
        raise gr.Error("choose a named dataset first", print_exception=False)
    outputs = train_start(task, dataroot if source == "Folder" else "", preset, name, max_steps, lr, batch_size, ngf,
                          crop_size, net_g, net_d, n_layers_d, lambda_l1, direction, derive,
                          dataset_zip if source == "Upload zip" else None,
                          dataset_name if source == "Named dataset" else "", load_size)
    return _ui(outputs, queued, run, model)


def _resume_ui(run_name, steps, queued, run, model):
    return _ui(train_resume(run_name, steps), queued, run, model)


def _tick(queued, run, model, last):
    return _ui(train_status(), queued, run, model, last)


def _stop_ui(queued, run, model):
    return _ui(train_stop(), queued, run, model)


def _cancel_ui(queued, run, model):
    if not queued:
        raise gr.Error("no queued job is selected", print_exception=False)
    return _ui(train_stop(queued), queued, run, model)


def known_datasets() -> list[str]:
    found = []
    for root in data_roots():
        if root.is_dir():
            found += [str(p) for p in sorted(root.iterdir()) if p.is_dir() and not p.name.startswith((".", "_"))]
    return found


def _preset_fields(task, preset):
    try:
        options = preset_options(task, preset)
    except ValueError:
        return [gr.update()] * 6
    return (options.get("max_steps") or 0, options["batch_size"], options["ngf"], options["crop_size"],
            options["netG"], f"*{PRESET_NOTES.get(preset, '')}*  \nData: {TASK_HINTS.get(task, '')}")


def _source_fields(source):
    return [gr.update(visible=source == choice) for choice in SOURCES]


def build(demo: gr.Blocks) -> None:
    enabled, why = training_enabled()
    local_ok, local_why = local_data_allowed()
    sources = list(SOURCES) if local_ok else list(SOURCES[1:])
    datasets = known_datasets() if local_ok else []
    names = sorted(set(named_datasets("pix2pix")) | set(named_datasets("cycle_gan")))
    first = preset_options("pix2pix", "CPU-tiny")
    upload_limit = min(max_dataset_bytes(), common.max_upload_bytes())   # ours and Gradio's (every upload)
    with gr.Tab("Train", id="train") as tab:
        if not enabled:
            gr.Markdown(f"**{why}**", elem_id="train-disabled")
        with gr.Row():
            with gr.Column(scale=4):
                task = gr.Radio(list(TASKS), value="pix2pix", label="Task", interactive=enabled)
                source = gr.Radio(sources, value=sources[0], label="Dataset", interactive=enabled,
                                  info=None if local_ok else local_why, elem_id="train-source")
                with gr.Column(visible=local_ok) as folder_row:   # one above the other: paths are long
                    dataroot = gr.Textbox("", label="Dataset folder",
                                          placeholder="a folder of your own, or pick one of the known datasets",
                                          info="must be inside: " + ", ".join(str(r) for r in data_roots()),
                                          interactive=enabled, elem_id="train-dataroot")
                    picker = gr.Dropdown(datasets, value=None, label="Known datasets",
                                         interactive=enabled and bool(datasets))
                dataset_zip = gr.File(label=f"Dataset archive (.zip or .tar.gz, at most "
                                            f"{upload_limit // 2**20} MB)", file_count="single",
                                      file_types=[".zip", ".tar", ".gz", ".tgz"], type="filepath",
                                      visible=not local_ok, interactive=enabled, elem_id="train-zip")
                dataset_name = gr.Dropdown(names, value="", label="Named dataset (pix2pix / CycleGAN collections)",
                                           info="found in the dataset folders or the download cache, else "
                                                "downloaded where a network exists",
                                           allow_custom_value=True, visible=False, interactive=enabled,
                                           elem_id="train-named")
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
                        load_size = gr.Number(0, label="load size (0 = crop × 286/256)", precision=0, minimum=0)
                        netG = gr.Textbox(first["netG"], label="netG")
                    with gr.Row():
                        netD = gr.Dropdown(list(NET_D), value="basic", label="netD (basic = 70×70, none = L1 only)")
                        n_layers_D = gr.Slider(1, 5, value=3, step=1, label="n_layers_D (for netD n_layers)")
                        lambda_L1 = gr.Number(100.0, label="λ L1", minimum=0)
                with gr.Row():
                    start = gr.Button("▶ Start (or queue)", variant="primary", interactive=enabled,
                                      elem_id="train-start")
                    stop = gr.Button("■ Stop", variant="stop", interactive=enabled, elem_id="train-stop")
                with gr.Accordion("Queue and resume", open=False):
                    with gr.Row():
                        queued = gr.Dropdown([], value=None, label="Queued jobs", allow_custom_value=True,
                                             interactive=enabled, elem_id="train-queued")
                        cancel = gr.Button("Cancel queued job", interactive=enabled, elem_id="train-cancel")
                    with gr.Row():
                        run = gr.Dropdown([], value=None, label="Resumable runs (with a checkpoint)",
                                          allow_custom_value=True, interactive=enabled, elem_id="train-run")
                        resume_steps = gr.Number(0, label="max steps (0 = as saved)", precision=0, minimum=0)
                        resume = gr.Button("⟳ Resume", interactive=enabled, elem_id="train-resume")
                with gr.Accordion("Trained models: download or push", open=False):
                    model = gr.Dropdown([], value=None, label="Trained model (runs/NAME/model)",
                                        allow_custom_value=True, elem_id="train-model")
                    with gr.Row():
                        download = gr.Button("⬇ Download zip", elem_id="train-download")
                        model_file = gr.File(label="Model zip", interactive=False, elem_id="train-zipfile")
                    with gr.Row():
                        repo_id = gr.Textbox("", label="Hub repository", placeholder="owner/name")
                        token = gr.Textbox("", label="Hub token (write access)", type="password")
                    push = gr.Button("Push to Hub", elem_id="train-push")
                    push_message = gr.Markdown(elem_id="train-push-message")
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
        signature = gr.State("")
        with gr.Column(visible=False):
            api_json = gr.JSON(label="status")
            api_html = gr.HTML(label="summary")
            api_plot = gr.LinePlot(x="step", y="value", color="loss", label="losses")
            api_sample = gr.Image(type="pil", format="png", label="sample")
            api_stop_name = gr.Textbox("", label="name")
            api_start = gr.Button("train_start")
            api_resume = gr.Button("train_resume")
            api_status = gr.Button("train_status")
            api_stop = gr.Button("train_stop")

    fields = [task, dataroot, preset, name, max_steps, lr, batch_size, ngf, crop_size, netG, netD, n_layers_D,
              lambda_L1, direction, derive]
    pickers = [queued, run, model]
    ui_outputs = [raw, status, plot, sample, timer, *pickers, signature]
    fast = dict(api_visibility="private", queue=False)
    start.click(_start_ui, [source, dataset_zip, dataset_name, *fields, load_size, *pickers], ui_outputs,
                api_visibility="private", concurrency_limit=1, concurrency_id="training")
    resume.click(_resume_ui, [run, resume_steps, *pickers], ui_outputs, api_visibility="private",
                 concurrency_limit=1, concurrency_id="training")
    stop.click(_stop_ui, pickers, ui_outputs, **fast)
    cancel.click(_cancel_ui, pickers, ui_outputs, **fast)
    timer.tick(_tick, [*pickers, signature], ui_outputs, **fast)
    demo.load(_tick, [*pickers, signature], ui_outputs, **fast)
    tab.select(lambda *values: _tick(*values, None), pickers, ui_outputs, **fast)
    source.change(_source_fields, source, [folder_row, dataset_zip, dataset_name], **fast)
    picker.change(lambda d: d or gr.update(), picker, dataroot, **fast)
    for trigger in (task.change, preset.change):
        trigger(_preset_fields, [task, preset], [max_steps, batch_size, ngf, crop_size, netG, note], **fast)
    download.click(train_download, model, model_file, api_name="train_download")
    push.click(train_push, [model, repo_id, token], push_message, api_name="train_push")

    api_outputs = [api_json, api_html, api_plot, api_sample]
    api_start.click(train_start, [*fields, dataset_zip, dataset_name, load_size], api_outputs,
                    api_name="train_start", concurrency_limit=1, concurrency_id="training")
    api_resume.click(train_resume, [run, resume_steps], api_outputs, api_name="train_resume", concurrency_limit=1,
                     concurrency_id="training")
    api_status.click(train_status, None, api_outputs, api_name="train_status", concurrency_limit=None)
    api_stop.click(train_stop, api_stop_name, api_outputs, api_name="train_stop", concurrency_limit=None)
