"""The opt-out registry's rows: requests (a reference, never a name) and their face templates per model pack.

Templates are read only to compare faces with them; no listing returns them (`list_optouts` gives counts)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from sqlalchemy import func, select

from .db import Store
from .governance_tables import OptOut, OptOutTemplate


@dataclass(frozen=True)
class Template:
    """One face template to store: the pack that made it (embeddings of packs never mix) and the vector."""

    model: str
    model_version: str
    dim: int
    embedding: np.ndarray


@dataclass(frozen=True)
class OptOutRow:
    """A registered opt-out as listed: its reference and counts, never its templates."""

    id: int
    reference: str
    photos: int
    templates: int
    created_at: datetime | None
    created_by: str | None


def templates(store: Store, pack: str) -> np.ndarray:
    """Every opt-out template of one pack, one row each (shape (0, 0) when there is none)."""
    with store.database.connect() as conn:
        rows = conn.execute(
            select(OptOutTemplate.embedding, OptOutTemplate.dim).where(OptOutTemplate.model == pack)
        ).all()
    if not rows:
        return np.zeros((0, 0), np.float32)
    return np.stack([np.frombuffer(r[0], np.float32) for r in rows])


def optouts_without_templates(store: Store, pack: str) -> int:
    """How many opt-outs have no template of this pack (so faces of that pack cannot be checked against them)."""
    with store.database.connect() as conn:
        total = conn.scalar(select(func.count(OptOut.id))) or 0
        covered = (
            conn.scalar(select(func.count(func.distinct(OptOutTemplate.optout_id))).where(OptOutTemplate.model == pack))
            or 0
        )
    return int(total) - int(covered)


def _template_row(optout_id: int, t: Template) -> OptOutTemplate:
    return OptOutTemplate(
        optout_id=optout_id,
        model=t.model,
        model_version=t.model_version,
        dim=t.dim,
        embedding=np.asarray(t.embedding, np.float32).tobytes(),
    )


def add_optout(store: Store, reference: str, created_by: str, photos: int, made: Sequence[Template]) -> int:
    """Register an opt-out with its templates in one transaction; returns its id."""
    with store.session.begin() as s:
        row = OptOut(reference=reference, created_by=created_by, photos=photos)
        s.add(row)
        s.flush()
        optout_id = int(row.id)
        for t in made:
            s.add(_template_row(optout_id, t))
    return optout_id


def add_template(store: Store, optout_id: int, template: Template) -> None:
    """Add one more template to an opt-out (a gallery face an operator judged to be the person's)."""
    with store.session.begin() as s:
        s.add(_template_row(optout_id, template))


def optout_reference(store: Store, optout_id: int) -> str | None:
    """The reference of an opt-out, or None when there is no opt-out with this id."""
    with store.session() as s:
        row = s.get(OptOut, optout_id)
        return row.reference if row is not None else None


def list_optouts(store: Store) -> list[OptOutRow]:
    """Every opt-out, oldest first, with how many templates it has."""
    with store.session() as s:
        rows = s.execute(
            select(OptOut, func.count(OptOutTemplate.id))
            .join(OptOutTemplate, OptOutTemplate.optout_id == OptOut.id, isouter=True)
            .group_by(OptOut.id)
            .order_by(OptOut.id)
        ).all()
    return [OptOutRow(o.id, o.reference, o.photos, int(n), o.created_at, o.created_by) for o, n in rows]
