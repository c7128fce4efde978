"""Vector index backends behind one protocol: vectors and ids in, scores and ids out."""

from __future__ import annotations

from pathlib import Path

from .base import VectorIndex
from .faiss_index import FaissIndex

__all__ = ["FaissIndex", "VectorIndex", "open_index"]


def open_index(index_dir: Path, collection_id: int, dim: int) -> FaissIndex:
    return FaissIndex(index_dir / f"collection-{collection_id}.faiss", dim)
