"""Which files are videos, told by their first bytes, never by their names.

A folder of evidence holds files renamed by exports, tools and people (`clip.dat`, `VID_0001`, a `.jpg` that
is an MP4), so a video is recognised by its container's signature, as images are by theirs. The signature also
picks the FFmpeg demuxer the file is opened with: FFmpeg is never left to guess a format from content or name,
so a file cannot make it open a playlist, a concatenation list or another format that reads further files.

Recognised containers: the ISO base media family (MP4, MOV, M4V, 3GP), Matroska and WebM, AVI, MPEG transport
streams (plain 188-byte packets, and the 192-byte packets of Blu-ray and camcorder M2TS) and MPEG program
streams (DVD, camcorder and CCTV `.mpg`). Still-image and audio-only members of the ISO family (HEIC, AVIF,
M4A) are not videos.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

HEAD_BYTES = 1024  # enough for three transport-stream packets of either size


@dataclass(frozen=True)
class Container:
    """A recognised video container: its name, the FFmpeg demuxer that reads it, the media type a browser is
    given for it."""

    name: str
    demuxer: str
    media_type: str


MP4 = Container("mp4", "mov", "video/mp4")
M4V = Container("m4v", "mov", "video/x-m4v")
MOV = Container("mov", "mov", "video/quicktime")
THREE_GP = Container("3gp", "mov", "video/3gpp")
MATROSKA = Container("matroska", "matroska", "video/x-matroska")
WEBM = Container("webm", "matroska", "video/webm")
AVI = Container("avi", "avi", "video/x-msvideo")
MPEG_TS = Container("mpegts", "mpegts", "video/mp2t")
MPEG_PS = Container("mpeg", "mpeg", "video/mpeg")
CONTAINERS = (MP4, M4V, MOV, THREE_GP, MATROSKA, WEBM, AVI, MPEG_TS, MPEG_PS)

# ISO base media brands that are not videos: HEIF/HEIC and AVIF still images (and their image sequences),
# audio and audio books, Canon raw photos.
_NOT_VIDEO_BRANDS = frozenset(
    {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1", b"avif", b"avis", b"M4A ", b"M4B "}
    | {b"M4P ", b"crx ", b"jp2 ", b"jpx "}
)
# Still-image signatures that can never start a video file (JPEG, PNG, GIF).
_IMAGE_SIGNATURES = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a")
# QuickTime files from before `ftyp` existed start with one of these atoms.
_QUICKTIME_ATOMS = frozenset({b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"})


def sniff(head: bytes) -> Container | None:
    """The container of a file from its first bytes (at least HEAD_BYTES of them when the file has that many),
    or None when it is not a video container this module knows."""
    if head.startswith(_IMAGE_SIGNATURES):
        # A GIF starts with 0x47, a transport stream's sync byte: one whose palette holds 0x47 at bytes 188
        # and 376 (about one GIF in 65,000) would pass for one. Photos' own signatures come first.
        return None
    if len(head) >= 12 and head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in _NOT_VIDEO_BRANDS:
            return None
        if brand == b"qt  ":
            return MOV
        if brand.startswith(b"M4V"):
            return M4V
        if brand.startswith(b"3g"):
            return THREE_GP
        return MP4
    if len(head) >= 8 and head[4:8] in _QUICKTIME_ATOMS and int.from_bytes(head[:4], "big") not in range(2, 8):
        return MOV  # atom size 0 (to the end), 1 (64-bit size follows) or a real size
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return WEBM if _ebml_doctype(head) == b"webm" else MATROSKA
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return AVI
    if _packets(head, 0, 188) or _packets(head, 4, 192):
        return MPEG_TS
    if head[:4] == b"\x00\x00\x01\xba":
        return MPEG_PS
    return None


def _ebml_doctype(head: bytes) -> bytes | None:
    """The DocType of a Matroska EBML header (element 0x4282): b"webm" or b"matroska"."""
    at = head.find(b"\x42\x82", 4, 64)
    if at < 0 or at + 3 > len(head):
        return None
    size_byte = head[at + 2]
    if not size_byte & 0x80:  # only one-byte sizes are written for this short string
        return None
    size = size_byte & 0x7F
    return head[at + 3 : at + 3 + size]


def _packets(head: bytes, offset: int, size: int, count: int = 3) -> bool:
    """Sync bytes (0x47) at the start of `count` consecutive transport packets."""
    return len(head) > offset + size * (count - 1) and all(head[offset + i * size] == 0x47 for i in range(count))


def read_head(path: Path, size: int = HEAD_BYTES) -> bytes:
    """The first bytes of a regular file; b"" for anything else (a FIFO, a device, a folder), without waiting
    on it, or for a file that cannot be read."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    except OSError:
        return b""
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return b""
        return os.read(fd, size)
    except OSError:
        return b""
    finally:
        os.close(fd)


def video_container(path: Path) -> Container | None:
    """The container of the file at `path` when it is a video (by content), else None."""
    return sniff(read_head(path))


def is_video(path: Path) -> bool:
    return video_container(path) is not None
