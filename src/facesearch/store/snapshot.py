"""A consistent copy of a home's SQLite database while it is in use, what such a copy refers to, and the paths
a restored copy must point elsewhere (backup and restore)."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import String, func, literal, select, update

from .db import Store
from .schema import Collection, Face, Image


def sqlite_file(url: str) -> Path | None:
    """The database file of a SQLite URL; None for any other database."""
    return Path(url.removeprefix("sqlite:///")) if url.startswith("sqlite:///") else None


def copy_database(src: Path, dst: Path) -> None:
    """SQLite's online backup API: a consistent copy (every row as of one instant) while other connections read
    and write, as one self-contained file (no -wal beside it)."""
    source = sqlite3.connect(str(src), timeout=60)
    target = sqlite3.connect(str(dst))
    try:
        source.backup(target)
        target.execute("PRAGMA journal_mode=DELETE")
        # The backup API copies pages as they are, free ones included: a home written before deletions were
        # zeroed (or a page freed before) may hold erased rows there. VACUUM writes the copy anew without them.
        target.execute("PRAGMA secure_delete=ON")
        target.execute("VACUUM")
    finally:
        target.close()
        source.close()


@contextmanager
def opened_copy(path: Path) -> Iterator[Store]:
    """A copied database opened as it is (never migrated), and left as one file when closed."""
    store = Store(f"sqlite:///{path}", auto_upgrade=False)
    try:
        yield store
    finally:
        store.close()
        for extra in (path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            extra.unlink(missing_ok=True)


@dataclass(frozen=True)
class Contents:
    """What a database refers to outside itself, and how much it holds."""

    thumbnails: list[str]
    image_paths: list[str]
    collection_ids: list[int]
    images: int
    faces: int


def contents(store: Store) -> Contents:
    with store.database.connect() as conn:
        return Contents(
            thumbnails=[str(t) for t in conn.scalars(select(Face.thumbnail).where(Face.thumbnail.is_not(None)))],
            image_paths=[str(p) for p in conn.scalars(select(Image.path).where(Image.path.is_not(None)))],
            collection_ids=[int(c) for c in conn.scalars(select(Collection.id))],
            images=int(conn.scalar(select(func.count(Image.id))) or 0),
            faces=int(conn.scalar(select(func.count(Face.id))) or 0),
        )


def move_image_paths(store: Store, old: str, new: str) -> None:
    """Image paths under the folder `old` now under `new` (uploaded photos of a home restored elsewhere)."""
    with store.database.begin() as conn:
        conn.execute(
            update(Image)
            .where(func.substr(Image.path, 1, len(old) + 1) == old + os.sep)
            .values(path=literal(new, String).concat(func.substr(Image.path, len(old) + 1)))
        )
