"""Metadata storage (SQLAlchemy): collections, images with provenance, faces with embeddings."""

from ..records import NewFace, NewImage
from . import accounts, governance_tables, people_tables, watch_tables  # noqa: F401  (register their tables on Base)
from .db import Store

__all__ = ["NewFace", "NewImage", "Store"]
