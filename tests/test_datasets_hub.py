"""Datasets by name (download + cache + offline) and safe archive extraction (traversal, links, bombs)."""
import io
import os
import socket
import stat
import struct
import tarfile
import zipfile

import pytest

from engine import zoo
from engine.datasets_hub import (ArchiveError, ArchiveTooLarge, DatasetUnavailable, UnknownDataset,
                                 UnsafeArchiveError, download_dataset, resolve_dataset, safe_extract)
from local_http import FileServer


def tar_bytes(members: dict[str, bytes], top: str) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(f"{top}/{name}")
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def zip_bytes(members: dict[str, bytes], top: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(f"{top}/{name}", data)
    return buffer.getvalue()


FACADES = {"train/1.jpg": b"photo|labels 1", "train/2.jpg": b"photo|labels 2", "val/1.jpg": b"val 1"}
HORSES = {"trainA/1.jpg": b"horse", "trainB/1.jpg": b"zebra", "testA/1.jpg": b"horse test"}
FACADES_PATH = "/pix2pix/datasets/facades.tar.gz"
HORSES_PATH = "/cyclegan/datasets/horse2zebra.zip"


@pytest.fixture
def env(tmp_path, monkeypatch):
    server = FileServer()
    server.files[FACADES_PATH] = tar_bytes(FACADES, "facades")
    server.files[HORSES_PATH] = zip_bytes(HORSES, "horse2zebra")
    monkeypatch.setenv("I2I_OFFICIAL_BASE_URL", server.url)
    monkeypatch.setenv("I2I_DATASETS_DIR", str(tmp_path / "data"))
    for name in ("HF_HUB_OFFLINE", "I2I_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    yield server, tmp_path / "data"
    server.stop()


def tree(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


# -- datasets by name ------------------------------------------------------------------------------
def test_download_pix2pix_dataset_then_cached(env):
    server, data = env
    calls = []
    root = download_dataset("facades", progress=lambda done, total: calls.append((done, total)), show_progress=False)
    assert root == data / "pix2pix" / "facades"
    assert (root / "train" / "2.jpg").read_bytes() == b"photo|labels 2" and (root / "val" / "1.jpg").is_file()
    assert os.listdir(data / "pix2pix") == ["facades"]                    # no temporary leftovers
    size = len(server.files[FACADES_PATH])
    assert calls[-1] == (size, size)

    server.stop()                                                           # cached: no network needed
    assert download_dataset("facades", show_progress=False) == root
    assert resolve_dataset("facades") == root == resolve_dataset("pix2pix:facades")
    assert server.requests == [FACADES_PATH]


def test_download_cyclegan_dataset(env):
    server, data = env
    root = download_dataset("horse2zebra", kind="cycle_gan", show_progress=False)
    assert root == data / "cycle_gan" / "horse2zebra"
    assert tree(root) == ["testA", "testA/1.jpg", "trainA", "trainA/1.jpg", "trainB", "trainB/1.jpg"]
    assert resolve_dataset("horse2zebra") == root


def test_resolve_dataset(env, tmp_path):
    server, data = env
    folder = tmp_path / "my dataset"
    folder.mkdir()
    assert resolve_dataset(folder) == folder and resolve_dataset(str(folder)) == folder
    with pytest.raises(UnknownDataset, match="neither a folder nor a known dataset"):
        resolve_dataset(tmp_path / "missing")
    with pytest.raises(ValueError, match="both a pix2pix and a CycleGAN"):
        resolve_dataset("maps")
    with pytest.raises(DatasetUnavailable, match="facades"):
        resolve_dataset("facades", kind="pix2pix", download=False)
    assert resolve_dataset("facades", kind="pix2pix", show_progress=False) == data / "pix2pix" / "facades"
    assert resolve_dataset("facades") == data / "pix2pix" / "facades"     # only that one is downloaded
    with pytest.raises(UnknownDataset):
        download_dataset("nope")
    assert server.requests == [FACADES_PATH]


@pytest.mark.parametrize("variable", ["HF_HUB_OFFLINE", "I2I_OFFLINE"])
def test_offline_without_cache(env, monkeypatch, variable):
    server, data = env
    monkeypatch.setenv(variable, "1")
    with pytest.raises(DatasetUnavailable, match="facades") as info:
        download_dataset("facades")
    assert "offline" in str(info.value) and "download-dataset facades" in str(info.value)
    assert server.requests == [] and not (data / "pix2pix" / "facades").exists()


def test_unreachable_server(env, monkeypatch):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("I2I_OFFICIAL_BASE_URL", f"http://127.0.0.1:{port}")
    with pytest.raises(DatasetUnavailable, match="cannot reach"):
        download_dataset("facades", show_progress=False)


def test_truncated_download_caches_nothing(env):
    server, data = env
    server.truncate.add(FACADES_PATH)
    with pytest.raises(zoo.DownloadError, match="truncated"):
        download_dataset("facades", show_progress=False)
    assert os.listdir(data / "pix2pix") == []


def test_malicious_dataset_archive_is_rejected(env):
    server, data = env
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tf:
        info = tarfile.TarInfo("facades/../../escaped.txt")
        info.size = 3
        tf.addfile(info, io.BytesIO(b"bad"))
    server.files[FACADES_PATH] = buffer.getvalue()
    with pytest.raises(UnsafeArchiveError):
        download_dataset("facades", show_progress=False)
    assert os.listdir(data / "pix2pix") == [] and not (data / "escaped.txt").exists()


# -- safe extraction -------------------------------------------------------------------------------
def write_tar(path, entries):
    """entries: TarInfo-building tuples (name, kind, data_or_linkname)."""
    with tarfile.open(path, "w") as tf:
        for name, kind, payload in entries:
            info = tarfile.TarInfo(name)
            if kind == "file":
                info.size = len(payload)
                tf.addfile(info, io.BytesIO(payload))
                continue
            info.type = {"symlink": tarfile.SYMTYPE, "hardlink": tarfile.LNKTYPE, "chr": tarfile.CHRTYPE,
                         "fifo": tarfile.FIFOTYPE, "dir": tarfile.DIRTYPE}[kind]
            if kind in ("symlink", "hardlink"):
                info.linkname = payload
            tf.addfile(info)
    return path


def write_zip(path, entries):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, payload, mode in entries:
            info = zipfile.ZipInfo(name)
            info.compress_type = zipfile.ZIP_DEFLATED
            if mode is not None:
                info.external_attr = mode << 16
            zf.writestr(info, payload)
    return path


@pytest.fixture
def box(tmp_path):
    """An archive folder inside `tmp_path`; anything appearing elsewhere in tmp_path is an escape."""
    (tmp_path / "box").mkdir()
    return tmp_path


def assert_nothing_written(box, target):
    assert not target.exists()
    assert sorted(p.name for p in (box / "box").iterdir()) == ["archive"]
    assert not (box / "escaped.txt").exists() and not (box / "abs").exists()
    assert sorted(p.name for p in box.iterdir()) == ["box"]


def test_safe_extract_good_archives(tmp_path):
    tar = write_tar(tmp_path / "a.tar", [("d", "dir", None), ("d/x.txt", "file", b"x" * 10),
                                         ("d/sub/y.txt", "file", b"y"), ("d/copy.txt", "hardlink", "d/x.txt")])
    out = safe_extract(tar, tmp_path / "out")
    assert tree(out) == ["d", "d/copy.txt", "d/sub", "d/sub/y.txt", "d/x.txt"]
    assert (out / "d" / "copy.txt").read_bytes() == b"x" * 10 and not (out / "d" / "copy.txt").is_symlink()
    archive = write_zip(tmp_path / "a.zip", [("top/", b"", 0o40755), ("top/a.txt", b"a", 0o100644),
                                             ("top\\win.txt", b"w", None)])
    out = safe_extract(archive, tmp_path / "zipped")
    assert tree(out) == ["top", "top/a.txt", "top/win.txt"]
    (tmp_path / "empty").mkdir()
    assert safe_extract(archive, tmp_path / "empty") == tmp_path / "empty"
    with pytest.raises(FileExistsError):
        safe_extract(archive, tmp_path / "zipped")
    (tmp_path / "text.txt").write_text("not an archive")
    with pytest.raises(ArchiveError, match="neither a zip nor a tar"):
        safe_extract(tmp_path / "text.txt", tmp_path / "nope")


@pytest.mark.parametrize("entries", [
    [("ok.txt", "file", b"fine"), ("../escaped.txt", "file", b"bad")],
    [("a/../../escaped.txt", "file", b"bad")],
    [("/abs/escaped.txt", "file", b"bad")],
    [("link", "symlink", "../.."), ("link/escaped.txt", "file", b"bad")],
    [("link", "symlink", "/etc/passwd")],
    [("inside.txt", "symlink", "ok.txt")],
    [("hard", "hardlink", "../../escaped.txt")],
    [("hard", "hardlink", "/etc/passwd")],
    [("dev", "chr", None)],
    [("fifo", "fifo", None)],
], ids=["dotdot", "nested-dotdot", "absolute", "symlink-dir-outside", "symlink-abs", "symlink-inside",
        "hardlink-outside", "hardlink-abs", "char-device", "fifo"])
def test_tar_with_malicious_members_is_rejected(box, entries):
    archive = write_tar(box / "box" / "archive", entries)
    target = box / "box" / "target"
    with pytest.raises(UnsafeArchiveError):
        safe_extract(archive, target)
    assert_nothing_written(box, target)


@pytest.mark.parametrize("entries", [
    [("ok.txt", b"fine", None), ("../escaped.txt", b"bad", None)],
    [("/abs/escaped.txt", b"bad", None)],
    [("..\\escaped.txt", b"bad", None)],
    [("C:/escaped.txt", b"bad", None)],
    [("link", b"../../escaped.txt", stat.S_IFLNK | 0o777)],
    [("dev", b"", stat.S_IFCHR | 0o644)],
], ids=["dotdot", "absolute", "backslash-dotdot", "drive-letter", "symlink", "device"])
def test_zip_with_malicious_members_is_rejected(box, entries):
    archive = write_zip(box / "box" / "archive", entries)
    target = box / "box" / "target"
    with pytest.raises(UnsafeArchiveError):
        safe_extract(archive, target)
    assert_nothing_written(box, target)


def test_zip_bomb_by_declared_size(box):
    archive = write_zip(box / "box" / "archive", [("zeros.bin", b"\0" * 2_000_000, None)])
    assert archive.stat().st_size < 10_000
    target = box / "box" / "target"
    with pytest.raises(ArchiveTooLarge, match="1000000 bytes"):
        safe_extract(archive, target, max_bytes=1_000_000)
    assert_nothing_written(box, target)


def test_bomb_by_actual_bytes_hardlinks(box):
    """Declared sizes are small (hard links declare 0 bytes) but extraction would write 5x more."""
    entries = [("big.bin", "file", b"\0" * 300_000)] + [(f"copy{i}", "hardlink", "big.bin") for i in range(5)]
    archive = write_tar(box / "box" / "archive", entries)
    target = box / "box" / "target"
    with pytest.raises(ArchiveTooLarge, match="expands to more than"):
        safe_extract(archive, target, max_bytes=1_000_000)
    assert_nothing_written(box, target)


def test_zip_lying_about_its_size(box):
    """Headers claim 10 bytes, the data inflates to 2 MB: the extra bytes are never written."""
    archive = write_zip(box / "box" / "archive", [("zeros.bin", b"\0" * 2_000_000, None)])
    raw = bytearray(archive.read_bytes())
    local = raw.find(b"PK\x03\x04")
    central = raw.find(b"PK\x01\x02")
    struct.pack_into("<I", raw, local + 22, 10)     # local header: uncompressed size
    struct.pack_into("<I", raw, central + 24, 10)   # central directory: uncompressed size
    archive.write_bytes(bytes(raw))
    target = box / "box" / "target"
    with pytest.raises(ArchiveError):
        safe_extract(archive, target, max_bytes=1_000_000)
    assert_nothing_written(box, target)


def test_member_count_limit(box):
    archive = write_zip(box / "box" / "archive", [(f"f{i}.txt", b"x", None) for i in range(5)])
    target = box / "box" / "target"
    with pytest.raises(ArchiveTooLarge, match="more than 3 members"):
        safe_extract(archive, target, max_members=3)
    assert_nothing_written(box, target)


def test_corrupt_archive(box):
    archive = box / "box" / "archive"
    archive.write_bytes(zip_bytes({"a.txt": b"a" * 1000}, "top")[:-30])
    target = box / "box" / "target"
    with pytest.raises(ArchiveError):
        safe_extract(archive, target)
    assert_nothing_written(box, target)
