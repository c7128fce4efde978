"""Faces in video, end to end with the real pack (yunet-reid) on clips made from LFW photos with known times:
people entering and leaving, two people on one frame, cuts and a shot shorter than the sampling interval,
a phone's rotation, a truncated copy, resuming, bounded memory; and a person on screen for 2 s is found by
another photo of them. The tracker's rules alone, without a model, are at the end."""

from __future__ import annotations

import functools
import threading
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest
from support.paths import lfw_person, needs_lfw, needs_yunet
from support.videos import PEOPLE, Appearance, Clip, truncated_copy, write_clip

from facesearch.calibration.tables import load_table
from facesearch.config import Settings
from facesearch.models import load_pack
from facesearch.models.base import Detections, ModelPack, PackInfo
from facesearch.pipeline.analysis import FaceSet, analyze
from facesearch.pipeline.video import (
    ScanOptions,
    ScanProgress,
    Track,
    TrackOptions,
    VideoAnalysis,
    VideoScan,
    analyse_video,
)
from facesearch.pipeline.video.reader import SampledFrame
from facesearch.pipeline.video.records import TRUNCATED
from facesearch.pipeline.video.tracks import LinkThresholds, Tracker

SAMPLE = 0.5  # seconds between sampled frames at the default 2 per second


def models(test: Callable[..., None]) -> Callable[..., None]:
    """Skips unless LFW and the pack's weights are present."""
    return needs_lfw(needs_yunet(test))  # type: ignore[no-any-return]


@functools.cache
def _pack() -> ModelPack:
    return load_pack("yunet-reid", Settings(), 1)


@pytest.fixture(scope="module")
def pack() -> ModelPack:
    return _pack()


@functools.cache
def _one_face_photos(person: int) -> list[Path]:
    """The person's LFW photos in which the pack finds exactly one face (some show a second person too)."""
    paths = lfw_person(PEOPLE[person])[:8]
    found = analyze(_pack(), [cv2.imread(str(p)) for p in paths])
    return [p for p, faces in zip(paths, found) if len(faces) == 1]


def photo(person: int, n: int = 0) -> Path:
    """The n-th photo of one of support.videos.PEOPLE that shows only them."""
    return _one_face_photos(person)[n]


def _who(clip: Clip, track: Track) -> int:
    """The appearance a track follows: the one whose photo covers the centre of its best face."""
    face = track.best
    cx, cy = (face.box[0] + face.box[2]) / 2, (face.box[1] + face.box[3]) / 2
    for i, a in enumerate(clip.appearances):
        if a.opacity(face.time) == 1.0:
            left = (a.x + a.dx * (face.time - a.start)) * clip.width
            top = (a.y + a.dy * (face.time - a.start)) * clip.height
            side = a.size * clip.height
            if left <= cx <= left + side and top <= cy <= top + side:
                return i
    raise AssertionError(f"track {track.id} at {face.time} s matches no appearance")


def _check_track(track: Track, width: int, height: int) -> None:
    """What every track promises: one face per frame at most, the best few kept best first, each complete."""
    assert 1 <= len(track.faces) <= 3 and track.best is track.faces[0]
    assert [f.quality for f in track.faces] == sorted((f.quality for f in track.faces), reverse=True)
    assert len({f.frame for f in track.faces}) == len(track.faces)
    assert track.start <= min(f.time for f in track.faces) <= max(f.time for f in track.faces) <= track.end
    assert track.start_frame <= track.end_frame
    for f in track.faces:
        assert f.track == track.id
        x1, y1, x2, y2 = f.box
        assert 0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height
        assert len(f.landmarks) == 5
        assert f.thumbnail[:3] == b"\xff\xd8\xff"  # JPEG
        assert f.embedding.shape == (256,) and abs(float(np.linalg.norm(f.embedding)) - 1) < 1e-3


# People entering and leaving; two on one frame ------------------------------------------------------
@pytest.fixture(scope="module")
def comings(tmp_path_factory: pytest.TempPathFactory, pack: ModelPack) -> tuple[Clip, VideoAnalysis]:
    clip = Clip(
        8.0,
        (
            Appearance(photo(0), 0.5, 4.5, x=0.02, y=0.2, size=0.55, fade=0.3),
            Appearance(photo(1), 2.0, 7.0, x=0.5, y=0.2, size=0.55, fade=0.3),
            Appearance(photo(2), 5.0, 7.5, x=0.02, y=0.15, size=0.6, fade=0.3, dx=0.02),
        ),
    )
    path = write_clip(tmp_path_factory.mktemp("video") / "comings.mp4", clip)
    return clip, analyse_video(path, pack)


@models
def test_people_entering_and_leaving_are_tracked_with_their_times(comings: tuple[Clip, VideoAnalysis]) -> None:
    clip, analysis = comings
    assert analysis.report.complete and analysis.report.cuts == 0
    tracks = {_who(clip, t): t for t in analysis.tracks}
    assert len(analysis.tracks) == len(tracks) == 3, [(t.id, t.start, t.end) for t in analysis.tracks]
    for i, a in enumerate(clip.appearances):
        t = tracks[i]
        _check_track(t, clip.width, clip.height)
        assert a.start <= t.start <= a.start + SAMPLE
        assert a.end - SAMPLE <= t.end < a.end + a.fade
        assert t.start_frame == round(t.start * clip.fps) and t.end_frame == round(t.end * clip.fps)
    # Seen together: 0 and 1 (2.0-4.5), 1 and 2 (5.0-7.0); never 0 and 2.
    assert tracks[1].id in tracks[0].seen_with and tracks[0].id in tracks[1].seen_with
    assert tracks[2].id in tracks[1].seen_with and tracks[0].id not in tracks[2].seen_with


@models
def test_two_faces_on_one_frame_are_never_one_track(tmp_path: Path, pack: ModelPack) -> None:
    """Even the same photo twice, side by side: identical faces on one frame are two tracks."""
    same = photo(3)
    clip = Clip(3.0, (Appearance(same, 0.0, 3.0, x=0.02, size=0.55), Appearance(same, 0.0, 3.0, x=0.5, size=0.55)))
    analysis = analyse_video(write_clip(tmp_path / "twins.mp4", clip), pack)
    assert len(analysis.tracks) == 2
    a, b = analysis.tracks
    assert a.sightings == b.sightings == 6
    assert a.seen_with == (b.id,) and b.seen_with == (a.id,)
    assert {_who(clip, a), _who(clip, b)} == {0, 1}


@models
def test_a_cut_ends_every_track_and_a_short_shot_is_seen(tmp_path: Path, pack: ModelPack) -> None:
    """The same person at the same place before and after a cut is two tracks; a shot of 0.15 s between two
    sampling times is sampled at its cut."""
    a = photo(0)
    clip = Clip(
        6.0,
        (
            Appearance(a, 0.0, 3.0, x=0.25, size=0.7),
            Appearance(a, 3.0, 4.3, x=0.25, size=0.7),
            Appearance(photo(4), 4.3, 4.45, x=0.3, size=0.7),
        ),
        cuts=(3.0, 4.3, 4.45),
    )
    analysis = analyse_video(write_clip(tmp_path / "cuts.mp4", clip), pack)
    assert analysis.report.cuts == 3
    spans = sorted((t.start, t.end, _who(clip, t)) for t in analysis.tracks)
    assert spans == [(0.0, 2.5, 0), (3.0, 4.0, 1), (4.3, 4.3, 2)]


@models
def test_a_person_on_screen_for_two_seconds_is_found_by_another_photo(tmp_path: Path, pack: ModelPack) -> None:
    """Rank 1 among all tracks of the video, and above the pack's 1:1 threshold (verify_fmr), for each person;
    the probe is another LFW photo of them (the first two photos of each of these people score well above
    the threshold as photos: the point here is that the video path keeps that)."""
    people = range(5)
    clip = Clip(
        9.0,
        (
            Appearance(photo(0), 0.5, 2.5, x=0.02, y=0.2, size=0.5, fade=0.3),
            Appearance(photo(1), 1.0, 3.0, x=0.52, y=0.2, size=0.5, fade=0.3),
            Appearance(photo(2), 3.5, 5.5, x=0.02, y=0.2, size=0.5, fade=0.3, dx=0.03),
            Appearance(photo(3), 4.0, 6.0, x=0.52, y=0.1, size=0.6, fade=0.3),
            Appearance(photo(4), 6.5, 8.5, x=0.25, y=0.1, size=0.6, fade=0.3),
        ),
        width=400,
        height=240,
    )
    analysis = analyse_video(write_clip(tmp_path / "five.mp4", clip), pack)
    threshold = load_table(pack.info.name).threshold_for_fmr(Settings().verify_fmr)
    who = {t.id: _who(clip, t) for t in analysis.tracks}
    for person in people:
        probe_image = cv2.imread(str(photo(person, 1)))
        faces = analyze(pack, [probe_image])[0]
        probe = faces.embeddings[faces.largest()]
        scores = sorted(
            ((max(float(f.embedding @ probe) for f in t.faces), t.id) for t in analysis.tracks), reverse=True
        )
        best_score, best_track = scores[0]
        assert who[best_track] == person, (person, scores)
        assert best_score >= threshold, (person, best_score, threshold)


@models
def test_a_phone_video_stored_rotated_is_analysed_upright(tmp_path: Path, pack: ModelPack) -> None:
    clip = Clip(2.0, (Appearance(photo(1), 0.0, 2.0, x=0.1, y=0.3, size=0.35),), width=240, height=320)
    analysis = analyse_video(write_clip(tmp_path / "portrait.mp4", clip, rotation=90), pack)
    assert (analysis.info.width, analysis.info.height, analysis.info.rotation) == (240, 320, 90)
    assert len(analysis.tracks) == 1
    _check_track(analysis.tracks[0], 240, 320)
    assert _who(clip, analysis.tracks[0]) == 0  # its box is where the photo is, upright


@models
def test_a_truncated_copy_keeps_the_tracks_before_the_cut_off(tmp_path: Path, pack: ModelPack) -> None:
    clip = Clip(
        6.0,
        (
            Appearance(photo(0), 0.0, 2.0, x=0.25, size=0.7, fade=0.3),
            Appearance(photo(1), 4.0, 6.0, x=0.25, size=0.7, fade=0.3),
        ),
    )
    whole = write_clip(tmp_path / "whole.mkv", clip, fmt="matroska")
    analysis = analyse_video(truncated_copy(whole, tmp_path / "cut.mkv", 0.5), pack)
    assert [_who(clip, t) for t in analysis.tracks] == [0]
    assert [i.reason for i in analysis.report.issues] == [TRUNCATED]
    assert not analysis.report.complete


# Streaming: resuming, progress, memory --------------------------------------------------------------
def _gappy(duration: float, every: float = 3.0) -> Clip:
    """One person at a time, each for 1.5 s, then 1.5 s with no one (longer than a track waits: points to resume
    from)."""
    appearances = []
    t, i = 0.5, 0
    while t + 1.5 <= duration:
        appearances.append(Appearance(photo(i % len(PEOPLE)), t, t + 1.5, x=0.25, size=0.7, fade=0.2))
        t, i = t + every, i + 1
    return Clip(duration, tuple(appearances))


def _scan(path: Path, pack: ModelPack, **kwargs: object) -> tuple[list[Track], list[ScanProgress]]:
    tracks: list[Track] = []
    progress: list[ScanProgress] = []
    for item in VideoScan(path, pack, **kwargs):  # type: ignore[arg-type]
        (tracks if isinstance(item, Track) else progress).append(item)  # type: ignore[arg-type]
    return tracks, progress


@models
def test_a_scan_resumed_at_a_checkpoint_gives_the_same_tracks(tmp_path: Path, pack: ModelPack) -> None:
    path = write_clip(tmp_path / "gappy.mp4", _gappy(9.0))
    tracks, progress = _scan(path, pack)
    assert len(tracks) == 3
    seconds = [p.seconds for p in progress]
    assert seconds == sorted(seconds) and seconds[-1] == pytest.approx(8.9) and progress[-1].duration == 9.0
    checkpoints = [p.checkpoint for p in progress if p.checkpoint is not None and 2.0 < p.checkpoint.time < 5.0]
    assert checkpoints
    checkpoint = checkpoints[-1]
    resumed, _ = _scan(path, pack, resume=checkpoint)
    expected = [t for t in tracks if t.id >= checkpoint.next_track]
    assert expected and [t.id for t in resumed] == [t.id for t in expected]
    for a, b in zip(resumed, expected):
        assert (a.start, a.end, a.start_frame, a.end_frame, a.sightings) == (
            b.start,
            b.end,
            b.start_frame,
            b.end_frame,
            b.sightings,
        )
        assert [(f.time, f.frame) for f in a.faces] == [(f.time, f.frame) for f in b.faces]
        for fa, fb in zip(a.faces, b.faces):
            assert np.allclose(fa.box, fb.box, atol=0.01)
            assert np.allclose(fa.embedding, fb.embedding, atol=1e-4)


@models
def test_memory_does_not_grow_with_the_length_of_the_video(tmp_path: Path, pack: ModelPack) -> None:
    """A scan holds the open tracks and the frames decoded ahead, not the video: four times the length, about
    the same peak (Python allocations, NumPy's included)."""

    def peak(duration: float) -> tuple[int, int]:
        path = write_clip(tmp_path / f"{duration}.mp4", _gappy(duration))
        count = 0
        tracemalloc.start()
        try:
            for item in VideoScan(path, pack):
                count += isinstance(item, Track)
            return tracemalloc.get_traced_memory()[1], count
        finally:
            tracemalloc.stop()

    short, short_tracks = peak(10.0)
    long, long_tracks = peak(40.0)
    assert long_tracks >= 4 * short_tracks - 1
    assert long < 1.5 * short + 256 * 1024, (short, long)


# The tracker's rules, without a model ----------------------------------------------------------------
def _frame(t: float, cut: bool = False) -> SampledFrame:
    return SampledFrame(np.zeros((240, 320, 3), np.uint8), 1.0, t, round(t * 10), round(t * 1000), cut)


Box = tuple[float, float, float, float]


def _faces(boxes: list[Box], embeddings: list[np.ndarray], quality: float = 0.9) -> FaceSet:
    n = len(boxes)
    return FaceSet(
        np.array(boxes, np.float32).reshape(n, 4),
        np.zeros((n, 5, 2), np.float32),
        np.full(n, 0.9, np.float32),
        np.full(n, quality, np.float32),
        [[] for _ in range(n)],
        np.array(embeddings, np.float32).reshape(n, 8),
        (320, 240),
    )


def _unit(i: int) -> np.ndarray:
    v = np.zeros(8, np.float32)
    v[i] = 1.0
    return v


def _tracker(**options: object) -> Tracker:
    return Tracker(TrackOptions(thumbnails=False, **options), LinkThresholds(0.5, 0.2), fps=2.0)  # type: ignore[arg-type]


BOX = (100.0, 60.0, 160.0, 140.0)


def test_the_same_face_moving_a_little_is_one_track() -> None:
    tracker = _tracker()
    for k in range(4):
        tracker.update(_frame(k * 0.5), _faces([(100 + 10 * k, 60, 160 + 10 * k, 140)], [_unit(0)]))
    (track,) = tracker.finish()
    assert (track.start, track.end, track.sightings) == (0.0, 1.5, 4)


def test_identical_faces_on_one_frame_are_two_tracks() -> None:
    tracker = _tracker()
    for k in range(3):
        tracker.update(_frame(k * 0.5), _faces([BOX, (200, 60, 260, 140)], [_unit(0), _unit(0)]))
    a, b = tracker.finish()
    assert a.sightings == b.sightings == 3 and a.seen_with == (b.id,) and b.seen_with == (a.id,)
    assert {round(f.box[0]) for f in a.faces} == {100} and {round(f.box[0]) for f in b.faces} == {200}


def test_another_person_in_the_same_place_or_the_same_person_far_away_is_a_new_track() -> None:
    tracker = _tracker()
    tracker.update(_frame(0.0), _faces([BOX], [_unit(0)]))
    tracker.update(_frame(0.5), _faces([BOX], [_unit(1)]))  # a different face where the first was
    tracker.update(_frame(1.0), _faces([(10, 10, 20, 20)], [_unit(1)]))  # the second, tiny, in a corner
    assert len(tracker.finish()) == 3


def test_a_blurred_face_in_the_same_place_stays_on_its_track() -> None:
    """Below the link threshold but above the near one, with the boxes overlapping: the same track."""
    tracker = _tracker()
    tracker.update(_frame(0.0), _faces([BOX], [_unit(0)]))
    weak = _unit(0) * 0.3 + _unit(1) * np.sqrt(1 - 0.09)
    tracker.update(_frame(0.5), _faces([(102, 61, 162, 141)], [weak]))
    assert len(tracker.finish()) == 1


def test_a_gap_and_a_cut_close_tracks() -> None:
    tracker = _tracker(max_gap=1.0)
    tracker.update(_frame(0.0), _faces([BOX], [_unit(0)]))
    step = tracker.update(_frame(1.0), _faces([BOX], [_unit(0)]))  # 1 s unseen: still open
    assert step.closed == [] and not step.quiet
    step = tracker.update(_frame(2.5), _faces([], []))  # 1.5 s: closed, and nothing is open now
    assert [t.sightings for t in step.closed] == [2] and step.quiet
    tracker.update(_frame(3.0), _faces([BOX], [_unit(0)]))
    step = tracker.update(_frame(3.5, cut=True), _faces([BOX], [_unit(0)]))
    assert len(step.closed) == 1 and step.quiet
    assert len(tracker.finish()) == 1


def test_a_track_keeps_its_best_faces_and_drops_what_is_below_quality() -> None:
    tracker = _tracker(keep=2, min_quality=0.5)
    for k, q in enumerate([0.6, 0.9, 0.7, 0.95, 0.8]):
        tracker.update(_frame(k * 0.5), _faces([BOX], [_unit(0)], quality=q))
    step = tracker.update(_frame(10.0, cut=True), _faces([BOX], [_unit(2)], quality=0.2))  # a poor track
    tracks = step.closed + tracker.finish()
    assert [[f.quality for f in t.faces] for t in tracks] == [pytest.approx([0.95, 0.9])]
    assert [[f.time for f in t.faces] for t in tracks] == [[1.5, 0.5]]
    assert tracker.below_quality == 1


def test_scan_options_follow_the_deployment() -> None:
    settings = Settings(max_pixels=1000, min_face_px=30, ingest_min_quality=0.4)
    options = ScanOptions.from_settings(settings, batch_frames=2)
    assert options.limits.max_frame_pixels == 1000
    assert (options.min_face_px, options.tracking.min_quality, options.batch_frames) == (30, 0.4, 2)


class _NoFaces:
    """A pack that finds nothing: the scan's plumbing without a model."""

    info = PackInfo("none", "1", 8, "finds no face", "none")

    def detect(self, image: np.ndarray) -> Detections:
        return Detections.empty()

    def align(self, image: np.ndarray, detections: Detections) -> np.ndarray:
        return np.zeros((0, 8, 8, 3), np.uint8)

    def embed(self, crops: np.ndarray) -> np.ndarray:
        return np.zeros((0, 8), np.float32)


def test_progress_is_in_video_seconds_and_an_abandoned_scan_stops(tmp_path: Path) -> None:
    path = write_clip(tmp_path / "empty.mp4", Clip(6.0, flat=True))
    scan = VideoScan(path, _NoFaces(), ScanOptions(batch_frames=2, prefetch=2))
    items = list(scan)
    assert all(isinstance(i, ScanProgress) for i in items)
    seconds = [p.seconds for p in items]  # one report per batch (as many frames as are ready), then the end
    assert seconds == sorted(seconds) and set(seconds) <= {i / 2 for i in range(12)} | {5.9} and seconds[-1] == 5.9
    assert len(seconds) >= 7 and all(p.duration == 6.0 for p in items)
    assert items[-1].frames_decoded == 60 and items[-1].frames_sampled == 12
    assert scan.report.complete and scan.report.tracks == 0
    before = threading.active_count()
    scan = VideoScan(path, _NoFaces(), ScanOptions(batch_frames=1, prefetch=1))
    running = iter(scan)
    next(running)
    assert threading.active_count() == before + 1  # the decoding thread, waiting on a full queue
    running.close()  # the consumer stops early
    assert threading.active_count() == before
    with pytest.raises(RuntimeError):
        _ = scan.report  # it never finished
