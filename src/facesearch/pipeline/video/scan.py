"""One video in, tracks out: decode and sample (`reader`), detect and embed in batches (`analysis.analyze`, the
same code as photos), link into tracks (`tracks`).

`VideoScan` streams: it hands over each track when it closes and reports progress in video seconds, holding
only the open tracks (a few faces each) and the sampled frames decoded ahead, so an hour of video costs the
memory of a minute. Decoding runs in a thread of its own, ahead of the analysis (both release the GIL: FFmpeg's
decoder and OpenVINO's inference), with at most `prefetch` sampled frames waiting between them.

Resuming: each `ScanProgress` carries the latest `Checkpoint`, a sampled frame at which no track was open. A
scan resumed there hands over exactly the tracks a full scan hands over after that moment, with the same ids;
tracks handed over after the checkpoint was reached come again, so a caller either commits tracks and
checkpoint together or skips the track ids it already holds.

`analyse_video` runs a whole scan and returns one complete `VideoAnalysis`, for callers that want it all.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ...models.base import ModelPack
from ..analysis import analyze
from .reader import SampledFrame, Sampling, VideoLimits, VideoReader
from .records import Checkpoint, ScanProgress, Track, VideoAnalysis, VideoInfo, VideoReport
from .tracks import LinkThresholds, Tracker, TrackOptions

_END = object()


@dataclass(frozen=True)
class ScanOptions:
    sampling: Sampling = field(default_factory=Sampling)
    limits: VideoLimits = field(default_factory=VideoLimits)
    tracking: TrackOptions = field(default_factory=TrackOptions)
    thresholds: LinkThresholds | None = None  # None: from the pack's calibration table
    min_face_px: int = 20
    min_score: float = 0.6
    batch_frames: int = 4  # sampled frames analysed together (one embedding call for all their faces)
    prefetch: int = 8  # sampled frames decoded ahead of the analysis

    @classmethod
    def from_settings(cls, settings: Any, **changes: Any) -> ScanOptions:
        """A deployment's options: its frame size limit, detection settings and minimum quality."""
        base = cls(
            limits=VideoLimits.from_settings(settings),
            tracking=TrackOptions(min_quality=float(settings.ingest_min_quality)),
            min_face_px=int(settings.min_face_px),
            min_score=float(settings.min_detection_score),
        )
        return replace(base, **changes)


class VideoScan:
    """One pass over one video. Opening checks the file (VideoError if nothing of it can be analysed) and
    fills `info`; iterating hands over tracks and progress; `report` is final once iteration ends."""

    def __init__(
        self, path: Path, pack: ModelPack, options: ScanOptions | None = None, resume: Checkpoint | None = None
    ) -> None:
        self.options = options or ScanOptions()
        self._pack = pack
        self._reader = VideoReader(path, self.options.sampling, self.options.limits, resume)
        self.info: VideoInfo = self._reader.info
        thresholds = self.options.thresholds or LinkThresholds.for_pack(pack.info.name, self.options.tracking)
        self._tracker = Tracker(
            self.options.tracking, thresholds, self.options.sampling.fps, resume.next_track if resume else 0
        )
        self._checkpoint: Checkpoint | None = resume
        self._handed = 0
        self._report: VideoReport | None = None
        self._started = False

    @property
    def report(self) -> VideoReport:
        if self._report is None:
            raise RuntimeError("the scan has not finished")
        return self._report

    def __iter__(self) -> Iterator[Track | ScanProgress]:
        if self._started:
            raise RuntimeError("a scan runs once")
        self._started = True
        return self._run()

    def _run(self) -> Iterator[Track | ScanProgress]:
        frames = _Prefetch(self._reader.frames, self.options.prefetch)
        try:
            for batch in frames.batches(self.options.batch_frames):
                facesets = analyze(
                    self._pack, [f.image for f in batch], self.options.min_face_px, self.options.min_score
                )
                for frame, faces in zip(batch, facesets):
                    step = self._tracker.update(frame, faces)
                    yield from self._hand_over(step.closed)
                    if step.quiet and frame.pts is not None:
                        self._checkpoint = Checkpoint(frame.time, frame.frame, frame.pts, step.next_id)
                yield self._progress(batch[-1].time)
            yield from self._hand_over(self._tracker.finish())
            self._finish()
            yield self._progress(self._reader.seconds)
        finally:
            frames.stop()
            self._reader.close()

    def _hand_over(self, tracks: list[Track]) -> Iterator[Track]:
        for track in tracks:
            self._handed += 1
            yield track

    def _progress(self, seconds: float) -> ScanProgress:
        r = self._reader
        return ScanProgress(
            seconds=round(seconds, 3),
            duration=self.info.duration,
            frames_decoded=r.frames_decoded,
            frames_sampled=r.frames_sampled,
            tracks=self._handed,
            checkpoint=self._checkpoint,
        )

    def _finish(self) -> None:
        r = self._reader
        self._report = VideoReport(
            frames_decoded=r.frames_decoded,
            frames_sampled=r.frames_sampled,
            cuts=r.cuts,
            faces=self._tracker.faces,
            tracks=self._handed,
            tracks_below_quality=self._tracker.below_quality,
            seconds=round(r.seconds, 3),
            decode_errors=r.decode_errors,
            variable_frame_rate=r.variable_frame_rate,
            complete=not r.issues,
            issues=tuple(r.issues),
        )

    def close(self) -> None:
        """Release the file (a scan abandoned before its end)."""
        self._reader.close()


def analyse_video(
    path: Path,
    pack: ModelPack,
    options: ScanOptions | None = None,
    progress: Callable[[ScanProgress], None] | None = None,
) -> VideoAnalysis:
    """Scan a whole video; every track is held until the end (`VideoScan` streams them instead)."""
    scan = VideoScan(path, pack, options)
    tracks: list[Track] = []
    try:
        for item in scan:
            if isinstance(item, Track):
                tracks.append(item)
            elif progress is not None:
                progress(item)
    finally:
        scan.close()
    return VideoAnalysis(scan.info, tuple(sorted(tracks, key=lambda t: t.id)), scan.report)


class _Prefetch:
    """Sampled frames decoded in a thread, at most `depth` of them waiting."""

    def __init__(self, source: Callable[[], Iterator[SampledFrame]], depth: int) -> None:
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=max(1, depth))
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._fill, args=(source,), name="video-decode", daemon=True)
        self._thread.start()

    def _fill(self, source: Callable[[], Iterator[SampledFrame]]) -> None:
        try:
            for frame in source():
                if not self._put(frame):
                    return
            self._put(_END)
        except BaseException as exc:  # handed to the consumer, raised there
            self._put(exc)

    def _put(self, item: Any) -> bool:
        while not self._stopping.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def batches(self, size: int) -> Iterator[list[SampledFrame]]:
        """Up to `size` frames at a time: as many as are ready, waiting only for the first."""
        done = False
        while not done:
            batch: list[SampledFrame] = []
            item = self._queue.get()
            while True:
                if item is _END:
                    done = True
                    break
                if isinstance(item, BaseException):
                    raise item
                batch.append(item)
                if len(batch) >= size:
                    break
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
            if batch:
                yield batch

    def stop(self) -> None:
        """End the decoding thread (also when the consumer stopped early) and wait for it."""
        self._stopping.set()
        while self._thread.is_alive():
            with contextlib.suppress(queue.Empty):
                self._queue.get(timeout=0.1)
        self._thread.join()
