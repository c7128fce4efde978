"""Safe decoding: every format and mode the issue names, and every kind of bad file."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from facesearch.errors import ImageError
from facesearch.pipeline import imaging

MAX = 50_000_000


def _encode(img: Image.Image, fmt: str, **kw: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def _gradient(w: int = 64, h: int = 48) -> Image.Image:
    x = np.linspace(0, 255, w, dtype=np.uint8)
    arr = np.stack([np.tile(x, (h, 1)), np.full((h, w), 128, np.uint8), np.tile(x[::-1], (h, 1))], -1)
    return Image.fromarray(arr, "RGB")


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "BMP", "TIFF", "GIF"])
def test_formats_decode_to_bgr(fmt: str) -> None:
    out = imaging.decode_image(_encode(_gradient(), fmt), MAX)
    assert out.shape == (48, 64, 3) and out.dtype == np.uint8
    # Red rises left to right in RGB: channel 2 of BGR.
    assert out[10, 60, 2] > out[10, 3, 2] + 100


def test_gif_first_frame() -> None:
    frames = [Image.new("RGB", (20, 20), c) for c in [(255, 0, 0), (0, 0, 255)]]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:])
    out = imaging.decode_image(buf.getvalue(), MAX)
    assert out[5, 5, 2] > 200 and out[5, 5, 0] < 50  # red, in BGR


def test_grayscale_cmyk_16bit_alpha() -> None:
    grey = imaging.decode_image(_encode(_gradient().convert("L"), "PNG"), MAX)
    assert grey.shape == (48, 64, 3) and np.array_equal(grey[..., 0], grey[..., 1])
    cmyk = imaging.decode_image(_encode(_gradient().convert("CMYK"), "JPEG"), MAX)
    assert cmyk.shape == (48, 64, 3)
    deep = Image.fromarray((np.arange(48 * 64, dtype=np.uint16).reshape(48, 64) * 21).astype(np.uint16))
    out16 = imaging.decode_image(_encode(deep, "PNG"), MAX)
    assert out16.dtype == np.uint8 and out16.max() > 200 and out16.min() < 10
    rgba = _gradient().convert("RGBA")
    rgba.putalpha(0)
    out = imaging.decode_image(_encode(rgba, "PNG"), MAX)
    assert (out == 255).all()  # fully transparent -> white background


def test_exif_orientation_is_applied() -> None:
    img = _gradient(80, 40)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 CW to display
    out = imaging.decode_image(_encode(img, "JPEG", exif=exif), MAX)
    assert out.shape[:2] == (80, 40)


def test_jpeg_named_png_decodes_by_content(tmp_path: Path) -> None:
    p = tmp_path / "photo.png"
    p.write_bytes(_encode(_gradient(), "JPEG"))
    image, sha = imaging.load_image(p, 10**7, MAX)
    assert image.shape == (48, 64, 3) and len(sha) == 64


def _png_header_only(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 10)) + chunk(b"IEND", b"")


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", imaging.EMPTY),
        (b"hello, I am a text file\n" * 10, imaging.NOT_AN_IMAGE),
        (_png_header_only(20000, 20000), imaging.TOO_MANY_PIXELS),
        (_png_header_only(100000, 100000), imaging.TOO_MANY_PIXELS),
    ],
)
def test_bad_inputs_have_reasons(data: bytes, reason: str) -> None:
    with pytest.raises(ImageError) as exc:
        imaging.decode_image(data, MAX)
    assert exc.value.reason == reason


def test_truncated_jpeg_is_corrupt() -> None:
    data = _encode(_gradient(400, 300), "JPEG", quality=95)
    with pytest.raises(ImageError) as exc:
        imaging.decode_image(data[: len(data) // 2], MAX)
    assert exc.value.reason == imaging.CORRUPT


def test_file_size_limit(tmp_path: Path) -> None:
    p = tmp_path / "big.jpg"
    p.write_bytes(b"\xff" * 2000)
    with pytest.raises(ImageError) as exc:
        imaging.read_file(p, 1000)
    assert exc.value.reason == imaging.TOO_LARGE_FILE
