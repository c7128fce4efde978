"""`facesearch backup` / `facesearch restore` (issue 13, faults and recovery): an online snapshot restored into
an empty home verifies (`audit verify`), has no orphans (`doctor`) and answers the same searches."""

from __future__ import annotations

import json
import shutil
import stat
import tarfile
from pathlib import Path

import pytest
from support.helpers import create_collection
from support.synthetic import write_gallery
from typer.testing import CliRunner

from facesearch.app import backup as backup_uc
from facesearch.app import purposes, searching
from facesearch.app.context import Actor, Context
from facesearch.app.doctor import doctor
from facesearch.app.errors import Conflict, Forbidden, Invalid
from facesearch.app.ingest import ingest, items_from_folder
from facesearch.cli import app as cli_app
from facesearch.config import Settings
from facesearch.services.uploads import Photo
from facesearch.store import audit
from facesearch.store.schema import Image
from facesearch.vocabulary import Action

ADMIN = Actor("root", "admin")
OPERATOR = Actor("op", "operator")
EXAMINER = Actor("eve", "examiner")


def _settings(home: Path) -> Settings:
    return Settings(home=home, workers=1, model="synthetic")


def _search(ctx: Context, probe: Path) -> list[tuple[int, float]]:
    req = searching.SearchRequest(case_ref="CASE-1", purpose="TEST", top_k=8)
    res = searching.search(ctx, EXAMINER, Photo.from_path(probe, ctx.settings), req)
    return [(m.face_id, round(m.score, 5)) for f in res.faces for m in f.matches]


@pytest.fixture
def world(synthetic_env: Path, tmp_path: Path) -> tuple[Context, Path]:
    """A home with a purpose, a collection ingested from a folder, photos 'uploaded' into the home's
    uploads/ (as the API stores them) and a search in its audit log."""
    ctx = Context.open(_settings(synthetic_env))
    purposes.add_purpose(ctx, ADMIN, "TEST", "tests")
    create_collection(ctx.store, "press", model="synthetic")
    photos = write_gallery(tmp_path / "people", [7, 11, 13], 3)
    assert ingest(ctx, OPERATOR, items_from_folder(tmp_path / "people"), "press").ingested == 9
    staging = synthetic_env / "uploads" / "abc123"
    write_gallery(staging, [17], 2, start_seed=50)
    assert ingest(ctx, OPERATOR, items_from_folder(staging), "press").ingested == 2
    _search(ctx, photos[11][1])
    return ctx, photos[11][0]


@pytest.mark.parametrize("kind", ["tar", "folder"])
def test_round_trip_into_an_empty_home(world: tuple[Context, Path], tmp_path: Path, kind: str) -> None:
    ctx, probe = world
    expected = _search(ctx, probe)
    dest = tmp_path / ("b.tar" if kind == "tar" else "b")
    res = backup_uc.backup(ctx, ADMIN, dest)
    assert res.audit.ok and res.faces == 11 and res.uploads == 2 and res.thumbnails_missing == 0
    if kind == "tar":
        with tarfile.open(dest) as tar:
            names = set(tar.getnames())
            assert {m.mode & 0o077 for m in tar.getmembers()} == {0}
    else:
        names = {p.relative_to(dest).as_posix() for p in dest.rglob("*")}
        assert stat.S_IMODE(dest.stat().st_mode) == 0o700
    assert {"facesearch.db", "backup.json", audit.HEAD_FILE} <= names
    assert audit.KEY_FILE not in names  # the key is kept apart: restore takes it separately
    assert any(n.startswith("index/collection-") for n in names) and any(n.startswith("uploads/abc123/") for n in names)
    # The backup is logged in the home it copies, and the copy holds that entry.
    assert audit.query(ctx.store, action=Action.BACKUP.value)[1] == 1
    # Writes after the snapshot are not in it.
    _search(ctx, probe)

    new_home = tmp_path / "restored"
    out = backup_uc.restore(_settings(new_home), ADMIN, dest, key=ctx.settings.home / audit.KEY_FILE)
    assert out.audit.ok and out.faces == 11
    again = Context.open(_settings(new_home))
    report = audit.verify_chain(again.store, again.audit.head_path)
    assert report.ok, report.problems
    entries, _ = audit.query(again.store, limit=3)
    assert [e["action"] for e in entries[:2]] == [Action.RESTORE.value, Action.BACKUP.value]
    assert doctor(again, OPERATOR).ok, doctor(again, OPERATOR)
    assert _search(again, probe) == expected
    # Uploaded photos now live in (and are served from) the new home.
    with again.store.session() as s:
        uploaded = [p for p in s.query(Image.path).all() if "abc123" in p[0]]
    assert len(uploaded) == 2 and all(
        Path(p[0]).is_relative_to(new_home / "uploads") and Path(p[0]).is_file() for p in uploaded
    )
    assert stat.S_IMODE((new_home / "facesearch.db").stat().st_mode) == 0o600
    assert stat.S_IMODE((new_home / audit.KEY_FILE).stat().st_mode) == 0o600


def test_restore_only_into_an_empty_home_and_only_an_intact_backup(world: tuple[Context, Path], tmp_path: Path) -> None:
    ctx, _ = world
    dest = tmp_path / "b"
    backup_uc.backup(ctx, ADMIN, dest)
    with pytest.raises(Conflict, match="not empty"):
        backup_uc.restore(ctx.settings, ADMIN, dest)
    with pytest.raises(Forbidden):
        backup_uc.restore(_settings(tmp_path / "h0"), OPERATOR, dest)
    with pytest.raises(Conflict):
        backup_uc.backup(ctx, ADMIN, dest)  # never over an existing backup
    with pytest.raises(Forbidden):
        backup_uc.backup(ctx, OPERATOR, tmp_path / "b2")
    damaged = tmp_path / "damaged"
    shutil.copytree(dest, damaged)
    thumb = next((damaged / "thumbs").rglob("*.jpg"))
    thumb.write_bytes(thumb.read_bytes()[:-10] + b"0123456789")
    target = tmp_path / "h1"
    with pytest.raises(Invalid, match="damaged: 1 file"):
        backup_uc.restore(_settings(target), ADMIN, damaged)
    assert not target.exists() or not any(target.iterdir())  # nothing left behind


def test_a_postgresql_home_is_sent_to_pg_dump(
    world: tuple[Context, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx, _ = world
    monkeypatch.setattr(ctx.store, "url", "postgresql+psycopg://db.example/facesearch")
    with pytest.raises(Invalid, match="pg_dump"):
        backup_uc.backup(ctx, ADMIN, tmp_path / "b")
    assert not (tmp_path / "b").exists()


def test_cli_backup_restore_then_verify_and_doctor(
    world: tuple[Context, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx, _ = world
    runner = CliRunner()
    tar = tmp_path / "home.tar"
    r = runner.invoke(cli_app, ["backup", str(tar), "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["faces"] == 11
    monkeypatch.setenv("FACESEARCH_HOME", str(tmp_path / "new"))
    r = runner.invoke(cli_app, ["restore", str(tar), "--key", str(ctx.settings.home / audit.KEY_FILE)])
    assert r.exit_code == 0, r.output
    assert "restored" in r.output and "audit log verified" in r.output
    assert runner.invoke(cli_app, ["audit", "verify"]).exit_code == 0
    r = runner.invoke(cli_app, ["doctor"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(cli_app, ["restore", str(tar)])
    assert r.exit_code == 2 and "not empty" in r.output
