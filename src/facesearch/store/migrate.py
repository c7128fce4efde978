"""Schema migrations of the metadata store: Alembic, driven from code (no alembic.ini at runtime).

A database is in one of these states:

- ``empty``: no facesearch table yet (a new home);
- ``unversioned``: facesearch tables but no ``alembic_version``: a home made by facesearch 0.1.0, which
  created its tables with ``create_all``. It is equivalent to revision ``0001_initial``;
- ``old``: a known revision older than the head of this code;
- ``current``: the head;
- ``newer``: a revision this code does not know: the home was written by a newer facesearch. It is refused,
  since this code cannot tell what the newer schema changed.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import IO, TYPE_CHECKING, Literal

from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, Engine

from ..errors import FacesearchError
from . import accounts, governance_tables  # noqa: F401  (every table on Base: tells facesearch tables apart)
from .schema import Base

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

State = Literal["empty", "unversioned", "old", "current", "newer"]

MIGRATIONS = Path(__file__).with_name("migrations")
UPGRADE_COMMAND = "facesearch db upgrade"
VERSION_TABLE = "alembic_version"
# The head revision, written out so that opening a home that is already at it needs no Alembic (importing
# it is a tenth of a CLI command's start). `tests/store/test_migrations.py` holds it equal to Alembic's head.
HEAD = "0007_watches"
# Any constant works; it only has to be the same in every facesearch process sharing a PostgreSQL database.
_PG_LOCK_KEY = 0x66616365  # "face"


class SchemaError(FacesearchError):
    """The database schema is not the one this code needs (too old and not upgraded, or too new)."""

    def __init__(self, message: str, *, found: str | None, needed: str) -> None:
        self.found = found
        self.needed = needed
        super().__init__(message)


def config(connection: Connection | None = None) -> Config:
    """An Alembic configuration for the migrations of this package; `connection` is what env.py runs on."""
    from alembic.config import Config

    cfg = Config()
    # configparser interpolation: a '%' in the install path must be doubled.
    cfg.set_main_option("script_location", str(MIGRATIONS).replace("%", "%%"))
    cfg.set_main_option("path_separator", "os")
    cfg.attributes["connection"] = connection
    return cfg


@lru_cache(maxsize=1)
def _script() -> ScriptDirectory:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(config())


@lru_cache(maxsize=1)
def _known() -> frozenset[str]:
    return frozenset(s.revision for s in _script().walk_revisions())


def head() -> str:
    """The revision this code writes and needs."""
    rev = _script().get_current_head()
    if rev is None:  # only if the versions folder is missing from the installation
        raise RuntimeError(f"no migrations found in {MIGRATIONS}")
    return rev


def _inspect(conn: Connection) -> tuple[State, tuple[str, ...]]:
    tables = set(inspect(conn).get_table_names())
    heads: tuple[str, ...] = ()
    if VERSION_TABLE in tables:
        # Read directly rather than through alembic's MigrationContext, which logs at INFO on every open.
        heads = tuple(sorted(str(v) for v in conn.scalars(text(f"SELECT version_num FROM {VERSION_TABLE}")) if v))
    if not heads:
        return ("unversioned" if tables & set(Base.metadata.tables) else "empty"), heads
    if heads == (HEAD,):
        return "current", heads
    if any(h not in _known() for h in heads):
        return "newer", heads
    return ("current" if heads == (head(),) else "old"), heads


def current(engine: Engine) -> str | None:
    """The revision recorded in the database; None for a new home or one made by facesearch 0.1.0."""
    with engine.connect() as conn:
        heads = _inspect(conn)[1]
    return ",".join(heads) or None


def state(engine: Engine) -> State:
    """Where the database stands relative to this code (see the module docstring)."""
    with engine.connect() as conn:
        return _inspect(conn)[0]


def _where(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=True)


def _error(engine: Engine, found_state: State, heads: tuple[str, ...]) -> SchemaError:
    found = ",".join(heads) or None
    needed, where = head(), _where(engine)
    if found_state == "newer":
        return SchemaError(
            f"this home was written by a newer facesearch: the database {where} has schema revision {found}, "
            f"unknown to this version, which needs {needed}. Use the facesearch that wrote it "
            f"(`{UPGRADE_COMMAND}` does not downgrade a database).",
            found=found,
            needed=needed,
        )
    described = {"empty": "no facesearch tables yet", "unversioned": "the schema of facesearch 0.1.0 (no revision)"}
    have = described.get(found_state, f"schema revision {found}")
    return SchemaError(
        f"the database {where} has {have}, and this facesearch needs schema revision {needed}: back the "
        f"database up, then run `{UPGRADE_COMMAND}`.",
        found=found,
        needed=needed,
    )


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    with open(path, "a+b") as fh:
        _lock_file(fh)
        try:
            yield
        finally:
            _unlock_file(fh)


if sys.platform == "win32":
    import msvcrt
    import time

    def _lock_file(fh: IO[bytes]) -> None:
        while True:
            try:
                fh.seek(0)
                msvcrt.locking(fh.fileno(), msvcrt.LK_NBLCK, 1)
                return
            except OSError:
                time.sleep(0.05)

    def _unlock_file(fh: IO[bytes]) -> None:
        fh.seek(0)
        msvcrt.locking(fh.fileno(), msvcrt.LK_UNLCK, 1)
else:
    import fcntl

    def _lock_file(fh: IO[bytes]) -> None:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)

    def _unlock_file(fh: IO[bytes]) -> None:
        fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _sqlite_file(engine: Engine) -> Path | None:
    db = engine.url.database
    if engine.dialect.name != "sqlite" or not db or db == ":memory:" or db.startswith("file:"):
        return None
    return Path(db)


@contextmanager
def _serialised(engine: Engine) -> Iterator[None]:
    """Across processes, one migrator at a time on a SQLite file (PostgreSQL locks in `upgrade` itself)."""
    db = _sqlite_file(engine)
    if db is None:
        yield
        return
    db.parent.mkdir(parents=True, exist_ok=True)
    with _file_lock(db.with_name(db.name + ".migrate.lock")):
        yield


def upgrade(engine: Engine) -> tuple[str | None, str]:
    """Bring the database to the head revision; returns (revision before, revision after).

    The revision before is None for a new home and for a home made by facesearch 0.1.0. Safe to call from
    several processes at once: they queue on a lock, and each re-reads the state once it holds it.
    Raises SchemaError if the database was written by a newer facesearch.
    """
    sqlite = engine.dialect.name == "sqlite"
    with _serialised(engine), engine.connect() as conn:
        if sqlite:
            # SQLite's recipe for schema changes: with foreign keys on, the DROP TABLE of a batch (copy and
            # rename) migration would cascade-delete the rows that refer to the table. The pragma is a no-op
            # inside a transaction, hence the commit.
            conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
            conn.commit()
        try:
            if engine.dialect.name == "postgresql":
                # Held until commit, so it covers the whole upgrade (DDL is transactional there).
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
            found_state, heads = _inspect(conn)
            if found_state == "newer":
                raise _error(engine, found_state, heads)
            before = ",".join(heads) or None
            if found_state != "current":
                # An unversioned (0.1.0) home runs 0001_initial too: it creates only missing tables, so that
                # equals stamping a complete 0.1.0 home and also completes one that lacks some tables.
                from alembic import command

                command.upgrade(config(conn), "head")
            conn.commit()
        finally:
            if sqlite:
                conn.rollback()
                conn.exec_driver_sql("PRAGMA foreign_keys=ON")
                conn.commit()
    return before, head()


def ensure(engine: Engine, *, auto_upgrade: bool = True) -> State:
    """Check the schema when a store opens; upgrade it if allowed. Returns the state found.

    Raises SchemaError for a home written by a newer facesearch, and, without `auto_upgrade`, for any
    database not at the head revision.
    """
    found_state, heads = _read(engine)
    if found_state == "current":
        return found_state
    if found_state == "newer" or not auto_upgrade:
        raise _error(engine, found_state, heads)
    upgrade(engine)
    return found_state


def _read(engine: Engine) -> tuple[State, tuple[str, ...]]:
    with engine.connect() as conn:
        return _inspect(conn)
