"""Tables of the governance layer: opt-out registry, search purposes, lead proposals, system switches.

Declared on the shared `Base`, so `Store` creates them with the rest of the schema.

The opt-out templates live in their own table and are read only by `facesearch.governance`: no route,
report or export returns them, and they are never joined to gallery rows. The photos a person submits
are not kept; only one embedding per photo and model pack, and the photo's SHA-256 in the audit log.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from .schema import Base, Id64, utcnow


class OptOut(Base):
    """One person's opt-out request: a reference (the ticket or letter it came with), never a name."""

    __tablename__ = "optouts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reference: Mapped[str] = mapped_column(String(200), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    created_by: Mapped[str | None] = mapped_column(String(100), nullable=True)
    photos: Mapped[int] = mapped_column(Integer, default=0)


class OptOutTemplate(Base):
    """A face template of an opted-out person, for one model pack (embeddings of packs never mix)."""

    __tablename__ = "optout_templates"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    optout_id: Mapped[int] = mapped_column(ForeignKey("optouts.id", ondelete="CASCADE"), index=True)
    model: Mapped[str] = mapped_column(String(64), index=True)
    model_version: Mapped[str] = mapped_column(String(200))
    dim: Mapped[int] = mapped_column(Integer)
    embedding: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Purpose(Base):
    """An allowed search purpose: a short code and what it rests on. Retired purposes stay (the audit
    log refers to them) but are refused for new searches."""

    __tablename__ = "purposes"
    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    description: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    created_by: Mapped[str | None] = mapped_column(String(100), nullable=True)
    retired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    retired_by: Mapped[str | None] = mapped_column(String(100), nullable=True)


class Proposal(Base):
    """Two-person confirmation of one candidate of one search: proposed by one examiner, confirmed or
    rejected by another. Rows are never deleted; a rejected candidate can be proposed again (new row)."""

    __tablename__ = "proposals"
    __table_args__ = (UniqueConstraint("search_id", "probe_face", "face_id", "seq", name="uq_proposal"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    search_id: Mapped[int] = mapped_column(Integer, index=True)  # the search's audit entry (seq)
    probe_face: Mapped[int] = mapped_column(Integer, default=0)
    face_id: Mapped[int] = mapped_column(Id64)  # no FK: the face may be erased later; history stays
    seq: Mapped[int] = mapped_column(Integer, default=1)
    case_ref: Mapped[str | None] = mapped_column(String(200), index=True, nullable=True)
    candidate: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)  # score, fmr, image, collection
    status: Mapped[str] = mapped_column(String(20), default="proposed")
    proposed_by: Mapped[str] = mapped_column(String(100))
    proposed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    note: Mapped[str] = mapped_column(Text, default="")
    decided_by: Mapped[str | None] = mapped_column(String(100), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    decision_note: Mapped[str | None] = mapped_column(Text, nullable=True)


class SystemFlag(Base):
    """Switches every process reads from the database (so the CLI and a running server agree at once)."""

    __tablename__ = "system_flags"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_by: Mapped[str | None] = mapped_column(String(100), nullable=True)
