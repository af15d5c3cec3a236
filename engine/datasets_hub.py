"""Datasets by name: the official pix2pix and CycleGAN archives, downloaded once and extracted safely.

    from engine.datasets_hub import download_dataset, resolve_dataset, safe_extract
    root = download_dataset("facades")                        # data/pix2pix/facades/{train,val,test}
    root = download_dataset("horse2zebra", kind="cycle_gan")  # data/cycle_gan/horse2zebra/{trainA,...}
    root = resolve_dataset("my/folder")                       # a local folder is returned as it is
    safe_extract("upload.zip", "data/uploads/mine")           # what the app uses for uploaded zips

Datasets go to `root` (default `$I2I_DATASETS_DIR`, else the repository's data/ folder) under
`<kind>/<name>/`. Archives are checked member by member before anything is written (no path may
escape the target, no links outside it, no device files, limits on size and member count, counting
the bytes actually written too), extracted into a temporary folder and renamed into place, so a
dataset folder either is complete or does not exist.
"""
from __future__ import annotations

import os
import re
import shutil
import stat
import tarfile
import tempfile
import threading
import zipfile
import zlib
from pathlib import Path

from .downloads import download_file
from .zoo_base import ConnectionFailed, ZooError, offline_reason, with_base_url

REPO = Path(__file__).resolve().parents[1]
DATASETS_ENV = "I2I_DATASETS_DIR"
KINDS = ("pix2pix", "cycle_gan")
PIX2PIX_URL = "http://efrosgans.eecs.berkeley.edu/pix2pix/datasets/{name}.tar.gz"
CYCLEGAN_URL = "http://efrosgans.eecs.berkeley.edu/cyclegan/datasets/{name}.zip"
DEFAULT_MAX_BYTES = 4 * 2**30
DEFAULT_MAX_MEMBERS = 200_000
CHUNK = 1 << 20

# name -> (what it holds, extraction limit in bytes when above the default)
DATASETS: dict[str, dict[str, tuple[str, int | None]]] = {
    "pix2pix": {
        "facades": ("400 CMP facades, photo | label map (labels->photo is BtoA)", None),
        "cityscapes": ("2975 Cityscapes street scenes, photo | label map", None),
        "maps": ("1096 aerial photo | Google Maps tile pairs", None),
        "edges2shoes": ("50k shoe edge maps | photos (UT Zappos50K)", 8 * 2**30),
        "edges2handbags": ("137k handbag edge maps | photos (Amazon)", 24 * 2**30),
        "night2day": ("20k night | day webcam pairs (Transient Attributes)", 6 * 2**30),
    },
    "cycle_gan": {
        "apple2orange": ("ImageNet apples | oranges", None),
        "summer2winter_yosemite": ("Yosemite summer | winter photos (Flickr)", None),
        "horse2zebra": ("ImageNet horses | zebras", None),
        "monet2photo": ("Monet paintings | landscape photos", None),
        "cezanne2photo": ("Cézanne paintings | landscape photos", None),
        "ukiyoe2photo": ("Ukiyo-e prints | landscape photos", None),
        "vangogh2photo": ("Van Gogh paintings | landscape photos", None),
        "maps": ("aerial photos | Google Maps tiles (unpaired)", None),
        "cityscapes": ("Cityscapes photos | label maps (unpaired)", None),
        "facades": ("CMP facade photos | label maps (unpaired)", None),
        "iphone2dslr_flower": ("iPhone | DSLR flower photos (Flickr)", None),
    },
}
_KIND_ALIASES = {"pix2pix": "pix2pix", "cycle_gan": "cycle_gan", "cyclegan": "cycle_gan"}


class ArchiveError(ValueError):
    """An archive that is unreadable or unsafe to extract; nothing was written."""


class UnsafeArchiveError(ArchiveError):
    """A member would escape the target, is a link or device, or lies about its size."""


class ArchiveTooLarge(ArchiveError):
    """More bytes or members than the limits allow (e.g. a zip bomb)."""


class UnknownDataset(ZooError, LookupError):
    """Neither a folder nor a known dataset name."""


class DatasetUnavailable(ZooError):
    """Not downloaded, and this machine is offline."""


def datasets_dir() -> Path:
    return Path(os.environ.get(DATASETS_ENV) or REPO / "data").expanduser()


def _kind(kind: str) -> str:
    try:
        return _KIND_ALIASES[kind]
    except KeyError:
        raise ValueError(f"unknown dataset kind {kind!r}; choose pix2pix or cycle_gan") from None


def dataset_url(name: str, kind: str = "pix2pix") -> str:
    kind = _kind(kind)
    if name not in DATASETS[kind]:
        raise UnknownDataset(f"unknown {kind} dataset {name!r}; known: {', '.join(DATASETS[kind])}")
    return with_base_url((PIX2PIX_URL if kind == "pix2pix" else CYCLEGAN_URL).format(name=name))


def _is_dataset_dir(path: Path) -> bool:
    return path.is_dir() and any(path.iterdir())


# -- safe extraction -------------------------------------------------------------------------------
_WINDOWS_DRIVE = re.compile(r"^[A-Za-z]:")


def _member_parts(name: str) -> list[str]:
    """The path components of an archive member, or UnsafeArchiveError if it could land outside."""
    if "\x00" in name:
        raise UnsafeArchiveError(f"member {name!r} has a NUL byte in its name")
    normalized = name.replace("\\", "/")
    if normalized.startswith("/") or _WINDOWS_DRIVE.match(normalized):
        raise UnsafeArchiveError(f"member {name!r} has an absolute path")
    parts = [p for p in normalized.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise UnsafeArchiveError(f"member {name!r} points outside the target ('..')")
    return parts


class _Extractor:
    """Writes members under `root` while enforcing the byte and member budgets."""

    def __init__(self, root: Path, max_bytes: int, max_members: int):
        self.root = root
        self.real_root = os.path.realpath(root)
        self.max_bytes = max_bytes
        self.max_members = max_members
        self.written = 0
        self.declared = 0
        self.members = 0
        self.files: dict[tuple[str, ...], Path] = {}

    def count(self, name: str, declared: int) -> None:
        self.members += 1
        if self.members > self.max_members:
            raise ArchiveTooLarge(f"archive has more than {self.max_members} members")
        if declared < 0:
            raise UnsafeArchiveError(f"member {name!r} declares a negative size")
        self.declared += declared
        if self.declared > self.max_bytes:
            raise ArchiveTooLarge(f"archive declares more than {self.max_bytes} bytes uncompressed")

    def target(self, name: str) -> tuple[tuple[str, ...], Path] | None:
        parts = _member_parts(name)
        if not parts:
            return None
        path = self.root.joinpath(*parts)
        real_parent = os.path.realpath(path.parent) if path.parent.exists() else None
        if real_parent is not None and os.path.commonpath([real_parent, self.real_root]) != self.real_root:
            raise UnsafeArchiveError(f"member {name!r} points outside the target")
        return tuple(parts), path

    def mkdir(self, name: str) -> None:
        found = self.target(name)
        if found is None:
            return
        parts, path = found
        if path.exists() and not path.is_dir():
            raise UnsafeArchiveError(f"member {name!r} is both a file and a directory")
        try:
            path.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError) as e:
            raise UnsafeArchiveError(f"member {name!r} conflicts with a file of the archive") from e

    def write(self, name: str, stream, declared: int) -> None:
        found = self.target(name)
        if found is None:
            raise UnsafeArchiveError(f"file member {name!r} has an empty name")
        parts, path = found
        if path.is_dir() or path.is_symlink():
            raise UnsafeArchiveError(f"member {name!r} conflicts with a directory of the archive")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError) as e:
            raise UnsafeArchiveError(f"member {name!r} conflicts with a file of the archive") from e
        size = 0
        with open(path, "wb") as out:
            while True:
                chunk = stream.read(CHUNK)
                if not chunk:
                    break
                size += len(chunk)
                self.written += len(chunk)
                if size > declared:
                    raise UnsafeArchiveError(f"member {name!r} holds more than its declared {declared} bytes")
                if self.written > self.max_bytes:
                    raise ArchiveTooLarge(f"archive expands to more than {self.max_bytes} bytes")
                out.write(chunk)
        self.files[parts] = path

    def copy_of(self, name: str, link_name: str) -> None:
        """A tar hard link: a copy of a regular file extracted earlier from the same archive."""
        try:
            source_parts = tuple(_member_parts(link_name))
        except UnsafeArchiveError as e:
            raise UnsafeArchiveError(f"hard link {name!r} -> {link_name!r} points outside the target") from e
        source = self.files.get(source_parts)
        if source is None:
            raise UnsafeArchiveError(f"hard link {name!r} -> {link_name!r} does not point to a file of the archive")
        with open(source, "rb") as stream:
            self.write(name, stream, source.stat().st_size)


def _extract_zip(archive: Path, extractor: _Extractor) -> None:
    with zipfile.ZipFile(archive) as zf:
        infos = zf.infolist()
        for info in infos:  # declared sizes and counts first: reject bombs before writing anything
            extractor.count(info.filename, info.file_size)
        for info in infos:
            _member_parts(info.filename)
            mode = info.external_attr >> 16
            kind = stat.S_IFMT(mode)
            if kind == stat.S_IFLNK:
                raise UnsafeArchiveError(f"member {info.filename!r} is a symbolic link; links are not allowed")
            if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
                raise UnsafeArchiveError(f"member {info.filename!r} is a special file (mode {oct(mode)})")
        for info in infos:
            if info.flag_bits & 0x1:
                raise UnsafeArchiveError(f"member {info.filename!r} is encrypted")
            if info.is_dir():
                extractor.mkdir(info.filename)
                continue
            with zf.open(info) as stream:
                extractor.write(info.filename, stream, info.file_size)


def _extract_tar(archive: Path, extractor: _Extractor) -> None:
    with tarfile.open(archive, "r:*") as tf:
        for member in tf:  # streaming: each member is checked before its data is written
            extractor.count(member.name, member.size if member.isreg() else 0)
            _member_parts(member.name)
            if member.issym():
                raise UnsafeArchiveError(f"member {member.name!r} is a symbolic link ({member.linkname!r}); "
                                         "links are not allowed")
            if member.islnk():
                extractor.copy_of(member.name, member.linkname)
            elif member.isdir():
                extractor.mkdir(member.name)
            elif member.isreg():
                if member.issparse():
                    raise UnsafeArchiveError(f"member {member.name!r} is a sparse file")
                stream = tf.extractfile(member)
                extractor.write(member.name, stream, member.size)
            else:
                raise UnsafeArchiveError(f"member {member.name!r} is a device, FIFO or other special file")


def _archive_format(path: Path) -> str:
    with open(path, "rb") as f:
        head = f.read(4)
    if head[:2] == b"PK":
        return "zip"
    if tarfile.is_tarfile(path):
        return "tar"
    raise ArchiveError(f"{path.name} is neither a zip nor a tar archive")


def safe_extract(archive_path: str | Path, target_dir: str | Path, max_bytes: int = DEFAULT_MAX_BYTES,
                 max_members: int = DEFAULT_MAX_MEMBERS) -> Path:
    """Extract a zip or tar (.tar, .tar.gz, .tgz, .tar.bz2, .tar.xz) into `target_dir`, safely and atomically.

    Rejects (ArchiveError, nothing written at `target_dir`) archives with members that escape the target
    (`..`, absolute paths, drive letters), symbolic links, hard links to anything but an earlier file of
    the archive, device files and FIFOs, encrypted members, more than `max_members` members or more than
    `max_bytes` uncompressed bytes (declared sizes are checked first, then bytes actually written are
    counted). Extraction goes to a temporary folder beside the target which is then renamed into place.
    `target_dir` must not exist or be an empty folder. Files get default permissions (no archive modes).
    """
    archive = Path(archive_path)
    target = Path(target_dir)
    if not archive.is_file():
        raise FileNotFoundError(f"archive not found: {archive}")
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise FileExistsError(f"{target} already exists and is not empty")
    fmt = _archive_format(archive)
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".extracting", dir=target.parent))
    try:
        extractor = _Extractor(work, max_bytes, max_members)
        try:
            (_extract_zip if fmt == "zip" else _extract_tar)(archive, extractor)
        except (zipfile.BadZipFile, tarfile.TarError, zlib.error, EOFError, NotImplementedError) as e:
            raise ArchiveError(f"{archive.name} is corrupt or truncated ({e})") from e
        if target.exists():
            target.rmdir()
        os.rename(work, target)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return target


# -- datasets by name ------------------------------------------------------------------------------
_locks: dict[Path, threading.Lock] = {}
_locks_guard = threading.Lock()


def _lock(path: Path) -> threading.Lock:
    with _locks_guard:
        return _locks.setdefault(path.resolve(), threading.Lock())


def _unavailable(name: str, kind: str, target: Path, reason: str) -> DatasetUnavailable:
    return DatasetUnavailable(
        f"dataset {name} ({kind}) is not downloaded and this machine is offline ({reason}): run "
        f"`python -m engine download-dataset {name} --kind {kind}` on a machine with internet and copy "
        f"the folder to {target}, or pass a local dataset folder")


def download_dataset(name: str, kind: str = "pix2pix", root: str | Path | None = None, progress=None, *,
                     show_progress: bool = True, force: bool = False, max_bytes: int | None = None,
                     max_members: int = DEFAULT_MAX_MEMBERS) -> Path:
    """Download and extract an official dataset into `root/<kind>/<name>` (once) and return that folder.

    `progress(done_bytes, total_bytes)` follows the download. The archive's single top-level folder
    (e.g. `facades/`) becomes `<name>/`. `max_bytes` defaults to 4 GiB, more for the big datasets.
    """
    kind = _kind(kind)
    url = dataset_url(name, kind)
    base = Path(root).expanduser() if root is not None else datasets_dir()
    target = base / kind / name
    limit = max_bytes or max(DEFAULT_MAX_BYTES, DATASETS[kind][name][1] or 0)
    with _lock(target):
        if _is_dataset_dir(target) and not force:
            return target
        reason = offline_reason()
        if reason is not None:
            raise _unavailable(name, kind, target, reason)
        target.parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f".{name}.", suffix=".partial", dir=target.parent))
        try:
            archive = work / url.rsplit("/", 1)[-1]
            try:
                download_file(url, archive, progress=progress, desc=name, show_progress=show_progress)
            except ConnectionFailed as e:
                raise _unavailable(name, kind, target, str(e)) from e
            extracted = safe_extract(archive, work / "extracted", max_bytes=limit, max_members=max_members)
            archive.unlink()
            children = [c for c in extracted.iterdir() if c.name != "__MACOSX"]
            source = children[0] if len(children) == 1 and children[0].is_dir() else extracted
            if target.exists():
                if force or not _is_dataset_dir(target):
                    shutil.rmtree(target)
            try:
                os.rename(source, target)
            except OSError:
                if not _is_dataset_dir(target):  # anything but "another process finished first"
                    raise
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return target


def resolve_dataset(name_or_path: str | Path, kind: str | None = None, root: str | Path | None = None, *,
                    download: bool = True, progress=None, show_progress: bool = True) -> Path:
    """A dataset folder: an existing local folder as it is, else a dataset by name (downloaded when needed).

    Names may carry their kind ("pix2pix:facades", "cycle_gan:facades"); a name that exists in both
    collections (facades, maps, cityscapes) needs `kind` unless only one of them is downloaded.
    """
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        return path
    text = str(name_or_path)
    prefix, sep, rest = text.partition(":")
    if sep and prefix in _KIND_ALIASES:
        kind, text = _KIND_ALIASES[prefix], rest
    base = Path(root).expanduser() if root is not None else datasets_dir()
    kinds = [_kind(kind)] if kind else [k for k in KINDS if text in DATASETS[k]]
    kinds = [k for k in kinds if text in DATASETS[k]]
    if not kinds:
        known = sorted({n for names in DATASETS.values() for n in names})
        raise UnknownDataset(f"{name_or_path!s} is neither a folder nor a known dataset "
                             f"(known: {', '.join(known)})")
    if len(kinds) > 1:
        present = [k for k in kinds if _is_dataset_dir(base / k / text)]
        if len(present) != 1:
            raise ValueError(f"{text} is both a pix2pix and a CycleGAN dataset: pass kind= "
                             f"(or write pix2pix:{text} / cycle_gan:{text})")
        kinds = present
    target = base / kinds[0] / text
    if _is_dataset_dir(target):
        return target
    if not download:
        raise _unavailable(text, kinds[0], target, "downloads disabled")
    return download_dataset(text, kinds[0], base, progress, show_progress=show_progress)
