"""What every part of `Store` stands on: the database engine, a session factory, and the dialect's INSERT.

`Store` (store/db.py) is assembled from one class per concept (gallery reads, face rows, ingest runs), so
callers keep one object (`ctx.store`) while each concept's SQL stays in a module of its own."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

# Ids per IN (...) list: under SQLite's default limit of bound parameters, and a sane statement size elsewhere.
CHUNK = 900


class StoreBase:
    """The engine and sessions that `Store.__init__` sets up; the parts below only use them."""

    database: Engine
    session: sessionmaker[Session]

    def _dialect_insert(self, table: Any) -> Any:
        """INSERT with ON CONFLICT support on both backends (SQLite and PostgreSQL)."""
        if self.database.dialect.name == "sqlite":
            return sqlite_insert(table)
        # Imported here: PostgreSQL's dialect is a seventh of the store's import time, which SQLite homes (every
        # CLI command on the default) would otherwise pay.
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table)
