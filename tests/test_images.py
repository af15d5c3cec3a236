"""engine.images: decoding of every supported source and mode, clean refusals, tensors, grids."""
import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from engine.images import (DEFAULT_MAX_PIXELS, ImageError, image_grid, max_pixels_limit, open_image, to_pil,
                           to_tensor)

DATASETS = Path("/work/shared/datasets")


def encoded(img: Image.Image, fmt: str, **save_args) -> bytes:
    buffer = io.BytesIO()
    img.save(buffer, fmt, **save_args)
    return buffer.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height, with almost no pixel data behind it."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 16))
            + chunk(b"IEND", b""))


def noise_rgb(height=48, width=64, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def pixel(img: Image.Image, xy=(0, 0)) -> tuple:
    return tuple(int(v) for v in np.asarray(img)[xy[1], xy[0]])


# --- sources ---------------------------------------------------------------------------------------

def test_sources_path_str_bytes_fileobj_pil_array_agree(tmp_path):
    array = noise_rgb()
    path = tmp_path / "noise.png"
    Image.fromarray(array).save(path)
    data = path.read_bytes()
    with open(path, "rb") as fileobj:
        from_file = open_image(fileobj)
    for img in (open_image(path), open_image(str(path)), open_image(data), open_image(bytearray(data)),
                open_image(io.BytesIO(data)), from_file, open_image(Image.fromarray(array)), open_image(array)):
        assert img.mode == "RGB" and img.size == (64, 48)
        np.testing.assert_array_equal(np.asarray(img), array)


def test_pil_input_is_not_modified_or_shared():
    original = Image.new("RGBA", (4, 4), (255, 0, 0, 0))
    out = open_image(original)
    assert out is not original and original.mode == "RGBA"
    rgb = Image.new("RGB", (4, 4), "red")
    assert open_image(rgb) is not rgb


@pytest.mark.parametrize("shape", [(10, 12), (10, 12, 1), (10, 12, 3), (10, 12, 4)])
def test_array_shapes(shape):
    array = np.full(shape, 200, np.uint8)
    img = open_image(array)
    assert img.mode == "RGB" and img.size == (12, 10)
    expected = 200 if len(shape) < 3 or shape[2] != 4 else 200 * 200 / 255 + 255 * 55 / 255  # alpha 200 on white
    assert abs(pixel(img)[0] - expected) <= 1


def test_array_dtypes():
    ramp16 = np.tile(np.linspace(1000, 5000, 16).astype(np.uint16), (4, 1))
    out16 = np.asarray(open_image(ramp16))[:, :, 0]
    assert out16.min() == 0 and out16.max() == 255  # stretched by the actual range, not clipped or divided
    ramp_float = np.tile(np.linspace(0.0, 1.0, 16), (4, 1))
    out_float = np.asarray(open_image(ramp_float))[:, :, 0]
    assert out_float[0, 0] == 0 and out_float[0, -1] == 255 and abs(int(out_float[0, 8]) - 136) <= 1
    assert np.asarray(open_image(np.array([[2.0, -1.0]], np.float32)))[0, :, 0].tolist() == [255, 0]
    assert np.asarray(open_image(np.ones((2, 2), bool))).min() == 255
    with pytest.raises(ImageError, match="dtype"):
        open_image(np.zeros((4, 4), np.int64))
    with pytest.raises(ImageError, match="shape"):
        open_image(np.zeros((4, 4, 2), np.uint8))
    with pytest.raises(ImageError, match="shape"):
        open_image(np.zeros((2, 4, 4, 3), np.uint8))


def test_unsupported_source_type():
    with pytest.raises(TypeError):
        open_image(12345)


# --- modes and formats -------------------------------------------------------------------------------

def test_exif_orientation_is_applied():
    img = Image.new("RGB", (40, 20), "blue")
    img.paste((255, 0, 0), (0, 0, 20, 20))  # left half red
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    out = open_image(encoded(img, "JPEG", exif=exif, quality=95))
    assert out.size == (20, 40)
    top, bottom = pixel(out, (10, 5)), pixel(out, (10, 35))
    assert top[0] > 200 and top[2] < 60 and bottom[2] > 200 and bottom[0] < 60


def test_rgba_is_composited_onto_white():
    img = Image.new("RGBA", (3, 1))
    img.putpixel((0, 0), (255, 0, 0, 0))      # fully transparent red -> white
    img.putpixel((1, 0), (0, 0, 0, 128))      # half transparent black -> mid gray
    img.putpixel((2, 0), (0, 0, 255, 255))    # opaque blue stays blue
    out = open_image(encoded(img, "PNG"))
    assert pixel(out, (0, 0)) == (255, 255, 255)
    assert all(abs(v - 127) <= 1 for v in pixel(out, (1, 0)))
    assert pixel(out, (2, 0)) == (0, 0, 255)


def test_gray_modes_L_LA_and_1():
    assert pixel(open_image(encoded(Image.new("L", (2, 2), 90), "PNG"))) == (90, 90, 90)
    assert pixel(open_image(encoded(Image.new("LA", (2, 2), (0, 0)), "PNG"))) == (255, 255, 255)
    bilevel = Image.new("1", (2, 2), 1)
    assert pixel(open_image(encoded(bilevel, "PNG"))) == (255, 255, 255)
    assert pixel(open_image(encoded(bilevel, "BMP"))) == (255, 255, 255)


def test_palette_with_and_without_transparency():
    palette_img = Image.new("P", (2, 1))
    palette_img.putpalette([255, 0, 0, 0, 255, 0] + [0] * 762)
    palette_img.putpixel((1, 0), 1)
    plain = open_image(encoded(palette_img, "PNG"))
    assert pixel(plain, (0, 0)) == (255, 0, 0) and pixel(plain, (1, 0)) == (0, 255, 0)
    transparent = open_image(encoded(palette_img, "PNG", transparency=0))
    assert pixel(transparent, (0, 0)) == (255, 255, 255) and pixel(transparent, (1, 0)) == (0, 255, 0)
    gif = open_image(encoded(palette_img, "GIF", transparency=0))
    assert pixel(gif, (0, 0)) == (255, 255, 255)


def test_16_bit_png_is_scaled_by_its_range_not_clipped():
    values = np.tile(np.linspace(0, 4095, 32).astype(np.uint16), (8, 1))  # 12-bit data in a 16-bit file
    img16 = Image.fromarray(values)
    assert img16.mode == "I;16"
    out = np.asarray(open_image(encoded(img16, "PNG")))[:, :, 0]
    assert out[0, 0] == 0 and out[0, -1] == 255 and 100 < out[0, 16] < 160
    assert np.all(np.diff(out[0].astype(int)) >= 0)


def test_32_bit_int_float_and_constant_images():
    ints = Image.fromarray(np.array([[-500, 0, 1500]], np.int32))
    assert ints.mode == "I"
    assert [pixel(open_image(ints), (x, 0))[0] for x in range(3)] == [0, 64, 255]
    floats = Image.fromarray(np.array([[0.25, 0.5, 1.0]], np.float32))
    assert floats.mode == "F"
    assert [pixel(open_image(floats), (x, 0))[0] for x in range(3)] == [0, 85, 255]
    white16 = Image.fromarray(np.full((2, 2), 65535, np.uint16))
    assert pixel(open_image(white16)) == (255, 255, 255)  # a constant image keeps its level


def test_cmyk_jpeg_tiff_and_webp():
    cmyk = Image.new("CMYK", (8, 8), (0, 255, 255, 0))  # red
    for fmt in ("JPEG", "TIFF"):
        r, g, b = pixel(open_image(encoded(cmyk, fmt)))
        assert r > 200 and g < 60 and b < 60
    array = noise_rgb(16, 16)
    np.testing.assert_array_equal(np.asarray(open_image(encoded(Image.fromarray(array), "TIFF"))), array)
    np.testing.assert_array_equal(
        np.asarray(open_image(encoded(Image.fromarray(array), "WEBP", lossless=True))), array)
    r, g, b = pixel(open_image(encoded(Image.new("RGBA", (4, 4), (0, 0, 0, 0)), "WEBP", lossless=True)))
    assert (r, g, b) == (255, 255, 255)


@pytest.mark.parametrize("fmt", ["GIF", "WEBP"])
def test_animation_gives_first_frame(fmt):
    frames = [Image.new("RGB", (8, 8), color) for color in ("red", "blue", "green")]
    data = encoded(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100, loop=0)
    assert Image.open(io.BytesIO(data)).n_frames == 3
    r, g, b = pixel(open_image(data))
    assert r > 240 and g < 20 and b < 20


# --- refusals ----------------------------------------------------------------------------------------

def assert_one_line_naming(exc_info, name):
    message = str(exc_info.value)
    assert "\n" not in message and name in message
    assert isinstance(exc_info.value, ValueError)


def test_empty_file(tmp_path):
    path = tmp_path / "empty.jpg"
    path.write_bytes(b"")
    with pytest.raises(ImageError, match="empty") as info:
        open_image(path)
    assert_one_line_naming(info, "empty.jpg")
    with pytest.raises(ImageError, match="empty"):
        open_image(b"")


def test_not_an_image(tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("this is not an image\nat all\n")
    with pytest.raises(ImageError, match="not a recognized image") as info:
        open_image(path)
    assert_one_line_naming(info, "notes.png")


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_truncated_file(tmp_path, fmt):
    data = encoded(Image.fromarray(noise_rgb(128, 128)), fmt)
    path = tmp_path / f"cut.{fmt.lower()}"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageError, match="truncated or corrupt") as info:
        open_image(path)
    assert_one_line_naming(info, path.name)
    with Image.open(path) as lazy:  # a caller's lazily opened image fails the same way
        with pytest.raises(ImageError, match="truncated or corrupt") as info:
            open_image(lazy)
    assert_one_line_naming(info, path.name)


def test_corrupt_pixel_data():
    data = bytearray(encoded(Image.fromarray(noise_rgb(128, 128)), "PNG"))
    middle = len(data) // 2
    data[middle: middle + 64] = b"x" * 64
    with pytest.raises(ImageError, match="corrupt"):
        open_image(bytes(data))


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(ImageError, match="not found") as info:
        open_image(tmp_path / "nope.jpg")
    assert_one_line_naming(info, "nope.jpg")
    with pytest.raises(ImageError, match="not a file"):
        open_image(tmp_path)


def test_too_many_pixels_is_refused_from_the_header_before_decoding():
    header = png_header_only(8000, 6000)  # 48 Mpx claimed, only a few bytes of data
    with pytest.raises(ImageError, match="more than the limit"):
        open_image(header)
    with pytest.raises(ImageError, match="more than the limit"):
        open_image(encoded(Image.new("RGB", (100, 100)), "PNG"), max_pixels=9_999)
    assert open_image(encoded(Image.new("RGB", (100, 100)), "PNG"), max_pixels=10_000).size == (100, 100)
    with pytest.raises(ImageError, match="more than the limit"):
        open_image(np.zeros((200, 200), np.uint8), max_pixels=1000)
    with pytest.raises(ImageError, match="more than the limit"):
        open_image(Image.new("L", (200, 200)), max_pixels=1000)


def test_pil_decompression_bomb_checks_become_image_errors():
    for width, height in ((10_000, 10_000), (20_000, 20_000)):  # PIL's warning, then its error
        with pytest.raises(ImageError, match="too large"):
            open_image(png_header_only(width, height), max_pixels=10**12)


def test_max_pixels_env_var(monkeypatch):
    assert max_pixels_limit() == DEFAULT_MAX_PIXELS == 40_000_000
    monkeypatch.setenv("I2I_MAX_IMAGE_PIXELS", "100")
    assert max_pixels_limit() == 100
    with pytest.raises(ImageError, match="I2I_MAX_IMAGE_PIXELS"):
        open_image(np.zeros((20, 20), np.uint8))
    assert open_image(np.zeros((10, 10), np.uint8)).size == (10, 10)
    monkeypatch.setenv("I2I_MAX_IMAGE_PIXELS", "lots")
    with pytest.raises(ValueError, match="I2I_MAX_IMAGE_PIXELS"):
        max_pixels_limit()


def test_zero_size_images():
    with pytest.raises(ImageError, match="zero size"):
        open_image(np.zeros((0, 5, 3), np.uint8))
    with pytest.raises(ImageError, match="zero size"):
        open_image(Image.new("RGB", (0, 5)))
    with pytest.raises(ImageError):
        open_image(png_header_only(0, 10))


def test_real_dataset_file():
    files = sorted((DATASETS / "facades" / "val").glob("*.jpg"))[:1]
    if not files:
        pytest.skip("datasets not available")
    assert open_image(files[0]).size == (512, 256)


# --- tensors -----------------------------------------------------------------------------------------

def test_to_tensor_matches_torchvision():
    from torchvision import transforms

    img = Image.fromarray(noise_rgb())
    rgb = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.5,) * 3, (0.5,) * 3)])(img)
    gray = transforms.Compose([transforms.Grayscale(1), transforms.ToTensor(),
                               transforms.Normalize((0.5,), (0.5,))])(img)
    ours_rgb, ours_gray = to_tensor(img), to_tensor(img, channels=1)
    assert ours_rgb.dtype == torch.float32 and ours_rgb.shape == (3, 48, 64) and ours_gray.shape == (1, 48, 64)
    torch.testing.assert_close(ours_rgb, rgb, atol=1e-6, rtol=0)
    torch.testing.assert_close(ours_gray, gray, atol=1e-6, rtol=0)
    assert ours_rgb.min() >= -1 and ours_rgb.max() <= 1


def test_to_tensor_other_modes_and_errors():
    assert to_tensor(Image.new("RGBA", (4, 4), (0, 0, 0, 0))).min() == 1.0  # transparent -> white
    assert to_tensor(Image.new("L", (4, 4), 0)).shape == (3, 4, 4)
    with pytest.raises(ValueError):
        to_tensor(Image.new("RGB", (4, 4)), channels=2)


def test_to_pil_round_trip_rounding_and_clamping():
    array = noise_rgb()
    np.testing.assert_array_equal(np.asarray(to_pil(to_tensor(Image.fromarray(array)))), array)
    batch = to_tensor(Image.fromarray(array)).unsqueeze(0)
    assert to_pil(batch).mode == "RGB"
    gray = to_pil(torch.tensor([[[-2.0, 3.0, 100.6 / 127.5 - 1, 100.4 / 127.5 - 1, float("nan")]]]))
    assert gray.mode == "L" and np.asarray(gray)[0].tolist() == [0, 255, 101, 100, 0]
    with pytest.raises(ValueError):
        to_pil(torch.zeros(2, 4, 4))
    with pytest.raises(ValueError):
        to_pil(torch.zeros(4, 4))
    if torch.cuda.is_available():
        assert to_pil(batch.cuda()).size == (64, 48)


# --- grids -------------------------------------------------------------------------------------------

def test_image_grid_layout():
    red = Image.new("RGB", (20, 10), "red")
    small_blue = Image.new("L", (10, 6), 0)
    sheet = image_grid([[red, small_blue], [red]])
    assert sheet.mode == "RGB" and sheet.size == (2 * 20 + 3 * 4, 2 * 10 + 3 * 4)
    assert pixel(sheet, (4, 4)) == (255, 0, 0)
    assert pixel(sheet, (4 + 20 + 4 + 10, 4 + 5)) == (0, 0, 0)       # smaller image centered in its cell
    assert pixel(sheet, (4 + 20 + 4 + 1, 4 + 1)) == (255, 255, 255)  # cell padding is white
    assert pixel(sheet, (4 + 20 + 4 + 5, 4 + 10 + 4 + 5)) == (255, 255, 255)  # missing cell


def test_image_grid_labels():
    cells = [[Image.new("RGB", (64, 32), "white"), Image.new("RGB", (64, 32), "white")]]
    plain = image_grid(cells)
    labeled = image_grid(cells, labels=["input", "output"])
    assert labeled.width == plain.width and labeled.height > plain.height
    assert np.asarray(labeled)[plain.height:].min() < 128  # some dark text under the cells
    with pytest.raises(ValueError):
        image_grid(cells, labels=["only one"])
    with pytest.raises(ValueError):
        image_grid([])
