"""Exact inner-product FAISS index with id mapping, saved atomically to one file."""

from __future__ import annotations

import os
from pathlib import Path

import faiss
import numpy as np

from ..fsutil import pid_alive

PARALLEL_SCAN_MIN = 2_000_000  # vectors x queries
_MAX_THREADS = faiss.omp_get_max_threads()


class FaissIndex:
    def __init__(self, path: Path, dim: int) -> None:
        self.path = path
        self.dim = dim
        for stale in path.parent.glob(f"{path.name}.*.tmp"):  # left by a writer killed mid-save
            pid = stale.name.split(".")[-2]
            if pid.isdigit() and not pid_alive(int(pid)):
                stale.unlink(missing_ok=True)
        # Why the file could not be used, when it could not: the index then starts empty, and the owner
        # (app/indexes.reconcile) rebuilds it from the database, which is the source of truth.
        self.load_error: str | None = None
        self.file_missing = not path.is_file()
        self._index: faiss.Index = faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
        if not self.file_missing:
            try:
                self._index = _read(path, dim)
            except Exception as exc:  # truncated, corrupt, another kind of index, another dimension
                self.load_error = (str(exc).strip().splitlines() or [type(exc).__name__])[-1][:200]
        self.dirty = False

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        if len(ids) == 0:
            return
        self._index.add_with_ids(np.ascontiguousarray(vectors, np.float32), np.ascontiguousarray(ids, np.int64))
        self.dirty = True

    def remove(self, ids: np.ndarray) -> int:
        if len(ids) == 0:
            return 0
        removed = int(self._index.remove_ids(faiss.IDSelectorBatch(np.ascontiguousarray(ids, np.int64))))
        self.dirty = self.dirty or removed > 0
        return removed

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        queries = np.ascontiguousarray(queries, np.float32)
        if self._index.ntotal == 0 or k <= 0:
            n = queries.shape[0]
            return np.zeros((n, 0), np.float32), np.zeros((n, 0), np.int64)
        # OpenMP threads only pay off on big scans; on small ones their spin-waits cost more than the scan.
        big = self._index.ntotal * len(queries) >= PARALLEL_SCAN_MIN
        faiss.omp_set_num_threads(_MAX_THREADS if big else 1)
        scores, ids = self._index.search(queries, min(k, self._index.ntotal))
        return scores, ids

    def ids(self) -> np.ndarray:
        return faiss.vector_to_array(self._index.id_map).astype(np.int64)  # type: ignore[attr-defined]

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
        faiss.write_index(self._index, str(tmp))
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)
        self.dirty = False



def _read(path: Path, dim: int) -> faiss.Index:
    """Read an index file and check it is what this class writes: an id-mapped flat index of `dim`."""
    index = faiss.read_index(str(path))
    if index.d != dim:
        raise ValueError(f"index dimension {index.d} != collection dimension {dim}")
    if not isinstance(index, faiss.IndexIDMap2):
        raise ValueError(f"not an id-mapped index ({type(index).__name__})")
    if faiss.vector_to_array(index.id_map).shape[0] != index.ntotal:
        raise ValueError("ids and vectors differ in number")
    return index
