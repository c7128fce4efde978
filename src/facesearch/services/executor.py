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
result (`batching._commit_batch`). The video seam: a work unit is a batch of file references; a video file
split into segments (time ranges of one file) would be another kind of unit with its own `prepare`/`analyse`
pair on the worker and its own commit (tracks and their checkpoint), under the same in-flight bound.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

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


class Executor(Protocol):
    """Runs the analysis of a run's files somewhere, yielding analysed batches in the order of the files."""

    where: str  # "local", or the cluster's address
    workers: int  # processes (or actors) analysing
    threads: int  # runtime threads in each
    analysed_by: dict[str, int]  # images analysed per node (empty for a local run)

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
