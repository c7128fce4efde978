"""Keeping a collection's vector index equal to its face rows (the rows are the source of truth)."""

from __future__ import annotations

import numpy as np

from ..index import VectorIndex
from ..store import Store


def reconcile(index: VectorIndex, store: Store, collection_id: int) -> tuple[int, int]:
    """Make the index hold exactly the collection's face rows; returns (added, removed).

    The store is the source of truth: after a crash the index file may miss faces committed since its
    last save, or hold faces whose rows were deleted. A fingerprint (count, max, sum of ids) makes the
    common case, nothing to do, cost one aggregate query.
    """
    index_ids = index.ids()
    fingerprint = (len(index_ids), int(index_ids.max()) if len(index_ids) else 0, int(index_ids.sum()))
    if fingerprint == store.face_id_stats(collection_id):
        return 0, 0
    row_ids = store.face_ids(collection_id)
    extra = np.setdiff1d(index_ids, row_ids, assume_unique=True)
    missing = np.setdiff1d(row_ids, index_ids, assume_unique=True)
    removed = index.remove(extra)
    if len(missing):
        index.add(missing, store.embeddings(missing.tolist(), index.dim))
    return len(missing), removed
