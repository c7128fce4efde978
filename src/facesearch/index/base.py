"""The vector index protocol: a few verbs, arrays in and out; ids are face row ids."""

from __future__ import annotations

from typing import Protocol

import numpy as np


class VectorIndex(Protocol):
    dim: int

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Add (n,) int64 ids with (n, dim) float32 L2-normalised vectors."""
        ...

    def remove(self, ids: np.ndarray) -> int:
        """Remove ids; returns how many were present."""
        ...

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-k by cosine similarity: (scores (q, k) float32, ids (q, k) int64, -1 where fewer than k)."""
        ...

    def ids(self) -> np.ndarray:
        """Every id in the index."""
        ...

    def __len__(self) -> int: ...

    def save(self) -> None:
        """Persist atomically."""
        ...
