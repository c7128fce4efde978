"""Metadata store: SQLAlchemy over SQLite by default (PostgreSQL by URL), hot paths in Core, batched."""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import create_engine, delete, event, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.orm import Session, sessionmaker

from ..errors import CollectionError
from ..records import NewImage
from . import migrate
from .schema import Collection, CollectionCounter, Face, FaceEmbedding, Image, IngestFailure, IngestJob, utcnow

# Ids per IN (...) list: under SQLite's default limit of bound parameters, and a sane statement size elsewhere.
CHUNK = 900


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    # The busy timeout first: switching a new file to WAL takes a lock, and two processes opening the same
    # new home at once would otherwise fail at once instead of waiting.
    cur.execute("PRAGMA busy_timeout=60000")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


class Store:
    def __init__(self, url: str, *, auto_upgrade: bool = True, pool_size: int | None = None) -> None:
        """Open the store at `url`, bringing its schema to this version's revision.

        With `auto_upgrade=False` a database that is not at that revision (new, made by 0.1.0, or older)
        raises SchemaError instead of being migrated; one written by a newer facesearch always does.
        `pool_size`: connections kept open to a server database (PostgreSQL; default 5), as many again
        opened for bursts.
        """
        self.url = url
        if url.startswith("sqlite:///"):
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        parsed = make_url(url)
        options: dict[str, Any] = {}
        if parsed.drivername in ("postgresql", "postgres"):
            # psycopg (3) is the driver this package installs; a bare postgresql:// would ask for psycopg2.
            parsed = parsed.set(drivername="postgresql+psycopg")
        if parsed.get_backend_name() != "sqlite":
            size = pool_size or 5
            # pre_ping: a connection the server closed (restart, idle timeout) is replaced, not handed out.
            options.update(pool_size=size, max_overflow=size, pool_pre_ping=True)
        # hide_parameters: an error's text (a traceback, a log line) names the statement, never the values
        # being written (an audit entry's candidates, an embedding).
        self.database: Engine = create_engine(parsed, future=True, hide_parameters=True, **options)
        if parsed.get_backend_name() == "sqlite":
            event.listen(self.database, "connect", _sqlite_pragmas)
        try:
            migrate.ensure(self.database, auto_upgrade=auto_upgrade)
        except BaseException:
            self.database.dispose()
            raise
        self.session: sessionmaker[Session] = sessionmaker(self.database, expire_on_commit=False)

    def close(self) -> None:
        self.database.dispose()

    # Collections -------------------------------------------------------------------------------
    def get_collection(self, name: str) -> Collection | None:
        with self.session() as s:
            return s.scalar(select(Collection).where(Collection.name == name))

    def require_collection(self, name: str) -> Collection:
        col = self.get_collection(name)
        if col is None:
            raise CollectionError(f"no collection named {name!r}")
        return col

    def create_collection(self, name: str, model: str, model_version: str, dim: int, **fields: Any) -> Collection:
        with self.session.begin() as s:
            col = Collection(name=name, model=model, model_version=model_version, dim=dim, **fields)
            s.add(col)
            s.flush()
            s.add(CollectionCounter(collection_id=col.id, faces=0, version=0))
        return col

    def list_collections(self) -> list[Collection]:
        with self.session() as s:
            return list(s.scalars(select(Collection).order_by(Collection.name)))

    def collections_by_id(self) -> dict[int, Collection]:
        return {c.id: c for c in self.list_collections()}

    # Ingest ------------------------------------------------------------------------------------
    def start_job(self, collection_id: int, source: str, model: str) -> int:
        with self.session.begin() as s:
            job = IngestJob(collection_id=collection_id, source=source, model=model, owner=process_id())
            s.add(job)
            s.flush()
            return job.id

    def running_jobs(self) -> list[tuple[int, str | None]]:
        """(id, owner) of the ingest runs recorded as still running."""
        with self.session() as s:
            return [
                (int(i), o)
                for i, o in s.execute(select(IngestJob.id, IngestJob.owner).where(IngestJob.status == "running"))
            ]

    def mark_interrupted(self, job_ids: Sequence[int]) -> None:
        """Close runs whose process died: status interrupted, their counts left as last written."""
        if job_ids:
            with self.session.begin() as s:
                s.execute(
                    update(IngestJob)
                    .where(IngestJob.id.in_(list(job_ids)))
                    .values(status="interrupted", finished_at=utcnow())
                )

    def finish_job(self, job_id: int, status: str, counts: dict[str, int]) -> None:
        with self.session.begin() as s:
            s.execute(
                update(IngestJob)
                .where(IngestJob.id == job_id)
                .values(status=status, counts=counts, finished_at=utcnow())
            )

    def recent_ingest_jobs(self, limit: int = 20) -> list[dict[str, Any]]:
        """The newest ingest runs (from any process: the CLI's too), with their collection's name."""
        with self.database.connect() as conn:
            rows = conn.execute(
                select(
                    IngestJob.id,
                    Collection.name,
                    IngestJob.source,
                    IngestJob.model,
                    IngestJob.status,
                    IngestJob.counts,
                    IngestJob.started_at,
                    IngestJob.finished_at,
                )
                .join(Collection, Collection.id == IngestJob.collection_id)
                .order_by(IngestJob.id.desc())
                .limit(limit)
            ).all()
        return [
            {
                "id": i,
                "collection": c,
                "source": src,
                "model": m,
                "status": st,
                "counts": counts or {},
                "started": _iso(sa),
                "finished": _iso(fa),
            }
            for i, c, src, m, st, counts, sa, fa in rows
        ]

    def record_failures(self, job_id: int, failures: list[tuple[str, str, str]]) -> None:
        if not failures:
            return
        with self.session.begin() as s:
            s.execute(
                insert(IngestFailure), [{"job_id": job_id, "path": p, "reason": r, "detail": d} for p, r, d in failures]
            )

    def known_hashes(self, collection_id: int, hashes: Sequence[str]) -> set[str]:
        found: set[str] = set()
        with self.database.connect() as conn:
            for i in range(0, len(hashes), 500):
                chunk = list(hashes[i : i + 500])
                found.update(
                    conn.scalars(
                        select(Image.sha256).where(Image.collection_id == collection_id, Image.sha256.in_(chunk))
                    )
                )
        return found

    def add_images(
        self, collection_id: int, job_id: int | None, images: Sequence[NewImage]
    ) -> list[tuple[int | None, list[int]]]:
        """Insert images and their faces in one transaction.

        Returns, per input image, (image id, face ids); image id is None when the same bytes were already
        in the collection (a concurrent writer or an earlier run got there first) or earlier in `images`.
        """
        if not images:
            return []
        firsts: dict[str, NewImage] = {}
        for img in images:
            firsts.setdefault(img.sha256, img)
        now = utcnow()
        with self.database.begin() as conn:
            # One multi-row statement per table. Conflicting images return no row, so ids map back by hash.
            # Rows go in hash order: two writers inserting overlapping batches then wait for each other on
            # the unique index in the same order, never in a cycle (a deadlock on PostgreSQL).
            rows = conn.execute(
                self._insert_image_stmt().returning(Image.id, Image.sha256),
                [
                    {
                        "collection_id": collection_id,
                        "sha256": img.sha256,
                        "path": img.path,
                        "source_url": img.source_url,
                        "metadata": img.meta,
                        "width": img.width,
                        "height": img.height,
                        "face_count": len(img.faces),
                        "job_id": job_id,
                        "manifest_row": img.manifest_row,
                        "ingested_at": now,
                    }
                    for _, img in sorted(firsts.items())
                ],
            ).all()
            image_ids = {sha: int(i) for i, sha in rows}
            kept = [img for img in images if img.sha256 in image_ids and firsts[img.sha256] is img]
            new_faces = [(image_ids[img.sha256], f) for img in kept for f in img.faces]
            faces = [
                {
                    "image_id": image_id,
                    "collection_id": collection_id,
                    "face_index": f.face_index,
                    "x1": float(f.box[0]),
                    "y1": float(f.box[1]),
                    "x2": float(f.box[2]),
                    "y2": float(f.box[3]),
                    "landmarks": f.landmarks,
                    "det_score": float(f.det_score),
                    "quality": float(f.quality),
                    "quality_reasons": f.reasons,
                    "thumbnail": f.thumbnail,
                }
                for image_id, f in new_faces
            ]
            face_ids = (
                [int(r[0]) for r in conn.execute(insert(Face).returning(Face.id, sort_by_parameter_order=True), faces)]
                if faces
                else []
            )
            if face_ids:
                conn.execute(
                    insert(FaceEmbedding),
                    [
                        {
                            "face_id": fid,
                            "collection_id": collection_id,
                            "embedding": np.asarray(f.embedding, np.float32).tobytes(),
                        }
                        for fid, (_, f) in zip(face_ids, new_faces, strict=True)
                    ],
                )
                self._count(conn, {collection_id: len(face_ids)})
        out: list[tuple[int | None, list[int]]] = []
        taken = 0
        for img in images:
            if img.sha256 not in image_ids or firsts[img.sha256] is not img:
                out.append((None, []))
                continue
            out.append((image_ids[img.sha256], face_ids[taken : taken + len(img.faces)]))
            taken += len(img.faces)
        return out

    def _insert_image_stmt(self) -> Any:
        dialect_insert = sqlite_insert if self.database.dialect.name == "sqlite" else pg_insert
        return dialect_insert(Image).on_conflict_do_nothing(index_elements=["collection_id", "sha256"])

    def _count(self, conn: Connection, deltas: dict[int, int]) -> None:
        """Add to the face counters of collections and advance their versions, inside the caller's transaction.

        `faces = faces + n` is computed by the database on the row as it stands when the write lock on it is
        taken, so writers in several processes add up exactly. Collections in id order: transactions that
        touch several lock their rows in one order, never in a cycle."""
        dialect_insert = sqlite_insert if self.database.dialect.name == "sqlite" else pg_insert
        for collection_id in sorted(deltas):
            stmt = dialect_insert(CollectionCounter).values(
                collection_id=collection_id, faces=deltas[collection_id], version=1
            )
            conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=["collection_id"],
                    set_={
                        "faces": CollectionCounter.faces + stmt.excluded.faces,
                        "version": CollectionCounter.version + 1,
                    },
                )
            )

    # Faces and vectors -------------------------------------------------------------------------
    def face_id_stats(self, collection_id: int) -> tuple[int, int, int]:
        """(count, max id, sum of ids): a cheap fingerprint to compare with a vector index."""
        with self.database.connect() as conn:
            row = conn.execute(
                select(func.count(Face.id), func.max(Face.id), func.sum(Face.id)).where(
                    Face.collection_id == collection_id
                )
            ).one()
        return int(row[0] or 0), int(row[1] or 0), int(row[2] or 0)

    def face_ids(self, collection_id: int) -> np.ndarray:
        with self.database.connect() as conn:
            ids = conn.scalars(select(Face.id).where(Face.collection_id == collection_id)).all()
        return np.asarray(ids, np.int64)

    def embeddings(self, face_ids: Sequence[int], dim: int) -> np.ndarray:
        """Embeddings for the given ids, in that order (KeyError for an id without one)."""
        rows: dict[int, bytes] = {}
        with self.database.connect() as conn:
            for i in range(0, len(face_ids), CHUNK):
                chunk = [int(x) for x in face_ids[i : i + CHUNK]]
                query = select(FaceEmbedding.face_id, FaceEmbedding.embedding).where(FaceEmbedding.face_id.in_(chunk))
                rows.update({int(r[0]): r[1] for r in conn.execute(query)})
        out = np.empty((len(face_ids), dim), np.float32)
        for j, fid in enumerate(face_ids):
            out[j] = np.frombuffer(rows[int(fid)], np.float32)
        return out

    def iter_embeddings(
        self, collection_id: int, dim: int, batch: int = 20000
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """A collection's (ids, embeddings) in id order, `batch` rows at a time (keyset pagination)."""
        last = -1
        with self.database.connect() as conn:
            while True:
                rows = conn.execute(
                    select(FaceEmbedding.face_id, FaceEmbedding.embedding)
                    .where(FaceEmbedding.collection_id == collection_id, FaceEmbedding.face_id > last)
                    .order_by(FaceEmbedding.face_id)
                    .limit(batch)
                ).all()
                if not rows:
                    return
                ids = np.fromiter((r[0] for r in rows), np.int64, len(rows))
                vecs = np.frombuffer(b"".join(r[1] for r in rows), np.float32).reshape(len(rows), dim)
                yield ids, vecs
                last = int(ids[-1])

    # Gallery counters -------------------------------------------------------------------------
    def gallery_size(self, collection_ids: Sequence[int]) -> int:
        """Faces in these collections, from their counters (no count over the faces)."""
        if not collection_ids:
            return 0
        with self.database.connect() as conn:
            return int(
                conn.scalar(
                    select(func.sum(CollectionCounter.faces)).where(
                        CollectionCounter.collection_id.in_([int(c) for c in collection_ids])
                    )
                )
                or 0
            )

    def index_state(self, collection_id: int) -> tuple[int, int]:
        """(faces, version) of a collection: the version advances with every transaction that adds or deletes
        any of its faces, so an index that recorded it knows, by one primary-key read, whether it is current."""
        with self.database.connect() as conn:
            row = conn.execute(
                select(CollectionCounter.faces, CollectionCounter.version).where(
                    CollectionCounter.collection_id == collection_id
                )
            ).first()
        return (int(row[0]), int(row[1])) if row is not None else (0, 0)

    def recount(self, collection_ids: Sequence[int] | None = None, *, fix: bool = True) -> dict[int, tuple[int, int]]:
        """Compare the face counters with the rows (all collections by default); returns the collections whose
        counter is wrong, as {id: (counter, rows)}. With `fix` (the default) each is set right and its version
        advanced, so indexes that recorded the old version look again.

        Fixing, each collection is counted in its own transaction, whose first statement takes the counter's
        write lock: a concurrent ingest either committed before the count (and is in it) or adds its faces
        after it."""
        if collection_ids is None:
            with self.database.connect() as conn:
                collection_ids = [int(c) for c in conn.scalars(select(Collection.id).order_by(Collection.id))]
        wrong: dict[int, tuple[int, int]] = {}
        for collection_id in collection_ids:
            with self.database.begin() as conn:
                locked = 1
                if fix:
                    locked = conn.execute(
                        update(CollectionCounter)
                        .where(CollectionCounter.collection_id == collection_id)
                        .values(version=CollectionCounter.version)
                    ).rowcount
                    if not locked:  # a collection created without one (by hand, or by an old build)
                        self._count(conn, {collection_id: 0})
                counter = int(
                    conn.scalar(select(CollectionCounter.faces).where(CollectionCounter.collection_id == collection_id))
                    or 0
                )
                rows = int(conn.scalar(select(func.count(Face.id)).where(Face.collection_id == collection_id)) or 0)
                if counter != rows:
                    wrong[int(collection_id)] = (counter, rows)
                if fix and (counter != rows or not locked):
                    conn.execute(
                        update(CollectionCounter)
                        .where(CollectionCounter.collection_id == collection_id)
                        .values(faces=rows, version=CollectionCounter.version + 1)
                    )
        return wrong

    def face_details(self, face_ids: Sequence[int], *, embeddings: bool = False) -> dict[int, dict[str, Any]]:
        """Face, image and collection fields for result display, keyed by face id; with `embeddings`, each
        face's embedding too (raw float32 bytes under "embedding"), in the same query."""
        out: dict[int, dict[str, Any]] = {}
        if not face_ids:
            return out
        columns: list[Any] = [
            Face.id,
            Face.image_id,
            Face.x1,
            Face.y1,
            Face.x2,
            Face.y2,
            Face.quality,
            Face.thumbnail,
            Image.path,
            Image.source_url,
            Image.meta,
            Image.sha256,
            Collection.name,
        ]
        query = select(*columns, *([FaceEmbedding.embedding] if embeddings else []))
        query = query.join(Image, Image.id == Face.image_id).join(Collection, Collection.id == Face.collection_id)
        if embeddings:
            query = query.join(FaceEmbedding, FaceEmbedding.face_id == Face.id)
        wanted = [int(x) for x in face_ids]
        rows: list[Any] = []
        with self.database.connect() as conn:
            # In chunks: SQLite allows 32,766 bound values per statement (a people page may ask for all faces).
            for i in range(0, len(wanted), CHUNK):
                rows.extend(conn.execute(query.where(Face.id.in_(wanted[i : i + CHUNK]))).all())
        for r in rows:
            out[int(r[0])] = {
                "face_id": int(r[0]),
                "image_id": int(r[1]),
                "box": [r[2], r[3], r[4], r[5]],
                "quality": r[6],
                "thumbnail": r[7],
                "path": r[8],
                "source_url": r[9],
                "metadata": r[10] or {},
                "sha256": r[11],
                "collection": r[12],
            }
            if embeddings:
                out[int(r[0])]["embedding"] = r[13]
        return out

    # Deletion ----------------------------------------------------------------------------------
    def delete_images(self, image_ids: Sequence[int]) -> tuple[int, list[tuple[int, int, str]]]:
        """Delete images and their faces; returns (images deleted, [(collection id, face id, thumbnail)])."""
        ids = [int(i) for i in image_ids]
        with self.database.begin() as conn:
            removed = conn.execute(
                select(Face.collection_id, Face.id, Face.thumbnail).where(Face.image_id.in_(ids))
            ).all()
            self._delete_face_rows(conn, [(int(c), int(f)) for c, f, _ in removed])
            images = conn.execute(delete(Image).where(Image.id.in_(ids))).rowcount
        return int(images or 0), [(int(c), int(f), str(t)) for c, f, t in removed]

    def delete_faces(self, face_ids: Sequence[int]) -> tuple[list[tuple[int, int, str, int]], list[int]]:
        """Delete single faces in one transaction, updating their images' face counts.

        Returns ([(collection id, face id, thumbnail, image id)] of the faces deleted, [ids of the images
        left with no face]); those images stay, for the caller to erase as it erases images."""
        ids = [int(i) for i in face_ids]
        with self.database.begin() as conn:
            rows = conn.execute(
                select(Face.collection_id, Face.id, Face.thumbnail, Face.image_id).where(Face.id.in_(ids))
            ).all()
            self._delete_face_rows(conn, [(int(r[0]), int(r[1])) for r in rows])
            image_ids = sorted({int(r[3]) for r in rows})
            left = dict(
                conn.execute(
                    select(Face.image_id, func.count(Face.id))
                    .where(Face.image_id.in_(image_ids))
                    .group_by(Face.image_id)
                ).all()
            )
            emptied = []
            for image_id in image_ids:
                n = int(left.get(image_id, 0))
                if n == 0:
                    emptied.append(image_id)
                else:
                    conn.execute(update(Image).where(Image.id == image_id).values(face_count=n))
        return [(int(c), int(f), str(t), int(i)) for c, f, t, i in rows], emptied

    def _delete_face_rows(self, conn: Connection, faces: Sequence[tuple[int, int]]) -> None:
        """Delete (collection id, face id) rows with their embeddings, and count them off, in the caller's
        transaction. The embeddings go explicitly, not only by the foreign key's cascade: a SQLite connection
        opened elsewhere may have foreign keys off."""
        ids = [f for _, f in faces]
        for i in range(0, len(ids), CHUNK):
            chunk = ids[i : i + CHUNK]
            conn.execute(delete(FaceEmbedding).where(FaceEmbedding.face_id.in_(chunk)))
            conn.execute(delete(Face).where(Face.id.in_(chunk)))
        deltas: dict[int, int] = {}
        for collection_id, _ in faces:
            deltas[collection_id] = deltas.get(collection_id, 0) - 1
        if deltas:
            self._count(conn, deltas)

    # Reading one image -------------------------------------------------------------------------
    def image_with_collection(self, image_id: int) -> tuple[Image, str] | None:
        """An image row and its collection's name, or None."""
        with self.session() as s:
            row = s.execute(
                select(Image, Collection.name)
                .join(Collection, Collection.id == Image.collection_id)
                .where(Image.id == image_id)
            ).first()
        return (row[0], str(row[1])) if row is not None else None

    def image_faces(self, image_id: int) -> list[Face]:
        with self.session() as s:
            return list(s.scalars(select(Face).where(Face.image_id == image_id).order_by(Face.face_index)))

    def paths_under(self, prefix: str) -> set[str]:
        """Image paths that start with `prefix` (the uploads of one staging folder that became images)."""
        with self.session() as s:
            return {str(p) for p in s.scalars(select(Image.path).where(Image.path.like(f"{prefix}%")))}

    # Stats -------------------------------------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        with self.database.connect() as conn:
            images = conn.scalar(select(func.count(Image.id))) or 0
            faces = conn.scalar(select(func.count(Face.id))) or 0
            no_face = conn.scalar(select(func.count(Image.id)).where(Image.face_count == 0)) or 0
            per = conn.execute(
                select(
                    Collection.name,
                    Collection.model,
                    Collection.created_at,
                    select(func.count(Image.id)).where(Image.collection_id == Collection.id).scalar_subquery(),
                    select(func.count(Face.id)).where(Face.collection_id == Collection.id).scalar_subquery(),
                ).order_by(Collection.name)
            ).all()
        return {
            "images": int(images),
            "faces": int(faces),
            "images_without_faces": int(no_face),
            "collections": [
                {"name": n, "model": m, "created_at": _iso(c), "images": int(i), "faces": int(f)}
                for n, m, c, i, f in per
            ],
        }


def process_id() -> str:
    """This process as the owner of an ingest run: host and pid."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))
