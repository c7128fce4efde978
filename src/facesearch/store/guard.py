"""Storage failures as facesearch errors: the layers above never see SQLAlchemy's exceptions.

A read-only or full home, a database that refuses writes or a lost server connection becomes a
`StorageError` whose message names the cause (the driver's own words) and never the statement or the
values being written. Use cases run inside `storage_errors()` (the role check wraps every one of them)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from sqlalchemy.exc import DBAPIError

from ..errors import StorageError


def cause_of(exc: BaseException) -> str:
    """The cause of a storage failure in a few words, without SQL or the values being written."""
    orig = getattr(exc, "orig", None)
    if orig is not None:  # a SQLAlchemy error: the driver's own message ("database or disk is full")
        return (str(orig).strip().splitlines() or [type(orig).__name__])[0][:200]
    if isinstance(exc, OSError):
        return f"{exc.strerror or type(exc).__name__}" + (f": {exc.filename}" if exc.filename else "")
    return type(exc).__name__


@contextlib.contextmanager
def storage_errors() -> Iterator[None]:
    """Turn a database failure inside the block into a `StorageError` (the original chained as its cause)."""
    try:
        yield
    except DBAPIError as exc:
        raise StorageError(
            f"the database cannot be used: {cause_of(exc)} (is the home read-only or full?); nothing was done"
        ) from exc
