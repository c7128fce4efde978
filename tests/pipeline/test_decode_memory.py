"""Decoding is bounded by memory, not only by pixels (docs/security.md): bit depth and channels count, checked
from the header before a pixel is decoded, and the conversion to 8-bit BGR never makes a float copy of the
whole image. Against 0.3.0, a 95 KB 16-bit 7000x7000 PNG took 1.3 GB to decode."""

from __future__ import annotations

import io
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from facesearch.errors import ImageError
from facesearch.pipeline import imaging

SRC = Path(imaging.__file__).resolve().parents[2]


def _png_header(width: int, height: int, depth: int, colour: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 10)) + chunk(b"IEND", b"")


@pytest.mark.parametrize(
    ("depth", "colour", "mode"),
    [(16, 0, "I;16"), (8, 0, "L"), (8, 2, "RGB"), (8, 6, "RGBA"), (16, 6, "RGBA")],
)
def test_the_memory_bound_counts_bit_depth_and_channels(depth: int, colour: int, mode: str) -> None:
    data = _png_header(7000, 7000, depth, colour)
    with Image.open(io.BytesIO(data)) as img:
        assert img.mode == mode
    cost = imaging.decode_cost(7000, 7000, mode, "PNG")
    # Within the pixel limit, refused by the memory limit before a pixel is decoded.
    with pytest.raises(ImageError) as exc:
        imaging.decode_image(data, 50_000_000, cost - 1)
    assert exc.value.reason == imaging.TOO_MUCH_MEMORY and exc.value.kind == "image_too_large"
    assert "MiB" in str(exc.value) and mode in str(exc.value)


def test_deeper_images_cost_more_than_grey_ones() -> None:
    grey, deep, colour = (imaging.decode_cost(1000, 1000, m, "PNG") for m in ("L", "I;16", "RGBA"))
    assert grey < deep < colour


def test_the_default_bound_admits_a_50_megapixel_colour_photo() -> None:
    for fmt in ("PNG", "JPEG", "TIFF"):
        assert imaging.decode_cost(8660, 5773, "RGB", fmt) <= imaging.MAX_DECODE_BYTES


_PEAK = """
import resource, sys
sys.path.insert(0, sys.argv[1])
from facesearch.pipeline import imaging
data = open(sys.argv[2], "rb").read()
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
out = imaging.decode_image(data, 10**9)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print((after - before) * 1024, out.shape[0], out.shape[1], int(out.min()), int(out.max()))
"""


def test_a_16_bit_png_decodes_within_its_estimate(tmp_path: Path) -> None:
    # 4000x4000 16-bit grey: 0.3.0 converted it through float64 copies (about 26 bytes a pixel, ~400 MB).
    size = 4000
    ramp = (np.arange(size * size, dtype=np.uint32) % 60000).astype(np.uint16).reshape(size, size)
    path = tmp_path / "deep.png"
    Image.fromarray(ramp).save(path)
    run = subprocess.run(
        [sys.executable, "-c", _PEAK, str(SRC), str(path)], capture_output=True, text=True, timeout=120, check=True
    )
    peak, height, width, lo, hi = map(int, run.stdout.split())
    assert (height, width) == (size, size) and lo == 0 and hi >= 250  # scaled to the full 8-bit range
    assert peak <= imaging.decode_cost(size, size, "I;16", "PNG"), peak
    assert peak < 12 * size * size, f"{peak / size / size:.1f} bytes a pixel"


def test_deep_and_transparent_images_convert_as_before() -> None:
    deep = Image.fromarray((np.arange(48 * 64, dtype=np.uint16).reshape(48, 64) * 21).astype(np.uint16))
    buf = io.BytesIO()
    deep.save(buf, "PNG")
    out = imaging.decode_image(buf.getvalue(), 10**7)
    arr = np.asarray(deep, dtype=np.float64)
    expected = np.clip(arr * (255.0 / arr.max()), 0, 255).astype(np.uint8)
    assert np.array_equal(out[..., 0], expected) and np.array_equal(out[..., 2], expected)
    rgba = Image.new("RGBA", (30, 20), (200, 100, 50, 128))
    buf = io.BytesIO()
    rgba.save(buf, "PNG")
    out = imaging.decode_image(buf.getvalue(), 10**7)
    reference = Image.alpha_composite(Image.new("RGBA", (30, 20), (255, 255, 255, 255)), rgba).convert("RGB")
    want = np.asarray(reference)[..., ::-1]
    assert np.abs(out.astype(int) - want.astype(int)).max() <= 1
