"""Where ingest's analysis runs: the seam between the crash-safe commit loop (`batching`) and the processes
that read, hash, decode, analyse and thumbnail photos.

An executor takes a run's file references and yields analysed batches in the order of the files, with a
bounded number of batches in flight, so memory stays flat whatever the size of the run. Two exist:

- `local_pool.LocalExecutor`, the default: this machine (files read and hashed in this process, analysed in
  this process or in a pool of worker processes that write the thumbnails into the home themselves);
- `ray_executor.RayExecutor`: the actors of a Ray cluster (files read, hashed and analysed on the nodes, which
  hand the thumbnails back with the faces: nodes never write to the home).

Either way the commit loop decides what is stored: the driver's side of reading (`Reads`) says which files
failed and which contents are new (not in the collection, not seen earlier in the run), so de-duplication
by content hash is decided against the database in one place, and one transaction per batch commits the
result (`batching._commit_batch`).

Video files are told apart by their first bytes where a file is read (the local reader, or a node's
`prepare`) and handed to the driver (`Reads.video`), which ingests them after the photos, one at a time, on
this machine (`video_ingest`: a streamed scan, tracks committed with the checkpoint a killed run resumes
from). The seam for running them on a cluster: a video split into segments (time ranges of one file, cut at
keyframes) would be another kind of work unit, with its own `prepare` (hash, duration, the segments) and
`analyse` (a segment's scan: its closed tracks, and the tracks still open at its end) on the worker, joined
and committed here in the order of the segments (tracks that span a cut joined, the checkpoint moved to the
segment's end), under the same in-flight bound. Not built: the scan's tracks and checkpoints assume one
sequential pass today.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from ..models.base import ModelPack
from ..pipeline.sources import Failure, Item
from ..pipeline.worker import ImageOutcome

BATCH_MAX_BYTES = 64 * 1024 * 1024  # of encoded files read ahead at once
# Decoded per batch: 2 photos of 12 megapixels, or 380 of LFW's size. In one process a batch is decoded ahead
# while the one before is analysed, so up to three batches are in memory at once (about 216 MB of pixels).
BATCH_MAX_PIXELS = 24_000_000
# A run's first batches are small and grow (1, 2, 4, ... batch_images), so the first images are committed,
# and progress reported, within a second or so of the start instead of after a whole batch.
FIRST_BATCH = 1

# key (the file's place in the run) -> (the file, its SHA-256), for each image of a batch sent to analysis.
BatchMeta = dict[int, tuple[Item, str]]


@dataclass
class Analysed:
    """One batch back from analysis: what was sent (`meta`) and one outcome per image. Thumbnails are in the
    home already (local workers write them) or in each outcome's `thumbnails` (cluster nodes)."""

    meta: BatchMeta
    outcomes: list[ImageOutcome]


class Reads(Protocol):
    """The driver's side of reading, called in the order of the files."""

    def failed(self, failure: Failure) -> None:
        """A file that could not be read (missing, too large, not a regular file ...)."""
        ...

    def fresh(self, shas: Sequence[str]) -> list[bool]:
        """Which of these contents are new: neither stored in the collection nor seen earlier in the run (the
        others are counted as duplicates and never analysed)."""
        ...

    def thumb_prefix(self, sha: str) -> str:
        """Where an image's face thumbnails go, under the home's thumbnails folder (`<prefix>_<n>.jpg`)."""
        ...

    def video(self, item: Item) -> None:
        """A video file (by its first bytes): not analysed by the executor; the driver ingests it after the
        photos of the run."""
        ...


class Executor(Protocol):
    """Runs the analysis of a run's files somewhere, yielding analysed batches in the order of the files."""

    where: str  # "local", or the cluster's address
    workers: int  # processes (or actors) analysing
    threads: int  # runtime threads in each
    analysed_by: dict[str, int]  # images analysed per node (empty for a local run)
    loaded_pack: ModelPack | None  # a pack loaded in this process, once the run has loaded one (videos reuse it)

    def run(self, items: list[Item], reads: Reads) -> Iterator[Analysed]:
        """Yield every batch once; the next batch is asked for after the one before is committed."""
        ...

    def close(self) -> None:
        """Stop the workers (also when the run ends early); nothing is left running."""
        ...


def batch_limits(first: int, size: int) -> Iterator[int]:
    """Batch sizes of a run: FIRST_BATCH, doubling, then `size` for good."""
    limit = max(1, min(size, first))
    while True:
        yield limit
        limit = min(size, 2 * limit)
