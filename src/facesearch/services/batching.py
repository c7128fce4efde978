"""The crash-safe ingest mechanism: files in batches through the face pipeline, one commit per batch.

The database is the source of truth and is written once per batch, in one transaction, after the batch's
thumbnails are on disk under deterministic names. The vector index is a cache of the database, saved
periodically and reconciled on open. A run killed at any point and run again therefore ends in the same
state as one clean run: committed images are recognised by their content hash and skipped, uncommitted ones
are processed again and overwrite their own thumbnails.

Files are read and hashed by a reader (a thread, or the worker pool's feeder), decoded and analysed in
batches (in this process, a batch decoded ahead while the one before is analysed, or in worker processes),
and committed here in order. No rules live here: the use case (app/ingest.py) decides whether a run may
happen, hands down what must be kept out of the rows (opt-outs: `screen`), and logs the outcome.

Video files (told by their first bytes) are set apart by the reader and ingested after the photos of the run,
one at a time, by `video_ingest` (streamed, committed per batch of tracks with the point a killed run resumes
from); they are counted in the same result, and a run that met one reports its video counts too.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from queue import Full, Queue
from typing import Any, TypeVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from ..config import Settings
from ..fsutil import clear_stale_temp
from ..index import VectorIndex, open_index
from ..models import get_entry, load_pack
from ..models.base import ModelPack
from ..pipeline import imaging, worker
from ..pipeline.sources import Failure, Item, read_items
from ..pipeline.worker import Work
from ..records import NewImage
from ..store import Store
from ..store.schema import Collection
from .indexes import collection_lock, reconcile
from .video_ingest import VideoCounts, ingest_videos

T = TypeVar("T")
BatchMeta = dict[int, tuple[Item, str]]
BATCH_MAX_BYTES = 64 * 1024 * 1024  # of encoded files read ahead at once
# Decoded per batch: 2 photos of 12 megapixels, or 380 of LFW's size. In one process a batch is decoded ahead
# while the one before is analysed, so up to three batches are in memory at once (about 216 MB of pixels).
BATCH_MAX_PIXELS = 24_000_000
DECODE_AHEAD = True  # decode in the reader thread (one process only); benchmarks switch it off to compare
# A run's first batches are small and grow (1, 2, 4, ... batch_images), so the first images are committed,
# and progress reported, within a second or so of the start instead of after a whole batch.
FIRST_BATCH = 1
INDEX_SAVE_SECONDS = 30.0


@dataclass
class IngestResult:
    """The counts of one run, kept up to date batch by batch (progress reports read them) and complete when
    the run returns."""

    collection: str
    model: str
    job_id: int
    ingested: int = 0
    no_face: int = 0
    # Written by the pipeline's consumer; the file reader (a feeder thread when workers run) has its own.
    commit_duplicates: int = 0
    commit_failed: int = 0
    read_duplicates: int = 0
    read_failed: int = 0
    faces: int = 0
    faces_below_quality: int = 0
    # Faces (and images with no other face) not stored because they match an opt-out template.
    opted_out_faces: int = 0
    opted_out_images: int = 0
    seconds: float = 0.0
    workers: int = 1  # processes that ran the pipeline (1: in this process)
    threads: int = 1  # runtime threads per process
    failures: list[Failure] = field(default_factory=list)
    video: VideoCounts = field(default_factory=VideoCounts)  # videos are counted in the fields above too

    @property
    def duplicates(self) -> int:
        return self.commit_duplicates + self.read_duplicates

    @property
    def failed(self) -> int:
        return self.commit_failed + self.read_failed

    @property
    def processed(self) -> int:
        return self.ingested + self.duplicates + self.failed + self.opted_out_images

    def counts(self) -> dict[str, int | float]:
        """The run's counts as its records keep them; the video counts only when the run met a video."""
        out: dict[str, int | float] = {
            "ingested": self.ingested,
            "duplicates": self.duplicates,
            "no_face": self.no_face,
            "failed": self.failed,
            "faces": self.faces,
            "faces_below_quality": self.faces_below_quality,
            "opted_out_faces": self.opted_out_faces,
            "opted_out_images": self.opted_out_images,
        }
        if self.video.found:
            out.update(
                videos=self.video.ingested, video_tracks=self.video.tracks, video_seconds=round(self.video.seconds, 3)
            )
        return out

    def summary(self) -> IngestSummary:
        v = self.video
        return IngestSummary(
            collection=self.collection,
            model=self.model,
            job=self.job_id,
            ingested=self.ingested,
            duplicates=self.duplicates,
            no_face=self.no_face,
            failed=self.failed,
            faces=self.faces,
            faces_below_quality=self.faces_below_quality,
            opted_out_faces=self.opted_out_faces,
            opted_out_images=self.opted_out_images,
            seconds=round(self.seconds, 2),
            images_per_second=round(self.processed / self.seconds, 2) if self.seconds else None,
            videos=v.ingested if v.found else None,
            video_tracks=v.tracks if v.found else None,
            video_seconds=round(v.seconds, 3) if v.found else None,
            video_speed=round(v.seconds / self.seconds, 2) if v.found and self.seconds else None,
        )


def absent(value: Any) -> bool:
    """A key left out of the summary rather than shown as null."""
    return value is None


class IngestSummary(BaseModel):
    """What a finished run says to its user: the collection, the run's id, the counts and the speed. The video
    counts are there only when the run met a video file."""

    model_config = ConfigDict(frozen=True)

    collection: str
    model: str
    job: int
    ingested: int
    duplicates: int
    no_face: int
    failed: int
    faces: int
    faces_below_quality: int
    opted_out_faces: int
    opted_out_images: int
    seconds: float
    images_per_second: float | None
    videos: int | None = Field(default=None, exclude_if=absent, description="Video files ingested (of `ingested`).")
    video_tracks: int | None = Field(default=None, exclude_if=absent, description="Tracks stored from them.")
    video_seconds: float | None = Field(default=None, exclude_if=absent, description="Video seconds analysed.")
    video_speed: float | None = Field(
        default=None, exclude_if=absent, description="Video seconds analysed per second of the run."
    )


# (result so far, files in the run) after every committed batch, and once more at the end.
ProgressFn = Callable[[IngestResult, int], None]
# Called with a batch's new images (and the run's id) before anything reaches the rows or the index: removes,
# in place, the faces (and images) that must not be stored; returns (faces removed, images removed).
Screen = Callable[[list[NewImage], int], tuple[int, int]]


def ingest_batches(
    store: Store,
    settings: Settings,
    col: Collection,
    items: list[Item],
    *,
    workers: int | None = None,
    progress: ProgressFn | None = None,
    source: str = "",
    screen: Screen | None = None,
    video_fps: float | None = None,
) -> IngestResult:
    """Ingest `items` into `col`, recorded as one run; returns its counts. Never raises for a bad file.
    Video files among them (by content) are ingested after the photos, one at a time, sampled at `video_fps`
    frames per second (default FACESEARCH_VIDEO_FPS; `services.video_ingest`)."""
    # One writer per collection at a time: each run holds the collection's index in memory and saves it
    # whole, so two concurrent runs would each drop the other's entries (last writer wins).
    with collection_lock(settings, col.id):
        return _run_locked(
            store,
            settings,
            col,
            items,
            workers=workers,
            progress=progress,
            source=source,
            screen=screen,
            video_fps=video_fps,
        )


def _run_locked(
    store: Store,
    settings: Settings,
    col: Collection,
    items: list[Item],
    *,
    workers: int | None,
    progress: ProgressFn | None,
    source: str,
    screen: Screen | None,
    video_fps: float | None,
) -> IngestResult:
    job_id = store.start_job(col.id, source or f"{len(items)} files", col.model)
    result = IngestResult(collection=col.name, model=col.model, job_id=job_id)
    clear_stale_temp(settings.thumbs_dir / worker.TMP_DIR)
    index = open_index(settings, col.id, col.dim)
    reconcile(index, store, col.id)
    started = time.monotonic()
    last_save = started
    workers, threads = parallelism(col.model, settings, workers)
    result.workers, result.threads = workers, threads
    batch_size = max(1, settings.batch_images)
    seen: set[str] = set()
    total = len(items)
    pool = None
    throttle = _Throttle()
    status = "interrupted"
    videos: list[Item] = []  # set apart by the file reader; ingested once the photos are
    pack: ModelPack | None = None
    try:
        batches = _batches(items, batch_size, settings, store, col.id, seen, result, videos)
        outcome_stream: Iterator[tuple[BatchMeta, list[worker.ImageOutcome]]]
        if workers > 1 and total > batch_size:
            spawn = mp.get_context("spawn")
            pool = spawn.Pool(workers, initializer=worker.init, initargs=(col.model, settings))
            # The pool's feeder thread would read every file ahead; keep a few batches in flight only.
            throttle.limit = 2 * workers + 1
            # Workers get only bytes (their imports stay light); each batch's metadata waits here, in order.
            pending: deque[BatchMeta] = deque()

            def payloads() -> Iterator[list[Work]]:
                for meta, payload in throttle.gate(batches):
                    pending.append(meta)
                    yield payload

            outcome_stream = ((pending.popleft(), out) for out in pool.imap(worker.run, payloads(), chunksize=1))
        elif DECODE_AHEAD:
            # Files are read, hashed and decoded in a thread while the pack works on the batch before (the
            # decoders release the GIL). One decoded batch waits at most: decoded photos are large.
            decoded = ((meta, worker.decode_batch(settings, payload)) for meta, payload in batches)
            prefetched = _prefetch(decoded, throttle, depth=1)
            pack = load_pack(col.model, settings, threads)
            outcome_stream = ((meta, worker.analyse_batch(pack, settings, batch)) for meta, batch in prefetched)
        else:
            pack = load_pack(col.model, settings, threads)
            outcome_stream = (
                (meta, worker.process_batch(pack, settings, payload)) for meta, payload in _prefetch(batches, throttle)
            )
        for meta, outcomes in outcome_stream:
            throttle.release()
            _commit_batch(store, meta, outcomes, col, job_id, index, result, screen)
            if progress:
                progress(result, total)
            if time.monotonic() - last_save > INDEX_SAVE_SECONDS:
                index.save()
                last_save = time.monotonic()
        if videos:
            if pool is not None:  # the worker processes are done: their memory goes before the videos'
                pool.terminate()
                pool.join()
                pool = None
            ingest_videos(
                store,
                settings,
                col,
                job_id,
                index,
                pack or load_pack(col.model, settings, threads),
                videos,
                result,
                screen=screen,
                fps=video_fps,
                progress=(lambda: progress(result, total)) if progress else None,
            )
        status = "done"
    finally:
        throttle.stop()
        if pool is not None:
            pool.terminate()
            pool.join()
        index.save()
        # Again at the end: workers of a run killed just before this one started may have still been
        # dying then (their half-written thumbnails were kept as a live writer's).
        clear_stale_temp(settings.thumbs_dir / worker.TMP_DIR)
        result.seconds = time.monotonic() - started
        store.record_failures(job_id, result.failures)
        store.finish_job(job_id, status, result.counts())
        if progress:
            progress(result, total)
    return result


def parallelism(pack: str, settings: Settings, workers: int | None) -> tuple[int, int]:
    """(worker processes, threads per process) for a pack.

    Packs whose runtimes use several cores themselves (OpenVINO) are fastest in one process with a thread
    per core: on 2 cores, 145 images/s against 112 for two single-threaded worker processes, and no start-up.
    Single-threaded runtimes (dlib) need processes. An explicit --workers or FACESEARCH_WORKERS wins.
    """
    if workers is None and "workers" not in settings.model_fields_set and get_entry(pack).info.multithreaded:
        return 1, max(1, os.cpu_count() or 1)
    return max(1, workers or settings.workers), settings.threads_per_worker


def _prefetch(source: Iterator[T], throttle: _Throttle, depth: int = 2) -> Iterator[T]:
    """Run a producer in a thread, a few items ahead of its consumer."""
    queue: Queue[tuple[bool, Any]] = Queue(maxsize=depth)

    def put(entry: tuple[bool, Any]) -> bool:
        while not throttle.stopped:  # the consumer may be gone: never block for good
            try:
                queue.put(entry, timeout=0.2)
                return True
            except Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in source:
                if not put((True, item)):
                    return
        except BaseException as exc:  # handed to the consumer, which re-raises it
            put((False, exc))
            return
        put((False, None))

    thread = threading.Thread(target=produce, name="ingest-reader", daemon=True)
    thread.start()
    while True:
        ok, value = queue.get()
        if not ok:
            if value is not None:
                raise value
            return
        yield value


class _Throttle:
    """Bounds how many batches a producer may have handed out and not yet had consumed."""

    def __init__(self) -> None:
        self.limit = 0
        self._cond = threading.Condition()
        self._in_flight = 0
        self._stopped = False

    def gate(self, source: Iterator[T]) -> Iterator[T]:
        for item in source:
            with self._cond:
                while self._in_flight >= self.limit and not self._stopped:
                    self._cond.wait(0.5)
                if self._stopped:
                    return
                self._in_flight += 1
            yield item

    def release(self) -> None:
        with self._cond:
            self._in_flight = max(0, self._in_flight - 1)
            self._cond.notify()

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify_all()

    @property
    def stopped(self) -> bool:
        return self._stopped


def _batches(
    items: list[Item],
    size: int,
    settings: Settings,
    store: Store,
    collection_id: int,
    seen: set[str],
    result: IngestResult,
    videos: list[Item],
) -> Iterator[tuple[BatchMeta, list[Work]]]:
    """Read files in groups, drop those already stored (by content hash), yield work for the pipeline.

    Reads are bounded in bytes and batches in decoded pixels as well as in files: 32 photos of 12 megapixels
    are 1.1 GB decoded, so big photos travel in smaller batches. Batches start at FIRST_BATCH images and
    double up to `size`, so that the first commits (and progress reports) come early; at steady state every
    batch is full (growing costs nothing there: tests/cli/test_ingest_progress.py, docs/benchmarks.md).
    """

    def failed(failure: Failure) -> None:
        result.failures.append(failure)
        result.read_failed += 1

    reader = read_items(enumerate(items), settings.max_file_bytes, failed, lambda _key, item: videos.append(item))
    limit = min(size, FIRST_BATCH)
    meta: BatchMeta = {}
    payload: list[Work] = []  # a batch being filled; it may take images from several chunks
    payload_pixels = 0
    while True:
        chunk: list[tuple[int, Item, bytes | None, str]] = []
        chunk_bytes = 0
        for entry in reader:
            chunk.append(entry)
            chunk_bytes += len(entry[2] or b"")
            if len(chunk) >= 4 * limit or chunk_bytes >= BATCH_MAX_BYTES:
                break
        if not chunk:
            if payload:
                yield meta, payload
            return
        known = store.known_hashes(collection_id, [sha for _, _, _, sha in chunk])
        for key, item, data, sha in chunk:
            if sha in known or sha in seen:
                result.read_duplicates += 1
                continue
            seen.add(sha)
            meta[key] = (item, sha)
            payload.append((key, data or b"", f"{collection_id}/{sha[:2]}/{sha}"))
            payload_pixels += imaging.pixel_count(data or b"")
            if len(payload) >= limit or payload_pixels >= BATCH_MAX_PIXELS:
                yield meta, payload
                meta, payload, payload_pixels = {}, [], 0
                limit = min(size, 2 * limit)


def _commit_batch(
    store: Store,
    meta: BatchMeta,
    outcomes: list[worker.ImageOutcome],
    col: Collection,
    job_id: int,
    index: VectorIndex,
    result: IngestResult,
    screen: Screen | None,
) -> None:
    new_images: list[NewImage] = []
    for outcome in outcomes:
        item, sha = meta[outcome.key]
        if outcome.error:
            result.commit_failed += 1
            result.failures.append((str(item.path), outcome.error[0], outcome.error[1]))
            continue
        result.faces_below_quality += outcome.below_quality
        new_images.append(
            NewImage(
                sha,
                str(item.path),
                item.source_url,
                item.meta,
                outcome.width,
                outcome.height,
                item.manifest_row,
                outcome.faces,
            )
        )
    # Faces that must not be stored (opt-outs) leave before anything reaches the rows or the index.
    if screen is not None and new_images:
        faces_dropped, images_dropped = screen(new_images, job_id)
        result.opted_out_faces += faces_dropped
        result.opted_out_images += images_dropped
    if not new_images:
        return
    inserted = store.add_images(col.id, job_id, new_images)
    ids: list[int] = []
    vectors: list[np.ndarray] = []
    for img, (image_id, face_ids) in zip(new_images, inserted):
        if image_id is None:
            result.commit_duplicates += 1
            continue
        result.ingested += 1
        if not face_ids:
            result.no_face += 1
        result.faces += len(face_ids)
        ids.extend(face_ids)
        vectors.extend(f.embedding for f in img.faces)
    if ids:
        index.add(np.asarray(ids, np.int64), np.stack(vectors))
