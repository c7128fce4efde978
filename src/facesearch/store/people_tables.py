"""Tables of people: faces grouped into identities per model pack, and the corrections people made.

`person_faces` rows go with their face (ON DELETE CASCADE), so an erasure reaches every person at once; a
person left with no face is removed by the people use cases before anything is read.

Corrections are kept by face ids, never by embeddings: they survive a full re-clustering and a re-embedding
of the same faces with another pack. Each holds what it asserts (`links`: must-link groups, cannot-link pairs
of groups), what it changed (`before`: each touched face's person, each touched person's name and pack),
and who made it and when; an undone correction stays, marked, so the history is complete.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from .schema import Base, Id64, utcnow


class Person(Base):
    __tablename__ = "people"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # Quality-weighted mean of the person's embeddings (float32 bytes) and how many faces it was made of:
    # a count that differs from the person's rows means the template is stale (a face was erased).
    template: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    template_faces: Mapped[int] = mapped_column(Integer, default=0)


class PersonFace(Base):
    __tablename__ = "person_faces"
    face_id: Mapped[int] = mapped_column(
        Id64, ForeignKey("faces.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)


class PersonCorrection(Base):
    __tablename__ = "person_corrections"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))  # name, merge, split, move, reject
    actor: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    faces: Mapped[list[Any]] = mapped_column(JSON)  # face ids the correction is about
    # What it asserts, by face ids: {"must": [[ids one person]], "cannot": [[[ids], [ids never with them]]]}
    links: Mapped[dict[str, Any]] = mapped_column(JSON)
    # What it changed: {"faces": {face_id: person_id or None}, "people": {person_id: {"model", "name"}}}
    before: Mapped[dict[str, Any]] = mapped_column(JSON)
    undone_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    undone_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
