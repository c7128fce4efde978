"""The audit log never heals a deletion (docs/security.md): opening a home writes nothing that hides what was
there, a missing checkpoint is a failure and not a fresh start, the checkpoint's hash is compared at its own
sequence number, and a log that no longer matches its checkpoint takes no entry until an admin reseals it
(which `verify` keeps reporting). Also: secrets never reach an error or an entry (a Milvus password with an
unencoded `/`, `#` or `?`).

Each test reproduces an attack that succeeded against 0.3.0 (synthetic pack: plumbing, not accuracy)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import text
from support.helpers import create_collection
from support.synthetic import write_gallery, write_photo
from typer.testing import CliRunner

from facesearch.app import audit as audit_uc
from facesearch.app import purposes, searching
from facesearch.app.context import Actor, Context
from facesearch.app.errors import Forbidden
from facesearch.app.ingest import ingest, items_from_folder
from facesearch.cli import app as cli_app
from facesearch.config import Settings
from facesearch.errors import StorageError
from facesearch.services.uploads import Photo
from facesearch.store import audit

ADMIN = Actor("root", "admin")
OPERATOR = Actor("op", "operator")
EXAMINER = Actor("eve", "examiner")
runner = CliRunner()


@pytest.fixture
def world(synthetic_env: Path, tmp_path: Path) -> tuple[Context, Path]:
    ctx = Context.open(Settings(workers=1))
    purposes.add_purpose(ctx, ADMIN, "TEST", "tests")
    create_collection(ctx.store, "press", model="synthetic")
    write_gallery(tmp_path / "g", [1, 2], 2)
    assert ingest(ctx, OPERATOR, items_from_folder(tmp_path / "g"), "press").ingested == 4
    probe = write_photo(tmp_path / "probe.jpg", [2], seed=999, variant=5)
    for _ in range(3):
        _search(ctx, probe)
    return ctx, probe


def _search(ctx: Context, probe: Path) -> int:
    req = searching.SearchRequest(case_ref="CASE-1", purpose="TEST")
    return searching.search(ctx, EXAMINER, Photo.from_path(probe), req).search_id


def _sql(ctx: Context, *statements: str) -> None:
    with ctx.store.database.begin() as conn:
        for s in statements:
            conn.execute(text(s))


def _drop_triggers(ctx: Context) -> None:
    _sql(ctx, "DROP TRIGGER audit_log_no_update", "DROP TRIGGER audit_log_no_delete")


def _verify_cli() -> tuple[int, str]:
    r = runner.invoke(cli_app, ["audit", "verify"])
    return r.exit_code, r.output


def _head(ctx: Context) -> Path:
    assert ctx.audit.head_path is not None
    return ctx.audit.head_path


def test_deleting_the_tail_and_the_checkpoint_is_never_healed(world) -> None:
    ctx, probe = world
    n = audit.query(ctx.store)[1]
    # The attacker drops the triggers, deletes the newest entries and the checkpoint.
    _drop_triggers(ctx)
    _sql(ctx, f"DELETE FROM audit_log WHERE seq > {n - 2}")
    _head(ctx).unlink()
    ctx.store.close()
    # 0.3.0: opening the home restored the triggers, appended an entry and wrote a fresh checkpoint, so
    # `audit verify` printed "ok". Now opening writes no checkpoint, and verify fails.
    again = Context.open(Settings(workers=1))
    assert not _head(again).exists()
    assert audit.query(again.store, action="audit_triggers")[1] == 0  # the log takes no entry
    code, out = _verify_cli()
    assert code == 1 and "checkpoint" in out and "missing" in out
    # Nothing can be appended to hide it: a search is refused as a storage failure (CLI exit 5) ...
    with pytest.raises(StorageError, match="checkpoint"):
        _search(again, probe)
    r = runner.invoke(cli_app, ["--as", "eve", "search", str(probe), "--case", "C", "--purpose", "TEST"])
    assert r.exit_code == 5 and "audit reseal" in r.output
    assert audit.query(again.store)[1] == n - 2
    # ... until an admin reseals it: work goes on, and verify reports the break from then on.
    with pytest.raises(Forbidden, match="role admin"):
        audit_uc.reseal(again, EXAMINER, "go on")
    checked = audit_uc.reseal(again, ADMIN, "entries lost in incident 7; investigated")
    assert not checked.ok and any("resealed by root" in p for p in checked.problems)
    _search(again, probe)
    code, out = _verify_cli()
    assert code == 1 and "resealed by root" in out and "missing" in out
    entry = audit.query(again.store, action="audit_reseal")[0][0]
    assert entry["details"]["reason"].startswith("entries lost") and entry["details"]["problems"]


def test_deleting_every_entry_and_the_checkpoint_is_caught(world) -> None:
    ctx, probe = world
    _drop_triggers(ctx)
    _sql(ctx, "DELETE FROM audit_log")
    _head(ctx).unlink()
    report = audit.verify_chain(ctx.store, _head(ctx))
    assert not report.ok and any("every entry deleted" in p for p in report.problems)
    # One entry may follow (the log looks new: here, opening the home notes the restored triggers), but it
    # starts no checkpoint: verify still fails, and nothing more is appended.
    fresh = Context.open(Settings(workers=1))
    assert [e["action"] for e in audit.query(fresh.store)[0]] == ["audit_triggers"]
    assert not _head(fresh).exists()
    with pytest.raises(StorageError):
        _search(fresh, probe)
    report = audit.verify_chain(fresh.store, _head(fresh))
    assert not report.ok and any("missing" in p for p in report.problems)


def test_triggers_restored_by_the_attacker_do_not_heal_a_deleted_tail(world) -> None:
    ctx, probe = world
    n = audit.query(ctx.store)[1]
    _drop_triggers(ctx)
    _sql(ctx, f"DELETE FROM audit_log WHERE seq > {n - 2}")
    ctx.store.close()
    again = Context.open(Settings(workers=1))  # restores the triggers; the log takes no entry
    # 0.3.0: verify failed only until the next search wrote entries up to and past the checkpoint.
    for _ in range(4):
        with pytest.raises(StorageError):
            _search(again, probe)
    report = audit.verify_chain(again.store, _head(again))
    assert not report.ok and any("newest entries deleted" in p for p in report.problems)


def test_the_checkpoint_is_compared_at_its_own_sequence_number(world) -> None:
    ctx, _ = world
    n = audit.query(ctx.store)[1]
    # A checkpoint of an earlier entry whose hash is not that entry's (the log from there on was replaced).
    _head(ctx).write_text(json.dumps({"seq": n - 2, "hash": "0" * 64}))
    report = audit.verify_chain(ctx.store, _head(ctx))
    assert not report.ok and any(f"entry {n - 2}: hash differs from the checkpoint" in p for p in report.problems)
    # And the writer does not move such a checkpoint on.
    with pytest.raises(StorageError):
        ctx.audit.record("login", actor="x")
    assert json.loads(_head(ctx).read_text())["seq"] == n - 2


def test_dropped_triggers_are_restored_after_the_chain_is_checked(world) -> None:
    ctx, _ = world
    _drop_triggers(ctx)
    ctx.store.close()
    again = Context.open(Settings(workers=1))
    entry = audit.query(again.store, action="audit_triggers")[0][0]
    assert entry["outcome"] == "warning" and entry["details"] == {
        "restored": ["audit_log_no_update", "audit_log_no_delete"]
    }
    assert audit.verify_chain(again.store, _head(again)).ok
    # An entry deleted from the middle while the triggers were gone: the entry says what verification found.
    _drop_triggers(again)
    _sql(again, "DELETE FROM audit_log WHERE seq = 2")
    again.store.close()
    third = Context.open(Settings(workers=1))
    entry = audit.query(third.store, action="audit_triggers")[0][0]
    assert entry["details"]["chain_ok"] is False and any("missing" in p for p in entry["details"]["problems"])


@pytest.mark.parametrize("password", ["Zq9/Wk7", "Zq9#Wk7", "Zq9?Wk7", "Zq9@x/Wk7", "Zq9Wk7"])
def test_a_milvus_password_never_reaches_an_error_or_an_entry(
    world, password: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx, probe = world
    uri = f"milvus://root:{password}@127.0.0.1:1/ns"
    monkeypatch.setenv("FACESEARCH_INDEX_URI", uri)
    r = runner.invoke(cli_app, ["search", str(probe), "--case", "CASE-M", "--purpose", "TEST", "--json"])
    assert r.exit_code != 0
    assert "Zq9" not in r.output and "Wk7" not in r.output, r.output
    entry = audit.query(ctx.store, action="search", limit=1)[0][0]
    assert entry["outcome"] == "refused" and entry["case_ref"] == "CASE-M"
    stored = json.dumps(entry)
    assert "Zq9" not in stored and "Wk7" not in stored, stored
    assert "Milvus" in entry["details"]["reason"]
