"""The crash-safe ingest mechanism: files in batches through the face pipeline, one commit per batch.

The database is the source of truth and is written once per batch, in one transaction, after the batch's
thumbnails are on disk under deterministic names. The vector index is a cache of the database, saved
periodically and reconciled on open. A run killed at any point and run again therefore ends in the same
state as one clean run: committed images are recognised by their content hash and skipped, uncommitted ones
are processed again and overwrite their own thumbnails.

Where the analysis runs is an executor (`executor.py`): this machine's worker pool by default
(`local_pool.py`), or the actors of a Ray cluster (`ray_executor.py`). Either way batches come back in the
order of the files and are committed here, in order; nodes of a cluster hand the thumbnails back with the
faces and this process writes them, before the batch's transaction, as a local worker would. No rules live
here: the use case (app/ingest.py) decides whether a run may happen, hands down what must be kept out of the
rows (opt-outs: `screen`), and logs the outcome.

Video files (told by their first bytes, by the local reader or by a cluster node) are set apart and ingested
after the photos of the run, one at a time, on this machine, by `video_ingest` (streamed, committed per batch
of tracks with the point a killed run resumes from); they are counted in the same result, and a run that met
one reports its video counts too. (On a cluster, a video's segments as work units of their own are the next
step: `executor.py` says where they would plug in.)
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from ..config import Settings
from ..errors import ClusterError
from ..fsutil import clear_stale_temp, write_atomic
from ..index import VectorIndex, open_index
from ..models import load_pack
from ..pipeline import worker
from ..pipeline.sources import Failure, Item
from ..records import NewImage
from ..store import Store
from ..store.schema import Collection
from .executor import Analysed, Executor
from .indexes import collection_lock, reconcile
from .local_pool import LocalExecutor, parallelism
from .video_ingest import VideoCounts, ingest_videos

INDEX_SAVE_SECONDS = 30.0
LOCAL = ("", "local", "none")


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
    workers: int = 1  # processes that ran the pipeline (1: in this process; on a cluster: its actors)
    threads: int = 1  # runtime threads per process
    failures: list[Failure] = field(default_factory=list)
    executor: str = "local"  # where the analysis ran: "local" or the cluster's address
    analysed_by: dict[str, int] = field(default_factory=dict)  # images analysed per cluster node
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
    cluster: str | None = None,
    cluster_workers: int | None = None,
    video_fps: float | None = None,
) -> IngestResult:
    """Ingest `items` into `col`, recorded as one run; returns its counts. Never raises for a bad file.
    `cluster`: where to analyse (None: `settings.cluster`; unset or "local": this machine). Video files among
    them (by content) are ingested after the photos, one at a time, on this machine, sampled at `video_fps`
    frames per second (default FACESEARCH_VIDEO_FPS; `services.video_ingest`)."""
    # One writer per collection at a time: each run holds the collection's index in memory and saves it
    # whole, so two concurrent runs would each drop the other's entries (last writer wins).
    with collection_lock(settings, col.id):
        # A cluster is connected to (and its actors started) once the lock is ours, so a run that waits holds
        # none of its CPUs, and before anything is recorded, so a cluster that cannot be used is an error of
        # the request, not a failed run. Its time counts in the run's (the actors load the pack then).
        opening = time.monotonic()
        executor = open_executor(settings, col.model, workers, cluster, cluster_workers)
        try:
            return _run_locked(
                store,
                settings,
                col,
                items,
                executor,
                progress=progress,
                source=source,
                screen=screen,
                opened=time.monotonic() - opening,
                video_fps=video_fps,
            )
        finally:
            executor.close()


def open_executor(
    settings: Settings, pack: str, workers: int | None, cluster: str | None, cluster_workers: int | None
) -> Executor:
    """This machine's pool, or the actors of the cluster `cluster` names (docs/scaling.md)."""
    address = cluster_address(cluster if cluster is not None else settings.cluster)
    if address is None:
        return LocalExecutor(settings, pack, workers)
    from .ray_executor import RayExecutor  # Ray is an optional extra: imported only when asked for

    return RayExecutor(address, settings, pack, cluster_workers or settings.cluster_workers)


def cluster_address(value: str | None) -> str | None:
    """The address of the cluster to use (None: this machine). `auto` is the cluster RAY_ADDRESS names."""
    if value is None or value.strip().lower() in LOCAL:
        return None
    value = value.strip()
    if value.lower() == "auto":
        found = os.environ.get("RAY_ADDRESS", "").strip()
        if not found:
            raise ClusterError(
                "FACESEARCH_CLUSTER=auto needs RAY_ADDRESS, the address of a running Ray cluster "
                "(ray://HOST:10001, or HOST:6379 on a node of the cluster); docs/scaling.md says how to start one"
            )
        return found
    return value


def _run_locked(
    store: Store,
    settings: Settings,
    col: Collection,
    items: list[Item],
    executor: Executor,
    *,
    progress: ProgressFn | None,
    source: str,
    screen: Screen | None,
    opened: float,  # seconds it took to open the executor
    video_fps: float | None,
) -> IngestResult:
    job_id = store.start_job(col.id, source or f"{len(items)} files", col.model)
    result = IngestResult(collection=col.name, model=col.model, job_id=job_id)
    clear_stale_temp(settings.thumbs_dir / worker.TMP_DIR)
    index = open_index(settings, col.id, col.dim)
    reconcile(index, store, col.id)
    started = time.monotonic()
    last_save = started
    result.workers, result.threads, result.executor = executor.workers, executor.threads, executor.where
    result.analysed_by = executor.analysed_by  # filled in as batches come back
    total = len(items)
    status = "interrupted"
    reads = _Reads(store, col.id, result)
    try:
        for batch in executor.run(items, reads):
            _write_thumbnails(settings, batch)
            _commit_batch(store, batch, col, job_id, index, result, screen)
            if progress:
                progress(result, total)
            if time.monotonic() - last_save > INDEX_SAVE_SECONDS:
                index.save()
                last_save = time.monotonic()
        if reads.videos:
            # The photos are done: the worker processes (or the cluster's actors) go before the videos' memory
            # comes; a pack loaded in this process is kept for them.
            pack = executor.loaded_pack
            threads = executor.threads if executor.where == "local" else parallelism(col.model, settings, None)[1]
            executor.close()
            ingest_videos(
                store,
                settings,
                col,
                job_id,
                index,
                pack or load_pack(col.model, settings, threads),
                reads.videos,
                result,
                screen=screen,
                fps=video_fps,
                progress=(lambda: progress(result, total)) if progress else None,
            )
        status = "done"
    finally:
        executor.close()
        index.save()
        # Again at the end: workers of a run killed just before this one started may have still been
        # dying then (their half-written thumbnails were kept as a live writer's).
        clear_stale_temp(settings.thumbs_dir / worker.TMP_DIR)
        result.seconds = time.monotonic() - started + opened
        store.record_failures(job_id, result.failures)
        store.finish_job(job_id, status, result.counts())
        if progress:
            progress(result, total)
    return result


class _Reads:
    """The driver's side of reading (`executor.Reads`): failures and duplicates counted into the run."""

    def __init__(self, store: Store, collection_id: int, result: IngestResult) -> None:
        self.store = store
        self.collection_id = collection_id
        self.result = result
        self.seen: set[str] = set()
        self.videos: list[Item] = []  # set apart as they are met; ingested once the photos are

    def failed(self, failure: Failure) -> None:
        self.result.failures.append(failure)
        self.result.read_failed += 1

    def fresh(self, shas: Sequence[str]) -> list[bool]:
        known = self.store.known_hashes(self.collection_id, list(shas))
        out = []
        for sha in shas:
            new = sha not in known and sha not in self.seen
            if new:
                self.seen.add(sha)
            else:
                self.result.read_duplicates += 1
            out.append(new)
        return out

    def thumb_prefix(self, sha: str) -> str:
        return f"{self.collection_id}/{sha[:2]}/{sha}"

    def video(self, item: Item) -> None:
        self.videos.append(item)


def _write_thumbnails(settings: Settings, batch: Analysed) -> None:
    """Thumbnails a cluster node handed back, written as a local worker writes its own: atomically, under the
    names the driver chose, before the batch's transaction (so a crash leaves at most orphans, which the run
    that resumes overwrites)."""
    tmp_dir = settings.thumbs_dir / worker.TMP_DIR
    for outcome in batch.outcomes:
        for face, jpeg in zip(outcome.faces, outcome.thumbnails):
            write_atomic(settings.thumbs_dir / face.thumbnail, jpeg, tmp_dir, durable=False)
        outcome.thumbnails = []  # written: the bytes need not stay in memory until the commit


def _commit_batch(
    store: Store,
    batch: Analysed,
    col: Collection,
    job_id: int,
    index: VectorIndex,
    result: IngestResult,
    screen: Screen | None,
) -> None:
    new_images: list[NewImage] = []
    for outcome in batch.outcomes:
        item, sha = batch.meta[outcome.key]
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
