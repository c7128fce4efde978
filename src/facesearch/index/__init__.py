"""Vector index backends behind one protocol: vectors and ids in, scores and ids out."""

from __future__ import annotations

from ..config import Settings
from .base import VectorIndex
from .faiss_build import build_faiss
from .faiss_index import FaissIndex

__all__ = ["FaissIndex", "VectorIndex", "build_faiss", "open_index"]


def open_index(settings: Settings, collection_id: int, dim: int) -> VectorIndex:
    """The vector index of one collection: FAISS files in home by default, Milvus when `index_uri` says so."""
    uri = settings.index_uri
    if uri and uri.startswith("milvus://"):
        from .milvus_index import MilvusIndex  # only deployments that use Milvus need pymilvus

        return MilvusIndex.open(uri, collection_id, dim)
    return FaissIndex(settings.index_dir / f"collection-{collection_id}.faiss", dim)
