"""Metadata storage (SQLAlchemy): collections, images with provenance, faces with embeddings."""

from ..records import NewFace, NewImage
from . import accounts, governance_tables  # noqa: F401  (register the web service and governance tables on Base)
from .db import Store

__all__ = ["NewFace", "NewImage", "Store"]
