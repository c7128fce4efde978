"""Fuzzing, bounded in time so it runs on every CI run (about a minute or two on 2 cores).

1. The image decoder (`facesearch.imaging.decode_image`), with Hypothesis: random bytes; real images of every
   supported format (PNG, JPEG, GIF, WebP, TIFF, BMP, PPM; several modes) made with Pillow, then truncated,
   bit-flipped, overwritten or spliced; headers declaring huge dimensions. The only outcomes allowed are an
   `ImageError` or a valid image (H x W x 3 uint8, at most `max_pixels`); never another exception, never more
   than a few seconds for one input, never more memory than a bound set by `max_pixels`.
2. The API from its OpenAPI document, with Schemathesis: every operation, with valid (positive) and invalid
   (negative) inputs, called with the bearer token of each role (and none). No answer may be a 500 and no
   call may take more than a few seconds.

Budgets (examples per strategy, per operation) can be raised for a longer run:
FACESEARCH_FUZZ_EXAMPLES (decoder, default 400) and FACESEARCH_FUZZ_API_EXAMPLES (API, default 8 per operation
and generation mode). A watchdog ends the whole process, with every thread's traceback, if a test hangs.
"""

from __future__ import annotations

import faulthandler
import io
import os
import resource
import signal
import struct
import sys
import time
import zlib
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from facesearch.errors import ImageError  # noqa: E402
from facesearch.pipeline.imaging import decode_image  # noqa: E402

MAX_PIXELS = 4_000_000  # the decoder's limit in this fuzz (a deployment setting: FACESEARCH_MAX_PIXELS)
EXAMPLES = int(os.environ.get("FACESEARCH_FUZZ_EXAMPLES", "400"))
API_EXAMPLES = int(os.environ.get("FACESEARCH_FUZZ_API_EXAMPLES", "8"))
PER_INPUT_SECONDS = 10.0  # one decode or one API call; a hang past this fails the example
WATCHDOG_SECONDS = 600.0  # the whole test: past this the process is ended with tracebacks
# Peak memory a decode may add: the decoded image in a few copies (RGBA, composite, BGR) plus slack.
MEMORY_BOUND = 16 * MAX_PIXELS + 256 * 2**20

FUZZ = settings(
    deadline=timedelta(seconds=PER_INPUT_SECONDS),
    database=None,
    derandomize=False,
    suppress_health_check=list(HealthCheck),
    phases=[Phase.explicit, Phase.generate, Phase.shrink],
)


# Pillow warns about the damage it skips over (corrupt EXIF, short tags); only exceptions count here.
# Time-bounded fuzzing runs for a minute or two: left out of `make fast`.
pytestmark = [pytest.mark.filterwarnings("ignore::UserWarning"), pytest.mark.slow]


class Hang(Exception):
    pass


@pytest.fixture
def watchdog() -> Iterator[None]:
    """End the process (not just the test) with every thread's traceback if the test does not finish: a hang
    in C code cannot be interrupted from Python, and CI must fail rather than wait forever."""
    faulthandler.dump_traceback_later(WATCHDOG_SECONDS, exit=True)
    try:
        yield
    finally:
        faulthandler.cancel_dump_traceback_later()


def _bounded(fn: Callable[[], Any], seconds: float = PER_INPUT_SECONDS) -> Any:
    """Run fn with an alarm: a loop in Python code past the bound raises Hang (C code is covered by the
    Hypothesis deadline once it returns, and by the watchdog if it never does)."""

    def on_alarm(signum: int, frame: Any) -> None:
        raise Hang(f"still running after {seconds:g} s")

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        return fn()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def _peak_rss() -> int:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak) * (1 if sys.platform == "darwin" else 1024)


# The decoder ----------------------------------------------------------------------------------------------
def _picture(w: int = 48, h: int = 36) -> Image.Image:
    yy, xx = np.mgrid[0:h, 0:w]
    rgb = np.stack([xx * 255 // w, yy * 255 // h, (xx + yy) * 255 // (w + h)], axis=-1).astype(np.uint8)
    return Image.fromarray(rgb)


def _save(img: Image.Image, fmt: str, **kw: Any) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def _seeds() -> dict[str, bytes]:
    """Small valid files of every supported format, in several modes and variants."""
    rgb = _picture()
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate
    frames = [rgb, rgb.transpose(Image.Transpose.FLIP_LEFT_RIGHT)]
    out = {
        "png-rgb": _save(rgb, "PNG"),
        "png-rgba": _save(rgb.convert("RGBA"), "PNG"),
        "png-l": _save(rgb.convert("L"), "PNG"),
        "png-p": _save(rgb.convert("P"), "PNG"),
        "png-i16": _save(Image.fromarray(np.asarray(rgb.convert("L"), np.uint16) * 250), "PNG"),
        "png-1": _save(rgb.convert("1"), "PNG"),
        "jpeg": _save(rgb, "JPEG", quality=80),
        "jpeg-l": _save(rgb.convert("L"), "JPEG"),
        "jpeg-progressive-exif": _save(rgb, "JPEG", progressive=True, exif=exif),
        "jpeg-cmyk": _save(rgb.convert("CMYK"), "JPEG"),
        "gif": _save(rgb.convert("P"), "GIF"),
        "gif-animated": _save(frames[0].convert("P"), "GIF", save_all=True, append_images=[frames[1].convert("P")]),
        "webp-lossy": _save(rgb, "WEBP", quality=70),
        "webp-lossless-rgba": _save(rgb.convert("RGBA"), "WEBP", lossless=True),
        "tiff": _save(rgb, "TIFF"),
        "tiff-lzw": _save(rgb, "TIFF", compression="tiff_lzw"),
        "tiff-rgba": _save(rgb.convert("RGBA"), "TIFF"),
        "bmp": _save(rgb, "BMP"),
        "ppm": _save(rgb, "PPM"),
    }
    return out


SEEDS = _seeds()


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _huge_png(w: int, h: int, colour: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", w, h, 8, colour, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + _png_chunk(b"IEND", b"")
    )


def _patch_jpeg(data: bytes, w: int, h: int) -> bytes:
    out = bytearray(data)
    for marker in (b"\xff\xc0", b"\xff\xc2"):
        at = out.find(marker)
        if at >= 0:
            out[at + 5 : at + 9] = struct.pack(">HH", h, w)
    return bytes(out)


def _patch_gif(data: bytes, w: int, h: int) -> bytes:
    return data[:6] + struct.pack("<HH", w, h) + data[10:]


def _patch_bmp(data: bytes, w: int, h: int) -> bytes:
    return data[:18] + struct.pack("<ii", w, h) + data[26:]


def _patch_tiff(data: bytes, w: int, h: int) -> bytes:
    out = bytearray(data)
    ifd = struct.unpack_from("<I", out, 4)[0]
    for k in range(struct.unpack_from("<H", out, ifd)[0]):
        entry = ifd + 2 + 12 * k
        tag = struct.unpack_from("<H", out, entry)[0]
        if tag in (256, 257):
            struct.pack_into("<HHII", out, entry, tag, 4, 1, w if tag == 256 else h)
    return bytes(out)


@st.composite
def huge_images(draw: st.DrawFn) -> bytes:
    """A header declaring dimensions from 1 to the format's maximum, with little or no pixel data after it."""
    kind = draw(st.sampled_from(["png", "jpeg", "gif", "bmp", "tiff", "ppm"]))
    near = st.integers(1, 8) | st.integers(MAX_PIXELS // 4096, 8192) | st.just(MAX_PIXELS // 2000)
    if kind == "png":
        big = st.integers(1, 2**31 - 1)
        return _huge_png(draw(near | big), draw(near | big), draw(st.sampled_from([0, 2, 3, 4, 6])))
    if kind == "ppm":
        w, h = draw(near | st.integers(1, 2**40)), draw(near | st.integers(1, 2**40))
        return f"P6\n{w} {h}\n255\n".encode() + b"\x80" * draw(st.integers(0, 300))
    w, h = draw(near | st.integers(1, 65535)), draw(near | st.integers(1, 65535))
    if kind == "jpeg":
        return _patch_jpeg(SEEDS[draw(st.sampled_from(["jpeg", "jpeg-l", "jpeg-progressive-exif"]))], w, h)
    if kind == "gif":
        return _patch_gif(SEEDS["gif"], w, h)
    if kind == "bmp":
        sign = draw(st.sampled_from([1, -1]))
        return _patch_bmp(SEEDS["bmp"], w, sign * h)
    return _patch_tiff(SEEDS[draw(st.sampled_from(["tiff", "tiff-lzw", "tiff-rgba"]))], w, h)


@st.composite
def damaged_images(draw: st.DrawFn) -> bytes:
    """A real file of a supported format, truncated, bit-flipped, overwritten or spliced with another."""
    data = bytearray(SEEDS[draw(st.sampled_from(sorted(SEEDS)))])
    for _ in range(draw(st.integers(1, 4))):
        how = draw(st.sampled_from(["truncate", "flip", "overwrite", "splice", "duplicate"]))
        n = len(data)
        if n < 2:
            break
        at = draw(st.integers(0, n - 1))
        if how == "truncate":
            del data[at:]
        elif how == "flip":
            for _ in range(draw(st.integers(1, 16))):
                pos = draw(st.integers(0, n - 1))
                data[pos] ^= 1 << draw(st.integers(0, 7))
        elif how == "overwrite":
            chunk = draw(
                st.binary(min_size=1, max_size=16) | st.sampled_from([b"\xff" * 4, b"\0" * 4, b"\x7f\xff\xff\xff"])
            )
            data[at : at + len(chunk)] = chunk
        elif how == "splice":
            other = SEEDS[draw(st.sampled_from(sorted(SEEDS)))]
            data[at:] = other[draw(st.integers(0, len(other) - 1)) :]
        else:
            end = draw(st.integers(at, min(n, at + 4096)))
            data[at:at] = data[at:end] * draw(st.integers(1, 8))
    return bytes(data)


def _check_decode(data: bytes) -> None:
    try:
        out = _bounded(lambda: decode_image(data, MAX_PIXELS))
    except ImageError as exc:
        assert exc.reason and str(exc)
        return
    assert isinstance(out, np.ndarray) and out.dtype == np.uint8 and out.ndim == 3 and out.shape[2] == 3
    h, w = out.shape[:2]
    assert h > 0 and w > 0 and h * w <= MAX_PIXELS


@pytest.fixture
def memory_bound() -> Iterator[None]:
    before = _peak_rss()
    yield
    grew = _peak_rss() - before
    assert grew <= MEMORY_BOUND, f"peak memory grew by {grew / 2**20:.0f} MiB (bound {MEMORY_BOUND / 2**20:.0f})"


def test_seed_images_decode() -> None:
    """The seeds are valid: the fuzz starts from files the decoder accepts."""
    for name, data in SEEDS.items():
        img = decode_image(data, MAX_PIXELS)
        assert img.shape[2] == 3 and img.size, name


@settings(FUZZ, max_examples=EXAMPLES)
@given(
    data=st.binary(max_size=2048)
    | st.builds(
        lambda magic, rest: magic + rest, st.sampled_from([d[:16] for d in SEEDS.values()]), st.binary(max_size=2048)
    )
)
def test_decoder_random_bytes(data: bytes, watchdog: None, memory_bound: None) -> None:
    _check_decode(data)


@settings(FUZZ, max_examples=EXAMPLES * 2)
@given(data=damaged_images())
def test_decoder_damaged_real_images(data: bytes, watchdog: None, memory_bound: None) -> None:
    _check_decode(data)


@settings(FUZZ, max_examples=EXAMPLES)
@given(data=huge_images())
def test_decoder_huge_declared_dimensions(data: bytes, watchdog: None, memory_bound: None) -> None:
    _check_decode(data)


# The API ------------------------------------------------------------------------------------------------
schemathesis = pytest.importorskip("schemathesis")

ROLES = ("admin", "operator", "examiner", "auditor")


@pytest.fixture(scope="module")
def api_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from support.service import SETUP_OPERATOR, make_env, synthetic_packs
    from support.synthetic import write_gallery

    from facesearch.app.ingest import Item, ingest

    root = Path(tmp_path_factory.mktemp("fuzz"))
    allowed = root / "allowed"
    made = write_gallery(allowed, [3, 5, 9], 2)
    with synthetic_packs():
        env = make_env(root / "home", search_rate_per_minute=0, search_daily_quota=0, ingest_roots=[allowed])
        res = ingest(env.ctx, SETUP_OPERATOR, [Item(p) for ps in made.values() for p in ps], "lfw")
        assert res.ingested == 6
        yield env


def _renew_tokens(env: Any, client: Any) -> None:
    """A fuzzed call may disable a user, change a role or revoke a token (as it may): give each role a fresh
    account and token so the next operation is still called as every role."""
    for role in ROLES:
        if client.get("/api/v1/me", headers=env.headers(role)).status_code != 200:
            name = f"{role}-{len(env.tokens)}"
            env.add_user(name, role)
            env.tokens[role] = env.tokens[name]


def _fuzz_operation(env: Any, op: Any, mode: Any, failures: list[str]) -> int:
    """API_EXAMPLES generated requests of one operation in one generation mode, each sent as every role and as
    nobody; 500s, escaping exceptions and slow answers are added to `failures`. Returns the calls made."""
    calls = 0
    label = f"{op.method.upper()} {op.path} [{mode.value}"

    @settings(
        max_examples=API_EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.generate],
    )
    @given(case=op.as_strategy(generation_mode=mode))
    def call(case: Any) -> None:
        nonlocal calls
        for role in (*ROLES, None):  # the same request as every role, and as nobody
            headers = env.headers(role) if role else {}
            started = time.monotonic()
            try:
                response = _bounded(lambda: case.call(headers=headers))  # noqa: B023 (called at once)
            except Exception as exc:  # an exception escaping the app is a failure too
                failures.append(f"{label}, {role}]: {exc!r}")
                continue
            calls += 1
            took = time.monotonic() - started
            if response.status_code >= 500:
                failures.append(f"{label}, {role}]: {response.status_code} {response.text[:300]}")
            elif took > PER_INPUT_SECONDS:
                failures.append(f"{label}, {role}]: took {took:.1f} s")

    try:
        call()
    except Exception as exc:
        # Hypothesis finds nothing to generate for some operation and mode (e.g. nothing to negate).
        if "unsatisfiable" not in f"{type(exc).__name__} {exc}".lower():
            failures.append(f"{label}]: generation failed: {exc!r}")
    return calls


def test_api_from_openapi_no_server_errors_no_hangs(api_env: Any, watchdog: None) -> None:
    from fastapi.testclient import TestClient
    from schemathesis import GenerationMode

    env = api_env
    schema = schemathesis.openapi.from_asgi("/openapi.json", env.app, headers=env.headers("auditor"))
    operations = [r.ok() for r in schema.get_all_operations()]
    assert len(operations) >= 30
    # Operations that change accounts, tokens or the kill switch go last, so they disturb the others least.
    operations.sort(
        key=lambda op: (
            op.method.upper() in ("PATCH", "DELETE")
            or "/users" in op.path
            or "/tokens" in op.path
            or "/search/s" in op.path,
            op.path,
            op.method,
        )
    )
    failures: list[str] = []
    calls = 0
    client = TestClient(env.app, base_url="https://testserver", raise_server_exceptions=False)
    for op in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            calls += _fuzz_operation(env, op, mode, failures)
        _renew_tokens(env, client)
    assert not failures, f"{len(failures)} failure(s) in {calls} calls:\n" + "\n".join(failures[:40])
    assert calls >= len(operations) * API_EXAMPLES * len(ROLES)
