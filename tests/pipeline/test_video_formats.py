"""Videos are recognised by their first bytes, never by their names, in every container the issue names, and
each opens with the demuxer its signature names."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from support.videos import Clip, write_clip

from facesearch.pipeline.video import VideoReader, formats, is_video, sniff, video_container

CLIP = Clip(1.0, width=96, height=64)

# (container name, file name, write_clip arguments)
WRITTEN = [
    ("mp4", "a.mp4", {}),
    ("mov", "a.mov", {"fmt": "mov"}),
    ("matroska", "a.mkv", {"fmt": "matroska"}),
    ("webm", "a.webm", {"fmt": "webm", "codec": "libvpx-vp9"}),
    ("webm", "vp8.webm", {"fmt": "webm", "codec": "libvpx"}),
    ("avi", "a.avi", {"fmt": "avi", "codec": "mpeg4"}),
    ("avi", "mjpeg.avi", {"fmt": "avi", "codec": "mjpeg", "pix_fmt": "yuvj420p"}),
    ("mpegts", "a.ts", {"fmt": "mpegts"}),
    ("mpegts", "a.m2ts", {"fmt": "mpegts", "container_options": {"mpegts_m2ts_mode": "1"}}),
    ("mpeg", "a.mpg", {"fmt": "mpeg", "codec": "mpeg2video"}),
    ("matroska", "hevc.mkv", {"fmt": "matroska", "codec": "libx265"}),
]


def _available(codec: str) -> bool:
    import av

    try:
        av.codec.Codec(codec, "w")
    except Exception:  # noqa: BLE001 - not in this build of FFmpeg
        return False
    return True


@pytest.mark.parametrize(("container", "name", "kwargs"), WRITTEN, ids=[w[1] for w in WRITTEN])
def test_every_container_is_recognised_and_decodes(tmp_path: Path, container: str, name: str, kwargs: dict) -> None:
    codec = kwargs.get("codec", "libx264")
    if not _available(codec):
        pytest.skip(f"this FFmpeg build has no {codec} encoder")
    path = write_clip(tmp_path / name, CLIP, **kwargs)
    if name == "a.m2ts":
        assert formats.read_head(path)[4] == 0x47  # 192-byte packets: a 4-byte time code, then the sync byte
    assert video_container(path) is not None
    assert video_container(path).name == container  # type: ignore[union-attr]
    with VideoReader(path) as reader:
        sampled = list(reader.frames())
        assert reader.info.container == container
        assert (reader.info.width, reader.info.height) == (96, 64)
        assert [(f.time, f.frame) for f in sampled] == [(0.0, 0), (0.5, 5)]
        assert reader.seconds == pytest.approx(0.9)


def test_a_video_is_recognised_whatever_its_name(tmp_path: Path) -> None:
    video = write_clip(tmp_path / "a.mp4", CLIP)
    renamed = tmp_path / "holiday.jpg"
    video.rename(renamed)
    assert is_video(renamed)
    photo = tmp_path / "clip.mp4"
    buf = io.BytesIO()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(buf, "JPEG")
    photo.write_bytes(buf.getvalue())
    assert not is_video(photo)


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"\x00\x00\x00\x18ftypmp42" + bytes(100), "mp4"),
        (b"\x00\x00\x00\x18ftypisom" + bytes(100), "mp4"),
        (b"\x00\x00\x00\x14ftypqt  " + bytes(100), "mov"),
        (b"\x00\x00\x00\x1cftypM4V " + bytes(100), "m4v"),
        (b"\x00\x00\x00\x14ftyp3gp4" + bytes(100), "3gp"),
        (b"\x00\x00\x00\x08wide\x00\x01\x00\x00mdat" + bytes(100), "mov"),  # QuickTime before `ftyp`
        (b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x84webm" + bytes(100), "webm"),
        (b"\x1a\x45\xdf\xa3\xa3\x42\x86\x81\x01\x42\x82\x88matroska" + bytes(100), "matroska"),
        (b"RIFF\x00\x10\x00\x00AVI LIST" + bytes(100), "avi"),
        (b"\x00\x00\x01\xba" + bytes(100), "mpeg"),
    ],
)
def test_signatures(head: bytes, expected: str) -> None:
    found = sniff(head)
    assert found is not None and found.name == expected


@pytest.mark.parametrize(
    "head",
    [
        b"",
        b"\xff\xd8\xff\xe0\x00\x10JFIF" + bytes(100),  # JPEG
        b"\x89PNG\r\n\x1a\n" + bytes(100),
        b"\x00\x00\x00\x18ftypheic" + bytes(100),  # HEIC photo
        b"\x00\x00\x00\x1cftypavif" + bytes(100),  # AVIF photo
        b"\x00\x00\x00\x1cftypM4A " + bytes(100),  # audio
        b"RIFF\x00\x10\x00\x00WAVEfmt " + bytes(100),  # WAV
        b"RIFF\x00\x10\x00\x00WEBPVP8 " + bytes(100),  # WebP photo
        b"\x47" + bytes(600),  # one sync byte is not a transport stream
        b"#EXTM3U\n#EXT-X-VERSION:3\n",  # a playlist: never handed to FFmpeg
        b"ffconcat version 1.0\nfile '/etc/passwd'\n",
    ],
)
def test_not_videos(head: bytes) -> None:
    assert sniff(head) is None


def test_only_regular_files_are_read(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo.mp4"
    os.mkfifo(fifo)
    assert formats.read_head(fifo) == b""  # returns at once: nobody writes to it
    assert not is_video(tmp_path)
    assert not is_video(tmp_path / "missing.mp4")


def test_media_types_are_video() -> None:
    assert all(c.media_type.startswith("video/") for c in formats.CONTAINERS)


def test_a_gif_that_looks_like_a_transport_stream_is_a_photo() -> None:
    """A GIF starts with 0x47, the transport stream's sync byte; one whose palette has 0x47 where the next two
    packets would start is still a photo (and is ingested as one)."""
    head = bytearray(b"GIF89a" + bytes(1018))
    head[188] = head[376] = 0x47
    assert sniff(bytes(head)) is None
    ts = bytearray(bytes(1024))
    ts[0] = ts[188] = ts[376] = 0x47
    assert sniff(bytes(ts)) is not None
