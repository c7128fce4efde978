"""The rows' hold on files, read for erasure, retention and `doctor`: which files images and faces refer to,
which images are past a cutoff, which faces lost their image."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select

from .db import Store
from .schema import Face, Image


def image_files(store: Store, image_ids: Sequence[int]) -> list[tuple[str, str | None]]:
    """(SHA-256, path) of these images: the copies and kept probes an erasure must reach."""
    with store.session() as s:
        return [
            (str(sha), path)
            for sha, path in s.execute(select(Image.sha256, Image.path).where(Image.id.in_(list(image_ids)))).all()
        ]


def images_ingested_before(store: Store, collection_id: int, cutoff: datetime) -> list[int]:
    """Ids of a collection's images ingested before `cutoff`: what its retention period expires."""
    with store.database.connect() as conn:
        return [
            int(x)
            for x in conn.scalars(
                select(Image.id).where(Image.collection_id == collection_id, Image.ingested_at < cutoff)
            )
        ]


def face_thumbnails(store: Store) -> set[str]:
    """Every thumbnail a face refers to (paths relative to the thumbnails folder)."""
    with store.database.connect() as conn:
        return {str(t) for t in conn.scalars(select(Face.thumbnail))}


def faces_without_image(store: Store) -> list[int]:
    """Ids of faces whose image row is gone."""
    with store.database.connect() as conn:
        return [
            int(x)
            for x in conn.scalars(select(Face.id).outerjoin(Image, Image.id == Face.image_id).where(Image.id.is_(None)))
        ]


def image_paths(store: Store) -> set[str]:
    """Every path an image row records (the files it was ingested or uploaded from)."""
    with store.database.connect() as conn:
        return {str(p) for p in conn.scalars(select(Image.path).where(Image.path.is_not(None)))}
