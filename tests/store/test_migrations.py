"""Schema migrations: a 0.1.0 home is upgraded in place, new homes get the head, models and migrations agree."""

from __future__ import annotations

import hashlib
import importlib
import json
import multiprocessing as mp
import sqlite3
import traceback
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DatabaseError

from facesearch.errors import FacesearchError
from facesearch.records import NewFace, NewImage
from facesearch.store import Store, migrate
from facesearch.store.migrate import SchemaError
from facesearch.store.schema import Base


def _audit_module() -> ModuleType:
    # The audit module is moving into the store package; accept it on either side of the move.
    for name in ("facesearch.store.audit", "facesearch.audit"):
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    raise ImportError("no facesearch audit module")


verify_chain = _audit_module().verify_chain

SCHEMA_010 = Path(__file__).resolve().parents[1] / "data" / "schema-0.1.0.sql"
TRIGGERS = {"audit_log_no_update", "audit_log_no_delete"}

# The hash-chain rules of facesearch 0.1.0, written out here rather than imported: the entries of an old
# home must keep verifying whatever the current code does.
GENESIS = "0" * 64
FIELDS_010 = (
    "seq",
    "ts",
    "actor",
    "role",
    "action",
    "outcome",
    "ip",
    "case_ref",
    "purpose",
    "collections",
    "model",
    "threshold",
    "probe_sha256",
    "results",
    "details",
    "prev_hash",
)


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _hash_010(fields: dict[str, Any]) -> str:
    return hashlib.sha256(_canonical({k: fields.get(k) for k in FIELDS_010}).encode()).hexdigest()


def _url(path: Path) -> str:
    return f"sqlite:///{path}"


def _dump(db: Path) -> dict[str, list[dict[str, Any]]]:
    """Every row of every table (as {column: value}), read without SQLAlchemy."""
    con = sqlite3.connect(db)
    con.row_factory = sqlite3.Row
    try:
        tables = [
            r[0]
            for r in con.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' "
                "AND name NOT IN ('alembic_version', 'sqlite_sequence') ORDER BY name"
            )
        ]
        return {t: [dict(r) for r in con.execute(f'SELECT * FROM "{t}" ORDER BY 1')] for t in tables}
    finally:
        con.close()


def _triggers(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        return set(conn.scalars(text("SELECT name FROM sqlite_master WHERE type = 'trigger'")))


def _index_columns(engine: Engine, table: str) -> dict[str, list[str]]:
    return {str(ix["name"]): [str(c) for c in ix["column_names"]] for ix in inspect(engine).get_indexes(table)}


def _schema_diff(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return list(compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata))


def _make_010_home(db: Path) -> dict[str, Any]:
    """A home as facesearch 0.1.0 left it: its schema, a collection, an image, two faces, three audit entries."""
    rng = np.random.default_rng(7)
    embeddings = [rng.standard_normal(128).astype(np.float32) for _ in range(2)]
    con = sqlite3.connect(db)
    try:
        con.executescript(SCHEMA_010.read_text())
        con.execute(
            "INSERT INTO collections (id, name, model, model_version, dim, created_at, description, "
            "legal_basis, keep_until_deleted) VALUES (1, 'lfw', 'yunet-reid', 'v1', 128, "
            "'2026-01-02 03:04:05.000006', 'test gallery', 'consent', 1)"
        )
        con.execute(
            "INSERT INTO images (id, collection_id, sha256, path, source_url, metadata, width, height, "
            "face_count, ingested_at) VALUES (1, 1, ?, 'a/b.jpg', 'https://example.org/b.jpg', ?, 250, 250, "
            "2, '2026-01-02 03:04:06.000000')",
            ("ab" * 32, json.dumps({"person": "Ann"})),
        )
        for i, emb in enumerate(embeddings):
            con.execute(
                "INSERT INTO faces (id, image_id, collection_id, face_index, x1, y1, x2, y2, landmarks, "
                "det_score, quality, quality_reasons, embedding, thumbnail) "
                "VALUES (?, 1, 1, ?, 10, 20, 110, 140, '[[1, 2]]', 0.9, 0.8, '[]', ?, ?)",
                (i + 1, i, emb.tobytes(), f"thumbs/{i + 1}.jpg"),
            )
        prev = GENESIS
        for seq, (action, actor) in enumerate(
            (("collection_create", "cli:ann"), ("ingest", "cli:ann"), ("search", "bob")), start=1
        ):
            fields: dict[str, Any] = {
                "seq": seq,
                "ts": f"2026-01-02T03:04:0{seq}.000000+00:00",
                "actor": actor,
                "role": "examiner",
                "action": action,
                "outcome": "ok",
                "ip": None,
                "case_ref": "CASE-1" if action == "search" else None,
                "purpose": "lead" if action == "search" else None,
                "collections": _canonical(["lfw"]),
                "model": "yunet-reid",
                "threshold": 0.41 if action == "search" else None,
                "probe_sha256": None,
                "results": _canonical([{"face_id": 1, "score": 0.5}]) if action == "search" else None,
                "details": _canonical({"n": seq}),
                "prev_hash": prev,
            }
            fields["hash"] = _hash_010(fields)
            cols = ", ".join(fields)
            con.execute(
                f"INSERT INTO audit_log ({cols}) VALUES ({', '.join('?' * len(fields))})", tuple(fields.values())
            )
            prev = fields["hash"]
        con.commit()
    finally:
        con.close()
    return {"embeddings": embeddings}


def test_010_home_is_upgraded_in_place(tmp_path: Path) -> None:
    db = tmp_path / "facesearch.db"
    made = _make_010_home(db)
    before = _dump(db)
    plain = create_engine(_url(db))
    assert migrate.state(plain) == "unversioned" and migrate.current(plain) is None
    plain.dispose()

    store = Store(_url(db))
    try:
        assert migrate.current(store.database) == migrate.head()
        assert migrate.state(store.database) == "current"
        after = _dump(db)
        # No row added, changed or lost; the embeddings moved out of the faces rows into their own table, and
        # each collection's counter holds its face count.
        assert after.pop("face_embeddings") == [
            {"face_id": f["id"], "collection_id": f["collection_id"], "embedding": f["embedding"]}
            for f in before["faces"]
        ]
        assert after.pop("collection_counters") == [{"collection_id": 1, "faces": 2, "version": 1}]
        # (Tables added by later revisions may be there too, empty.)
        assert {t: after[t] for t in before} == {
            **before,
            "faces": [{k: v for k, v in f.items() if k != "embedding"} for f in before["faces"]],
        }
        assert store.gallery_size([1]) == 2 and store.index_state(1) == (2, 1)
        assert store.require_collection("lfw").dim == 128
        np.testing.assert_array_equal(store.embeddings([1, 2], 128), np.stack(made["embeddings"]))
        assert store.face_details([2])[2]["metadata"] == {"person": "Ann"}
        assert _index_columns(store.database, "audit_log")["ix_audit_log_action_ts"] == ["action", "ts"]
        assert _triggers(store.database) >= TRIGGERS
        with pytest.raises(DatabaseError, match="append-only"), store.database.begin() as conn:
            conn.execute(text("UPDATE audit_log SET case_ref = 'X' WHERE seq = 2"))
        with pytest.raises(DatabaseError, match="append-only"), store.database.begin() as conn:
            conn.execute(text("DELETE FROM audit_log WHERE seq = 3"))
        report = verify_chain(store)
        assert report.ok and report.entries == 3, report.problems
        assert _schema_diff(store.database) == []
    finally:
        store.close()


def test_without_auto_upgrade_an_010_home_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "facesearch.db"
    _make_010_home(db)
    schema = sqlite3.connect(db).execute("SELECT sql FROM sqlite_master ORDER BY name").fetchall()
    with pytest.raises(SchemaError, match="facesearch db upgrade") as err:
        Store(_url(db), auto_upgrade=False)
    assert isinstance(err.value, FacesearchError)
    assert err.value.found is None and err.value.needed == migrate.head()
    assert "0.1.0" in str(err.value) and migrate.head() in str(err.value)
    assert sqlite3.connect(db).execute("SELECT sql FROM sqlite_master ORDER BY name").fetchall() == schema


def test_an_old_revision_is_named_and_upgraded(tmp_path: Path) -> None:
    engine = create_engine(_url(tmp_path / "facesearch.db"))
    with engine.connect() as conn:
        command.upgrade(migrate.config(conn), "0001_initial")
        conn.commit()
    assert migrate.state(engine) == "old" and migrate.current(engine) == "0001_initial"
    with pytest.raises(SchemaError, match="facesearch db upgrade") as err:
        Store(_url(tmp_path / "facesearch.db"), auto_upgrade=False)
    assert err.value.found == "0001_initial" and "0001_initial" in str(err.value)
    assert migrate.upgrade(engine) == ("0001_initial", migrate.head())
    assert migrate.upgrade(engine) == (migrate.head(), migrate.head())  # nothing left to do
    assert _schema_diff(engine) == []
    engine.dispose()


def test_a_home_of_a_newer_facesearch_is_refused(tmp_path: Path) -> None:
    url = _url(tmp_path / "facesearch.db")
    Store(url).close()
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999_from_the_future'"))
    assert migrate.state(engine) == "newer"
    for auto_upgrade in (True, False):
        with pytest.raises(SchemaError, match="newer facesearch") as err:
            Store(url, auto_upgrade=auto_upgrade)
        assert err.value.found == "9999_from_the_future" and "9999_from_the_future" in str(err.value)
    with pytest.raises(SchemaError):
        migrate.upgrade(engine)
    assert migrate.current(engine) == "9999_from_the_future"
    engine.dispose()


def test_written_out_head_is_alembics_head() -> None:
    """Opening a home at `migrate.HEAD` skips Alembic: a new migration must move the constant with it."""
    assert migrate.head() == migrate.HEAD, f"set migrate.HEAD to {migrate.head()!r} (the newest migration)"


def test_new_home_gets_head_and_models_match_migrations(tmp_path: Path) -> None:
    url = _url(tmp_path / "home" / "facesearch.db")
    with pytest.raises(SchemaError, match="no facesearch tables"):
        Store(url, auto_upgrade=False)
    store = Store(url)
    try:
        assert migrate.current(store.database) == migrate.head()
        again = Store(url)  # opening a current home changes nothing
        assert migrate.current(again.database) == migrate.head()
        again.close()
        # Nothing ignored: every table, column type, nullability, index, unique and foreign key agrees.
        assert _schema_diff(store.database) == []
        assert _triggers(store.database) == TRIGGERS
    finally:
        store.close()


def test_downgrades_run_and_upgrade_again(tmp_path: Path) -> None:
    engine = create_engine(_url(tmp_path / "facesearch.db"))
    migrate.upgrade(engine)
    with engine.connect() as conn:
        command.downgrade(migrate.config(conn), "0001_initial")
        conn.commit()
    assert "ix_audit_log_action_ts" not in _index_columns(engine, "audit_log")
    with engine.connect() as conn:
        command.downgrade(migrate.config(conn), "base")
        conn.commit()
    assert set(inspect(engine).get_table_names()) == {"alembic_version"} and not _triggers(engine)
    assert migrate.upgrade(engine) == (None, migrate.head())
    assert _schema_diff(engine) == [] and _triggers(engine) == TRIGGERS
    engine.dispose()


def test_an_unversioned_home_missing_tables_is_completed(tmp_path: Path) -> None:
    # A home of a build older than 0.1.0: only some tables. 0001_initial adds the rest, as create_all did.
    db = tmp_path / "facesearch.db"
    create_collections = SCHEMA_010.read_text().split("CREATE TABLE users")[0]
    con = sqlite3.connect(db)
    con.executescript(create_collections)
    con.execute(
        "INSERT INTO collections (id, name, model, model_version, dim, created_at, keep_until_deleted) "
        "VALUES (1, 'old', 'yunet-reid', 'v1', 128, '2025-12-01 00:00:00.000000', 1)"
    )
    con.commit()
    con.close()
    store = Store(_url(db))
    try:
        assert store.require_collection("old").model == "yunet-reid"
        assert _schema_diff(store.database) == [] and _triggers(store.database) == TRIGGERS
    finally:
        store.close()


def _open_store(url: str, barrier: Any, results: Any) -> None:
    # The barrier only lines the processes up; on a loaded machine starting them can take long.
    barrier.wait(timeout=300)
    try:
        store = Store(url)
        try:
            results.put(migrate.current(store.database))
        finally:
            store.close()
    except Exception:  # the parent shows why, not only an exit code
        results.put(traceback.format_exc())
        raise


def test_processes_opening_one_new_home_at_once_all_succeed(tmp_path: Path) -> None:
    url = _url(tmp_path / "home" / "facesearch.db")
    ctx = mp.get_context("spawn")
    n = 3
    barrier, results = ctx.Barrier(n), ctx.Queue()
    procs = [ctx.Process(target=_open_store, args=(url, barrier, results)) for _ in range(n)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=400)
    got = [results.get(timeout=5) for p in procs if p.exitcode is not None]
    assert [p.exitcode for p in procs] == [0] * n, got
    assert sorted(got) == [migrate.head()] * n
    engine = create_engine(url)
    try:
        assert _schema_diff(engine) == [] and _triggers(engine) == TRIGGERS
    finally:
        engine.dispose()


def test_0003_home_moves_embeddings_out_and_never_reuses_face_ids(tmp_path: Path) -> None:
    db = tmp_path / "facesearch.db"
    engine = create_engine(_url(db))
    with engine.connect() as conn:
        command.upgrade(migrate.config(conn), "0003_ingest_job_owner")
        conn.commit()
    emb = np.arange(4, dtype=np.float32)
    con = sqlite3.connect(db)
    con.execute(
        "INSERT INTO collections (id, name, model, model_version, dim, created_at, keep_until_deleted) "
        "VALUES (1, 'c', 'synthetic', '1', 4, '2026-01-01', 1), (2, 'empty', 'synthetic', '1', 4, "
        "'2026-01-01', 1)"
    )
    con.execute(
        "INSERT INTO images (id, collection_id, sha256, width, height, face_count, ingested_at) "
        "VALUES (1, 1, 'ab', 10, 10, 3, '2026-01-01')"
    )
    for i in range(3):
        con.execute(
            "INSERT INTO faces (id, image_id, collection_id, face_index, x1, y1, x2, y2, landmarks, det_score, "
            "quality, quality_reasons, embedding, thumbnail) VALUES (?, 1, 1, ?, 0, 0, 1, 1, '[]', 0.9, 0.9, "
            "'[]', ?, 't.jpg')",
            (i + 1, i, (emb + i).tobytes()),
        )
    con.commit()
    con.close()
    assert migrate.upgrade(engine) == ("0003_ingest_job_owner", migrate.head())
    assert _schema_diff(engine) == [] and _triggers(engine) == TRIGGERS
    engine.dispose()
    assert "embedding" not in {c[1] for c in sqlite3.connect(db).execute("PRAGMA table_info(faces)")}
    store = Store(_url(db))
    try:
        np.testing.assert_array_equal(store.embeddings([1, 2, 3], 4), np.stack([emb, emb + 1, emb + 2]))
        assert [ids.tolist() for ids, _ in store.iter_embeddings(1, 4, batch=2)] == [[1, 2], [3]]
        assert store.index_state(1) == (3, 1) and store.index_state(2) == (0, 1) and store.gallery_size([1, 2]) == 3
        # The newest face deleted, then a new one added: it gets a new id (AUTOINCREMENT), not the freed 3.
        assert store.delete_faces([3])[0][0][1] == 3 and store.index_state(1) == (2, 2)
        new = NewImage("cd", None, None, None, 10, 10, None, [NewFace(0, [0, 0, 1, 1], [], 0.9, 0.9, [], emb, "u.jpg")])
        assert store.add_images(1, None, [new])[0][1] == [4]
        assert store.index_state(1) == (3, 3)
        # Deleting the image takes its faces' embeddings along (by the store, and by the foreign key's cascade).
        store.delete_images([1])
        with store.database.connect() as conn:
            assert conn.scalar(text("SELECT count(*) FROM face_embeddings")) == 1
            conn.execute(text("DELETE FROM faces"))
            assert conn.scalar(text("SELECT count(*) FROM face_embeddings")) == 0
            conn.commit()
        assert store.recount() == {1: (1, 0)} and store.index_state(1) == (0, 5)
    finally:
        store.close()
