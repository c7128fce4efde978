"""Append-only, hash-chained audit log of everything done with faces: who, when, from where, why, what came back.

Each entry's hash is SHA-256 over the canonical JSON of all its fields, including the previous entry's
hash. Editing an entry breaks its own hash; deleting or inserting one breaks the sequence and the link
of the next. Deleting the newest entries leaves a valid shorter chain, so the head (sequence number and
hash) is also written to a checkpoint file beside the database, and `verify` prints it so it can be kept
elsewhere (a ticket, a mail, a write-once store) as an external anchor.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError, OperationalError

from .accounts import AuditEntry
from .db import Store

GENESIS = "0" * 64
# The fields a hash covers, in the order exports list them.
FIELDS = ("seq", "ts", "actor", "role", "action", "outcome", "ip", "case_ref", "purpose", "collections",
          "model", "threshold", "probe_sha256", "results", "details", "prev_hash")
JSON_FIELDS = ("collections", "results", "details")

# Actions, stable: reports and filters select on them.
SEARCH = "search"
VERIFY = "verify"
VIEW_MATCH = "view_match"
VIEW_THUMBNAIL = "view_thumbnail"
EXPORT = "export"
INGEST = "ingest"
DELETE = "delete"
LOGIN = "login"
LOGIN_FAILED = "login_failed"
LOGOUT = "logout"
USER_ADD = "user_add"
USER_CHANGE = "user_change"
TOKEN_CREATE = "token_create"
TOKEN_REVOKE = "token_revoke"
COLLECTION_CREATE = "collection_create"
AUDIT_READ = "audit_read"
OPTOUT_ADD = "optout_add"
OPTOUT_ERASE = "optout_erase"
OPTOUT_BLOCK = "optout_block"
OPTOUT_HIDE = "optout_hide"
SUBJECT_REPORT = "subject_report"
PURGE = "purge"
DOCTOR = "doctor"
SEARCH_SUSPEND = "search_suspend"
SEARCH_RESUME = "search_resume"
PURPOSE_ADD = "purpose_add"
PURPOSE_RETIRE = "purpose_retire"
PROPOSE = "lead_propose"
CONFIRM = "lead_confirm"
REJECT = "lead_reject"
CASE_REPORT = "case_report"
VIEW_SEARCH = "view_search"
ACTIONS = (SEARCH, VERIFY, VIEW_MATCH, VIEW_THUMBNAIL, EXPORT, INGEST, DELETE, LOGIN, LOGIN_FAILED, LOGOUT,
           USER_ADD, USER_CHANGE, TOKEN_CREATE, TOKEN_REVOKE, COLLECTION_CREATE, OPTOUT_ADD, OPTOUT_ERASE,
           OPTOUT_BLOCK, OPTOUT_HIDE, SUBJECT_REPORT, PURGE, DOCTOR, SEARCH_SUSPEND, SEARCH_RESUME, PURPOSE_ADD,
           PURPOSE_RETIRE, PROPOSE, CONFIRM, REJECT, CASE_REPORT, VIEW_SEARCH)


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def entry_hash(fields: dict[str, Any]) -> str:
    return hashlib.sha256(_dumps({k: fields.get(k) for k in FIELDS}).encode()).hexdigest()


def now_iso() -> str:
    # Fixed width UTC ISO strings sort and compare correctly as text, which the date filters rely on.
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def _row_fields(row: AuditEntry) -> dict[str, Any]:
    return {k: getattr(row, k) for k in FIELDS}


def entry_dict(row: AuditEntry) -> dict[str, Any]:
    """An entry for display or export: JSON fields decoded, hash included."""
    out = _row_fields(row)
    for k in JSON_FIELDS:
        out[k] = json.loads(out[k]) if out[k] else None
    out["hash"] = row.hash
    return out


HEAD_FILE = "audit-head.json"


class AuditLog:
    """Appends entries. One instance per process; a lock keeps in-process writers in order, and a
    unique constraint on `prev_hash` makes writers in other processes retry instead of forking the chain."""

    def __init__(self, store: Store, head_path: Path | None = None) -> None:
        self.store = store
        self.head_path = head_path
        self._lock = threading.Lock()

    def record(self, action: str, *, actor: str | None = None, role: str | None = None, outcome: str = "ok",
               ip: str | None = None, case_ref: str | None = None, purpose: str | None = None,
               collections: list[str] | None = None, model: str | None = None, threshold: float | None = None,
               probe_sha256: str | None = None, results: Any = None, details: dict[str, Any] | None = None
               ) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "actor": actor, "role": role, "action": action, "outcome": outcome, "ip": ip,
            "case_ref": case_ref, "purpose": purpose,
            "collections": _dumps(collections) if collections is not None else None,
            "model": model, "threshold": float(threshold) if threshold is not None else None,
            "probe_sha256": probe_sha256,
            "results": _dumps(results) if results is not None else None,
            "details": _dumps(details) if details else None,
        }
        with self._lock:
            for attempt in range(50):
                try:
                    return self._append(fields)
                except (IntegrityError, OperationalError):
                    # Another process appended first (or held the write lock): read the new tail, retry.
                    if attempt == 49:
                        raise
                    threading.Event().wait(0.01 * (attempt + 1))
        raise AssertionError("unreachable")

    def _append(self, fields: dict[str, Any]) -> dict[str, Any]:
        with self.store.session.begin() as s:
            last = s.execute(select(AuditEntry.seq, AuditEntry.hash).order_by(AuditEntry.seq.desc()).limit(1)).first()
            seq, prev = (last[0] + 1, last[1]) if last else (1, GENESIS)
            full = dict(fields, seq=seq, ts=now_iso(), prev_hash=prev)
            full["hash"] = entry_hash(full)
            s.add(AuditEntry(**full))
        self._write_head(seq, full["hash"])
        return full

    def _write_head(self, seq: int, digest: str) -> None:
        if self.head_path is None:
            return
        try:
            current = read_head(self.head_path)
            if current and current[0] >= seq:
                return
            tmp = self.head_path.with_name(f".{self.head_path.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps({"seq": seq, "hash": digest}))
            os.replace(tmp, self.head_path)
        except OSError:
            pass  # the checkpoint is a second line of defence; the chain in the database is the record


def read_head(path: Path) -> tuple[int, str] | None:
    try:
        data = json.loads(path.read_text())
        return int(data["seq"]), str(data["hash"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


@dataclass
class ChainReport:
    ok: bool
    entries: int
    head_seq: int
    head_hash: str
    problems: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "entries": self.entries, "head_seq": self.head_seq, "head_hash": self.head_hash,
                "problems": self.problems}


def iter_entries(store: Store, batch: int = 5000) -> Iterator[AuditEntry]:
    last = 0
    while True:
        with store.session() as s:
            rows = list(s.scalars(select(AuditEntry).where(AuditEntry.seq > last)
                                  .order_by(AuditEntry.seq).limit(batch)))
        if not rows:
            return
        yield from rows
        last = rows[-1].seq


def verify_chain(store: Store, head_path: Path | None = None, max_problems: int = 100) -> ChainReport:
    """Recompute every hash and link; report each entry that was edited, removed or inserted."""
    problems: list[str] = []
    prev_hash, expected_seq, count = GENESIS, 1, 0
    for row in iter_entries(store):
        count += 1
        if row.seq != expected_seq:
            problems.append(f"entries {expected_seq}..{row.seq - 1} are missing (deleted)"
                            if row.seq > expected_seq else f"entry {row.seq} is out of sequence")
        if row.prev_hash != prev_hash:
            problems.append(f"entry {row.seq}: link to the previous entry is broken (an entry before it was "
                            "deleted, inserted or edited)")
        if entry_hash(_row_fields(row)) != row.hash:
            problems.append(f"entry {row.seq}: content does not match its hash (edited)")
        prev_hash, expected_seq = row.hash, row.seq + 1
        if len(problems) >= max_problems:
            problems.append("... stopped after too many problems")
            break
    head_seq = expected_seq - 1
    if head_path is not None:
        head = read_head(head_path)
        if head is not None:
            if head[0] > head_seq:
                problems.append(f"the checkpoint records entry {head[0]} but the log ends at {head_seq} "
                                "(newest entries deleted)")
            elif head[0] == head_seq and head[1] != prev_hash:
                problems.append(f"entry {head_seq}: hash differs from the checkpoint")
    return ChainReport(not problems, count, head_seq, prev_hash, problems)


# Reading and export -----------------------------------------------------------------------------
def parse_when(value: str | None, end: bool = False) -> str | None:
    """A date (`2026-11-23`, whole day) or ISO date-time, as the UTC ISO string stored in `ts`."""
    if not value:
        return None
    value = value.strip()
    try:
        if len(value) == 10:
            d = date.fromisoformat(value)
            dt = datetime.combine(d + timedelta(days=1) if end else d, time(), timezone.utc)
        else:
            dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
            if dt.tzinfo is None:
                dt = dt.replace(tzinfo=timezone.utc)
            dt = dt.astimezone(timezone.utc)
    except ValueError as exc:
        raise ValueError(f"not a date or ISO date-time: {value!r}") from exc
    return dt.isoformat(timespec="microseconds")


def _filtered(stmt: Any, user: str | None, case_ref: str | None, action: str | None,
              since: str | None, until: str | None) -> Any:
    if user:
        stmt = stmt.where(AuditEntry.actor == user)
    if case_ref:
        stmt = stmt.where(AuditEntry.case_ref == case_ref)
    if action:
        stmt = stmt.where(AuditEntry.action == action)
    lo, hi = parse_when(since), parse_when(until, end=True)
    if lo:
        stmt = stmt.where(AuditEntry.ts >= lo)
    if hi:
        stmt = stmt.where(AuditEntry.ts < hi)
    return stmt


def query(store: Store, *, user: str | None = None, case_ref: str | None = None, action: str | None = None,
          since: str | None = None, until: str | None = None, limit: int = 100, offset: int = 0
          ) -> tuple[list[dict[str, Any]], int]:
    """Entries matching the filters, newest first, and how many match in all."""
    with store.session() as s:
        total = s.scalar(_filtered(select(func.count(AuditEntry.seq)), user, case_ref, action, since, until)) or 0
        rows = s.scalars(_filtered(select(AuditEntry), user, case_ref, action, since, until)
                         .order_by(AuditEntry.seq.desc()).limit(limit).offset(offset)).all()
    return [entry_dict(r) for r in rows], int(total)


def export(store: Store, fmt: str, since: str | None = None, until: str | None = None,
           user: str | None = None, case_ref: str | None = None, action: str | None = None) -> str:
    """The entries in a date range as CSV or JSON text, oldest first, with their hashes so a reader
    can re-check each entry and the links between consecutive ones."""
    with store.session() as s:
        rows = [entry_dict(r) for r in s.scalars(
            _filtered(select(AuditEntry), user, case_ref, action, since, until).order_by(AuditEntry.seq))]
    if fmt == "json":
        return json.dumps({"exported_at": now_iso(), "since": since, "until": until, "count": len(rows),
                           "entries": rows}, indent=1, ensure_ascii=False)
    if fmt != "csv":
        raise ValueError("format must be csv or json")
    buf = io.StringIO()
    writer = csv.writer(buf)
    cols = (*FIELDS, "hash")
    writer.writerow(cols)
    for r in rows:
        writer.writerow(["" if r[c] is None else _dumps(r[c]) if c in JSON_FIELDS else r[c] for c in cols])
    return buf.getvalue()
