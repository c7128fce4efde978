"""Probe clips: a video searched with, analysed the way an ingest analyses one (the same sampling, scene cuts
and tracks), each track becoming one probe face: its best face, with its time and the track's start and end.

A clip is handed over as a file: the caller's own (the command line) or a private temporary copy of an
upload, written under the home (`tmp/`, mode 0600) and removed when the search is done (`stage_clip`), so that
the decoder opens a checked regular file, as at ingest. Analysis stops at FACESEARCH_PROBE_VIDEO_SECONDS of
video. The tracks of a clip are kept in memory for a few minutes (`ClipCache`), keyed by the clip's hash and
the pack, so that choosing a face (`detect`) and searching with it do not analyse the clip twice; they are
never written anywhere."""

from __future__ import annotations

import contextlib
import os
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ..config import Settings
from ..models.base import ModelPack
from ..pipeline.analysis import FaceSet
from ..pipeline.imaging import sha256_bytes
from ..pipeline.video import (
    Sampling,
    ScanOptions,
    TrackOptions,
    VideoAnalysis,
    VideoInfo,
    VideoLimits,
    VideoReader,
    VideoReport,
    analyse_video,
)
from ..pipeline.video.formats import HEAD_BYTES, is_video, sniff
from .search_results import VideoTime
from .uploads import Photo, decode
from .video_ingest import sha256_file

CACHE_SECONDS = 600.0
CACHE_ENTRIES = 4
STALE_SECONDS = 3600.0  # a staged clip this old belongs to no running search
PROBE_PIXELS_PER_SECOND = 1920 * 1080 * 30  # a probe clip's decoding budget, per second of the time limit


@dataclass(frozen=True)
class Clip:
    """A probe clip: the file to analyse, its SHA-256 and what to call it in messages."""

    path: Path
    sha256: str
    label: str


@dataclass(frozen=True, eq=False)
class ClipFaces:
    """A clip analysed with one pack: one row of `faces` per track (its best face), in order of appearance,
    and each row's time in `times`."""

    faces: FaceSet
    times: list[VideoTime]
    info: VideoInfo
    report: VideoReport


def scan_options(settings: Settings) -> ScanOptions:
    """How a probe clip is scanned: the deployment's sampling, up to the probe time limit, every face kept
    whatever its quality (the search's own quality bar decides), no thumbnails. Its decoding budget is fixed,
    not grown with the file's size as an ingest's is: the probe time limit's worth of 1080p at 30 frames a
    second, so a clip that claims a huge frame rate or never advances its clock stops there too."""
    base = ScanOptions.from_settings(settings)
    budget = int(settings.probe_video_seconds * PROBE_PIXELS_PER_SECOND)
    return replace(
        base,
        sampling=Sampling(fps=settings.video_fps, until=settings.probe_video_seconds),
        limits=replace(base.limits, min_budget_pixels=budget, pixels_per_byte=0),
        tracking=TrackOptions(thumbnails=False),
    )


def clip_faces(analysis: VideoAnalysis) -> ClipFaces:
    """A clip's tracks as probe faces (track order: the order in which the people appear)."""
    tracks = sorted(analysis.tracks, key=lambda t: (t.start, t.id))
    best = [t.best for t in tracks]
    dim = best[0].embedding.shape[0] if best else 0
    faces = FaceSet(
        boxes=np.array([f.box for f in best], np.float32).reshape(-1, 4),
        landmarks=np.array([f.landmarks for f in best], np.float32).reshape(-1, 5, 2),
        det_scores=np.array([f.det_score for f in best], np.float32),
        quality=np.array([f.quality for f in best], np.float32),
        reasons=[list(f.reasons) for f in best],
        embeddings=np.stack([f.embedding for f in best]) if best else np.zeros((0, dim), np.float32),
        image_size=(analysis.info.width, analysis.info.height),
    )
    times = [
        VideoTime(time=round(f.time, 3), frame=f.frame, track=t.id, start=round(t.start, 3), end=round(t.end, 3))
        for t, f in zip(tracks, best)
    ]
    return ClipFaces(faces, times, analysis.info, analysis.report)


def analyse_clip(pack: ModelPack, settings: Settings, clip: Clip) -> ClipFaces:
    return clip_faces(analyse_video(clip.path, pack, scan_options(settings)))


class ClipCache:
    """The analyses of the last few probe clips, for a few minutes (see the module docstring)."""

    def __init__(self, entries: int = CACHE_ENTRIES, seconds: float = CACHE_SECONDS) -> None:
        self.entries, self.seconds = entries, seconds
        self._held: OrderedDict[tuple[str, str, float, float], tuple[float, ClipFaces]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, pack: ModelPack, settings: Settings, clip: Clip) -> ClipFaces:
        key = (clip.sha256, pack.info.name, settings.video_fps, settings.probe_video_seconds)
        now = time.monotonic()
        with self._lock:
            for k in [k for k, (at, _) in self._held.items() if now - at > self.seconds]:
                del self._held[k]
            held = self._held.get(key)
        if held is not None:
            return held[1]
        found = analyse_clip(pack, settings, clip)
        with self._lock:
            self._held[key] = (time.monotonic(), found)
            while len(self._held) > self.entries:
                self._held.popitem(last=False)
        return found

    def clear(self) -> None:
        with self._lock:
            self._held.clear()


@contextlib.contextmanager
def stage_clip(settings: Settings, data: bytes, sha256: str, label: str) -> Iterator[Clip]:
    """An uploaded clip as a private file under the home for as long as the block runs, then removed."""
    folder = settings.home / "tmp"
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    for stale in folder.glob("clip-*.bin"):  # left by a process killed during a search
        with contextlib.suppress(OSError):
            if time.time() - stale.stat().st_mtime > STALE_SECONDS:
                stale.unlink()
    path = folder / f"clip-{uuid.uuid4().hex}.bin"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        yield Clip(path, sha256, label)
    finally:
        path.unlink(missing_ok=True)


@dataclass(frozen=True)
class ProbeInput:
    """A probe as received, before it is decoded: a photo's bytes, or a clip's (an upload), or a clip left in
    the caller's file (the command line: never read whole), with its SHA-256."""

    sha256: str
    label: str
    data: bytes | None
    path: Path | None = None  # a clip left in its file
    is_clip: bool = False

    def keepable(self) -> bytes | Path:
        """What a kept probe copies: the bytes, or the file."""
        if self.data is not None:
            return self.data
        assert self.path is not None
        return self.path


@dataclass(frozen=True, eq=False)
class Query:
    """What the engine searches with: a decoded photo or a clip, its size, and a clip's description."""

    probe: np.ndarray | Clip
    width: int
    height: int
    clip: VideoInfo | None = None


def read_probe(settings: Settings, photo: Photo) -> ProbeInput:
    """The probe's bytes and hash; a clip named by path is hashed as a stream, up to FACESEARCH_MAX_VIDEO_BYTES."""
    if photo.data is None and photo.path is not None and is_video(photo.path):
        return ProbeInput(sha256_file(photo.path, settings.max_video_bytes), photo.label, None, photo.path, True)
    data = photo.read(settings)
    return ProbeInput(sha256_bytes(data), photo.label, data, None, sniff(data[:HEAD_BYTES]) is not None)


@contextlib.contextmanager
def query(settings: Settings, probe: ProbeInput) -> Iterator[Query]:
    """The probe ready to search: a photo decoded with the upload bounds, or a clip in a checked file (an
    upload staged for as long as the block runs) with its container's description."""
    if not probe.is_clip:
        assert probe.data is not None
        decoded = decode(settings, Photo(probe.data, probe.label))
        width, height = decoded.size
        yield Query(decoded.image, width, height)
        return
    with contextlib.ExitStack() as stack:
        if probe.path is not None:
            clip = Clip(probe.path, probe.sha256, probe.label)
        else:
            assert probe.data is not None
            clip = stack.enter_context(stage_clip(settings, probe.data, probe.sha256, probe.label))
        with VideoReader(clip.path, limits=VideoLimits.from_settings(settings)) as reader:
            info = reader.info  # the file is checked (a video, something decodes) before anything else
        yield Query(clip, info.width, info.height, info)
