"""Reading the gallery: collections, one image with its faces, faces with their image and collection for
result display, and the counts of `stats`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from ..errors import CollectionError
from .base import CHUNK, StoreBase
from .schema import Collection, CollectionCounter, Face, FaceEmbedding, Image
from .video_tables import VideoFace, VideoTrack


class GalleryRows(StoreBase):
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

    # Faces for display -------------------------------------------------------------------------
    def face_details(self, face_ids: Sequence[int], *, embeddings: bool = False) -> dict[int, dict[str, Any]]:
        """Face, image and collection fields for result display, keyed by face id; with `embeddings`, each
        face's embedding too (raw float32 bytes under "embedding"), in the same query. A face seen in a video
        has its time, frame number and track (number, start, end) under "video"; a photo's face None."""
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
            VideoFace.time,
            VideoFace.frame,
            VideoTrack.track,
            VideoTrack.start,
            VideoTrack.end,
        ]
        query = select(*columns, *([FaceEmbedding.embedding] if embeddings else []))
        query = query.join(Image, Image.id == Face.image_id).join(Collection, Collection.id == Face.collection_id)
        query = query.outerjoin(VideoFace, VideoFace.face_id == Face.id).outerjoin(
            VideoTrack, VideoTrack.id == VideoFace.track_id
        )
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
                "video": None
                if r[13] is None
                else {"time": r[13], "frame": r[14], "track": r[15], "start": r[16], "end": r[17]},
            }
            if embeddings:
                out[int(r[0])]["embedding"] = r[18]
        return out

    # Stats -------------------------------------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        """Images, faces, images without a face, and per collection (by name) its pack, images and faces."""
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
                {"name": n, "model": m, "created_at": iso(c), "images": int(i), "faces": int(f)}
                for n, m, c, i, f in per
            ],
        }


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None
