"""Metadata storage (SQLAlchemy): collections, images with provenance, faces with embeddings."""

from . import accounts  # noqa: F401  (registers the web service tables on Base)
from .db import NewFace, NewImage, Store

__all__ = ["NewFace", "NewImage", "Store"]
