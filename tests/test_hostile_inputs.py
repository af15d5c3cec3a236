"""Hostile uploads against every image endpoint of the app, through gradio_client.

One in-process server (tiny random models, uploads limited to 2 MB) gets each kind of bad, odd or
malicious file on /sketch, /facade, /colorize, /compare_patches, /stylize and /recolor_coat. Each must
give either PNGs of the right size (EXIF rotation honored, long side capped as documented; the 256x256
face crop and coats for /recolor_coat) or one clean line that names the file. Then an oversized
upload, a lowered pixel limit and a small concurrent load; the server must still answer a normal
request at the end.

Set I2I_HOSTILE_TABLE=path.md to write the table of outcomes (docs/reliability.md has a copy).
"""
import io
import os
import struct
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO
from app_harness import make_tiny_models, make_tiny_stargan, running_app

if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

pytest.importorskip("gradio")
from gradio_client import handle_file  # noqa: E402
from gradio_client.exceptions import AppError  # noqa: E402
from PIL import Image  # noqa: E402

ENDPOINTS = ("/sketch", "/facade", "/colorize", "/compare_patches", "/stylize", "/recolor_coat")
COAT_SIDE = 256   # /recolor_coat's crop and coats, whatever the photo's size
W, H = 64, 48
UPLOAD_MB = 2
MAX_SIDE, COMPARE_SIDE = 1024, 512   # the app's defaults: long side of uploads, of the comparison


def _photo(mode="RGB", size=(W, H)) -> Image.Image:
    """A smooth color ramp in `mode`."""
    x = np.linspace(0, 255, size[0], dtype=np.float32)[None, :].repeat(size[1], 0)
    y = np.linspace(0, 255, size[1], dtype=np.float32)[:, None].repeat(size[0], 1)
    return Image.fromarray(np.stack([x, y, (x + y) / 2], axis=2).astype(np.uint8)).convert(mode)


def _encoded(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png(width, height, bit_depth, color_type, rows, extra=b"") -> bytes:
    """A PNG written chunk by chunk: any declared size, rows compressed as they come."""
    compressor = zlib.compressobj(9)
    idat = b"".join(compressor.compress(row) for row in rows) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + extra + _chunk(b"IDAT", idat)
            + _chunk(b"IEND", b""))


def _gray_rows():
    return [b"\x00" + bytes(range(W))] * H


def _bomb() -> bytes:
    """A valid 20000x20000 1-bit PNG (400 Mpx, about 50 kB): it must never be decoded."""
    row = b"\x00" * (1 + 20000 // 8)
    return _png(20000, 20000, 1, 0, (row for _ in range(20000)))


def _rgb16() -> bytes:
    import cv2
    return cv2.imencode(".png", np.asarray(_photo()).astype(np.uint16) * 257)[1].tobytes()


def _exif_rotated() -> bytes:
    image = _photo()
    exif = image.getexif()
    exif[0x0112] = 6   # orientation: rotate 90° clockwise to display
    return _encoded(image, "JPEG", exif=exif.tobytes())


def _animated_gif() -> bytes:
    frames = [_photo("P"), _photo("P").transpose(Image.Transpose.FLIP_LEFT_RIGHT)]
    return _encoded(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)


def _npy() -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.zeros((H, W, 3), np.uint8))
    return buffer.getvalue()


def _kinds() -> dict:
    """kind -> (file name, bytes, expected): a (width, height) before the app's size cap, or the
    fragment the error message must contain."""
    png, jpeg = _encoded(_photo(), "PNG"), _encoded(_photo(), "JPEG")
    svg = b'<svg xmlns="http://www.w3.org/2000/svg" width="64" height="48"><rect width="64" height="48"/></svg>'
    pdf = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"
    text = _chunk(b"tEXt", b"Comment\x00" + b"x" * 1_500_000)
    ztxt = _chunk(b"zTXt", b"Comment\x00\x00" + zlib.compress(b"x" * 50_000_000, 9))
    unknown = "not a recognized image format"
    return {
        "corrupt bytes": ("corrupt.png", bytes(range(256)) * 8, unknown),
        "0-byte file": ("empty.png", b"", "empty"),
        "text renamed .png": ("notes.png", b"this is not an image\n", unknown),
        "HTML/JS renamed .png": ("page.png", b"<html><script>alert('x')</script></html>", unknown),
        "truncated PNG": ("cut.png", png[:len(png) // 2], "truncated or corrupt"),
        "truncated JPEG": ("cut.jpg", jpeg[:len(jpeg) // 2], "truncated or corrupt"),
        "1x1 image": ("dot.png", _encoded(_photo(size=(1, 1)), "PNG"), (1, 1)),
        "1x10000 strip": ("tall.png", _encoded(_photo("L", size=(1, 10000)), "PNG"), (1, 10000)),
        "10000x1 strip": ("wide.png", _encoded(_photo("L", size=(10000, 1)), "PNG"), (10000, 1)),
        "decompression bomb 20000x20000": ("bomb.png", _bomb(), "400,000,000 pixels, more than the limit"),
        "huge declared size, tiny file": ("huge.png", _png(100000, 100000, 8, 2, [b"\x00" * 100]),
                                          "more than the limit"),
        "16-bit grayscale PNG": ("gray16.png", _encoded(Image.fromarray(np.asarray(_photo("L")).astype(np.uint16)
                                                                        * 257), "PNG"), (W, H)),
        "16-bit RGB PNG": ("rgb16.png", _rgb16(), (W, H)),
        "CMYK JPEG": ("cmyk.jpg", _encoded(_photo("CMYK"), "JPEG"), (W, H)),
        "RGBA with transparency": ("rgba.png", _encoded(_photo("RGBA"), "PNG"), (W, H)),
        "LA": ("la.png", _encoded(_photo("LA"), "PNG"), (W, H)),
        "grayscale L": ("gray.png", _encoded(_photo("L"), "PNG"), (W, H)),
        "1-bit": ("bilevel.png", _encoded(_photo("1"), "PNG"), (W, H)),
        "palette PNG with transparency": ("palette.png", _encoded(_photo("P"), "PNG", transparency=0), (W, H)),
        "palette GIF": ("palette.gif", _encoded(_photo("P"), "GIF"), (W, H)),
        "animated GIF": ("animated.gif", _animated_gif(), (W, H)),
        "multi-page TIFF": ("pages.tif", _encoded(_photo(), "TIFF", save_all=True, append_images=[_photo("L")]),
                            (W, H)),
        "TIFF float32": ("float.tif", _encoded(Image.fromarray(np.asarray(_photo("L"), np.float32) / 255), "TIFF"),
                         (W, H)),
        "WebP": ("photo.webp", _encoded(_photo(), "WEBP"), (W, H)),
        "SVG": ("drawing.svg", svg, unknown),
        "BMP": ("photo.bmp", _encoded(_photo(), "BMP"), (W, H)),
        "ICO": ("icon.ico", _encoded(_photo(size=(48, 48)), "ICO", sizes=[(48, 48)]), (48, 48)),
        "EXIF-rotated JPEG (orientation 6)": ("rotated.jpg", _exif_rotated(), (H, W)),
        "PNG with a 1.5 MB text chunk": ("text.png", _png(W, H, 8, 0, _gray_rows(), extra=text), (W, H)),
        "PNG with a zTXt bomb (50 MB of text)": ("ztxt.png", _png(W, H, 8, 0, _gray_rows(), extra=ztxt),
                                                 "metadata (PNG text chunks) is too large"),
        ".jpg holding a PNG": ("really_png.jpg", png, (W, H)),
        ".npy array": ("array.npy", _npy(), unknown),
        "PDF": ("document.pdf", pdf, unknown),
    }


KINDS = _kinds()


def _fitted(size, limit):
    """The size of an upload after the app caps its long side at `limit` (demos.common.fit_side)."""
    width, height = size
    if max(size) <= limit:
        return size
    scale = limit / max(size)
    return max(1, round(width * scale)), max(1, round(height * scale))


def _png_size(path) -> tuple[int, int]:
    with Image.open(path) as image:
        assert image.format == "PNG", f"{path} is {image.format}, not PNG"
        return image.size


def _assert_clean_error(message: str, *fragments: str) -> None:
    assert "\n" not in message and "Traceback" not in message, message
    assert 0 < len(message) <= 300, message
    assert "/tmp" not in message and str(REPO) not in message, f"the message shows a server path: {message}"
    for fragment in fragments:
        assert fragment in message, message


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hostile")
    make_tiny_stargan(make_tiny_models(tmp / "weights"))
    env = {"I2I_WEIGHTS_DIR": str(tmp / "weights"), "I2I_RUNS_DIR": str(tmp / "runs"),
           "I2I_MAX_UPLOAD_MB": str(UPLOAD_MB)}
    env.update(dict.fromkeys(("I2I_MAX_SIDE", "I2I_COMPARE_SIDE", "I2I_MAX_IMAGE_PIXELS")))
    with running_app(env) as (url, _):
        yield {"url": url, "tmp": tmp}


@pytest.fixture(scope="module")
def files(server):
    folder = server["tmp"] / "uploads"
    folder.mkdir()
    paths = {}
    for kind, (name, data, _) in KINDS.items():
        paths[kind] = folder / name
        paths[kind].write_bytes(data)
    return paths


@pytest.fixture(scope="module")
def outcomes():
    """What each (kind, endpoint) gave; written as a Markdown table when $I2I_HOSTILE_TABLE is set."""
    table: dict = {}
    yield table
    target = os.environ.get("I2I_HOSTILE_TABLE")
    if target:
        Path(target).write_text(_markdown(table))


def _markdown(table: dict) -> str:
    lines = ["| kind | file | outcome |", "|---|---|---|"]
    for kind, (name, _, _) in KINDS.items():
        groups: dict[str, list[str]] = {}
        for endpoint in ENDPOINTS:
            if (kind, endpoint) in table:
                groups.setdefault(table[kind, endpoint], []).append(f"`{endpoint}`")
        if not groups:
            continue
        if len(groups) == 1:
            outcome = next(iter(groups))
        else:
            outcome = "; ".join(f"{' '.join(where)}: {text}" for text, where in groups.items())
        lines.append(f"| {kind} | `{name}` | {outcome.replace('|', '/')} |")
    return "\n".join(lines) + "\n"


def _call(client, endpoint, path) -> list[str]:
    """The output image paths of one call."""
    result = client.predict(handle_file(str(path)), api_name=endpoint)
    if endpoint == "/compare_patches":
        return [item["image"] for item in result[0]]
    if endpoint == "/stylize":
        return [p for p in result[:3] if p]
    if endpoint == "/recolor_coat":
        crop, coats, round_trips, _ = result
        return [crop] + [item["image"] for item in coats + round_trips]
    return [result]


CASES = [(kind, endpoint) for kind in KINDS for endpoint in ENDPOINTS]


@pytest.mark.parametrize("kind, endpoint", CASES)
def test_hostile_upload(client, files, outcomes, kind, endpoint):
    name, _, expected = KINDS[kind]
    try:
        outputs = _call(client, endpoint, files[kind])
    except AppError as exc:
        outcomes[kind, endpoint] = f"error: {exc}"
        if not isinstance(expected, str):
            raise
        _assert_clean_error(str(exc), name, expected)
        return
    assert not isinstance(expected, str), f"{name} was accepted; expected an error with {expected!r}"
    size = ((COAT_SIDE, COAT_SIDE) if endpoint == "/recolor_coat" else
            _fitted(expected, COMPARE_SIDE if endpoint == "/compare_patches" else MAX_SIDE))
    outcomes[kind, endpoint] = f"PNG {size[0]}×{size[1]}"
    assert outputs and all(_png_size(path) == size for path in outputs), [_png_size(p) for p in outputs]


def test_enough_kinds():
    assert len(KINDS) >= 25
    assert sum(isinstance(expected, str) for _, _, expected in KINDS.values()) >= 10


def test_oversized_upload_is_refused(client, server):
    """gradio_client refuses it from the app's config; a client that ignores that gets HTTP 413."""
    import httpx

    big = server["tmp"] / "big.png"
    big.write_bytes(_png(W, H, 8, 0, _gray_rows(), extra=_chunk(b"tEXt", b"Comment\x00" + os.urandom(3 << 20))))
    with pytest.raises(Exception, match="exceeds the maximum file size of 2097152 bytes"):
        client.predict(handle_file(str(big)), api_name="/sketch")
    with big.open("rb") as upload:
        response = httpx.post(server["url"] + "gradio_api/upload", files={"files": ("big.png", upload)}, timeout=30)
    assert response.status_code == 413, (response.status_code, response.text[:200])
    response = httpx.post(server["url"] + "gradio_api/upload", timeout=30,
                          files={"files": ("small.png", _encoded(_photo(), "PNG"))})
    assert response.status_code == 200, response.text[:200]   # the same route takes a normal upload


def test_pixel_limit_is_read_per_request(client, files, monkeypatch):
    monkeypatch.setenv("I2I_MAX_IMAGE_PIXELS", str(W * H - 1))
    with pytest.raises(AppError) as excinfo:
        client.predict(handle_file(str(files["grayscale L"])), api_name="/colorize")
    _assert_clean_error(str(excinfo.value), "gray.png", f"{W}x{H}", "I2I_MAX_IMAGE_PIXELS")
    monkeypatch.setenv("I2I_MAX_IMAGE_PIXELS", str(W * H))
    assert _png_size(client.predict(handle_file(str(files["grayscale L"])), api_name="/colorize")) == (W, H)


def test_upload_limit_setting(monkeypatch):
    from demos.common import DEFAULT_MAX_UPLOAD_MB, max_upload_bytes
    from demos.settings import DEFAULT_DATASET_MB

    monkeypatch.delenv("I2I_MAX_UPLOAD_MB", raising=False)
    monkeypatch.delenv("I2I_ENABLE_TRAINING", raising=False)
    monkeypatch.delenv("SPACE_ID", raising=False)
    assert max_upload_bytes() == DEFAULT_DATASET_MB << 20   # local: dataset archives too
    monkeypatch.setenv("SPACE_ID", "someone/studio")
    assert max_upload_bytes() == DEFAULT_MAX_UPLOAD_MB << 20            # hosted, no training: photos only
    monkeypatch.delenv("SPACE_ID")
    monkeypatch.setenv("I2I_MAX_UPLOAD_MB", "0.5")
    assert max_upload_bytes() == 1 << 19
    for bad in ("lots", "0", "-3"):
        monkeypatch.setenv("I2I_MAX_UPLOAD_MB", bad)
        with pytest.raises(ValueError, match="I2I_MAX_UPLOAD_MB"):
            max_upload_bytes()


def test_concurrent_load_has_no_errors(server):
    """benchmarks/load_sketch.py's load loop at a small size: 8 clients x 5 /sketch calls."""
    from benchmarks.load_sketch import run_load
    from demos.examples import random_doodle

    drawing = server["tmp"] / "drawing.png"
    random_doodle(3, size=256).save(drawing)
    result = run_load(server["url"], "/sketch", drawing, clients=8, calls=5, deadline=time.monotonic() + 60,
                      downloads=server["tmp"] / "load")
    assert result["errors"] == [] and len(result["latencies"]) == 40, result["errors"][:3]


def test_server_still_answers_after_everything(client, server):
    from demos.examples import random_doodle

    drawing = server["tmp"] / "final.png"
    random_doodle(5).resize((300, 200)).save(drawing)
    assert _png_size(client.predict(handle_file(str(drawing)), api_name="/sketch")) == (300, 200)
