"""Tables: collections, images (with provenance), faces, their embeddings, ingest jobs and their failures.

The database is the source of truth: every face's embedding is kept in `face_embeddings` (one durable copy,
outside the `faces` rows that searches and listings read), so a vector index can always be rebuilt or
reconciled from it after a crash. `collection_counters` holds each collection's face count and a change
version, written in the same transaction as every face insert and delete, so a search never counts rows.

Face and image ids are 64-bit (BIGINT on PostgreSQL; on SQLite INTEGER PRIMARY KEY is the 64-bit rowid).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Base(DeclarativeBase):
    pass


# 64-bit ids. SQLite keeps plain INTEGER: only "INTEGER PRIMARY KEY" aliases the (already 64-bit) rowid.
Id64 = BigInteger().with_variant(Integer(), "sqlite")


class Collection(Base):
    __tablename__ = "collections"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    model: Mapped[str] = mapped_column(String(64))
    model_version: Mapped[str] = mapped_column(String(200))
    dim: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    source: Mapped[str | None] = mapped_column(Text, nullable=True)
    legal_basis: Mapped[str | None] = mapped_column(String(64), nullable=True)
    legal_basis_note: Mapped[str | None] = mapped_column(Text, nullable=True)
    owner: Mapped[str | None] = mapped_column(String(200), nullable=True)
    retention_days: Mapped[int | None] = mapped_column(Integer, nullable=True)
    keep_until_deleted: Mapped[bool] = mapped_column(Boolean, default=True)


class IngestJob(Base):
    __tablename__ = "ingest_jobs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    collection_id: Mapped[int] = mapped_column(ForeignKey("collections.id", ondelete="CASCADE"))
    source: Mapped[str] = mapped_column(Text)
    model: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    status: Mapped[str] = mapped_column(String(20), default="running")
    counts: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    owner: Mapped[str | None] = mapped_column(String(200), nullable=True)  # host:pid of the process running it


class Image(Base):
    __tablename__ = "images"
    __table_args__ = (UniqueConstraint("collection_id", "sha256", name="uq_image_collection_sha"),)
    id: Mapped[int] = mapped_column(Id64, primary_key=True)
    collection_id: Mapped[int] = mapped_column(ForeignKey("collections.id", ondelete="CASCADE"), index=True)
    sha256: Mapped[str] = mapped_column(String(64))
    path: Mapped[str | None] = mapped_column(Text, nullable=True)
    source_url: Mapped[str | None] = mapped_column(Text, nullable=True)
    meta: Mapped[dict[str, Any] | None] = mapped_column("metadata", JSON, nullable=True)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    face_count: Mapped[int] = mapped_column(Integer, default=0)
    job_id: Mapped[int | None] = mapped_column(ForeignKey("ingest_jobs.id", ondelete="SET NULL"), nullable=True)
    manifest_row: Mapped[int | None] = mapped_column(Integer, nullable=True)
    ingested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)


class Face(Base):
    __tablename__ = "faces"
    # AUTOINCREMENT on SQLite: a deleted face's id is never given to a new face, so a vector index that
    # still holds the old id can never mistake it for the new one.
    __table_args__ = {"sqlite_autoincrement": True}
    id: Mapped[int] = mapped_column(Id64, primary_key=True)
    image_id: Mapped[int] = mapped_column(Id64, ForeignKey("images.id", ondelete="CASCADE"), index=True)
    collection_id: Mapped[int] = mapped_column(ForeignKey("collections.id", ondelete="CASCADE"), index=True)
    face_index: Mapped[int] = mapped_column(Integer)
    x1: Mapped[float] = mapped_column(Float)
    y1: Mapped[float] = mapped_column(Float)
    x2: Mapped[float] = mapped_column(Float)
    y2: Mapped[float] = mapped_column(Float)
    landmarks: Mapped[list[Any]] = mapped_column(JSON)
    det_score: Mapped[float] = mapped_column(Float)
    quality: Mapped[float] = mapped_column(Float)
    quality_reasons: Mapped[list[Any]] = mapped_column(JSON)
    thumbnail: Mapped[str] = mapped_column(Text)


class FaceEmbedding(Base):
    """The one durable copy of a face's embedding (float32 bytes, the collection's `dim` of them), apart from
    the `faces` rows so that reading faces never drags the vectors along. Read in bulk, by collection and
    id order, when an index is built or reconciled."""

    __tablename__ = "face_embeddings"
    face_id: Mapped[int] = mapped_column(
        Id64, ForeignKey("faces.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    collection_id: Mapped[int] = mapped_column(Integer)
    embedding: Mapped[bytes] = mapped_column(LargeBinary)


class CollectionCounter(Base):
    """A collection's face count and change version. Every transaction that inserts or deletes faces adds
    to `faces` and increments `version` (UPDATE ... SET faces = faces + n, so concurrent writers in several
    processes add up exactly); `Store.recount` recomputes them from the rows."""

    __tablename__ = "collection_counters"
    collection_id: Mapped[int] = mapped_column(
        ForeignKey("collections.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    faces: Mapped[int] = mapped_column(BigInteger, default=0)
    version: Mapped[int] = mapped_column(BigInteger, default=0)


class IngestFailure(Base):
    __tablename__ = "ingest_failures"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("ingest_jobs.id", ondelete="CASCADE"), index=True)
    path: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(String(64))
    detail: Mapped[str | None] = mapped_column(Text, nullable=True)


Index("ix_faces_collection_id_id", Face.collection_id, Face.id)
Index("ix_face_embeddings_collection_id_face_id", FaceEmbedding.collection_id, FaceEmbedding.face_id)
