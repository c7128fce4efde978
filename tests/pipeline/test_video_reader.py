"""Decoding and sampling: frames at N per second of the file's own clock plus scene cuts, frame numbers, phones'
rotation, variable frame rates, the recording's metadata, large frames scaled, and the limits on what a file
may cost (frame size, decoded pixels). No face model here (test_video_tracks.py has them)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from support.videos import Appearance, Clip, texture, write_clip

from facesearch.pipeline.video import Sampling, VideoError, VideoLimits, VideoReader
from facesearch.pipeline.video.metadata import recording
from facesearch.pipeline.video.records import DECODE_BUDGET, TOO_MANY_PIXELS


def _sampled(path: Path, **sampling: object) -> tuple[VideoReader, list]:
    with VideoReader(path, Sampling(**sampling)) as reader:  # type: ignore[arg-type]
        frames = list(reader.frames())
    return reader, frames


def test_frames_are_sampled_at_n_per_second_with_their_times_and_numbers(tmp_path: Path) -> None:
    path = write_clip(tmp_path / "a.mp4", Clip(4.0))  # 10 frames per second
    reader, frames = _sampled(path)
    assert [(f.time, f.frame) for f in frames] == [(i / 2, i * 5) for i in range(8)]
    assert reader.info.duration == pytest.approx(4.0)
    assert reader.info.frame_rate == pytest.approx(10.0)
    assert not reader.issues
    _, frames = _sampled(path, fps=1.0)
    assert [f.frame for f in frames] == [0, 10, 20, 30]
    _, frames = _sampled(path, fps=5.0)
    assert [f.frame for f in frames] == list(range(0, 40, 2))


def test_skipping_frames_no_one_needs_changes_nothing_sampled(tmp_path: Path) -> None:
    """With B-frames, the decoder skips the frames no other frame refers to, except near a sampling time: the
    sampled frames are exactly those of a full decode, pixel for pixel, for less decoding."""
    moving = Appearance(texture(60), 0.0, 3.0, x=0.0, y=0.2, size=0.4, dx=0.25)
    path = write_clip(tmp_path / "b.mp4", Clip(3.0, (moving,), fps=30.0, noise=4), bframes=True)
    skipping, fast = _sampled(path)
    full, slow = _sampled(path, skip_unneeded=False)
    assert [(f.time, f.frame) for f in fast] == [(f.time, f.frame) for f in slow] == [(i / 2, i * 15) for i in range(6)]
    assert all(np.array_equal(a.image, b.image) for a, b in zip(fast, slow))
    assert full.frames_decoded == 90
    assert skipping.frames_decoded < 75


@pytest.mark.parametrize("rotation", [90, 180, 270])
def test_phone_rotation_is_applied(tmp_path: Path, rotation: int) -> None:
    clip = Clip(1.0)
    path = write_clip(tmp_path / f"r{rotation}.mp4", clip, rotation=rotation)
    reader, frames = _sampled(path)
    assert reader.info.rotation == rotation
    assert (reader.info.width, reader.info.height) == (320, 240)  # upright
    stored = (240, 320) if rotation in (90, 270) else (320, 240)
    assert (reader.info.coded_width, reader.info.coded_height) == stored
    upright = clip.frame(0.0, 0).astype(np.int16)
    assert frames[0].image.shape == upright.shape
    assert np.abs(frames[0].image.astype(np.int16) - upright).mean() < 6


def test_variable_frame_rate_is_sampled_by_time(tmp_path: Path) -> None:
    times = [0.0, 0.1, 0.2, 0.25, 0.3, 0.9, 1.0, 1.05, 1.6, 2.2, 2.3, 3.9]
    path = write_clip(tmp_path / "vfr.mp4", Clip(4.0, flat=True), times=times)
    reader, frames = _sampled(path, cuts=False)
    # The first frame at or after each half second; its number is its place among all frames.
    assert [(f.time, f.frame) for f in frames] == [(0.0, 0), (0.9, 5), (1.0, 6), (1.6, 8), (2.2, 9), (3.9, 11)]
    assert reader.variable_frame_rate
    constant, _ = _sampled(write_clip(tmp_path / "cfr.mp4", Clip(1.0, flat=True)))
    assert not constant.variable_frame_rate


def test_scene_cuts_are_sampled_and_flagged(tmp_path: Path) -> None:
    """A cut off the sampling grid is sampled at once (a short shot is seen), unless a frame was sampled just
    before; then the next sample carries the flag. Motion and noise within a shot are not cuts."""
    moving = Appearance(texture(80), 0.0, 4.0, x=0.0, y=0.3, size=0.33, dx=0.2)
    clip = Clip(4.0, (moving,), cuts=(1.25, 2.6), noise=6)
    reader, frames = _sampled(write_clip(tmp_path / "cuts.mp4", clip))
    assert reader.cuts == 2
    by_time = {f.time: f.cut for f in frames}
    assert by_time[1.3] is True  # the first frame of the second shot, between grid points
    assert 2.6 not in by_time and 2.7 not in by_time  # 0.1 s after a sample: left to the grid
    assert by_time[3.0] is True
    assert sum(by_time.values()) == 2
    assert sorted(by_time) == [0.0, 0.5, 1.0, 1.3, 1.5, 2.0, 2.5, 3.0, 3.5]


def test_the_recording_is_identified_by_its_metadata(tmp_path: Path) -> None:
    tags = {
        "com.apple.quicktime.make": "Apple",
        "com.apple.quicktime.model": "iPhone 12",
        "com.apple.quicktime.software": "16.1",
        "creation_time": "2023-04-05T06:07:08.000000Z",
    }
    path = write_clip(
        tmp_path / "phone.mov", Clip(0.5), fmt="mov", metadata=tags, container_options={"movflags": "use_metadata_tags"}
    )
    reader, _ = _sampled(path)
    r = reader.info.recording
    assert (r.make, r.model, r.software) == ("Apple", "iPhone 12", "16.1")
    assert r.creation_time is not None and r.creation_time.startswith("2023-04-05T06:07:08")


def test_metadata_text_is_cleaned() -> None:
    r = recording(
        {"creation_time": "1970-01-01T00:00:00.000000Z", "title": "Cam 3\x00\x1b[31m" + "x" * 500},
        {"com.android.manufacturer": " Google\n", "com.android.model": "Pixel 7", "creation_time": "1904-01-01T00:00"},
    )
    assert r.creation_time is None  # the epochs writers put in when they know no time
    assert r.make == "Google" and r.model == "Pixel 7"
    assert r.title is not None and r.title.startswith("Cam 3[31m") and len(r.title) == 200


def test_large_frames_are_analysed_scaled_down(tmp_path: Path) -> None:
    path = write_clip(tmp_path / "hd.mp4", Clip(0.5, width=1280, height=720, fps=4))
    reader, frames = _sampled(path, max_side=640)
    assert (reader.info.width, reader.info.height) == (1280, 720)
    assert frames[0].image.shape == (360, 640, 3)
    assert frames[0].scale == 0.5


@pytest.fixture(scope="module")
def eight_k(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_clip(tmp_path_factory.mktemp("8k") / "8k.mp4", Clip(0.5, width=7680, height=4320, fps=2, noise=0))


def test_8k_is_decoded_and_analysed_at_1920(eight_k: Path) -> None:
    reader, frames = _sampled(eight_k)
    assert (reader.info.width, reader.info.height) == (7680, 4320)
    assert [f.image.shape for f in frames] == [(1080, 1920, 3)]
    assert frames[0].scale == 0.25


def test_frames_above_the_pixel_limit_are_refused_before_decoding(eight_k: Path) -> None:
    with pytest.raises(VideoError) as info:
        VideoReader(eight_k, limits=VideoLimits(max_frame_pixels=7680 * 4320 - 1))
    assert info.value.reason == TOO_MANY_PIXELS
    assert info.value.kind == "image_too_large"


def test_the_decoded_pixel_budget_stops_a_decompression_bomb(tmp_path: Path) -> None:
    """A flat 640x360 scene compresses to a few bytes a frame and decodes to thousands of pixels per byte of
    file; a real scene of the same size and length costs a few dozen. With a budget of 1,000 pixels per byte
    the first is stopped early, with what was sampled before kept and the stop reported, and the second runs
    through."""
    limits = VideoLimits(min_budget_pixels=0, pixels_per_byte=1000)
    bomb = write_clip(tmp_path / "bomb.mp4", Clip(12.0, width=640, height=360, fps=30, noise=0, flat=True))
    with VideoReader(bomb, limits=limits) as reader:
        frames = list(reader.frames())
    assert [i.reason for i in reader.issues] == [DECODE_BUDGET]
    assert len(frames) > 0 and reader.seconds < 6.0
    moving = Appearance(texture(100), 0.0, 12.0, x=0.0, dx=0.06)
    real = write_clip(tmp_path / "real.mp4", Clip(12.0, (moving,), width=640, height=360, fps=30, noise=6))
    with VideoReader(real, limits=limits) as reader:
        frames = list(reader.frames())
    assert not reader.issues and len(frames) == 24
