"""The rows of standing searches: watches and their templates, hits, and the per-collection marks of what the
ingest checks have compared already. Every statement of the watch use cases is here."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

import numpy as np
from sqlalchemy import String, delete, func, select, type_coerce, update
from sqlalchemy.exc import IntegrityError

from .db import Store
from .schema import Collection, Face, Image
from .watch_tables import Watch, WatchHit, WatchMark, WatchTemplate

CHUNK = 5000  # ids per IN (...) list, well under SQLite's bound on variables


@dataclass(frozen=True)
class NewTemplate:
    model: str
    model_version: str
    dim: int
    vector: np.ndarray


@dataclass(frozen=True)
class Templates:
    """Per row: the watch it belongs to, and its vector (one pack's templates, row-aligned)."""

    watch_ids: np.ndarray
    vectors: np.ndarray


class ActiveWatch(NamedTuple):
    """What a check needs of an active watch, read without building an ORM object per watch (there may be
    tens of thousands)."""

    id: int
    case_ref: str
    purpose: str
    owner: str
    threshold: float | None
    collections: list[str] | None
    from_face_id: int
    webhook_url: str | None
    probe_sha256: str


@dataclass(frozen=True)
class NewHit:
    watch_id: int
    face_id: int
    image_id: int
    collection: str
    score: float
    fmr: float
    threshold: float
    ingest_job: int | None
    at: datetime


# Watches ---------------------------------------------------------------------------------------
def add_watch(store: Store, fields: dict[str, Any], templates: Sequence[NewTemplate]) -> Watch:
    """A watch and its templates, in one transaction."""
    with store.session.begin() as s:
        row = Watch(**fields)
        s.add(row)
        s.flush()
        for t in templates:
            s.add(
                WatchTemplate(
                    watch_id=row.id,
                    model=t.model,
                    model_version=t.model_version,
                    dim=t.dim,
                    embedding=np.asarray(t.vector, np.float32).tobytes(),
                )
            )
    return row


def delete_watch(store: Store, watch_id: int) -> None:
    """Undo an `add_watch` whose audit entry could not be written (the watch must not run unlogged)."""
    with store.session.begin() as s:
        s.execute(delete(WatchTemplate).where(WatchTemplate.watch_id == watch_id))
        s.execute(delete(Watch).where(Watch.id == watch_id))


def get_watch(store: Store, watch_id: int) -> Watch | None:
    with store.session() as s:
        return s.get(Watch, watch_id)


def list_watches(
    store: Store, *, owner: str | None = None, case_ref: str | None = None, status: str | None = None
) -> list[Watch]:
    """Watches, newest first, narrowed to one owner, case or status when given."""
    stmt = select(Watch).order_by(Watch.id.desc())
    if owner is not None:
        stmt = stmt.where(Watch.owner == owner)
    if case_ref is not None:
        stmt = stmt.where(Watch.case_ref == case_ref)
    if status is not None:
        stmt = stmt.where(Watch.status == status)
    with store.session() as s:
        return list(s.scalars(stmt))


def active_watches(store: Store, now: datetime) -> list[ActiveWatch]:
    """Every active watch whose end is after `now`, oldest first (one row per watch, no ORM objects)."""
    cols = (
        Watch.id,
        Watch.case_ref,
        Watch.purpose,
        Watch.owner,
        Watch.threshold,
        # As text, decoded here only when set: the JSON type's own decoding of every row (most hold null) was
        # most of the time this read took for 10,000 watches.
        type_coerce(Watch.collections, String),
        Watch.from_face_id,
        Watch.webhook_url,
        Watch.probe_sha256,
    )
    stmt = select(*cols).where(Watch.status == "active", Watch.until > now).order_by(Watch.id)
    with store.database.connect() as conn:
        rows = conn.execute(stmt).all()
    return [ActiveWatch(int(i), c, p, o, t, _names(cs), int(f), h, q) for i, c, p, o, t, cs, f, h, q in rows]


def _names(value: Any) -> list[str] | None:
    """A watch's collections as stored: JSON text (SQLite), or already decoded (PostgreSQL's driver)."""
    if isinstance(value, str):
        value = json.loads(value)
    return [str(v) for v in value] if isinstance(value, list) else None


def due_watches(store: Store, now: datetime) -> list[Watch]:
    """Active watches whose end has come (`until` at or before `now`): they expire."""
    with store.session() as s:
        return list(s.scalars(select(Watch).where(Watch.status == "active", Watch.until <= now).order_by(Watch.id)))


def end_watch(store: Store, watch_id: int, status: str, by: str, reason: str, now: datetime) -> Watch | None:
    """End an active watch (stopped or expired) and erase its templates; None (nothing written) when it is not
    active any more."""
    with store.session.begin() as s:
        row = s.get(Watch, watch_id, with_for_update=True)
        if row is None or row.status != "active":
            return None
        row.status, row.ended_at, row.ended_by, row.end_reason = status, now, by, reason
        s.execute(delete(WatchTemplate).where(WatchTemplate.watch_id == watch_id))
    return row


def renew_watch(store: Store, watch_id: int, until: datetime) -> Watch | None:
    """Move an active watch's end; None when it is not active."""
    with store.session.begin() as s:
        row = s.get(Watch, watch_id, with_for_update=True)
        if row is None or row.status != "active":
            return None
        row.until = until
    return row


def template_packs(store: Store, watch_ids: Sequence[int]) -> dict[int, list[str]]:
    """The packs each watch has templates for."""
    out: dict[int, list[str]] = {int(w): [] for w in watch_ids}
    if not out:
        return out
    with store.session() as s:
        for wid, model in s.execute(
            select(WatchTemplate.watch_id, WatchTemplate.model)
            .where(WatchTemplate.watch_id.in_(list(out)))
            .order_by(WatchTemplate.model)
        ):
            out[int(wid)].append(str(model))
    return out


def active_templates(store: Store, model: str, dim: int) -> Templates:
    """The templates of one pack of every active watch (one row per template), read in one join."""
    stmt = (
        select(WatchTemplate.watch_id, WatchTemplate.embedding)
        .join(Watch, Watch.id == WatchTemplate.watch_id)
        .where(Watch.status == "active", WatchTemplate.model == model, WatchTemplate.dim == dim)
        .order_by(WatchTemplate.watch_id)
    )
    with store.database.connect() as conn:
        rows = conn.execute(stmt).all()
    ids = np.fromiter((r[0] for r in rows), np.int64, len(rows))
    if not rows:
        return Templates(ids, np.zeros((0, dim), np.float32))
    return Templates(ids, np.frombuffer(b"".join(r[1] for r in rows), np.float32).reshape(len(rows), dim))


def templates(store: Store, model: str, watch_ids: Sequence[int], dim: int) -> Templates:
    """The templates of one pack of these watches (one row per template)."""
    found = active_templates(store, model, dim)
    keep = np.isin(found.watch_ids, np.asarray(list(watch_ids), np.int64))
    return Templates(found.watch_ids[keep], found.vectors[keep])


def max_face_id(store: Store) -> int:
    """The newest face id of the whole gallery (0 for none): a watch reports only faces after it."""
    with store.database.connect() as conn:
        return int(conn.scalar(select(func.max(Face.id))) or 0)


# New faces and marks ---------------------------------------------------------------------------
def mark(store: Store, collection_id: int) -> int:
    """The newest face of the collection already compared with the watches (0 when none was)."""
    with store.session() as s:
        row = s.get(WatchMark, collection_id)
    return int(row.last_face_id) if row is not None else 0


def advance_mark(store: Store, collection_id: int, last_face_id: int) -> None:
    """Move the collection's mark forward to `last_face_id` (never back: a concurrent check may be ahead)."""
    with store.session.begin() as s:
        row = s.get(WatchMark, collection_id, with_for_update=True)
        if row is None:
            try:
                with s.begin_nested():
                    s.add(WatchMark(collection_id=collection_id, last_face_id=last_face_id))
                return
            except IntegrityError:  # another check created it a moment ago
                row = s.get(WatchMark, collection_id, with_for_update=True)
                if row is None:
                    return
        if row.last_face_id < last_face_id:
            row.last_face_id = last_face_id


def new_faces(
    store: Store, collection_id: int, after: int, dim: int, batch: int = CHUNK
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(ids, embeddings) of the collection's faces with ids above `after`, in id order, `batch` at a time: a
    range read proportional to the new faces only."""
    return store.iter_embeddings(collection_id, dim, batch, after=after)


def face_sources(store: Store, face_ids: Sequence[int]) -> dict[int, tuple[int, int | None]]:
    """Per face: its image and the ingest run that stored it."""
    out: dict[int, tuple[int, int | None]] = {}
    wanted = [int(f) for f in face_ids]
    with store.database.connect() as conn:
        for i in range(0, len(wanted), CHUNK):
            for fid, image_id, job in conn.execute(
                select(Face.id, Face.image_id, Image.job_id)
                .join(Image, Image.id == Face.image_id)
                .where(Face.id.in_(wanted[i : i + CHUNK]))
            ):
                out[int(fid)] = (int(image_id), None if job is None else int(job))
    return out


def collection_ids(store: Store, names: Sequence[str] | None, model: str) -> list[int]:
    """Ids of the named collections of this pack (every collection of it for None)."""
    stmt = select(Collection.id).where(Collection.model == model)
    if names is not None:
        stmt = stmt.where(Collection.name.in_(list(names)))
    with store.session() as s:
        return [int(x) for x in s.scalars(stmt)]


# Hits ------------------------------------------------------------------------------------------
def add_hit(store: Store, hit: NewHit) -> int | None:
    """Insert a hit; its id, or None when the watch already has a hit on this face (a concurrent check, or a
    check run again) or the face was erased meanwhile."""
    try:
        with store.session.begin() as s:
            if s.scalar(select(WatchHit.id).where(WatchHit.watch_id == hit.watch_id, WatchHit.face_id == hit.face_id)):
                return None
            row = WatchHit(
                watch_id=hit.watch_id,
                face_id=hit.face_id,
                image_id=hit.image_id,
                collection=hit.collection,
                score=hit.score,
                fmr=hit.fmr,
                threshold=hit.threshold,
                ingest_job=hit.ingest_job,
                at=hit.at,
            )
            s.add(row)
            s.flush()
            return int(row.id)
    except IntegrityError:
        return None


def set_lead(store: Store, hit_id: int, lead_id: int) -> None:
    with store.session.begin() as s:
        s.execute(update(WatchHit).where(WatchHit.id == hit_id).values(lead_id=lead_id))


def delete_hit(store: Store, hit_id: int) -> None:
    with store.session.begin() as s:
        s.execute(delete(WatchHit).where(WatchHit.id == hit_id))


def hits(store: Store, watch_ids: Sequence[int]) -> list[WatchHit]:
    """The hits of these watches that have their audit entry, oldest first."""
    wanted = [int(w) for w in watch_ids]
    out: list[WatchHit] = []
    with store.session() as s:
        for i in range(0, len(wanted), CHUNK):
            out.extend(
                s.scalars(
                    select(WatchHit).where(WatchHit.watch_id.in_(wanted[i : i + CHUNK]), WatchHit.lead_id.is_not(None))
                )
            )
    return sorted(out, key=lambda h: h.id)


def hit_of(store: Store, watch_id: int, face_id: int) -> WatchHit | None:
    with store.session() as s:
        return s.scalar(select(WatchHit).where(WatchHit.watch_id == watch_id, WatchHit.face_id == face_id))


def hit_counts(store: Store, watch_ids: Sequence[int]) -> dict[int, tuple[int, int]]:
    """Per watch: (hits, hits not yet seen by its owner)."""
    out = {int(w): (0, 0) for w in watch_ids}
    if not out:
        return out
    with store.session() as s:
        for wid, n, unseen in s.execute(
            select(
                WatchHit.watch_id,
                func.count(WatchHit.id),
                func.count(WatchHit.id).filter(WatchHit.seen_at.is_(None)),
            )
            .where(WatchHit.watch_id.in_(list(out)), WatchHit.lead_id.is_not(None))
            .group_by(WatchHit.watch_id)
        ):
            out[int(wid)] = (int(n), int(unseen))
    return out


def unseen_count(store: Store, owner: str) -> int:
    """Hits of the owner's watches the owner has not seen yet."""
    with store.session() as s:
        return int(
            s.scalar(
                select(func.count(WatchHit.id))
                .join(Watch, Watch.id == WatchHit.watch_id)
                .where(Watch.owner == owner, WatchHit.seen_at.is_(None), WatchHit.lead_id.is_not(None))
            )
            or 0
        )


def mark_seen(store: Store, hit_ids: Sequence[int], now: datetime) -> None:
    wanted = [int(h) for h in hit_ids]
    with store.session.begin() as s:
        for i in range(0, len(wanted), CHUNK):
            s.execute(
                update(WatchHit)
                .where(WatchHit.id.in_(wanted[i : i + CHUNK]), WatchHit.seen_at.is_(None))
                .values(seen_at=now)
            )
