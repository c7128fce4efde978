"""The crash-safe ingest of video files: one video at a time, scanned as a stream (`pipeline.video.VideoScan`),
its tracks committed in batches together with the point the scan may resume from.

Per video:
1. the file is hashed as a stream (never read whole; `max_video_bytes` bounds it); bytes already stored as a
   finished video are a duplicate, as a photo's would be;
2. its image row and scan state are written (`store.videos.start_video`) before any track, so a video in
   which nobody is found is still recorded (`no_face`), like a photo;
3. each closed track's kept faces get their thumbnails written first (atomically, under deterministic names:
   `<collection>/<sha[:2]>/<sha>_t<track>_<k>.jpg`), then the faces matching an opt-out are screened out
   (a track is one person: one of its faces matching drops the whole track), then a batch of tracks, their
   faces, embeddings and times and the scan's latest checkpoint are written in one transaction, then the
   faces join the in-memory index;
4. at the end the scan's report (what decoded, what was wrong) is stored and each of its issues is a failure
   row of the run, like a bad photo's, while what decoded stays ingested.

A run killed at any point leaves the video `scanning`, with a checkpoint that agrees with its stored tracks
(they are written together). The next run of the same files finds it by its hash, resumes the scan at the
checkpoint with the sampling it started with, and skips the tracks it already holds (a resumed scan hands over
again, with the same numbers, the tracks it met after the checkpoint): the result is that of one clean run,
embeddings equal to about 1e-4 (decoding resumes at a keyframe). Progress is reported in video seconds.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ..config import Settings
from ..errors import ImageError
from ..fsutil import write_atomic
from ..index import VectorIndex
from ..models.base import ModelPack
from ..pipeline import imaging
from ..pipeline.sources import Failure, Item
from ..pipeline.video import Checkpoint, Sampling, ScanOptions, Track, VideoError, VideoScan
from ..pipeline.video.reader import open_regular
from ..pipeline.worker import TMP_DIR
from ..records import NewImage, NewTrack, NewVideo, NewVideoFace
from ..store import Store
from ..store import videos as rows
from ..store.schema import Collection

COMMIT_SECONDS = 5.0  # wall time between commits while tracks (or a newer checkpoint) wait
PROGRESS_SECONDS = 0.5  # wall time between progress reports inside one video
HASH_CHUNK = 1 << 20


@dataclass
class VideoProgress:
    """The video being ingested: which file, and how far into it the scan is (video seconds)."""

    path: str
    seconds: float
    duration: float | None


@dataclass
class VideoCounts:
    """What the videos of a run added, kept up to date as they are scanned."""

    found: int = 0  # video files met (ingested, duplicate or failed)
    ingested: int = 0
    resumed: int = 0  # videos whose scan a killed run had begun, completed by this one
    tracks: int = 0
    seconds: float = 0.0  # video seconds analysed by this run (the videos finished, and the current one)
    now: VideoProgress | None = None
    issues: int = 0  # problems reported for videos that were ingested all the same
    done_seconds: float = field(default=0.0, repr=False)


# The screen of opt-outs (batching.Screen): removes, in place, the faces that must not be stored.
Screen = Callable[[list[NewImage], int], tuple[int, int]]


class RunCounts(Protocol):
    """The counts of the run the videos are part of (`batching.IngestResult`), which they add to."""

    ingested: int
    no_face: int
    faces: int
    read_duplicates: int
    commit_failed: int
    opted_out_faces: int
    opted_out_images: int
    failures: list[Failure]
    video: VideoCounts


@dataclass
class Outcome:
    """How one video went, for the run's counts."""

    kind: str  # ingested, duplicate, failed, opted_out
    faces: int = 0
    tracks: int = 0
    opted_out_faces: int = 0
    failures: list[Failure] = field(default_factory=list)


def sha256_file(path: Path, max_bytes: int) -> str:
    """SHA-256 of a regular file read as a stream (refused above `max_bytes`, as FILE_TOO_LARGE)."""
    with open_regular(path) as fh:
        size = os.fstat(fh.fileno()).st_size
        if size > max_bytes:
            raise ImageError(imaging.TOO_LARGE_FILE, f"{size} bytes > limit {max_bytes} (FACESEARCH_MAX_VIDEO_BYTES)")
        digest = hashlib.sha256()
        read = 0
        while chunk := fh.read(HASH_CHUNK):
            read += len(chunk)
            if read > max_bytes:
                raise ImageError(imaging.TOO_LARGE_FILE, f"more than {max_bytes} bytes")
            digest.update(chunk)
    return digest.hexdigest()


class VideoIngest:
    """Ingests the videos of one run into one collection (the run holds the collection's lock)."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        col: Collection,
        job_id: int,
        index: VectorIndex,
        pack: ModelPack,
        *,
        fps: float | None = None,
        screen: Screen | None = None,
        progress: Callable[[], None] | None = None,
    ) -> None:
        self.store, self.settings, self.col, self.job_id = store, settings, col, job_id
        self.index, self.pack = index, pack
        self.fps = float(fps or settings.video_fps)
        self.screen = screen
        self.counts = VideoCounts()
        self._progress = progress or (lambda: None)
        self._seen: set[str] = set()

    def run(self, item: Item) -> Outcome:
        """Ingest one video file; never raises for a bad file."""
        self.counts.found += 1
        try:
            return self._run(item)
        except (ImageError, VideoError) as exc:
            return Outcome("failed", failures=[(str(item.path), exc.reason, exc.detail)])
        except Exception as exc:  # a model failure on one video must not end the run; a rerun resumes it
            return Outcome("failed", failures=[(str(item.path), "ANALYSIS_FAILED", f"{type(exc).__name__}: {exc}")])
        finally:
            self.counts.now = None

    def _run(self, item: Item) -> Outcome:
        settings, store, col = self.settings, self.store, self.col
        sha = sha256_file(item.path, settings.max_video_bytes)
        if sha in self._seen:
            return Outcome("duplicate")
        self._seen.add(sha)
        state = rows.video_state(store, col.id, sha)
        if state is None and store.known_hashes(col.id, [sha]):
            return Outcome("duplicate")  # the same bytes, stored as something other than a video
        if state is not None and state.done:
            return Outcome("duplicate")
        fps = state.sampling_fps if state is not None else self.fps
        resume = Checkpoint(**state.checkpoint) if state is not None and state.checkpoint else None
        options = ScanOptions.from_settings(settings, sampling=Sampling(fps=fps))
        scan = VideoScan(item.path, self.pack, options, resume)
        try:
            info = scan.info
            if state is None:
                image_id = rows.start_video(store, col.id, self.job_id, _new_video(item, sha, info, fps))
                held: frozenset[int] = frozenset()
            else:
                image_id, held = state.image_id, state.tracks
                self.counts.resumed += 1
            return self._scan(item, sha, image_id, scan, held, resume, (info.width, info.height))
        finally:
            scan.close()

    def _scan(
        self,
        item: Item,
        sha: str,
        image_id: int,
        scan: VideoScan,
        held: frozenset[int],
        resume: Checkpoint | None,
        size: tuple[int, int],
    ) -> Outcome:
        out = Outcome("ingested")
        keep = scan.options.tracking.keep
        pending: list[NewTrack] = []
        last_commit = last_report = time.monotonic()
        committed_checkpoint = resume
        start_seconds = resume.time if resume is not None else 0.0
        self.counts.now = VideoProgress(str(item.path), start_seconds, scan.info.duration)
        for step in scan:
            if isinstance(step, Track):
                if step.id not in held:
                    pending.append(self._track(sha, step, keep))
                continue
            self.counts.now = VideoProgress(str(item.path), step.seconds, step.duration)
            self.counts.seconds = self.counts.done_seconds + max(0.0, step.seconds - start_seconds)
            now = time.monotonic()
            due = len(pending) >= self.settings.video_batch_tracks or (
                now - last_commit >= COMMIT_SECONDS and (pending or step.checkpoint != committed_checkpoint)
            )
            if due:
                self._commit(image_id, pending, out, step.seconds, step.checkpoint, size)
                pending, last_commit, committed_checkpoint = [], now, step.checkpoint
            if now - last_report >= PROGRESS_SECONDS:
                self._progress()
                last_report = now
        report = scan.report
        seconds = report.seconds
        self._commit(image_id, pending, out, seconds, None, size)
        rows.finish_video(self.store, image_id, seconds, _report_dict(report))
        self.counts.done_seconds += max(0.0, seconds - start_seconds)
        self.counts.seconds = self.counts.done_seconds
        for issue in report.issues:
            at = f" (at {issue.at:.3f} s)" if issue.at is not None else ""
            out.failures.append((str(item.path), issue.reason, f"{issue.detail}{at}; what decoded was ingested"))
        if out.opted_out_faces and not self.store.image_faces(image_id):
            # Every person found was an opted-out one: the video is not kept, as a photo of them would not be.
            self.store.delete_images([image_id])
            return Outcome("opted_out", opted_out_faces=out.opted_out_faces, failures=out.failures)
        return out

    def _track(self, sha: str, track: Track, keep: int) -> NewTrack:
        """A closed track as rows to write, its thumbnails on disk first."""
        settings = self.settings
        tmp_dir = settings.thumbs_dir / TMP_DIR
        faces: list[NewVideoFace] = []
        for k, f in enumerate(track.faces):
            name = f"{self.col.id}/{sha[:2]}/{sha}_t{track.id}_{k}.jpg"
            # Not fsynced one by one, like photos' thumbnails: a killed process leaves them complete.
            write_atomic(settings.thumbs_dir / name, f.thumbnail, tmp_dir, durable=False)
            faces.append(
                NewVideoFace(
                    face_index=track.id * keep + k,
                    box=[round(float(v), 2) for v in f.box],
                    landmarks=[list(p) for p in f.landmarks],
                    det_score=float(f.det_score),
                    quality=float(f.quality),
                    reasons=list(f.reasons),
                    embedding=f.embedding,
                    thumbnail=name,
                    time=float(f.time),
                    frame=int(f.frame),
                )
            )
        return NewTrack(
            track=track.id,
            start=float(track.start),
            end=float(track.end),
            start_frame=int(track.start_frame),
            end_frame=int(track.end_frame),
            sightings=int(track.sightings),
            seen_with=[int(t) for t in track.seen_with],
            faces=faces,
        )

    def _commit(
        self,
        image_id: int,
        tracks: list[NewTrack],
        out: Outcome,
        seconds: float,
        checkpoint: Checkpoint | None,
        size: tuple[int, int],
    ) -> None:
        tracks = self._screened(tracks, out, size)
        ids_per_track = rows.add_tracks(
            self.store,
            self.col.id,
            image_id,
            tracks,
            seconds=seconds,
            checkpoint=asdict(checkpoint) if checkpoint is not None else None,
        )
        ids: list[int] = []
        vectors: list[np.ndarray] = []
        for tr, face_ids in zip(tracks, ids_per_track):
            if not face_ids:
                continue
            out.tracks += 1
            out.faces += len(face_ids)
            self.counts.tracks += 1
            ids.extend(face_ids)
            vectors.extend(f.embedding for f in tr.faces)
        if ids:
            self.index.add(np.asarray(ids, np.int64), np.stack(vectors))

    def _screened(self, tracks: list[NewTrack], out: Outcome, size: tuple[int, int]) -> list[NewTrack]:
        """The tracks that may be stored: one face matching an opt-out keeps out its whole track (a track is
        one person), thumbnails included."""
        if self.screen is None or not tracks:
            return tracks
        as_images = [
            NewImage(f"track-{t.track}", None, None, None, size[0], size[1], None, list(t.faces)) for t in tracks
        ]
        left = {img.sha256: len(img.faces) for img in as_images}
        self.screen(as_images, self.job_id)
        after = {img.sha256: len(img.faces) for img in as_images}
        kept: list[NewTrack] = []
        for t in tracks:
            key = f"track-{t.track}"
            if after.get(key, 0) == left[key]:
                kept.append(t)
                continue
            out.opted_out_faces += len(t.faces)
            for f in t.faces:
                (self.settings.thumbs_dir / f.thumbnail).unlink(missing_ok=True)
        return kept


def _new_video(item: Item, sha: str, info: Any, fps: float) -> NewVideo:
    """The video's image row: its provenance, with the recording's own metadata (when and on what it was
    made) kept beside the manifest's, as a photo's metadata is."""
    meta = dict(item.meta or {})
    recording = {k: v for k, v in asdict(info.recording).items() if v}
    if recording:
        meta.setdefault("recording", recording)
    return NewVideo(
        sha256=sha,
        path=str(item.path),
        source_url=item.source_url,
        meta=meta or None,
        width=int(info.width),
        height=int(info.height),
        manifest_row=item.manifest_row,
        container=info.container,
        codec=info.codec,
        duration=info.duration,
        frame_rate=info.frame_rate,
        frames=info.frames,
        rotation=int(info.rotation),
        sampling_fps=fps,
    )


def _report_dict(report: Any) -> dict[str, Any]:
    return {
        "frames_decoded": report.frames_decoded,
        "frames_sampled": report.frames_sampled,
        "cuts": report.cuts,
        "faces": report.faces,
        "tracks": report.tracks,
        "tracks_below_quality": report.tracks_below_quality,
        "seconds": report.seconds,
        "decode_errors": report.decode_errors,
        "variable_frame_rate": report.variable_frame_rate,
        "complete": report.complete,
        "issues": [{"reason": i.reason, "detail": i.detail, "at": i.at} for i in report.issues],
    }


def ingest_videos(
    store: Store,
    settings: Settings,
    col: Collection,
    job_id: int,
    index: VectorIndex,
    pack: ModelPack,
    videos: list[Item],
    result: RunCounts,
    *,
    screen: Screen | None,
    fps: float | None,
    progress: Callable[[], None] | None,
) -> None:
    """The run's video files, one at a time in this process (each is decoded in a thread of its own while the
    pack analyses the frames before), counted into the run's result as they go."""
    ingest = VideoIngest(store, settings, col, job_id, index, pack, fps=fps, screen=screen, progress=progress)
    result.video = ingest.counts
    for item in videos:
        outcome = ingest.run(item)
        result.failures.extend(outcome.failures)
        result.opted_out_faces += outcome.opted_out_faces
        if outcome.kind == "duplicate":
            result.read_duplicates += 1
        elif outcome.kind == "failed":
            result.commit_failed += 1
        elif outcome.kind == "opted_out":
            result.opted_out_images += 1
        else:
            result.ingested += 1
            ingest.counts.ingested += 1
            result.faces += outcome.faces
            if not outcome.faces:
                result.no_face += 1
        if progress is not None:
            progress()
