"""A home's files (issue 13 #8, #16, and index recovery): private modes, `doctor` on looser ones, clear
errors from a full home with no data in them, and an unreadable or missing index file rebuilt from the rows."""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from support.helpers import create_collection
from support.synthetic import write_gallery
from typer.testing import CliRunner

from facesearch.app import purposes, searching
from facesearch.app.context import Actor, Context
from facesearch.app.doctor import doctor
from facesearch.app.ingest import ingest, items_from_folder
from facesearch.cli import app as cli_app
from facesearch.config import Settings
from facesearch.server import create_app
from facesearch.services.uploads import Photo
from facesearch.store import audit
from facesearch.store import db as store_db
from facesearch.vocabulary import Action

ADMIN = Actor("root", "admin")
OPERATOR = Actor("op", "operator")
EXAMINER = Actor("eve", "examiner")


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


@pytest.fixture
def loose_umask() -> Iterator[None]:
    """The usual 022 of a login shell, as before a Context opens; restored afterwards."""
    before = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(before)


def _world(tmp_path: Path) -> tuple[Context, Path]:
    ctx = Context.open(Settings(workers=1, model="synthetic"))
    purposes.add_purpose(ctx, ADMIN, "TEST", "tests")
    create_collection(ctx.store, "press", model="synthetic")
    photos = write_gallery(tmp_path / "people", [7, 11, 13], 3)
    res = ingest(ctx, OPERATOR, items_from_folder(tmp_path / "people"), "press")
    assert res.ingested == 9
    return ctx, photos[11][0]


def _search(ctx: Context, probe: Path) -> list[tuple[int, float]]:
    req = searching.SearchRequest(case_ref="CASE-1", purpose="TEST", top_k=5)
    res = searching.search(ctx, EXAMINER, Photo.from_path(probe, ctx.settings), req)
    return [(m.face_id, round(m.score, 5)) for f in res.faces for m in f.matches]


# 8: file modes ------------------------------------------------------------------------------------------
def test_a_home_is_private_and_doctor_reports_looser_modes(
    synthetic_env: Path, tmp_path: Path, loose_umask: None
) -> None:
    ctx, _ = _world(tmp_path)
    home = ctx.settings.home
    assert _mode(home) == 0o700
    private = [
        home / "facesearch.db",
        home / audit.HEAD_FILE,
        home / audit.KEY_FILE,
        *ctx.settings.index_dir.glob("*.faiss"),
        *ctx.settings.thumbs_dir.rglob("*.jpg"),
    ]
    wal = home / "facesearch.db-wal"
    if wal.exists():
        private.append(wal)
    assert len(private) > 12 and {_mode(p) for p in private} == {0o600}
    assert {_mode(d) for d in ctx.settings.thumbs_dir.rglob("*") if d.is_dir()} == {0o700}
    assert doctor(ctx, OPERATOR).counts["files_readable_by_others"] == 0
    # A home left readable by an older version: doctor reports every loose file, --fix tightens them.
    thumb = next(ctx.settings.thumbs_dir.rglob("*.jpg"))
    thumb.chmod(0o644)
    home.chmod(0o755)
    rep = doctor(ctx, OPERATOR)
    assert not rep.ok and rep.counts["files_readable_by_others"] == 2
    assert any(e.startswith(". 0755") for e in rep.examples["files_readable_by_others"])
    assert doctor(ctx, OPERATOR, fix=True).counts["files_readable_by_others"] == 2
    assert _mode(thumb) == 0o600 and _mode(home) == 0o700
    assert doctor(ctx, OPERATOR).ok


def test_opening_a_home_tightens_what_an_older_version_left_open(synthetic_env: Path, loose_umask: None) -> None:
    home = synthetic_env
    Context.open(Settings()).audit.record(Action.LOGIN, actor="ann")
    for p in (home, home / "facesearch.db", home / audit.HEAD_FILE):
        p.chmod(0o755 if p.is_dir() else 0o644)
    os.umask(0o022)
    Context.open(Settings())
    assert _mode(home) == 0o700 and _mode(home / "facesearch.db") == 0o600 and _mode(home / audit.HEAD_FILE) == 0o600
    assert os.umask(0o077) == 0o077  # the process's files are private from now on


# 16: a full (or read-only) home -------------------------------------------------------------------------
def _full_disk(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every new connection may not grow the database by a page: SQLite's "database or disk is full"."""
    original = store_db._sqlite_pragmas

    def pragmas(dbapi_conn: Any, record: Any) -> None:
        original(dbapi_conn, record)
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA max_page_count = {cur.execute('PRAGMA page_count').fetchone()[0]}")
        cur.close()

    monkeypatch.setattr(store_db, "_sqlite_pragmas", pragmas)


def _pad_audit_free_pages_away(ctx: Context) -> None:
    """Use up the free pages and the room left in the last ones, so that the next entry needs a new page."""
    for size in (2000, 500, 100, 1):
        with pytest.raises(audit.AuditWriteError, match="full"):
            for _ in range(500):
                ctx.audit.record(Action.LOGIN, actor="filler", details={"pad": "x" * size})


def test_a_full_home_gives_one_line_and_no_candidates_on_the_command_line(
    synthetic_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx, probe = _world(tmp_path)
    faces = [str(fid) for fid, _ in _search(ctx, probe)]
    ctx.store.close()
    _full_disk(monkeypatch)
    full = Context.open(Settings(workers=1, model="synthetic"))
    _pad_audit_free_pages_away(full)
    full.store.close()
    before = audit.query(Context.open(Settings()).store)[1]
    r = CliRunner().invoke(cli_app, ["--as", "eve", "search", str(probe), "--case", "CASE-2", "--purpose", "TEST"])
    assert r.exit_code == 5, r.output
    lines = [line for line in r.output.splitlines() if line.strip()]
    assert lines == [lines[0]] and lines[0].startswith("error: ") and "full" in lines[0], r.output
    assert "Traceback" not in r.output and "CASE-2" not in r.output and "score" not in r.output
    assert not any(f"face {fid}" in r.output or f'"face_id": {fid}' in r.output for fid in faces)
    # The search did not happen: no entry, and no result was shown.
    assert audit.query(Context.open(Settings()).store)[1] == before


def test_a_full_home_gives_a_500_problem_without_data_from_the_api(
    synthetic_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from facesearch.app import accounts

    ctx, probe = _world(tmp_path)
    accounts.add_user(ctx, ADMIN, "eve", "examiner", "correct horse battery")
    token = accounts.create_token(ctx, ADMIN, "eve", "tests").token
    ctx.store.close()
    _full_disk(monkeypatch)
    app = create_app(Settings(workers=1, model="synthetic"))
    _pad_audit_free_pages_away(app.state.ctx)
    with TestClient(app, raise_server_exceptions=False) as client:
        r = client.post(
            "/api/v1/search",
            headers={"Authorization": f"Bearer {token}"},
            data={"case_ref": "CASE-3", "purpose": "TEST"},
            files={"probe": ("p.jpg", probe.read_bytes(), "image/jpeg")},
        )
    assert r.status_code == 500, r.text
    body = r.json()
    assert r.headers["content-type"].startswith("application/problem+json")
    assert body["title"] == "Storage unavailable" and set(body) == {"type", "title", "status", "detail"}
    assert "CASE-3" not in r.text and "face_id" not in r.text and "score" not in r.text


# A corrupted or missing index file ----------------------------------------------------------------------
@pytest.mark.parametrize("damage", ["corrupt", "truncated", "missing"])
def test_a_damaged_index_file_is_rebuilt_from_the_database(
    synthetic_env: Path, tmp_path: Path, damage: str, caplog: pytest.LogCaptureFixture
) -> None:
    ctx, probe = _world(tmp_path)
    expected = _search(ctx, probe)
    assert expected
    (index_file,) = ctx.settings.index_dir.glob("collection-*.faiss")
    ctx.store.close()
    if damage == "corrupt":
        index_file.write_bytes(b"not an index" * 100)
    elif damage == "truncated":
        index_file.write_bytes(index_file.read_bytes()[:200])
    else:
        index_file.unlink()
    caplog.set_level(logging.WARNING, logger="facesearch.index")
    again = Context.open(Settings(workers=1, model="synthetic"))
    assert _search(again, probe) == expected
    assert _search(again, probe) == expected
    said = [r.getMessage() for r in caplog.records if r.name == "facesearch.index"]
    assert len(said) == 1 and "rebuilt from the database (9 faces)" in said[0]
    assert ("missing" if damage == "missing" else "unreadable") in said[0]
    # Saved at once: the next process finds a good file and says nothing.
    caplog.clear()
    third = Context.open(Settings(workers=1, model="synthetic"))
    assert _search(third, probe) == expected and not caplog.records
    assert doctor(third, OPERATOR).ok


def test_doctor_reports_an_unreadable_index_file(synthetic_env: Path, tmp_path: Path) -> None:
    ctx, _ = _world(tmp_path)
    (index_file,) = ctx.settings.index_dir.glob("collection-*.faiss")
    index_file.write_bytes(b"garbage")
    rep = doctor(ctx, OPERATOR)
    assert rep.counts["index_files_unreadable"] == 1 and rep.counts["rows_without_index_entry"] == 9
    doctor(ctx, OPERATOR, fix=True)
    assert doctor(ctx, OPERATOR).ok


def test_a_read_only_home_gives_one_line_when_it_is_opened(
    synthetic_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    from facesearch.app import context

    def read_only(home: Path) -> None:
        raise OSError(errno.EROFS, "Read-only file system", str(home))

    monkeypatch.setattr(context, "secure_home", read_only)
    r = CliRunner().invoke(cli_app, ["stats"])
    assert r.exit_code == 5
    assert r.output.strip() == f"error: cannot use {synthetic_env}: Read-only file system", r.output
