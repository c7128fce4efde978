"""System switches every process reads from the database (the kill switch), so the CLI and a running server
agree at once."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from .db import Store
from .governance_tables import SystemFlag


def read_flag(store: Store, key: str) -> dict[str, Any] | None:
    """The value of a switch, or None when it was never set."""
    with store.session() as s:
        row = s.get(SystemFlag, key)
    return dict(row.value) if row is not None and row.value is not None else None


def write_flag(store: Store, key: str, value: dict[str, Any], now: datetime, by: str) -> None:
    """Set a switch (created on first use)."""
    with store.session.begin() as s:
        s.merge(SystemFlag(key=key, value=value, updated_at=now, updated_by=by))
