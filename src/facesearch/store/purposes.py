"""The rows of the allowed search purposes: added, listed, retired (never deleted: the audit log names them)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from .db import Store
from .governance_tables import Purpose


def list_purposes(store: Store, include_retired: bool) -> list[Purpose]:
    """Purposes by code; retired ones only with `include_retired`."""
    with store.session() as s:
        stmt = select(Purpose).order_by(Purpose.code)
        if not include_retired:
            stmt = stmt.where(Purpose.retired_at.is_(None))
        return list(s.scalars(stmt))


def get_purpose(store: Store, code: str) -> Purpose | None:
    with store.session() as s:
        return s.get(Purpose, code)


def add_purpose(store: Store, code: str, description: str, created_by: str) -> Purpose | None:
    """Add a purpose; None (and nothing written) when the code exists already, retired or not."""
    with store.session.begin() as s:
        if s.get(Purpose, code) is not None:
            return None
        row = Purpose(code=code, description=description, created_by=created_by)
        s.add(row)
    return row


def retire_purpose(store: Store, code: str, retired_by: str, now: datetime) -> Purpose | None:
    """Retire an active purpose; None when there is no active purpose with this code (nothing written)."""
    with store.session.begin() as s:
        row = s.get(Purpose, code, with_for_update=True)
        if row is None or row.retired_at is not None:
            return None
        row.retired_at, row.retired_by = now, retired_by
    return row
