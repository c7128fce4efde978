"""The metadata store: SQLAlchemy over SQLite by default (PostgreSQL by URL), hot paths in Core, batched.

`Store` is one object assembled from a class per concept, each in its own module: `gallery` (collections,
images and faces as users see them, stats), `faces` (image and face rows, embeddings, counters, deletion) and
`ingest_runs` (the durable record of ingest runs). Accounts, the audit log, governance and people keep their
own modules of functions over the same `Store`."""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session, sessionmaker

from . import migrate
from .faces import FaceRows
from .gallery import GalleryRows
from .ingest_runs import IngestRuns

_BUSY_TIMEOUT_S = 60.0


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    # The busy timeout first: switching a new file to WAL takes a lock, and two processes opening the same
    # new home at once would otherwise fail at once instead of waiting.
    cur.execute(f"PRAGMA busy_timeout={int(_BUSY_TIMEOUT_S * 1000)}")
    _switch_to_wal(cur)
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    # Deleted rows are overwritten with zeros, not left in free pages: an erased face's embedding, a person's
    # template or name must not stay readable from the file, nor from a copy of it (backups copy pages).
    cur.execute("PRAGMA secure_delete=ON")
    cur.close()


def _switch_to_wal(cur: Any) -> None:
    """SQLite answers "database is locked" to a journal-mode switch at once, without its busy handler, when
    another connection holds the file mid-switch or mid-migration; so the switch is retried here until the
    same deadline the busy timeout gives every other statement."""
    deadline = time.monotonic() + _BUSY_TIMEOUT_S
    pause = 0.01
    while True:
        try:
            cur.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if ("locked" not in str(exc) and "busy" not in str(exc)) or time.monotonic() > deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.5)


class Store(GalleryRows, FaceRows, IngestRuns):
    def __init__(self, url: str, *, auto_upgrade: bool = True, pool_size: int | None = None) -> None:
        """Open the store at `url`, bringing its schema to this version's revision.

        With `auto_upgrade=False` a database that is not at that revision (new, made by 0.1.0, or older)
        raises SchemaError instead of being migrated; one written by a newer facesearch always does.
        `pool_size`: connections kept open to a server database (PostgreSQL; default 5), as many again
        opened for bursts.
        """
        self.url = url
        if url.startswith("sqlite:///"):
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        parsed = make_url(url)
        options: dict[str, Any] = {}
        if parsed.drivername in ("postgresql", "postgres"):
            # psycopg (3) is the driver this package installs; a bare postgresql:// would ask for psycopg2.
            parsed = parsed.set(drivername="postgresql+psycopg")
        if parsed.get_backend_name() != "sqlite":
            size = pool_size or 5
            # pre_ping: a connection the server closed (restart, idle timeout) is replaced, not handed out.
            options.update(pool_size=size, max_overflow=size, pool_pre_ping=True)
        # hide_parameters: an error's text (a traceback, a log line) names the statement, never the values
        # being written (an audit entry's candidates, an embedding).
        self.database: Engine = create_engine(parsed, future=True, hide_parameters=True, **options)
        if parsed.get_backend_name() == "sqlite":
            event.listen(self.database, "connect", _sqlite_pragmas)
        try:
            migrate.ensure(self.database, auto_upgrade=auto_upgrade)
        except BaseException:
            self.database.dispose()
            raise
        self.session: sessionmaker[Session] = sessionmaker(self.database, expire_on_commit=False)

    def close(self) -> None:
        self.database.dispose()


@contextlib.contextmanager
def schema_engine(url: str) -> Iterator[Engine]:
    """A bare engine on a home's database, for reading or upgrading its schema version without opening the
    store (which would upgrade it first)."""
    engine = create_engine(url)
    try:
        yield engine
    finally:
        engine.dispose()
