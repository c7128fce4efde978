"""The rows' hold on files, read for erasure, retention and `doctor`: which files images and faces refer to,
which images are past a cutoff, which faces lost their image, which faces are below the ingest floor; and
the rows of a collection deleted whole."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select

from .db import Store
from .people_tables import PersonFace
from .schema import Collection, CollectionCounter, Face, Image, IngestFailure, IngestJob


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


def collection_images(store: Store, collection_id: int) -> list[int]:
    """Ids of every image of a collection: what deleting it erases."""
    with store.database.connect() as conn:
        return [int(x) for x in conn.scalars(select(Image.id).where(Image.collection_id == collection_id))]


def drop_collection(store: Store, collection_id: int) -> None:
    """Delete a collection's own rows once its images are erased (`collection_images`): its ingest runs with
    their failures, its counters and the collection itself, in one transaction. Explicit deletes, not only the
    foreign keys' cascades: a SQLite connection opened elsewhere may have foreign keys off."""
    with store.database.begin() as conn:
        jobs = select(IngestJob.id).where(IngestJob.collection_id == collection_id)
        conn.execute(delete(IngestFailure).where(IngestFailure.job_id.in_(jobs)))
        conn.execute(delete(Image).where(Image.collection_id == collection_id))  # none left unless one raced in
        conn.execute(delete(IngestJob).where(IngestJob.collection_id == collection_id))
        conn.execute(delete(CollectionCounter).where(CollectionCounter.collection_id == collection_id))
        conn.execute(delete(Collection).where(Collection.id == collection_id))


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


def faces_below(store: Store, floor: float, limit: int) -> tuple[dict[str, int], int, list[dict[str, Any]]]:
    """Faces whose quality is below `floor`: (count per collection, how many of them are in a person, the
    `limit` poorest with their image), for `doctor` in a home made before the ingest floor."""
    with store.database.connect() as conn:
        per = {
            str(name): int(n)
            for name, n in conn.execute(
                select(Collection.name, func.count(Face.id))
                .join(Face, Face.collection_id == Collection.id)
                .where(Face.quality < floor)
                .group_by(Collection.name)
            )
        }
        in_people = int(
            conn.scalar(
                select(func.count(PersonFace.face_id))
                .join(Face, Face.id == PersonFace.face_id)
                .where(Face.quality < floor)
            )
            or 0
        )
        rows = conn.execute(
            select(Face.id, Collection.name, Face.image_id, Image.path, Face.quality, Face.quality_reasons)
            .join(Collection, Collection.id == Face.collection_id)
            .join(Image, Image.id == Face.image_id)
            .where(Face.quality < floor)
            .order_by(Face.quality, Face.id)
            .limit(limit)
        ).all()
    examples = [
        {
            "face_id": int(f),
            "collection": str(c),
            "image_id": int(i),
            "path": path,
            "quality": round(float(q), 4),
            "quality_reasons": list(r or []),
        }
        for f, c, i, path, q, r in rows
    ]
    return per, in_people, examples
