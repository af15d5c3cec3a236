"""Model directories on the Hugging Face Hub: download (or find in the HF cache), load, and push.

    hub_snapshot("owner/repo")                  # local folder with model.safetensors + config.json + README.md
    load_from_hub("owner/repo")                 # a Translator, loaded once per process
    push_to_hub("runs/facades/model", "owner/facades-pix2pix")

huggingface_hub is imported on first use only.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from .model_cache import device_key, load_translator, memoized
from .zoo_base import (CARD_FILE, CONFIG_FILE, HUB_FILES, HUB_PREFIX, MODEL_FILE, ModelUnavailable, UnknownModel,
                       ZooError, is_model_dir, is_offline, offline_reason)


def hub_cached_dir(repo_id: str, revision: str | None = None) -> Path | None:
    """The folder of a Hub model already in the HF cache (model.safetensors + config.json), else None."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    found = [try_to_load_from_cache(repo_id, f, revision=revision) for f in (MODEL_FILE, CONFIG_FILE)]
    if all(isinstance(f, str) for f in found) and Path(found[0]).parent == Path(found[1]).parent:
        return Path(found[0]).parent
    return None


def hub_snapshot(repo_id: str, *, revision: str | None = None, token: str | None = None,
                 cache_dir: str | Path | None = None, name: str | None = None) -> Path:
    """Download (or find in the HF cache) model.safetensors + config.json + README.md of a Hub repo."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.utils import LocalEntryNotFoundError, RepositoryNotFoundError

    label = name or f"{HUB_PREFIX}{repo_id}"
    reason = offline_reason()
    try:
        folder = snapshot_download(repo_id, revision=revision, allow_patterns=list(HUB_FILES), token=token,
                                   cache_dir=cache_dir, local_files_only=reason is not None)
    except RepositoryNotFoundError as e:
        raise UnknownModel(f"{label}: no model repository {repo_id} on the Hub (private? pass a token or log in "
                           "with `hf auth login`)") from e
    except LocalEntryNotFoundError as e:
        why = reason or "the Hub cannot be reached"
        raise ModelUnavailable(f"{label} is not in the Hugging Face cache and this machine is offline ({why}): "
                               f"load it once with internet access, or copy the cache (HF_HUB_CACHE)") from e
    except Exception as e:
        if type(e).__name__ == "IncompleteSnapshotError":
            raise ModelUnavailable(f"{label}: the cached copy is incomplete and the Hub cannot be reached") from e
        raise
    folder = Path(folder)
    if not is_model_dir(folder):
        raise ZooError(f"{label}: {repo_id} holds no {MODEL_FILE} + {CONFIG_FILE}; not an i2i-studio model")
    return folder


def load_from_hub(repo_id: str, device="auto", *, revision: str | None = None, token: str | None = None,
                  cache_dir: str | Path | None = None, with_discriminators: bool = False, **options):
    """A `Translator` for a model directory pushed to the Hub (`push_to_hub`), loaded once per process."""
    key = ("hub", repo_id, revision, device_key(device), with_discriminators, tuple(sorted(options.items())))
    return memoized(key, lambda: load_translator(
        hub_snapshot(repo_id, revision=revision, token=token, cache_dir=cache_dir), device, with_discriminators,
        options))


def _front_matter(config: dict) -> str:
    tags = ["image-to-image", "i2i-studio", {"cycle_gan": "cyclegan"}.get(config.get("task"), config.get("task"))]
    return ("---\nlibrary_name: pytorch\npipeline_tag: image-to-image\ntags:\n"
            + "".join(f"- {t}\n" for t in tags if t) + "---\n\n")


def push_to_hub(model_dir: str | Path, repo_id: str, token: str | None = None, private: bool = False, *,
                commit_message: str | None = None) -> str:
    """Upload model.safetensors + config.json + README.md (model card) of a model directory; return the repo URL.

    Creates the repository when needed (exist_ok). A card is generated when the folder has none, and a
    Hub metadata header is added to a card that lacks one (in the uploaded copy only).
    """
    from huggingface_hub import HfApi

    model_dir = Path(model_dir)
    if not is_model_dir(model_dir):
        raise ZooError(f"{model_dir} is not a model directory ({MODEL_FILE} + {CONFIG_FILE})")
    if is_offline():
        raise ZooError(f"cannot push {model_dir} to {repo_id}: this machine is offline ({offline_reason()})")
    config = json.loads((model_dir / CONFIG_FILE).read_text(encoding="utf-8"))
    card_path = model_dir / CARD_FILE
    card = card_path.read_text(encoding="utf-8") if card_path.is_file() else (
        f"# {config.get('name') or model_dir.name}\n\n{config.get('description', '')}\n\n"
        f"{config.get('task')} model ({config.get('netG')}, ngf {config.get('ngf')}). Load it with "
        f"`engine.zoo.load(\"hub:{repo_id}\")`.\n")
    if not card.startswith("---"):
        card = _front_matter(config) + card
    api = HfApi(token=token)
    with tempfile.TemporaryDirectory(prefix="i2i-push-") as staging:
        staging = Path(staging)
        for filename in (MODEL_FILE, CONFIG_FILE):
            try:
                os.link(model_dir / filename, staging / filename)
            except OSError:
                shutil.copy2(model_dir / filename, staging / filename)
        (staging / CARD_FILE).write_text(card, encoding="utf-8")
        url = api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
        api.upload_folder(repo_id=repo_id, folder_path=staging, repo_type="model", allow_patterns=list(HUB_FILES),
                          commit_message=commit_message or f"Upload {config.get('name') or model_dir.name}")
    return str(url)
