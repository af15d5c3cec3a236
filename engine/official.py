"""Published reference models: download (or take from a Hub mirror), verify, convert and cache them.

`fetch_official(spec)` turns a catalogue entry into `<cache>/<name>/` (model.safetensors + config.json +
README.md) in one rename; on any failure its temporary folder is removed, so nothing half-written is
ever cached.
"""
from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path

from .downloads import download_file
from .zoo_base import (CARD_FILE, MIRROR_ENV, ChecksumError, ConnectionFailed, DownloadError, ModelUnavailable,
                       Progress, cache_dir, is_model_dir, offline_reason, sha256_file, with_base_url)

logger = logging.getLogger("engine.zoo")


def _unavailable_message(name: str, reason: str) -> str:
    return (f"{name} is not downloaded and this machine is offline ({reason}): run "
            f"`python -m engine download-model {name}` on a machine with internet, or copy its folder "
            f"(model.safetensors + config.json) to {cache_dir() / name}")


def _model_config(spec: dict, origin: str, digest: str | None):
    from .config import ModelConfig
    arch = spec.get("architecture") or {}
    size = int(spec.get("input_size") or 256)
    return ModelConfig(
        task=spec["task"], netG=arch.get("netG", "resnet_9blocks"), ngf=int(arch.get("ngf", 64)),
        norm=arch.get("norm", "instance"), use_dropout=bool(arch.get("use_dropout", False)),
        input_nc=int(arch.get("input_nc", 3)), output_nc=int(arch.get("output_nc", 3)), netD=None,
        direction=spec.get("direction", "AtoB"), input_kind=spec.get("input_kind", "photo"),
        output_kind=spec.get("output_kind", "photo"),
        color_space="lab" if spec["task"] == "colorization" else "rgb",
        load_size=size, crop_size=size, name=spec["name"], description=spec.get("description", ""),
        training={"source": f"official {spec.get('family', '')} model {spec.get('official_name') or spec['name']}",
                  "url": origin, "download_sha256": digest,
                  "trained_with_netD": arch.get("netD"), "license": spec.get("license", "")})


def _card(spec: dict, origin: str, digest: str | None) -> str:
    arch = spec.get("architecture") or {}
    lines = [f"# {spec.get('title') or spec['name']}", "", spec.get("description", ""), "",
             f"* zoo name: `{spec['name']}` ({spec['task']}, {spec.get('direction', 'AtoB')})",
             f"* generator: {arch.get('netG')}, ngf {arch.get('ngf')}, norm {arch.get('norm')}, "
             f"dropout {arch.get('use_dropout')}",
             f"* input: {spec.get('input_kind', 'photo')} at {spec.get('input_size') or 256}px; "
             f"output: {spec.get('output_kind', 'photo')}",
             f"* converted from `{origin}` (sha256 {digest or 'unknown'})"]
    if spec.get("data"):
        lines.append(f"* training data: {spec['data']}")
    if spec.get("license"):
        lines.append(f"* license: {spec['license']}")
    return "\n".join(lines) + "\n"


def _mirror_file(repo_id: str, filename: str, local_only: bool) -> Path:
    from huggingface_hub import hf_hub_download
    return Path(hf_hub_download(repo_id, filename, local_files_only=local_only))


def fetch_official(spec: dict, progress: Progress | None, show_progress: bool, replace: bool = False) -> Path:
    """Download (or take from a Hub mirror), verify and convert one published model into the cache."""
    name = spec["name"]
    official = spec.get("official_name") or name
    expected = (spec.get("download_sha256") or "").lower() or None
    reason = offline_reason()
    root = cache_dir()
    root.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{name}.", suffix=".partial", dir=root))
    try:
        source: Path | None = None
        origin = digest = None
        mirror = spec.get("hub_repo") or os.environ.get(MIRROR_ENV)
        if mirror:
            try:
                source = _mirror_file(mirror, f"{official}.pth", local_only=reason is not None)
                origin, digest = f"hf://{mirror}/{official}.pth", sha256_file(source)
                if expected and digest != expected:
                    raise ChecksumError(f"{origin} has sha256 {digest}, expected {expected}; nothing was cached")
            except ChecksumError:
                raise
            except Exception as e:  # noqa: BLE001 - any mirror failure: fall back to the official URL
                logger.warning("Hub mirror %s failed for %s (%s); trying the official URL", mirror, name, e)
                source = None
        if source is None:
            if reason is not None:
                raise ModelUnavailable(_unavailable_message(name, reason))
            if not spec.get("url"):
                raise ModelUnavailable(f"{name} has no download URL and is not on this machine")
            origin = with_base_url(spec["url"])
            source = work / f"{official}.pth"
            try:
                digest = download_file(origin, source, expected_sha256=expected, progress=progress, desc=name,
                                       show_progress=show_progress)
            except ConnectionFailed as e:
                raise ModelUnavailable(_unavailable_message(name, str(e))) from e
        from .checkpoint import CheckpointError, import_official
        out = work / "model"
        try:
            import_official(source, out, _model_config(spec, origin, digest))
        except CheckpointError as e:
            raise DownloadError(f"{name}: the downloaded checkpoint does not fit its catalogue architecture ({e})") from e
        (out / CARD_FILE).write_text(_card(spec, origin, digest), encoding="utf-8")
        final = root / name
        if final.exists() and (replace or not is_model_dir(final)):
            os.rename(final, work / "old")  # a stray folder without weights, or --force: replace it
        try:
            os.rename(out, final)
        except OSError:
            if not is_model_dir(final):  # anything but "another process finished first"
                raise
        logger.info("%s: cached in %s (sha256 of download %s)", name, final, digest)
        return final
    finally:
        shutil.rmtree(work, ignore_errors=True)
