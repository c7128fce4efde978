"""Metadata storage (SQLAlchemy): collections, images with provenance, faces with embeddings."""

from ..records import NewFace, NewImage
from . import (  # noqa: F401  (register their tables on Base)
    accounts,
    governance_tables,
    people_tables,
    video_tables,
    watch_tables,
)
from .db import Store

__all__ = ["NewFace", "NewImage", "Store"]
