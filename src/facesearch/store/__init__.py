"""Metadata storage (SQLAlchemy): collections, images with provenance, faces with embeddings."""

from .db import NewFace, NewImage, Store

__all__ = ["NewFace", "NewImage", "Store"]
