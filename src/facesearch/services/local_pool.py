"""The default executor: ingest's analysis on this machine.

Files are read and hashed by a reader (a thread, or the worker pool's feeder), decoded and analysed in
batches (in this process, a batch decoded ahead while the one before is analysed, or in worker processes
that write the thumbnails into the home themselves), and handed to the commit loop in order, with a few
batches in flight at most.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import threading
from collections import deque
from collections.abc import Iterator
from multiprocessing.pool import Pool
from queue import Full, Queue
from typing import Any, TypeVar

from ..config import Settings
from ..models import get_entry, load_pack
from ..models.base import ModelPack
from ..pipeline import imaging, worker
from ..pipeline.sources import Failure, Item, read_items
from ..pipeline.worker import Work
from . import executor
from .executor import Analysed, BatchMeta, Reads

T = TypeVar("T")
DECODE_AHEAD = True  # decode in the reader thread (one process only); benchmarks switch it off to compare


def parallelism(pack: str, settings: Settings, workers: int | None) -> tuple[int, int]:
    """(worker processes, threads per process) for a pack.

    Packs whose runtimes use several cores themselves (OpenVINO) are fastest in one process with a thread
    per core: on 2 cores, 145 images/s against 112 for two single-threaded worker processes, and no start-up.
    Single-threaded runtimes (dlib) need processes. An explicit --workers or FACESEARCH_WORKERS wins.
    """
    if workers is None and "workers" not in settings.model_fields_set and get_entry(pack).info.multithreaded:
        return 1, max(1, os.cpu_count() or 1)
    return max(1, workers or settings.workers), settings.threads_per_worker


class LocalExecutor:
    """This machine's worker pool (or this process alone)."""

    where = "local"

    def __init__(self, settings: Settings, pack: str, workers: int | None) -> None:
        self.settings = settings
        self.pack = pack
        self.workers, self.threads = parallelism(pack, settings, workers)
        self.analysed_by: dict[str, int] = {}
        self.loaded_pack: ModelPack | None = None
        self._throttle = _Throttle()
        self._pool: Pool | None = None

    def run(self, items: list[Item], reads: Reads) -> Iterator[Analysed]:
        settings, throttle = self.settings, self._throttle
        batch_size = max(1, settings.batch_images)
        batches = _batches(items, batch_size, settings, reads)
        outcome_stream: Iterator[tuple[BatchMeta, list[worker.ImageOutcome]]]
        if self.workers > 1 and len(items) > batch_size:
            spawn = mp.get_context("spawn")
            pool = self._pool = spawn.Pool(self.workers, initializer=worker.init, initargs=(self.pack, settings))
            # The pool's feeder thread would read every file ahead; keep a few batches in flight only.
            throttle.limit = 2 * self.workers + 1
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
            pack = self.loaded_pack = load_pack(self.pack, settings, self.threads)
            outcome_stream = ((meta, worker.analyse_batch(pack, settings, batch)) for meta, batch in prefetched)
        else:
            pack = self.loaded_pack = load_pack(self.pack, settings, self.threads)
            outcome_stream = (
                (meta, worker.process_batch(pack, settings, payload)) for meta, payload in _prefetch(batches, throttle)
            )
        for meta, outcomes in outcome_stream:
            throttle.release()
            yield Analysed(meta, outcomes)

    def close(self) -> None:
        self._throttle.stop()
        if self._pool is not None:
            self._pool.terminate()
            self._pool.join()
            self._pool = None


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


def _batches(items: list[Item], size: int, settings: Settings, reads: Reads) -> Iterator[tuple[BatchMeta, list[Work]]]:
    """Read files in groups, drop those already stored (by content hash), yield work for the pipeline.

    Reads are bounded in bytes and batches in decoded pixels as well as in files: 32 photos of 12 megapixels
    are 1.1 GB decoded, so big photos travel in smaller batches. Batches start at FIRST_BATCH images and
    double up to `size`, so that the first commits (and progress reports) come early; at steady state every
    batch is full (growing costs nothing there: tests/cli/test_ingest_progress.py, docs/benchmarks.md).
    """

    def failed(failure: Failure) -> None:
        reads.failed(failure)

    reader = read_items(enumerate(items), settings.max_file_bytes, failed, lambda _key, item: reads.video(item))
    limit = min(size, executor.FIRST_BATCH)
    meta: BatchMeta = {}
    payload: list[Work] = []  # a batch being filled; it may take images from several chunks
    payload_pixels = 0
    while True:
        chunk: list[tuple[int, Item, bytes | None, str]] = []
        chunk_bytes = 0
        for entry in reader:
            chunk.append(entry)
            chunk_bytes += len(entry[2] or b"")
            if len(chunk) >= 4 * limit or chunk_bytes >= executor.BATCH_MAX_BYTES:
                break
        if not chunk:
            if payload:
                yield meta, payload
            return
        fresh = reads.fresh([sha for _, _, _, sha in chunk])
        for (key, item, data, sha), new in zip(chunk, fresh):
            if not new:
                continue
            meta[key] = (item, sha)
            payload.append((key, data or b"", reads.thumb_prefix(sha)))
            payload_pixels += imaging.pixel_count(data or b"")
            if len(payload) >= limit or payload_pixels >= executor.BATCH_MAX_PIXELS:
                yield meta, payload
                meta, payload, payload_pixels = {}, [], 0
                limit = min(size, 2 * limit)
