"""The metadata store, its migrations, the audit chain and the application's flows on a real PostgreSQL 16
(pgserver, started by the tests; see tests/pg.py). Each test has a database of its own."""

from __future__ import annotations

import multiprocessing as mp
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import support.pg as pg
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from support.synthetic import write_gallery

from facesearch.app import audit as audit_use_cases
from facesearch.app import collection as collections
from facesearch.app import optout, purposes, searching
from facesearch.app.backup import backup
from facesearch.app.context import Actor, Context
from facesearch.app.doctor import doctor
from facesearch.app.erasure import delete_image
from facesearch.app.errors import Invalid
from facesearch.app.ingest import Item, ingest
from facesearch.config import Settings
from facesearch.services.uploads import Photo
from facesearch.store import Store, migrate
from facesearch.store.audit import AuditLog, verify_chain
from facesearch.store.audit.table import ensure_audit_triggers
from facesearch.store.schema import Base

# The fixtures of tests/pg.py, made visible to this module's tests.
pg_server, pg_url = pg.pg_server, pg.pg_url

DIM = pg.DIM
PG_TRIGGERS = {"audit_log_no_update", "audit_log_no_delete", "audit_log_no_truncate"}


def _schema_diff(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return list(compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata))


def _triggers(engine: Engine) -> dict[str, str]:
    with engine.connect() as conn:
        return dict(
            conn.execute(
                text(
                    "SELECT tgname, tgenabled FROM pg_trigger "
                    "WHERE tgrelid = 'audit_log'::regclass AND NOT tgisinternal"
                )
            ).all()
        )


def _column_types(engine: Engine, table: str) -> dict[str, str]:
    return {c["name"]: str(c["type"]) for c in inspect(engine).get_columns(table)}


@pytest.fixture(params=["postgresql", "sqlite"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The store contract holds on both backends: PostgreSQL, and SQLite for comparison."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'facesearch.db'}"
    return str(request.getfixturevalue("pg_url"))


def test_store_contract(db_url: str) -> None:
    rng = np.random.default_rng(1)
    store = Store(db_url, pool_size=3)
    on_pg = store.database.dialect.name == "postgresql"
    try:
        if on_pg:
            assert store.database.pool.size() == 3  # type: ignore[attr-defined]
        a = store.create_collection("a", "synthetic", "1", DIM, source="s", legal_basis="consent", owner="o")
        b = store.create_collection("b", "synthetic", "1", DIM)
        assert [c.name for c in store.list_collections()] == ["a", "b"]
        assert store.index_state(a.id) == (0, 0) and store.gallery_size([a.id, b.id]) == 0

        first = [pg.new_image("one", 2, rng), pg.new_image("two", 0, rng), pg.new_image("three", 3, rng)]
        out = store.add_images(a.id, None, first)
        assert [len(f) for _, f in out] == [2, 0, 3] and all(i is not None for i, _ in out)
        assert store.index_state(a.id) == (5, 1)
        # The same bytes again (and once more inside one batch) are skipped, new ones go in, in input order.
        second = [pg.new_image(tag, n, rng) for tag, n in (("two", 0), ("four", 1), ("one", 2), ("four", 1))]
        again = store.add_images(a.id, None, second)
        assert again[0] == (None, []) and again[2] == (None, []) and again[3] == (None, [])
        assert again[1][0] is not None and len(again[1][1]) == 1
        assert store.index_state(a.id) == (6, 2) and store.gallery_size([a.id]) == 6
        store.add_images(b.id, None, [pg.new_image("one", 1, rng)])  # the same photo in another collection is new
        assert store.gallery_size([a.id, b.id]) == 7 and store.index_state(b.id) == (1, 1)

        # Embeddings round-trip exactly, by id and by collection in batches.
        ids = [fid for _, fids in out + again for fid in fids]
        vecs = np.stack([f.embedding for img in [*first, second[1]] for f in img.faces])
        np.testing.assert_array_equal(store.embeddings(ids, DIM), vecs)
        batches = list(store.iter_embeddings(a.id, DIM, batch=4))
        assert [len(i) for i, _ in batches] == [4, 2]
        all_ids = np.concatenate([i for i, _ in batches])
        assert all_ids.tolist() == sorted(ids) == store.face_ids(a.id).tolist()
        np.testing.assert_array_equal(np.concatenate([v for _, v in batches]), store.embeddings(all_ids.tolist(), DIM))
        assert store.face_id_stats(a.id) == (6, max(ids), sum(ids))
        details = store.face_details(ids[:1])[ids[0]]
        assert details["metadata"] == {"tag": "one", "n": 2} and details["collection"] == "a"

        # Deleting faces and images counts them off and takes their embeddings along.
        removed, emptied = store.delete_faces([ids[0]])
        assert [r[1] for r in removed] == [ids[0]] and emptied == []
        assert store.image_faces(out[0][0])[0].id == ids[1]  # type: ignore[arg-type]
        assert store.index_state(a.id) == (5, 3)
        removed, emptied = store.delete_faces([ids[1]])
        assert emptied == [out[0][0]]
        n, faces = store.delete_images([out[2][0], *emptied])  # type: ignore[list-item]
        assert n == 2 and sorted(f for _, f, _ in faces) == sorted(out[2][1])
        assert store.index_state(a.id) == (1, 5) and store.gallery_size([a.id, b.id]) == 2
        with store.database.connect() as conn:
            assert conn.scalar(text("SELECT count(*) FROM face_embeddings")) == 2
        with pytest.raises(KeyError):
            store.embeddings([ids[0]], DIM)

        # recount repairs a counter that drifted (a write made outside the store) and says so.
        with store.database.begin() as conn:
            conn.execute(text("UPDATE collection_counters SET faces = 40 WHERE collection_id = :c"), {"c": a.id})
        assert store.recount(fix=False) == {a.id: (40, 1)} and store.index_state(a.id) == (40, 5)
        assert store.recount() == {a.id: (40, 1)}
        assert store.index_state(a.id) == (1, 6) and store.recount() == {}
        stats = store.stats()
        assert stats["faces"] == 2 and [c["faces"] for c in stats["collections"]] == [1, 1]

        # Every table, column type, index and key agrees with the models; ids are BIGINT (SQLite: the rowid).
        assert _schema_diff(store.database) == []
        if on_pg:
            for table, column in (
                ("faces", "id"),
                ("faces", "image_id"),
                ("images", "id"),
                ("face_embeddings", "face_id"),
            ):
                assert _column_types(store.database, table)[column] == "BIGINT"
    finally:
        store.close()


def test_ids_past_two_to_the_31(db_url: str) -> None:
    rng = np.random.default_rng(2)
    store = Store(db_url)
    try:
        col = store.create_collection("big", "synthetic", "1", DIM)
        start = 2**31 + 5
        with store.database.begin() as conn:
            if store.database.dialect.name == "postgresql":
                for table in ("faces", "images"):
                    conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), {start})"))
            else:  # faces are AUTOINCREMENT; an image's rowid follows the largest one
                conn.execute(text("UPDATE sqlite_sequence SET seq = :s WHERE name = 'faces'"), {"s": start})
                conn.execute(
                    text(
                        "INSERT INTO images (id, collection_id, sha256, width, height, face_count, "
                        "ingested_at) VALUES (:s, :c, 'x', 1, 1, 0, '2026-01-01')"
                    ),
                    {"s": start, "c": col.id},
                )
        imgs = [pg.new_image(f"big{i}", 2, rng) for i in range(3)]
        out = store.add_images(col.id, None, imgs)
        ids = [f for _, fids in out for f in fids]
        assert min(ids) > 2**31 and min(i for i, _ in out if i is not None) > 2**31
        np.testing.assert_array_equal(
            store.embeddings(ids, DIM), np.stack([f.embedding for img in imgs for f in img.faces])
        )
        got = np.concatenate([i for i, _ in store.iter_embeddings(col.id, DIM)])
        assert got.dtype == np.int64 and got.tolist() == sorted(ids)
        assert store.face_details(ids)[ids[-1]]["image_id"] == out[-1][0]
        assert store.delete_images([out[0][0]])[0] == 1  # type: ignore[list-item]
        assert store.index_state(col.id) == (4, 2)
    finally:
        store.close()


def test_migrations_empty_to_head_from_0003_with_data_and_back(pg_url: str) -> None:
    engine = create_engine(pg_url)
    try:
        assert migrate.state(engine) == "empty"
        with engine.connect() as conn:
            command.upgrade(migrate.config(conn), "0003_ingest_job_owner")
            conn.commit()
        emb = np.arange(DIM, dtype=np.float32)
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO collections (name, model, model_version, dim, created_at, "
                    "keep_until_deleted) VALUES ('old', 'synthetic', '1', :d, now(), true)"
                ),
                {"d": DIM},
            )
            conn.execute(
                text(
                    "INSERT INTO images (collection_id, sha256, width, height, face_count, ingested_at) "
                    "VALUES (1, 'ab', 10, 10, 2, now())"
                )
            )
            for i in range(2):
                conn.execute(
                    text(
                        "INSERT INTO faces (image_id, collection_id, face_index, x1, y1, x2, y2, landmarks, "
                        "det_score, quality, quality_reasons, embedding, thumbnail) VALUES (1, 1, :i, 0, 0, "
                        "1, 1, '[]', 0.9, 0.9, '[]', :e, 't.jpg')"
                    ),
                    {"i": i, "e": (emb + i).tobytes()},
                )
        assert migrate.state(engine) == "old"
        assert migrate.upgrade(engine) == ("0003_ingest_job_owner", migrate.head())
        assert _schema_diff(engine) == []
        assert set(_triggers(engine)) == PG_TRIGGERS and set(_triggers(engine).values()) == {"A"}
        store = Store(pg_url, auto_upgrade=False)
        try:
            np.testing.assert_array_equal(store.embeddings([1, 2], DIM), np.stack([emb, emb + 1]))
            assert store.index_state(1) == (2, 1) and store.gallery_size([1]) == 2
            with engine.connect() as conn:
                assert (
                    conn.scalar(
                        text("SELECT data_type FROM information_schema.sequences WHERE sequence_name = 'faces_id_seq'")
                    )
                    == "bigint"
                )
        finally:
            store.close()
        with engine.connect() as conn:
            command.downgrade(migrate.config(conn), "0003_ingest_job_owner")
            conn.commit()
        with engine.connect() as conn:
            assert bytes(conn.scalar(text("SELECT embedding FROM faces WHERE id = 2"))) == (emb + 1).tobytes()
        assert not _triggers(engine)
        with engine.connect() as conn:
            command.downgrade(migrate.config(conn), "base")
            conn.commit()
        assert set(inspect(engine).get_table_names()) == {"alembic_version"}
        assert migrate.upgrade(engine) == (None, migrate.head())
        assert _schema_diff(engine) == [] and set(_triggers(engine)) == PG_TRIGGERS
    finally:
        engine.dispose()


def test_audit_chain_is_append_only(pg_url: str, tmp_path: Path) -> None:
    store = Store(pg_url)
    try:
        log = AuditLog(store, tmp_path / "audit-head.json")
        for i in range(5):  # keyed: the key file is made beside the checkpoint
            log.record("search", actor="eve", role="examiner", case_ref=f"C-{i}", results=[{"face_id": i}])
        report = verify_chain(store, tmp_path / "audit-head.json")
        assert report.ok and report.entries == 5 and (tmp_path / "audit.key").is_file(), report.problems
        for sql in (
            "UPDATE audit_log SET case_ref = 'X' WHERE seq = 2",
            "DELETE FROM audit_log WHERE seq = 5",
            "TRUNCATE audit_log",
        ):
            with pytest.raises(DBAPIError, match="append-only"), store.database.begin() as conn:
                conn.execute(text(sql))
        # A replica session skips ordinary triggers, not these (ENABLE ALWAYS).
        with pytest.raises(DBAPIError, match="append-only"), store.database.begin() as conn:
            conn.execute(text("SET LOCAL session_replication_role = replica"))
            conn.execute(text("DELETE FROM audit_log WHERE seq = 5"))
        assert ensure_audit_triggers(store.database) == []
        # Dropped or disabled triggers are put back when a home opens.
        with store.database.begin() as conn:
            conn.execute(text("DROP TRIGGER audit_log_no_delete ON audit_log"))
            conn.execute(text("ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update"))
            conn.execute(text("ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_truncate"))  # 'O', not ALWAYS
        assert sorted(ensure_audit_triggers(store.database)) == sorted(PG_TRIGGERS)
        assert _triggers(store.database) == dict.fromkeys(PG_TRIGGERS, "A")
        with pytest.raises(DBAPIError, match="append-only"), store.database.begin() as conn:
            conn.execute(text("DELETE FROM audit_log"))
        assert verify_chain(store, tmp_path / "audit-head.json").ok
    finally:
        store.close()


def test_two_processes_write_one_collection_and_one_chain(pg_url: str, tmp_path: Path) -> None:
    store = Store(pg_url)
    try:
        col = store.create_collection("c", "synthetic", "1", DIM)
        AuditLog(store, tmp_path / "audit-head.json").record("collection_create", actor="t")
        ctx = mp.get_context("spawn")
        barrier = ctx.Barrier(2)
        head = str(tmp_path / "audit-head.json")
        procs = [
            ctx.Process(target=pg.write_in_process, args=(pg_url, col.id, tag, barrier, head)) for tag in ("a", "b")
        ]
        for p in procs:
            p.start()
        for p in procs:
            p.join(timeout=120)
        assert [p.exitcode for p in procs] == [0, 0]
        with store.database.connect() as conn:
            faces = conn.scalar(text("SELECT count(*) FROM faces"))
            images = conn.scalar(text("SELECT count(*) FROM images"))
            embeddings = conn.scalar(text("SELECT count(*) FROM face_embeddings"))
        # Each shared photo once (2 faces), each writer's own 3 per batch (1 + 2 + 1 faces).
        assert images == 20 * (3 + 2 * 3) and faces == embeddings == 20 * (3 * 2 + 2 * 4)
        faces_counted, version = store.index_state(col.id)
        assert faces_counted == faces and store.recount() == {}
        assert version == 40  # one step per transaction that added faces
        report = verify_chain(store, tmp_path / "audit-head.json")
        assert report.ok and report.entries == 1 + 40, report.problems
    finally:
        store.close()


def test_application_flows_on_postgres(
    pg_url: str, synthetic_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ingest a folder, search, erase an image, opt a person out, verify the audit chain: all through the use
    cases, with FACESEARCH_DATABASE_URL pointing at PostgreSQL."""
    admin, operator, examiner = Actor("root", "admin"), Actor("olga", "operator"), Actor("eve", "examiner")
    monkeypatch.setenv("FACESEARCH_DATABASE_URL", pg_url)
    settings = Settings(workers=1)
    assert settings.resolved_database_url == pg_url and settings.model == "synthetic"
    made = write_gallery(tmp_path / "people", [7, 11, 13, 17], 5)
    people = {f"person_{i:04d}": paths for i, paths in made.items()}

    ctx = Context.open(settings)
    try:
        store = ctx.store
        assert store.database.dialect.name == "postgresql"
        purposes.add_purpose(ctx, admin, "TEST", "tests")
        collections.create_collection(
            ctx,
            operator,
            "press",
            source="generated markers",
            legal_basis="consent",
            owner="tests",
            retention_days=None,
            keep=True,
        )
        items = [Item(p, meta={"person": name}) for name, paths in people.items() for p in paths[:3]]
        res = ingest(ctx, operator, items, "press")
        assert res.ingested == 12 and res.faces == 12 and res.failed == 0
        col = store.require_collection("press")
        assert store.gallery_size([col.id]) == 12 and store.index_state(col.id)[0] == 12

        def found(probe: Path) -> list[tuple[str, int]]:
            req = searching.SearchRequest(case_ref="CASE-1", purpose="TEST", top_k=5)
            result = searching.search(ctx, examiner, Photo.from_path(probe, settings), req)
            return [(m.image.metadata["person"], m.image.id) for m in result.faces[0].matches]

        hits = found(people["person_0011"][4])
        assert hits[0][0] == "person_0011"

        # Erasing an image takes it out of the gallery, the counters and the next search at once.
        delete_image(ctx, operator, hits[0][1])
        assert store.gallery_size([col.id]) == 11
        assert hits[0][1] not in [i for _, i in found(people["person_0011"][4])]

        # An opt-out erases every face of that person and hides them from searches.
        out = optout.add_optout(ctx, operator, [Photo.from_path(people["person_0013"][3], settings)], "DSR-1")
        assert out.erased.faces == 3
        assert store.gallery_size([col.id]) == 8 and store.recount() == {}
        assert "person_0013" not in {p for p, _ in found(people["person_0013"][4])}
        assert doctor(ctx, operator).ok

        report = audit_use_cases.verify(ctx, Actor("audrey", "auditor"))
        assert report.ok and report.entries >= 8, report.problems
        # `facesearch backup` copies SQLite homes; a PostgreSQL database is pointed to pg_dump.
        with pytest.raises(Invalid, match="pg_dump"):
            backup(ctx, admin, tmp_path / "backup")
        assert not (tmp_path / "backup").exists()
    finally:
        ctx.store.close()

    # A trigger dropped behind the application's back is restored, and logged, when the home opens again.
    engine = create_engine(pg_url)
    with engine.begin() as conn:
        conn.execute(text("DROP TRIGGER audit_log_no_delete ON audit_log"))
    engine.dispose()
    ctx = Context.open(settings)
    try:
        entries = audit_use_cases.query(ctx, Actor("audrey", "auditor"), action="audit_triggers").entries
        assert entries[0].details == {"restored": ["audit_log_no_delete"]}
        assert audit_use_cases.verify(ctx, Actor("audrey", "auditor")).ok
    finally:
        ctx.store.close()


def test_processes_opening_one_new_database_at_once_migrate_it_once(pg_url: str) -> None:
    ctx = mp.get_context("spawn")
    barrier, results = ctx.Barrier(3), ctx.Queue()
    procs = [ctx.Process(target=pg.open_in_process, args=(pg_url, barrier, results)) for _ in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    assert [p.exitcode for p in procs] == [0, 0, 0]
    assert [results.get(timeout=5) for _ in range(3)] == [migrate.head()] * 3
    engine = create_engine(pg_url)
    try:
        assert _schema_diff(engine) == [] and set(_triggers(engine)) == PG_TRIGGERS
    finally:
        engine.dispose()
