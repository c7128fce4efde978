"""Safe image decoding: bounded size, bombs refused, EXIF orientation applied, any mode to 8-bit BGR.

Decoding is bounded three ways before a pixel is decoded: bytes (the caller's file limit), pixels
(`max_pixels`) and memory (`max_bytes`): the memory a decode takes is estimated from the header's size, bit
depth and channels (`decode_cost`), so a small file that declares a large 16-bit or many-channel image is
refused for what it would cost. The conversion to 8-bit BGR works in strips, never on a float copy of the
whole image."""

from __future__ import annotations

import errno
import hashlib
import io
import os
import stat
import warnings
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ..errors import ImageError
from ..fsutil import open_beneath

SUPPORTED_FORMATS = ("JPEG", "PNG", "WEBP", "BMP", "TIFF", "GIF", "MPO", "PPM")
IMAGE_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif", ".pgm", ".ppm", ".pnm", ".jfif"}
)

# Reason codes, stable: they appear in ingest reports.
EMPTY = "EMPTY_FILE"
TOO_LARGE_FILE = "FILE_TOO_LARGE"
NOT_AN_IMAGE = "NOT_AN_IMAGE"
UNSUPPORTED = "UNSUPPORTED_FORMAT"
TOO_MANY_PIXELS = "TOO_MANY_PIXELS"
CORRUPT = "CORRUPT_IMAGE"
UNREADABLE = "UNREADABLE_FILE"
NOT_A_FILE = "NOT_A_FILE"
TOO_MUCH_MEMORY = "TOO_MUCH_MEMORY"

# Memory a decode may take by default: a 50-megapixel 8-bit colour image (the default pixel limit) fits.
MAX_DECODE_BYTES = 768 * 1024 * 1024
# Bytes per pixel Pillow holds a decoded image in, by mode (every other mode: 4).
_STORED = {"1": 1, "L": 1, "P": 1, "I;16": 2, "I;16L": 2, "I;16B": 2, "I;16N": 2}
# Rows converted at a time: bounds the working memory of a conversion whatever the image's size.
_STRIP_ROWS = 256

# Image formats a browser may be handed, by their magic bytes: (media type, file extension). Anything else is
# served as a download (application/octet-stream), never rendered.
MEDIA_TYPES = {
    "JPEG": ("image/jpeg", "jpg"),
    "PNG": ("image/png", "png"),
    "GIF": ("image/gif", "gif"),
    "WEBP": ("image/webp", "webp"),
    "BMP": ("image/bmp", "bmp"),
    "TIFF": ("image/tiff", "tif"),
}
OCTET_STREAM = ("application/octet-stream", "bin")


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_file(path: Path, max_bytes: int, *, nofollow: bool = False) -> bytes:
    """A regular file's bytes, at most `max_bytes`. Anything else (a FIFO, a device, a socket, a folder) is
    refused with NOT_A_FILE without waiting on it: the file is opened non-blocking and checked on the open
    descriptor, so it cannot be swapped for a FIFO between the check and the read. With `nofollow` (a path
    checked against the ingest roots), no component of the absolute path may be a symbolic link: a folder
    swapped for a link after the check opens nothing (UNREADABLE)."""
    try:
        if nofollow:
            fh = open_beneath(Path("/"), PurePosixPath(path.relative_to(path.anchor)))
        else:
            if not stat.S_ISREG(os.stat(path).st_mode):
                raise ImageError(NOT_A_FILE, "not a regular file")
            fh = os.fdopen(os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)), "rb")
        with fh:
            st = os.fstat(fh.fileno())
            if not stat.S_ISREG(st.st_mode):
                raise ImageError(NOT_A_FILE, "not a regular file")
            if st.st_size > max_bytes:
                raise ImageError(TOO_LARGE_FILE, f"{st.st_size} bytes > limit {max_bytes}")
            data = fh.read(max_bytes + 1)
    except OSError as exc:
        if nofollow and exc.errno == errno.EINVAL:
            raise ImageError(NOT_A_FILE, "not a regular file") from exc
        # In words ("/x.jpg: no such file or directory"), not Python's "[Errno 2] No such file ...".
        raise ImageError(UNREADABLE, f"{path}: {(exc.strerror or str(exc)).lower()}") from exc
    if len(data) > max_bytes:
        raise ImageError(TOO_LARGE_FILE, f"more than {max_bytes} bytes")
    return data


def decode_cost(width: int, height: int, mode: str, fmt: str) -> int:
    """Bytes a decode of an image of this size, mode and format takes at its peak (an upper bound): the image as
    Pillow holds it, one more copy of it (orientation, a mode change) and the 3-channel result twice (the
    converted array and its BGR copy); JPEG in colour or grey is decoded by OpenCV straight to BGR."""
    pixels = width * height
    if fmt == "JPEG" and mode in ("RGB", "L"):
        return pixels * 7
    return pixels * (2 * _STORED.get(mode, 4) + 6)


def decode_image(data: bytes, max_pixels: int, max_bytes: int = MAX_DECODE_BYTES) -> np.ndarray:
    """Decode bytes to an upright HxWx3 uint8 BGR array, refusing anything unsafe or broken.

    The pixel limit and the memory limit (`decode_cost`: size, bit depth and channels) are checked from the
    header before any pixel is decoded, so a decompression bomb costs nothing.
    """
    if not data:
        raise ImageError(EMPTY, "file is empty")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img: Image.Image = Image.open(io.BytesIO(data))
            fmt = img.format or ""
            if fmt not in SUPPORTED_FORMATS:
                raise ImageError(UNSUPPORTED, f"format {fmt or 'unknown'}")
            width, height = img.size
            if width <= 0 or height <= 0:
                raise ImageError(CORRUPT, "zero-sized image")
            if width * height > max_pixels:
                raise ImageError(TOO_MANY_PIXELS, f"{width}x{height} exceeds {max_pixels} pixels")
            cost = decode_cost(width, height, img.mode, fmt)
            if cost > max_bytes:
                raise ImageError(
                    TOO_MUCH_MEMORY,
                    f"{width}x{height} {img.mode} would take {cost // 2**20} MiB to decode "
                    f"(limit {max_bytes // 2**20} MiB, FACESEARCH_MAX_DECODE_BYTES)",
                )
            if fmt == "JPEG" and img.mode in ("RGB", "L") and _has_jpeg_end(data):
                # libjpeg-turbo through OpenCV decodes 3-4x faster than Pillow and applies EXIF orientation
                # itself; a truncated file (no end marker) goes to Pillow, which refuses it.
                fast = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
                if fast is not None:
                    return fast
            img.seek(0)  # first frame of animations
            img.load()
            img = ImageOps.exif_transpose(img) or img
            return _to_bgr(img)
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageError(TOO_MANY_PIXELS, str(exc)) from exc
    except UnidentifiedImageError as exc:
        raise ImageError(NOT_AN_IMAGE, "not a recognised image format") from exc
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError) as exc:
        raise ImageError(CORRUPT, str(exc) or type(exc).__name__) from exc


def _has_jpeg_end(data: bytes) -> bool:
    # The end-of-image marker cannot occur inside entropy-coded data (0xFF is stuffed there), so its presence
    # in the tail means the scan was not cut short. Some writers append a little trailing data after it.
    return data.rfind(b"\xff\xd9", max(0, len(data) - 4096)) >= 0


def _strips(height: int) -> Iterator[tuple[int, int]]:
    for top in range(0, height, _STRIP_ROWS):
        yield top, min(height, top + _STRIP_ROWS)


def _to_bgr(img: Image.Image) -> np.ndarray:
    """Any mode to 8-bit BGR, within `decode_cost`: deep grey scaled in strips, transparency on white in
    strips, and Pillow's own image released as soon as its pixels are copied out."""
    mode = img.mode
    width, height = img.size
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        lo_hi = img.getextrema()
        hi = float(lo_hi[1]) if isinstance(lo_hi, tuple) and isinstance(lo_hi[1], (int, float)) else 0.0
        scale = 255.0 / hi if hi > 255 else 1.0
        grey = np.empty((height, width), np.uint8)
        for top, bottom in _strips(height):
            rows = np.asarray(img.crop((0, top, width, bottom)), dtype=np.float64)
            grey[top:bottom] = np.clip(rows * scale, 0, 255)
        img.close()
        return cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR)
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in img.info):
        rgba = img if mode == "RGBA" else img.convert("RGBA")
        # Transparent pixels become white, not black: faces stay visible on cut-outs.
        bgr = np.empty((height, width, 3), np.uint8)
        for top, bottom in _strips(height):
            rows = np.asarray(rgba.crop((0, top, width, bottom)), dtype=np.uint16)
            alpha = rows[:, :, 3:4]
            bgr[top:bottom] = ((rows[:, :, 2::-1] * alpha + 255 * (255 - alpha) + 127) // 255).astype(np.uint8)
        rgba.close()
        img.close()
        return bgr
    if mode == "L":
        grey = np.asarray(img)
        img.close()
        return cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR)
    rgb_img = img if mode == "RGB" else img.convert("RGB")
    if rgb_img is not img:
        img.close()
    rgb = np.asarray(rgb_img)
    rgb_img.close()
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)


def load_image(
    path: Path, max_bytes: int, max_pixels: int, max_decode_bytes: int = MAX_DECODE_BYTES
) -> tuple[np.ndarray, str]:
    """Read and decode a file; returns (BGR image, sha256 of the bytes)."""
    data = read_file(path, max_bytes)
    return decode_image(data, max_pixels, max_decode_bytes), sha256_bytes(data)


def sniff_media_type(head: bytes) -> tuple[str, str]:
    """(media type, extension) of an image file from its first bytes; application/octet-stream for anything
    that is not one of MEDIA_TYPES, whatever its name says."""
    if head.startswith(b"\xff\xd8\xff"):
        fmt = "JPEG"
    elif head.startswith(b"\x89PNG\r\n\x1a\n"):
        fmt = "PNG"
    elif head[:6] in (b"GIF87a", b"GIF89a"):
        fmt = "GIF"
    elif head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        fmt = "WEBP"
    elif head[:2] == b"BM":
        fmt = "BMP"
    elif head[:4] in (b"II*\x00", b"MM\x00*"):
        fmt = "TIFF"
    else:
        return OCTET_STREAM
    return MEDIA_TYPES[fmt]


def is_image_path(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES


def pixel_count(data: bytes) -> int:
    """Width x height from the header alone (0 when it cannot be read): to size batches before decoding."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            return int(img.size[0]) * int(img.size[1])
    except Exception:  # noqa: BLE001 - any unreadable header: the decoder reports it properly later
        return 0
