"""The vector index protocol: a few verbs, arrays in and out; ids are face row ids (64-bit)."""

from __future__ import annotations

from typing import Protocol

import numpy as np


class VectorIndex(Protocol):
    dim: int

    @property
    def kind(self) -> str:
        """The structure searched: flat, hnsw, ivfpq (FAISS) or the server's index type (Milvus)."""
        ...

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Add (n,) int64 ids with (n, dim) float32 L2-normalised vectors."""
        ...

    def remove(self, ids: np.ndarray) -> int:
        """Remove ids; returns how many were present. Removed ids never come back from search."""
        ...

    def search(
        self, queries: np.ndarray, k: int, *, allow: np.ndarray | None = None, deny: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-k by cosine similarity: (scores (q, k) float32, ids (q, k) int64, -1 where fewer than k).

        `allow`: only these ids may be returned; `deny`: these ids may not. Both are applied inside the
        search (never by over-fetching and dropping), so k results come back whenever k eligible ids exist.
        """
        ...

    def ids(self) -> np.ndarray:
        """Every id in the index (O(n): for reconciliation when opened, never per query)."""
        ...

    def __len__(self) -> int: ...

    def save(self) -> None:
        """Persist atomically (FAISS: new file, fsync, rename; Milvus: flush)."""
        ...
