"""Keeping a collection's vector index equal to its face rows (the rows are the source of truth), and the
lock that makes one process at a time the writer of a collection's index."""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
from collections.abc import Iterator

import numpy as np

from ..config import Settings
from ..index import VectorIndex, open_index
from ..store import Store

log = logging.getLogger("facesearch.index")


class IndexBusy(Exception):
    """Another process writes the collection's index (an ingest or a rebuild) and `wait` was False."""


@contextlib.contextmanager
def collection_lock(settings: Settings, collection_id: int, *, wait: bool = True) -> Iterator[None]:
    """One writer of a collection's index at a time (ingest, rebuild), across processes: each holds the
    index in memory and saves it whole, so two at once would drop each other's entries. With `wait` False,
    raises `IndexBusy` at once instead of waiting for the writer."""
    settings.index_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(settings.index_dir / f"collection-{collection_id}.lock", os.O_CREAT | os.O_RDWR, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise IndexBusy(f"collection {collection_id}: its index is being written") from None
        yield
    finally:
        os.close(fd)


def drop_index(settings: Settings, collection_id: int, dim: int) -> None:
    """Remove a deleted collection's vector index: its FAISS file, the file's metadata and lock, or its Milvus
    collection."""
    index = open_index(settings, collection_id, dim)
    drop = getattr(index, "drop", None)
    if drop is not None:  # a server's collection
        drop()
        return
    path = settings.index_dir / f"collection-{collection_id}.faiss"
    for f in (path, path.with_name(path.name + ".meta.json"), settings.index_dir / f"collection-{collection_id}.lock"):
        f.unlink(missing_ok=True)


def reconcile(index: VectorIndex, store: Store, collection_id: int) -> tuple[int, int]:
    """Make the index hold exactly the collection's face rows; returns (added, removed).

    Runs when an index is opened, when the collection's counters say its rows changed, and from `doctor`;
    never per query. After a crash the index file may miss faces committed since its last save, or hold
    faces whose rows were deleted. A fingerprint (count, max, sum of ids) makes the common case, nothing to
    do, cost one aggregate query. An index file that could not be read (corrupt, truncated) or is missing
    while the collection has faces is rebuilt from the stored embeddings, saved, and reported once.
    """
    load_error = getattr(index, "load_error", None)
    index_ids = index.ids()
    fingerprint = (len(index_ids), int(index_ids.max()) if len(index_ids) else 0, int(index_ids.sum()))
    if fingerprint == store.face_id_stats(collection_id) and load_error is None:
        return 0, 0
    row_ids = store.face_ids(collection_id)
    extra = np.setdiff1d(index_ids, row_ids, assume_unique=True)
    missing = np.setdiff1d(row_ids, index_ids, assume_unique=True)
    removed = index.remove(extra)
    if len(missing):
        index.add(missing, store.embeddings(missing.tolist(), index.dim))
    lost = load_error is not None or (getattr(index, "file_missing", False) and len(missing) == len(row_ids) > 0)
    if lost:
        # Said once: the rebuilt index is saved at once, so the next open finds a good file.
        where = getattr(index, "path", f"collection {collection_id}")
        why = f"unreadable ({load_error})" if load_error is not None else "missing"
        log.warning("index file %s was %s; rebuilt from the database (%d faces)", where, why, len(row_ids))
        index.save()
        for attr, value in (("load_error", None), ("file_missing", False)):
            if hasattr(index, attr):
                setattr(index, attr, value)
    return len(missing), removed
