"""Metadata storage (SQLAlchemy): collections, images with provenance, faces with embeddings."""

from . import accounts, governance_tables  # noqa: F401  (register the web service and governance tables on Base)
from .db import NewFace, NewImage, Store

__all__ = ["NewFace", "NewImage", "Store"]
