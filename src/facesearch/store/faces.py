"""Writing and reading face rows: images and their faces in one transaction per batch, the durable embeddings,
each collection's face counter and change version, and deletion that keeps the counters exact."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.engine import Connection

from ..records import NewFace, NewImage
from .base import CHUNK, StoreBase
from .people_tables import PersonFace
from .schema import Collection, CollectionCounter, Face, FaceEmbedding, Image, utcnow
from .video_tables import Video, VideoFace, VideoTrack
from .watch_tables import WatchHit


def face_row(image_id: int, collection_id: int, f: NewFace) -> dict[str, Any]:
    """A `faces` row for a face found in a photo or a video frame."""
    return {
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


class FaceRows(StoreBase):
    # Images and faces --------------------------------------------------------------------------
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
            faces = [face_row(image_id, collection_id, f) for image_id, f in new_faces]
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
        return self._dialect_insert(Image).on_conflict_do_nothing(index_elements=["collection_id", "sha256"])

    def _count(self, conn: Connection, deltas: dict[int, int]) -> None:
        """Add to the face counters of collections and advance their versions, inside the caller's transaction.

        `faces = faces + n` is computed by the database on the row as it stands when the write lock on it is
        taken, so writers in several processes add up exactly. Collections in id order: transactions that
        touch several lock their rows in one order, never in a cycle."""
        for collection_id in sorted(deltas):
            stmt = self._dialect_insert(CollectionCounter).values(
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
        self, collection_id: int, dim: int, batch: int = 20000, after: int = -1
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """A collection's (ids, embeddings) in id order, `batch` rows at a time (keyset pagination), of the faces
        with ids above `after` (all by default): an index range read on (collection_id, face_id)."""
        last = after
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

    # Deletion ----------------------------------------------------------------------------------
    def delete_images(self, image_ids: Sequence[int]) -> tuple[int, list[tuple[int, int, str]]]:
        """Delete images and their faces; returns (images deleted, [(collection id, face id, thumbnail)])."""
        ids = [int(i) for i in image_ids]
        with self.database.begin() as conn:
            removed = conn.execute(
                select(Face.collection_id, Face.id, Face.thumbnail).where(Face.image_id.in_(ids))
            ).all()
            self._delete_face_rows(conn, [(int(c), int(f)) for c, f, _ in removed])
            # A video's tracks and scan state go with it (explicitly, as the embeddings do).
            conn.execute(delete(VideoTrack).where(VideoTrack.image_id.in_(ids)))
            conn.execute(delete(Video).where(Video.image_id.in_(ids)))
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
            # A video's track whose every face went goes too: it would be times without a face.
            conn.execute(
                delete(VideoTrack).where(
                    VideoTrack.image_id.in_(image_ids),
                    ~select(VideoFace.face_id).where(VideoFace.track_id == VideoTrack.id).exists(),
                )
            )
            emptied = []
            for image_id in image_ids:
                n = int(left.get(image_id, 0))
                if n == 0:
                    emptied.append(image_id)
                else:
                    conn.execute(update(Image).where(Image.id == image_id).values(face_count=n))
        return [(int(c), int(f), str(t), int(i)) for c, f, t, i in rows], emptied

    def forget_freed(self) -> bool:
        """After an erasure: SQLite's write-ahead log still holds earlier versions of the pages the erasure
        changed (an embedding as it was ingested); a checkpoint that truncates the log moves the zeroed pages
        into the file and drops the old frames. False when a reader kept it from finishing (the log is then
        truncated by a later checkpoint; `doctor` reports a log that still holds frames)."""
        if self.database.dialect.name != "sqlite":
            return True
        with self.database.connect() as conn:
            # A truncating checkpoint waits for readers: a short wait here, not the 60 s every statement gets,
            # so an erasure is not held up by a long search (a later checkpoint finishes the job).
            before = int(conn.exec_driver_sql("PRAGMA busy_timeout").scalar() or 0)
            conn.exec_driver_sql("PRAGMA busy_timeout=2000")
            try:
                busy = conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").first()
            finally:
                conn.exec_driver_sql(f"PRAGMA busy_timeout={before}")
        return not busy or int(busy[0]) == 0

    def _delete_face_rows(self, conn: Connection, faces: Sequence[tuple[int, int]]) -> None:
        """Delete (collection id, face id) rows with their embeddings (and a video face's time), their place in
        a person and their watch hits, and count them off, in the caller's transaction. Those go explicitly, not
        only by the foreign keys' cascade: a SQLite connection opened elsewhere may have foreign keys off."""
        ids = [f for _, f in faces]
        for i in range(0, len(ids), CHUNK):
            chunk = ids[i : i + CHUNK]
            conn.execute(delete(FaceEmbedding).where(FaceEmbedding.face_id.in_(chunk)))
            conn.execute(delete(VideoFace).where(VideoFace.face_id.in_(chunk)))
            conn.execute(delete(PersonFace).where(PersonFace.face_id.in_(chunk)))
            conn.execute(delete(WatchHit).where(WatchHit.face_id.in_(chunk)))
            conn.execute(delete(Face).where(Face.id.in_(chunk)))
        deltas: dict[int, int] = {}
        for collection_id, _ in faces:
            deltas[collection_id] = deltas.get(collection_id, 0) - 1
        if deltas:
            self._count(conn, deltas)
