"""Tables of standing searches and case authorisations.

- `watches`: a standing search under a case and purpose, owned by the examiner who added it, running until its
  `until` (or until stopped); `from_face_id` is the newest face when it was added, so it never reports a face
  ingested before it.
- `watch_templates`: the probe's face embedded with each model pack the watch covers (never the photo). They go
  when the watch ends.
- `watch_hits`: a new face at or above a watch's threshold; `lead_id` is its `watch_hit` audit entry, which the
  two-person review refers to as it refers to a search. A hit goes with its face (ON DELETE CASCADE): an erased
  or opted-out face is no longer shown; the audit log keeps the record.
- `watch_marks`: per collection, the newest face an ingest's check has compared with the watches, so each check
  reads only the faces committed since (never the gallery).
- `case_authorisations`: the judicial or administrative authorisation of a case (authority, reference, validity,
  the document's hash). Never deleted: reports name them.
- `purpose_authorisations`: a purpose that requires a live authorisation of the case, and how many hours a use
  may precede it (urgency). A purpose's rule is set when the purpose is added and never changes, so past uses
  keep their meaning.
- `urgent_uses`: when a case first used a purpose under urgency; the urgent window runs from there.
- `proposal_assignments`: the reviewer a proposal is assigned to (the only one who may then decide it).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from .schema import Base, Id64, utcnow


class Watch(Base):
    __tablename__ = "watches"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_ref: Mapped[str] = mapped_column(String(200), index=True)
    purpose: Mapped[str] = mapped_column(Text)  # as given: CODE or "CODE: note"
    owner: Mapped[str] = mapped_column(String(100), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    until: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    threshold: Mapped[float | None] = mapped_column(Float, nullable=True)  # None: the search's own 1:N decision
    collections: Mapped[list[Any] | None] = mapped_column(JSON, nullable=True)  # None: every collection
    face: Mapped[int] = mapped_column(Integer, default=0)
    probe_sha256: Mapped[str] = mapped_column(String(64))
    from_face_id: Mapped[int] = mapped_column(BigInteger, default=0)
    status: Mapped[str] = mapped_column(String(20), default="active", index=True)  # active, stopped, expired
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    ended_by: Mapped[str | None] = mapped_column(String(100), nullable=True)
    end_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    webhook_url: Mapped[str | None] = mapped_column(Text, nullable=True)  # never shown, logged or audited


class WatchTemplate(Base):
    __tablename__ = "watch_templates"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    watch_id: Mapped[int] = mapped_column(ForeignKey("watches.id", ondelete="CASCADE"), index=True)
    model: Mapped[str] = mapped_column(String(64), index=True)
    model_version: Mapped[str] = mapped_column(String(200))
    dim: Mapped[int] = mapped_column(Integer)
    embedding: Mapped[bytes] = mapped_column(LargeBinary)


class WatchHit(Base):
    __tablename__ = "watch_hits"
    __table_args__ = (UniqueConstraint("watch_id", "face_id", name="uq_watch_hit"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    watch_id: Mapped[int] = mapped_column(ForeignKey("watches.id", ondelete="CASCADE"))
    face_id: Mapped[int] = mapped_column(Id64, ForeignKey("faces.id", ondelete="CASCADE"), index=True)
    image_id: Mapped[int] = mapped_column(Id64)
    collection: Mapped[str] = mapped_column(String(200))
    score: Mapped[float] = mapped_column(Float)
    fmr: Mapped[float] = mapped_column(Float)
    threshold: Mapped[float] = mapped_column(Float)
    ingest_job: Mapped[int | None] = mapped_column(Integer, nullable=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    lead_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    seen_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class WatchMark(Base):
    __tablename__ = "watch_marks"
    collection_id: Mapped[int] = mapped_column(
        ForeignKey("collections.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    last_face_id: Mapped[int] = mapped_column(BigInteger, default=0)


class CaseAuthorisation(Base):
    __tablename__ = "case_authorisations"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_ref: Mapped[str] = mapped_column(String(200), index=True)
    authority: Mapped[str] = mapped_column(Text)
    reference: Mapped[str] = mapped_column(Text)
    granted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    document_name: Mapped[str | None] = mapped_column(Text, nullable=True)
    document_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    recorded_by: Mapped[str] = mapped_column(String(100))
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class PurposeAuthorisation(Base):
    __tablename__ = "purpose_authorisations"
    code: Mapped[str] = mapped_column(ForeignKey("purposes.code", ondelete="CASCADE"), primary_key=True)
    urgent_hours: Mapped[int | None] = mapped_column(Integer, nullable=True)


class UrgentUse(Base):
    __tablename__ = "urgent_uses"
    case_ref: Mapped[str] = mapped_column(String(200), primary_key=True)
    purpose: Mapped[str] = mapped_column(String(64), primary_key=True)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    started_by: Mapped[str] = mapped_column(String(100))


class ProposalAssignment(Base):
    __tablename__ = "proposal_assignments"
    proposal_id: Mapped[int] = mapped_column(
        ForeignKey("proposals.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    reviewer: Mapped[str] = mapped_column(String(100))
    assigned_by: Mapped[str] = mapped_column(String(100))
    assigned_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
