"""The audit log: append-only, hash-chained; `facesearch audit verify` finds an edited or deleted entry."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DatabaseError
from typer.testing import CliRunner

from facesearch.cli import app as cli_app
from facesearch.store import Store, audit
from facesearch.vocabulary import Action


@pytest.fixture
def log(home: Path) -> audit.AuditLog:
    home.mkdir(parents=True, exist_ok=True)
    store = Store(f"sqlite:///{home / 'facesearch.db'}")
    log = audit.AuditLog(store, home / "audit-head.json")
    for i in range(6):
        log.record(
            Action.SEARCH,
            actor="ann",
            role="examiner",
            ip="10.0.0.5",
            case_ref=f"CASE-{i % 2}",
            purpose="lead",
            collections=["lfw"],
            model="yunet-reid",
            threshold=0.41 + i / 100,
            probe_sha256="ab" * 32,
            results=[{"face_id": i, "score": 0.5}],
            details={"n": i},
        )
    return log


def _verify(home: Path) -> tuple[int, str]:
    r = CliRunner().invoke(cli_app, ["audit", "verify"], env={"FACESEARCH_HOME": str(home)})
    return r.exit_code, r.output


def _raw(log: audit.AuditLog, sql: str) -> None:
    # An attacker with the database file: the append-only triggers go first, then the history is changed.
    with log.store.database.begin() as conn:
        conn.execute(text("DROP TRIGGER IF EXISTS audit_log_no_update"))
        conn.execute(text("DROP TRIGGER IF EXISTS audit_log_no_delete"))
        conn.execute(text(sql))


def test_chain_links_every_entry(log: audit.AuditLog, home: Path) -> None:
    report = audit.verify_chain(log.store, log.head_path)
    assert report.ok and report.entries == 6 and report.head_seq == 6
    entries, total = audit.query(log.store)
    assert total == 6
    by_seq = {e["seq"]: e for e in entries}
    assert by_seq[1]["prev_hash"] == audit.GENESIS
    for seq in range(2, 7):
        assert by_seq[seq]["prev_hash"] == by_seq[seq - 1]["hash"]
    code, out = _verify(home)
    assert code == 0 and "ok: 6 entries" in out


def test_the_database_refuses_update_and_delete(log: audit.AuditLog) -> None:
    with pytest.raises(DatabaseError, match="append-only"), log.store.database.begin() as conn:
        conn.execute(text("UPDATE audit_log SET case_ref = 'X' WHERE seq = 2"))
    with pytest.raises(DatabaseError, match="append-only"), log.store.database.begin() as conn:
        conn.execute(text("DELETE FROM audit_log WHERE seq = 2"))


def test_edited_entry_is_detected(log: audit.AuditLog, home: Path) -> None:
    _raw(log, "UPDATE audit_log SET case_ref = 'CASE-OTHER' WHERE seq = 3")
    report = audit.verify_chain(log.store, log.head_path)
    assert not report.ok and any("entry 3" in p and "edited" in p for p in report.problems)
    code, out = _verify(home)
    assert code == 1 and "TAMPERED" in out and "entry 3" in out


def test_edited_entry_with_recomputed_hash_breaks_the_next_link(log: audit.AuditLog, home: Path) -> None:
    with log.store.session() as s:
        from facesearch.store.audit import AuditEntry

        row = s.get(AuditEntry, 4)
        fields = {k: getattr(row, k) for k in audit.FIELDS}
    fields["threshold"] = 0.1
    forged = audit.entry_hash(fields)
    _raw(log, f"UPDATE audit_log SET threshold = 0.1, hash = '{forged}' WHERE seq = 4")
    report = audit.verify_chain(log.store, log.head_path)
    assert not report.ok and any("entry 5" in p and "link" in p for p in report.problems)
    assert _verify(home)[0] == 1


def test_deleted_entries_are_detected(log: audit.AuditLog, home: Path) -> None:
    _raw(log, "DELETE FROM audit_log WHERE seq = 2")
    report = audit.verify_chain(log.store, log.head_path)
    assert not report.ok and any("missing" in p for p in report.problems)
    assert _verify(home)[0] == 1


def test_deleting_the_newest_entries_is_caught_by_the_checkpoint(log: audit.AuditLog, home: Path) -> None:
    _raw(log, "DELETE FROM audit_log WHERE seq >= 5")
    report = audit.verify_chain(log.store, log.head_path)
    assert not report.ok and any("newest entries deleted" in p for p in report.problems)
    code, out = _verify(home)
    assert code == 1 and "newest" in out


def test_appends_continue_the_chain_across_instances(log: audit.AuditLog) -> None:
    other = audit.AuditLog(log.store, log.head_path)
    other.record(Action.LOGIN, actor="bob", ip="127.0.0.1")
    log.record(Action.LOGOUT, actor="bob", ip="127.0.0.1")
    assert audit.verify_chain(log.store, log.head_path).ok
    assert audit.query(log.store)[1] == 8


def test_export_csv_and_json_for_a_date_range(log: audit.AuditLog, home: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    env = {"FACESEARCH_HOME": str(home)}
    out = tmp_path / "audit.json"
    r = runner.invoke(
        cli_app, ["audit", "export", "--format", "json", "--since", "2000-01-01", "--out", str(out)], env=env
    )
    assert r.exit_code == 0, r.output
    data = json.loads(out.read_text())
    assert data["count"] == 6 and data["entries"][0]["seq"] == 1 and data["entries"][0]["results"][0]["face_id"] == 0
    r = runner.invoke(cli_app, ["audit", "export", "--format", "csv", "--until", "2000-01-01"], env=env)
    assert r.exit_code == 0
    rows = list(csv.reader(io.StringIO(r.stdout)))
    assert rows[0][:3] == ["seq", "ts", "actor"] and len(rows) == 1
    r = runner.invoke(cli_app, ["audit", "export", "--format", "csv", "--case", "CASE-1"], env=env)
    records = list(csv.DictReader(io.StringIO(r.stdout)))
    assert len(records) == 3 and {row["case_ref"] for row in records} == {"CASE-1"}
    # Each export is itself logged (as the auditor the command acts for), and the chain stays intact.
    exports, n = audit.query(log.store, action="export")
    assert n == 3 and {e["role"] for e in exports} == {"auditor"}
    assert audit.verify_chain(log.store, log.head_path).ok
    assert runner.invoke(cli_app, ["audit", "export", "--since", "last week"], env=env).exit_code == 2
    # Reading the log is the auditor's: another role is refused by the rules (exit 4), and nothing is logged.
    assert runner.invoke(cli_app, ["--role", "examiner", "audit", "export"], env=env).exit_code == 4
    assert audit.query(log.store, action="export")[1] == 3


def test_parse_when() -> None:
    assert audit.parse_when("2026-01-02") == "2026-01-02T00:00:00.000000+00:00"
    assert audit.parse_when("2026-01-02", end=True) == "2026-01-03T00:00:00.000000+00:00"
    assert audit.parse_when("2026-01-02T03:04:05Z") == "2026-01-02T03:04:05.000000+00:00"
    with pytest.raises(ValueError):
        audit.parse_when("soon")
