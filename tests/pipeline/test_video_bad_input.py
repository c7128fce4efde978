"""Bad input loses nothing and stops nothing: a damaged file gives what decodes and says what was wrong; a file
of which nothing can be analysed raises one VideoError with a stable reason, never another exception."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from support.videos import (
    Appearance,
    Clip,
    audio_only,
    no_frames,
    overwritten_copy,
    texture,
    truncated_copy,
    unknown_codec,
    write_clip,
)

from facesearch.errors import ImageError
from facesearch.pipeline.video import VideoError, VideoReader
from facesearch.pipeline.video.records import (
    CORRUPT_VIDEO,
    DECODE_ERRORS,
    NO_FRAMES,
    NO_VIDEO_STREAM,
    NOT_A_FILE,
    NOT_A_VIDEO,
    TRUNCATED,
    UNREADABLE,
    UNSUPPORTED_CODEC,
)

CLIP = Clip(4.0, (Appearance(texture(60), 0.0, 4.0, x=0.0, y=0.3, size=0.3, dx=0.15),), noise=4)


def _refused(path: Path) -> VideoError:
    with pytest.raises(VideoError) as info:
        VideoReader(path)
    assert isinstance(info.value, ImageError)  # reported like a bad photo
    return info.value


def _read(path: Path) -> tuple[VideoReader, list[float]]:
    with VideoReader(path) as reader:
        times = [f.time for f in reader.frames()]
    return reader, times


@pytest.mark.parametrize("fmt", ["mp4", "matroska"])
def test_a_truncated_file_gives_what_decodes_and_says_where_it_ended(tmp_path: Path, fmt: str) -> None:
    # MP4 with its index first, as phones and `faststart` write it; Matroska is streamable by design.
    options = {"movflags": "faststart"} if fmt == "mp4" else {}
    whole = write_clip(tmp_path / f"whole.{fmt}", CLIP, fmt=fmt, container_options=options)
    reader, times = _read(truncated_copy(whole, tmp_path / f"cut.{fmt}", 0.6))
    assert times[:3] == [0.0, 0.5, 1.0] and times[-1] < 3.5
    truncated = [i for i in reader.issues if i.reason == TRUNCATED]
    assert len(truncated) == 1 and truncated[0].at is not None and truncated[0].at < 4.0
    assert "of 4.000 s" in truncated[0].detail


def test_a_truncated_mp4_without_its_index_is_refused_clearly(tmp_path: Path) -> None:
    """A camera's MP4 cut short before its index (written last) holds no frame anyone can place: refused with
    the reason, not a crash."""
    whole = write_clip(tmp_path / "whole.mp4", CLIP)
    error = _refused(truncated_copy(whole, tmp_path / "cut.mp4", 0.6))
    assert error.reason == CORRUPT_VIDEO


def test_damage_in_the_middle_is_skipped_and_reported(tmp_path: Path) -> None:
    whole = write_clip(tmp_path / "whole.ts", CLIP, fmt="mpegts")
    reader, times = _read(overwritten_copy(whole, tmp_path / "damaged.ts", 0.4, 0.1))
    assert times[0] == 0.0 and times[-1] == 3.5  # the frames after the damage are there
    assert [i.reason for i in reader.issues] == [DECODE_ERRORS]
    assert reader.decode_errors >= 1


def test_garbage_after_a_valid_start_does_not_stop_anything(tmp_path: Path) -> None:
    whole = write_clip(tmp_path / "whole.mkv", CLIP, fmt="matroska")
    reader, times = _read(overwritten_copy(whole, tmp_path / "tail.mkv", 0.5, 0.5))
    assert times[0] == 0.0 and reader.issues


def test_no_frames(tmp_path: Path) -> None:
    assert _refused(no_frames(tmp_path / "empty.mkv", fmt="matroska")).reason == NO_FRAMES
    # MP4 drops a track without samples: the file then has no video stream at all.
    assert _refused(no_frames(tmp_path / "empty.mp4")).reason in (NO_FRAMES, NO_VIDEO_STREAM)


def test_audio_only(tmp_path: Path) -> None:
    error = _refused(audio_only(tmp_path / "memo.mp4"))
    assert error.reason == NO_VIDEO_STREAM and "audio only" in str(error)


def test_an_unknown_codec(tmp_path: Path) -> None:
    assert _refused(unknown_codec(tmp_path / "odd.avi", Clip(0.5))).reason == UNSUPPORTED_CODEC


# A file that starts like a container and holds nothing usable behind it: whichever of these FFmpeg finds.
BROKEN = (CORRUPT_VIDEO, NO_VIDEO_STREAM, NO_FRAMES)


@pytest.mark.parametrize(
    ("content", "reasons"),
    [
        (b"", (NOT_A_VIDEO,)),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF" + bytes(200), (NOT_A_VIDEO,)),
        (bytes(range(256)) * 16, (NOT_A_VIDEO,)),
        (b"\x00\x00\x00\x18ftypmp42" + bytes(2000), BROKEN),
        (b"\x1a\x45\xdf\xa3" + bytes(range(256)) * 8, BROKEN),
    ],
    ids=["empty", "jpeg", "bytes", "mp4-header-only", "mkv-garbage"],
)
def test_files_that_are_not_videos(tmp_path: Path, content: bytes, reasons: tuple[str, ...]) -> None:
    path = tmp_path / "x.mp4"
    path.write_bytes(content)
    assert _refused(path).reason in reasons


def test_what_is_not_a_regular_file(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.mp4"
    os.mkfifo(fifo)
    assert _refused(fifo).reason == NOT_A_FILE  # at once: nobody writes to it
    assert _refused(tmp_path).reason == NOT_A_FILE
    assert _refused(tmp_path / "missing.mp4").reason == UNREADABLE


def test_a_symlink_to_a_video_is_read_as_the_file_it_names(tmp_path: Path) -> None:
    """Which files may be read is the caller's rule (ingest resolves and checks paths); the reader only insists
    on a regular file at the end of the path."""
    video = write_clip(tmp_path / "a.mp4", Clip(0.5))
    link = tmp_path / "link.mp4"
    link.symlink_to(video)
    reader, times = _read(link)
    assert times == [0.0]
