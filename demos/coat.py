"""Tab "Coat colour": one StarGAN generator G(x, c) shows a cat's face in every coat (black, ginger,
grey/tabby, white) and the round trips G(G(x, c), own coat) back to the cat's own coat."""
from __future__ import annotations


import gradio as gr

from .coat_images import (EXAMPLE_FRAMING, MAX_ZOOM, Recoloring, centre_from_click, coat_label, crop_preview,
                          preview_size, recolor_crop, square_crop)
from .common import checked_number, guarded, max_side, open_photo, user_error
from .first_view import ASSETS, first_view
from .models import ModelEntry, picker, registry
from .settings import weights_dir

EXAMPLE = ASSETS / "chelsea.jpg"   # scikit-image's "chelsea" (CC0)
AUTO = "auto"

EXPLANATION = """
### How it works: one generator for every coat (StarGAN)
CycleGAN needs a pair of generators for each pair of domains; **StarGAN** (Choi et al. 2018) trains one
generator **G(x, c)** that takes the target domain **c** as a second input, here a coat colour.

- **Adversarial loss**: G(x, c) must look real to a discriminator D.
- **Domain classification**: D has a second head that tells coats apart; it learns on real faces, and G
  is trained until D classifies G(x, c) as coat **c**.
- **Reconstruction**: translating back to the cat's own coat must give the input again,
  G(G(x, c), c_x) ≈ x (L1, weight 10), so only the coat changes, not the face, eyes or pose.

The bottom row shows those round trips, one through each coat: the closer to x (higher PSNR), the
more of the cat G kept.
"""
FRAMING_HELP = """
**Framing the face.** The model was trained on square crops of cat faces (ears to chin) at 128 px, so
the square matters more than the photo. Move it with the sliders, or **click the cat's face** in the
preview to centre it there; zoom 1 is the largest square that fits. (There is no automatic face
detector: this OpenCV build has no cascade files, and framing by hand is more reliable on cats.)
**Your cat's coat**: *auto* guesses it as the coat the model changes least, G(x, c_x) ≈ x; pick it
yourself when the guess is wrong.
"""
NO_MODEL = ("**The coat-colour model is not installed yet.** This tab needs a StarGAN model "
            "(`task: stargan`, normally `weights/catcoats`) in `{folder}`; see docs/stargan.md for how it is "
            "trained and exported. You can still frame the face: the crop is shown, the coats are not.")
NO_MODEL_API = ("no coat-colour (StarGAN) model is installed: the Coat colour tab needs one, normally "
                "weights/catcoats, in {folder} (docs/stargan.md)")
NO_PHOTO = "*Upload a cat photo (or take one with the webcam).*"


def coat_models() -> list[ModelEntry]:
    return registry.models("coat")


def _framing(zoom, centre_x, centre_y) -> tuple[float, float, float]:
    return checked_number(zoom, "zoom"), checked_number(centre_x, "centre_x"), checked_number(centre_y, "centre_y")


def _source(coat: str | None, domains: list[str]) -> str | None:
    """The cat's own coat by name or label, or None for auto."""
    coat = (coat or AUTO).strip()
    if coat == AUTO:
        return None
    for domain in domains:
        if coat in (domain, coat_label(domain)):
            return domain
    raise user_error(f"unknown coat {coat!r}; choose auto or one of: {', '.join(domains)}")


def _run(crop, coat: str | None, model: str | None) -> tuple[Recoloring, ModelEntry]:
    entry = registry.get("coat", model or None)
    translator = registry.translator(entry)
    return recolor_crop(translator, crop, _source(coat, translator.domains)), entry


def _galleries(result: Recoloring) -> tuple[list, list]:
    coats = [(image, coat_label(name) + (" (own coat)" if name == result.source else ""))
             for name, image in result.coats.items()]
    back = [(image, f"via {coat_label(name)}: {result.rec_psnr[name]:.1f} dB")
            for name, image in result.reconstructions.items()]
    return coats, back


def _note(result: Recoloring, entry: ModelEntry) -> str:
    how = "guessed: the coat the model changes least" if result.guessed else "as you chose"
    change = ", ".join(f"{coat_label(n)} {v:.1f}" for n, v in result.change.items())
    mean_psnr = sum(result.rec_psnr.values()) / max(1, len(result.rec_psnr))
    return (f"Model: {entry.summary()}  \nOwn coat: **{coat_label(result.source)}** ({how}). Mean change of "
            f"each coat from x (0-255): {change}. Round trips back to {coat_label(result.source)}: mean PSNR "
            f"{mean_psnr:.1f} dB (at the model's {entry.info.get('crop_size', '?')} px).")


@guarded
def recolor_coat(photo, zoom=1.0, centre_x=50.0, centre_y=50.0, coat: str = AUTO, model: str = ""):
    """API: (the square face crop x, x in every coat as a gallery, the round trips back to the cat's own
    coat as a gallery, a note). The crop is the square of side (short side / zoom) centred at
    (centre_x, centre_y) percent of the photo; coat is the cat's own coat, or "auto" to guess it."""
    if not coat_models():
        raise user_error(NO_MODEL_API.format(folder=weights_dir()))
    image = open_photo(photo, what="photo", limit=max_side())
    crop = square_crop(image, *_framing(zoom, centre_x, centre_y))
    result, entry = _run(crop, coat, model)
    return (crop, *_galleries(result), _note(result, entry))


@guarded
def recolor_ui(photo, zoom, centre_x, centre_y, coat, model):
    """The tab's view: (preview, crop, coats, round trips, note); without a model, the crop and a message."""
    if photo is None:
        return None, None, [], [], NO_PHOTO
    image = open_photo(photo, what="photo", limit=max_side())
    framing = _framing(zoom, centre_x, centre_y)
    preview, crop = crop_preview(image, *framing), square_crop(image, *framing)
    if not coat_models():
        return preview, crop, [], [], NO_MODEL.format(folder=weights_dir())
    result, entry = _run(crop, coat, model)
    return (preview, crop, *_galleries(result), _note(result, entry))


@guarded
def frame_preview(photo, zoom, centre_x, centre_y):
    """Only the framing preview (while a slider moves)."""
    if photo is None:
        return None
    return crop_preview(open_photo(photo, what="photo", limit=max_side()), *_framing(zoom, centre_x, centre_y))


def new_photo(photo, coat, model):
    """A new photo starts from the largest centred square."""
    return (1.0, 50.0, 50.0, *recolor_ui(photo, 1.0, 50.0, 50.0, coat, model))


@guarded
def click_to_centre(photo, zoom, coat, model, evt: gr.SelectData):
    """Centre the square where the preview was clicked, and recolour."""
    if photo is None or not evt.index:
        return (gr.update(),) * 7
    size = preview_size(open_photo(photo, what="photo", limit=max_side()).size)
    centre_x, centre_y = centre_from_click(size, *evt.index[:2])
    return (centre_x, centre_y, *recolor_ui(photo, zoom, centre_x, centre_y, coat, model))


def _first_view(shown: bool, model: str):
    """The example cat framed and recoloured, the first time this page opens the tab (once per process and
    model); without a coat model, its framing and the message."""
    if not coat_models():
        if shown:
            return (*[gr.update()] * 5, True)
        return (*recolor_ui(str(EXAMPLE), *EXAMPLE_FRAMING, AUTO, None), True)
    entry = registry.get("coat", model or None)
    key = ("coat", entry.name, str(entry.path))
    return first_view(shown, key, lambda: recolor_ui(str(EXAMPLE), *EXAMPLE_FRAMING, AUTO, entry.name), 5)


def _coat_choices(model: str | None = None) -> list[tuple[str, str]]:
    """auto and the coats of `model` (default: the tab's first model)."""
    try:
        domains = registry.get("coat", model or None).info.get("domains", [])
    except LookupError:
        domains = []
    return [("auto (guess)", AUTO)] + [(coat_label(d), d) for d in domains]


def refresh_pickers(current_model, current_coat):
    """The model dropdown and the coat choices for the models found now (some may have been exported since)."""
    model_update = picker("coat", current_model)
    choices = _coat_choices(model_update.get("value"))
    coat = current_coat if current_coat in [value for _, value in choices] else AUTO
    return model_update, gr.update(choices=choices, value=coat)


def build(demo: gr.Blocks) -> None:
    names = [(e.label, e.name) for e in coat_models()]
    with gr.Tab("Coat colour (StarGAN)", id="coat") as tab:
        with gr.Row():
            with gr.Column(scale=5):
                with gr.Row():
                    photo = gr.Image(value=str(EXAMPLE), label="Cat photo (upload, webcam or paste)", type="filepath",
                                     sources=["upload", "webcam", "clipboard"], height=300, elem_id="coat-input")
                    preview = gr.Image(label="Framing (click the face to centre)", type="pil",
                                       format="png", interactive=False, height=300, elem_id="coat-preview")
                zoom = gr.Slider(1.0, MAX_ZOOM, value=EXAMPLE_FRAMING[0], step=0.05,
                                 label="Zoom (1 = the largest square that fits)", elem_id="coat-zoom")
                with gr.Row():
                    centre_x = gr.Slider(0, 100, value=EXAMPLE_FRAMING[1], step=0.5, label="Centre: % from the left",
                                         elem_id="coat-centre-x")
                    centre_y = gr.Slider(0, 100, value=EXAMPLE_FRAMING[2], step=0.5, label="Centre: % from the top",
                                         elem_id="coat-centre-y")
                with gr.Row():
                    coat = gr.Radio(_coat_choices(), value=AUTO, label="Your cat's coat", elem_id="coat-source")
                    model = gr.Dropdown(names, value=names[0][1] if names else None, label="Model",
                                        interactive=bool(names), elem_id="coat-model")
                run_btn = gr.Button("Recolour", variant="primary", elem_id="coat-run")
            with gr.Column(scale=3, elem_classes="explain"):
                gr.Markdown(EXPLANATION + FRAMING_HELP)
        with gr.Row():
            crop = gr.Image(label="x: the model's input", type="pil", format="png", interactive=False,
                            buttons=["download", "fullscreen"], scale=1, elem_id="coat-crop")
            coats = gr.Gallery(label="G(x, c): every coat", columns=4, height=260, format="png", scale=4,
                               object_fit="contain", elem_id="coat-coats")
        with gr.Row():
            info = gr.Markdown(elem_id="coat-info")
            back = gr.Gallery(label="G(G(x, c), own coat): back to the cat's own coat (PSNR against x)", columns=4,
                              height=260, format="png", scale=4, object_fit="contain", elem_id="coat-reconstructions")
        example_shown = gr.State(False)

        with gr.Column(visible=False):
            api_photo = gr.File(label="photo", file_count="single")
            api_zoom = gr.Number(value=1.0, label="zoom")
            api_centre_x = gr.Number(value=50.0, label="centre_x")
            api_centre_y = gr.Number(value=50.0, label="centre_y")
            api_coat = gr.Textbox(value=AUTO, label="coat")
            api_model = gr.Textbox(value="", label="model")
            api_crop = gr.Image(type="pil", format="png", label="crop")
            api_coats = gr.Gallery(format="png", label="coats")
            api_back = gr.Gallery(format="png", label="reconstructions")
            api_info = gr.Markdown(label="info")
            api_btn = gr.Button("recolor_coat")

    run = dict(concurrency_limit=1, concurrency_id="inference", api_visibility="private", trigger_mode="always_last")
    framing = [photo, zoom, centre_x, centre_y, coat, model]
    view = [preview, crop, coats, back, info]
    run_btn.click(recolor_ui, framing, view, **run)
    for control in (zoom, centre_x, centre_y):
        control.input(frame_preview, [photo, zoom, centre_x, centre_y], preview, api_visibility="private",
                      queue=False, trigger_mode="always_last")
        control.release(recolor_ui, framing, view, **run)
    coat.input(recolor_ui, framing, view, **run)
    model.input(refresh_pickers, [model, coat], [model, coat], api_visibility="private", queue=False).then(
        recolor_ui, framing, view, **run)
    photo.input(new_photo, [photo, coat, model], [zoom, centre_x, centre_y, *view], **run)
    preview.select(click_to_centre, [photo, zoom, coat, model], [centre_x, centre_y, *view], **run)
    tab.select(_first_view, [example_shown, model], [*view, example_shown], **run)
    for trigger in (demo.load, tab.select):   # models trained or exported meanwhile
        trigger(refresh_pickers, [model, coat], [model, coat], api_visibility="private", queue=False)
    api_btn.click(recolor_coat, [api_photo, api_zoom, api_centre_x, api_centre_y, api_coat, api_model],
                  [api_crop, api_coats, api_back, api_info], api_name="recolor_coat", concurrency_limit=1,
                  concurrency_id="inference")
