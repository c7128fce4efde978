"""A real PostgreSQL 16 for tests: the `pgserver` wheel, started once per test session in a temporary folder.

    import support.pg as pg
    pg_server, pg_url = pg.pg_server, pg.pg_url   # the fixtures, visible to the module's tests

    def test_x(pg_url: str) -> None: ...   # a new, empty database of its own, as a SQLAlchemy URL

Tests that ask for these fixtures skip, saying why, when pgserver is not installed or cannot start.
"""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from facesearch.records import NewFace, NewImage
from facesearch.store import Store, migrate
from facesearch.store.audit import AuditLog

_names = itertools.count(1)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[Any]:
    """The session's PostgreSQL server (pgserver's handle), listening on a unix socket only."""
    try:
        with warnings.catch_warnings():  # platformdirs warns when XDG_RUNTIME_DIR is unset; /tmp is used
            warnings.simplefilter("ignore")
            import pgserver
    except ImportError as exc:
        pytest.skip(f"PostgreSQL tests need the pgserver package (pip install pgserver): {exc}")
    # Not under pytest's basetemp: run as root, pgserver runs postgres as an unprivileged user that must reach
    # the folder, and another pytest session resets /tmp/pytest-of-<user> to 0700. Short, too: the server's
    # unix socket path must stay under about 100 characters.
    data = Path(tempfile.mkdtemp(prefix="facesearch-pg-"))
    try:
        server = pgserver.get_server(data, cleanup_mode="stop")
    except Exception as exc:  # pgserver raises plain exceptions when initdb or postgres fails
        shutil.rmtree(data, ignore_errors=True)
        pytest.skip(f"pgserver could not start PostgreSQL in {data}: {exc}")
    # A throwaway server: no waiting for the disk (each new database is a few MB of files to sync, and the
    # shutdown checkpoint writes them all). Durability of PostgreSQL itself is not what these tests test.
    server.psql(
        "ALTER SYSTEM SET fsync = off; ALTER SYSTEM SET synchronous_commit = off; "
        "ALTER SYSTEM SET full_page_writes = off; SELECT pg_reload_conf();"
    )
    try:
        yield server
    finally:
        server.cleanup()
        shutil.rmtree(data, ignore_errors=True)


@pytest.fixture
def pg_url(pg_server: Any) -> str:
    """A new database for this test alone, as `postgresql+psycopg://postgres@/NAME?host=SOCKET_DIR`."""
    import psycopg
    from sqlalchemy.engine import make_url

    name = f"t{os.getpid()}_{next(_names)}"
    admin = make_url(pg_server.get_uri())
    with psycopg.connect(
        dbname="postgres", user=admin.username, host=str(admin.query["host"]), autocommit=True
    ) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return admin.set(drivername="postgresql+psycopg", database=name).render_as_string(hide_password=False)


# Helpers of the PostgreSQL tests, here so that the processes they spawn import only the store, not the app.
DIM = 8


def unit_vector(rng: np.random.Generator) -> np.ndarray:
    v = rng.standard_normal(DIM).astype(np.float32)
    return v / np.linalg.norm(v)


def new_image(tag: str, faces: int, rng: np.random.Generator) -> NewImage:
    """A photo named by `tag` (its SHA-256 too) with `faces` faces of random unit embeddings."""
    sha = (tag.encode().hex() + "0" * 64)[:64]
    return NewImage(
        sha256=sha,
        path=f"/photos/{tag}.jpg",
        source_url=None,
        meta={"tag": tag, "n": faces},
        width=640,
        height=480,
        manifest_row=None,
        faces=[
            NewFace(i, [1.0, 2.0, 30.0, 40.0], [[1, 2]] * 5, 0.9, 0.7, ["ok"], unit_vector(rng), f"{tag}_{i}.jpg")
            for i in range(faces)
        ],
    )


def write_in_process(url: str, collection_id: int, tag: str, barrier: Any, head: str) -> None:
    """A second process writing photos (half of them shared with the other writer) and audit entries."""
    rng = np.random.default_rng(int.from_bytes(tag.encode(), "big"))
    store = Store(url, pool_size=2)
    log = AuditLog(store, Path(head))
    try:
        barrier.wait(timeout=60)
        for batch in range(20):
            # Half of each batch is the other writer's photos too: both race for the same rows.
            imgs = [new_image(f"shared{batch}_{i}", 2, rng) for i in range(3)]
            imgs += [new_image(f"{tag}{batch}_{i}", 1 + i % 2, rng) for i in range(3)]
            store.add_images(collection_id, None, imgs)
            log.record("ingest", actor=tag, role="operator", details={"batch": batch})
    finally:
        store.close()


def open_in_process(url: str, barrier: Any, results: Any) -> None:
    """A process opening (and so migrating) the store at the same moment as others."""
    barrier.wait(timeout=60)
    store = Store(url)
    try:
        results.put(migrate.current(store.database))
    finally:
        store.close()
