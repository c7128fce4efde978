"""Append-only, keyed hash chain of everything done with faces: who, when, from where, why, what came back.

Each entry's hash is an HMAC-SHA256, under a key kept outside the database (`audit.key` in the home, mode
0600, created on first use), over the canonical JSON of all its fields, including the previous entry's
hash. Editing an entry breaks its own hash; deleting or inserting one breaks the sequence and the link
of the next; someone who can write the database but not read the key cannot append or rewrite an entry
with a valid hash. Deleting the newest entries leaves a valid shorter chain, so the head (sequence number
and hash) is also written to a checkpoint file beside the database (a missing checkpoint is a failure),
and `verify` prints it so it can be kept elsewhere (a ticket, a mail, a write-once store).

Entries written before the home had a key (by 0.1.0 and 0.2.0) carry a plain SHA-256; the key file records
the first entry under the key (`from_seq`), entries before it are checked by plain hash, and the keyed part
is anchored to them by the link of its first entry. An `audit_key` entry marks that point in the log.

Every failure to write an entry raises `AuditWriteError`: the action it records must not happen.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import hmac
import io
import json
import logging
import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError, OperationalError

from ..errors import StorageError
from ..fsutil import write_atomic
from ..vocabulary import ACTIONS as ACTIONS  # importable from here while callers move to `vocabulary`
from ..vocabulary import Action
from .accounts import AuditEntry
from .db import Store
from .guard import cause_of

GENESIS = "0" * 64
# PostgreSQL advisory lock that orders appenders of every process (the same constant in all of them).
_PG_APPEND_LOCK = 0x61756469  # "audi"
# The fields a hash covers, in the order exports list them.
FIELDS = (
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
JSON_FIELDS = ("collections", "results", "details")

# The action names, kept here while callers move to `vocabulary.Action` (the one list).
SEARCH = Action.SEARCH.value
VERIFY = Action.VERIFY.value
VIEW_MATCH = Action.VIEW_MATCH.value
VIEW_THUMBNAIL = Action.VIEW_THUMBNAIL.value
EXPORT = Action.EXPORT.value
INGEST = Action.INGEST.value
DELETE = Action.DELETE.value
LOGIN = Action.LOGIN.value
LOGIN_FAILED = Action.LOGIN_FAILED.value
LOGOUT = Action.LOGOUT.value
USER_ADD = Action.USER_ADD.value
USER_CHANGE = Action.USER_CHANGE.value
TOKEN_CREATE = Action.TOKEN_CREATE.value
TOKEN_REVOKE = Action.TOKEN_REVOKE.value
COLLECTION_CREATE = Action.COLLECTION_CREATE.value
OPTOUT_ADD = Action.OPTOUT_ADD.value
OPTOUT_ERASE = Action.OPTOUT_ERASE.value
OPTOUT_BLOCK = Action.OPTOUT_BLOCK.value
OPTOUT_HIDE = Action.OPTOUT_HIDE.value
SUBJECT_REPORT = Action.SUBJECT_REPORT.value
PURGE = Action.PURGE.value
DOCTOR = Action.DOCTOR.value
SEARCH_SUSPEND = Action.SEARCH_SUSPEND.value
SEARCH_RESUME = Action.SEARCH_RESUME.value
PURPOSE_ADD = Action.PURPOSE_ADD.value
PURPOSE_RETIRE = Action.PURPOSE_RETIRE.value
PROPOSE = Action.PROPOSE.value
CONFIRM = Action.CONFIRM.value
REJECT = Action.REJECT.value
CASE_REPORT = Action.CASE_REPORT.value
VIEW_SEARCH = Action.VIEW_SEARCH.value
AUDIT_KEY = Action.AUDIT_KEY.value
AUDIT_TRIGGERS = Action.AUDIT_TRIGGERS.value
BACKUP = Action.BACKUP.value
RESTORE = Action.RESTORE.value
INDEX_REBUILD = Action.INDEX_REBUILD.value
PEOPLE_CLUSTER = Action.PEOPLE_CLUSTER.value
PEOPLE_VIEW = Action.PEOPLE_VIEW.value
PEOPLE_CORRECT = Action.PEOPLE_CORRECT.value
PEOPLE_UNDO = Action.PEOPLE_UNDO.value
PEOPLE_TOGETHER = Action.PEOPLE_TOGETHER.value

log = logging.getLogger("facesearch.audit")


class AuditWriteError(StorageError):
    """An audit entry (or its checkpoint) could not be written. The action it records must not happen.

    The message names the cause (read-only or full home, missing permission) and never the entry's content."""


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def entry_hash(fields: dict[str, Any], key: bytes | None = None) -> str:
    """SHA-256 of the canonical JSON of an entry's fields; with a key, HMAC-SHA256 under it."""
    data = _dumps({k: fields.get(k) for k in FIELDS}).encode()
    if key is None:
        return hashlib.sha256(data).hexdigest()
    return hmac.new(key, data, hashlib.sha256).hexdigest()


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
KEY_FILE = "audit.key"


@dataclass(frozen=True)
class ChainKey:
    """The secret of the keyed chain and the first entry written under it."""

    secret: bytes
    from_seq: int


def read_key(path: Path) -> ChainKey | None:
    """The key in `path`, or None when there is no key file. An unreadable one raises AuditWriteError."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise AuditWriteError(f"the audit key {path} cannot be read: {cause_of(exc)}") from None
    try:
        return ChainKey(bytes.fromhex(str(data["key"])), int(data["from_seq"]))
    except (KeyError, TypeError, ValueError):
        raise AuditWriteError(f"the audit key {path} is damaged; restore it from a backup") from None


def _create_key(path: Path, from_seq: int) -> ChainKey:
    """Write a new key file (0600) unless another process got there first; returns the key in the file."""
    key = ChainKey(secrets.token_bytes(32), from_seq)
    body = json.dumps({"key": key.secret.hex(), "from_seq": from_seq, "created_at": now_iso()})
    with contextlib.suppress(FileExistsError):  # the first process to create it wins; the others read its key
        write_atomic(path, body, exclusive=True)
    found = read_key(path)
    assert found is not None
    return found


def _retryable(exc: Exception) -> bool:
    """A lost race with another writer (same tail read) or a busy database: worth reading the tail again."""
    if isinstance(exc, IntegrityError):
        return True
    text = str(getattr(exc, "orig", exc)).lower()
    return "locked" in text or "busy" in text


class AuditLog:
    """Appends entries. One instance per process; a lock keeps in-process writers in order, and a
    unique constraint on `prev_hash` makes writers in other processes retry instead of forking the chain
    (on PostgreSQL they first queue on an advisory lock, so a retry is rare).

    With a `head_path`, the chain is keyed with the key file beside it (`key_path`, default `audit.key` in
    the same folder), created on the first append. Without one (tests, tools) entries carry a plain hash."""

    def __init__(self, store: Store, head_path: Path | None = None, key_path: Path | None = None) -> None:
        self.store = store
        self.head_path = head_path
        self.key_path = key_path or (head_path.with_name(KEY_FILE) if head_path is not None else None)
        self._key: ChainKey | None = None
        self._lock = threading.Lock()

    def record(
        self,
        action: Action | str,
        *,
        actor: str | None = None,
        role: str | None = None,
        outcome: str = "ok",
        ip: str | None = None,
        case_ref: str | None = None,
        purpose: str | None = None,
        collections: list[str] | None = None,
        model: str | None = None,
        threshold: float | None = None,
        probe_sha256: str | None = None,
        results: Any = None,
        details: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "actor": actor,
            "role": role,
            "action": Action(action).value,
            "outcome": outcome,
            "ip": ip,
            "case_ref": case_ref,
            "purpose": purpose,
            "collections": _dumps(collections) if collections is not None else None,
            "model": model,
            "threshold": float(threshold) if threshold is not None else None,
            "probe_sha256": probe_sha256,
            "results": _dumps(results) if results is not None else None,
            "details": _dumps(details) if details else None,
        }
        with self._lock:
            key = self._ensure_key()
            return self._append_retrying(fields, key)

    def _append_retrying(self, fields: dict[str, Any], key: ChainKey | None) -> dict[str, Any]:
        for attempt in range(50):
            try:
                return self._append(fields, key)
            except (IntegrityError, OperationalError) as exc:
                # Another process appended first (or held the write lock): read the new tail, retry. Any
                # other failure (a read-only or full home) is final: the caller's action must not happen.
                if attempt == 49 or not _retryable(exc):
                    raise AuditWriteError(f"the audit log cannot be written: {cause_of(exc)}") from exc
                threading.Event().wait(0.01 * (attempt + 1))
            except OSError as exc:
                raise AuditWriteError(f"the audit checkpoint cannot be written: {cause_of(exc)}") from exc
            except Exception as exc:
                if isinstance(exc, AuditWriteError):
                    raise
                raise AuditWriteError(f"the audit log cannot be written: {cause_of(exc)}") from exc
        raise AssertionError("unreachable")

    def _ensure_key(self) -> ChainKey | None:
        """The chain's key, read from its file or created there on first use.

        A home whose log already has entries when the key is created (one made by 0.1.0 or 0.2.0) gets an
        `audit_key` entry first: entries before it are verifiable by plain hash only. If the newest entry
        does not verify by plain hash, the home had a key that is gone; a new one is started and the entry
        says so, and `verify` reports the entries written with the lost key as unverifiable."""
        if self._key is not None or self.key_path is None:
            return self._key
        try:
            found = read_key(self.key_path)
            if found is None:
                with self.store.session() as s:
                    tail = s.scalars(select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(1)).first()
                from_seq = tail.seq + 1 if tail is not None else 1
                found = _create_key(self.key_path, from_seq)
                if tail is not None and found.from_seq == from_seq:
                    lost = entry_hash(_row_fields(tail)) != tail.hash
                    details: dict[str, Any] = {"from_seq": from_seq, "plain_until": from_seq - 1}
                    if lost:
                        details["previous_key"] = "missing"
                        log.warning(
                            "the audit key %s was missing; a new one was started at entry %d, and "
                            "entries written with the old key can no longer be verified",
                            self.key_path,
                            from_seq,
                        )
                    self._key = found
                    self._append_retrying(
                        {
                            "actor": "system:audit",
                            "role": "system",
                            "action": AUDIT_KEY,
                            "outcome": "warning" if lost else "ok",
                            "details": _dumps(details),
                        },
                        found,
                    )
        except AuditWriteError:
            raise
        except Exception as exc:
            raise AuditWriteError(f"the audit key cannot be set up: {cause_of(exc)}") from exc
        self._key = found
        return found

    def _append(self, fields: dict[str, Any], key: ChainKey | None) -> dict[str, Any]:
        with self.store.session.begin() as s:
            if s.get_bind().dialect.name == "postgresql":
                # Writers queue here until the previous append commits, so each reads the committed tail;
                # without it, concurrent appends under READ COMMITTED would mostly lose on prev_hash and
                # retry. SQLite's single writer orders them already.
                s.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_APPEND_LOCK})
            last = s.execute(select(AuditEntry.seq, AuditEntry.hash).order_by(AuditEntry.seq.desc()).limit(1)).first()
            seq, prev = (last[0] + 1, last[1]) if last else (1, GENESIS)
            full = dict(fields, seq=seq, ts=now_iso(), prev_hash=prev)
            keyed = key is not None and seq >= key.from_seq
            full["hash"] = entry_hash(full, key.secret if keyed and key is not None else None)
            s.add(AuditEntry(**full))
        self._write_head(seq, full["hash"])
        return full

    def _write_head(self, seq: int, digest: str) -> None:
        """Advance the checkpoint. A failure raises: the entry is in the database, but the action it
        records must not go ahead while its tail is unprotected."""
        if self.head_path is None:
            return
        current = read_head(self.head_path)
        if current and current[0] >= seq:
            return
        write_atomic(self.head_path, json.dumps({"seq": seq, "hash": digest}), make_parents=False)


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
        return {
            "ok": self.ok,
            "entries": self.entries,
            "head_seq": self.head_seq,
            "head_hash": self.head_hash,
            "problems": self.problems,
        }


def iter_entries(store: Store, batch: int = 5000) -> Iterator[AuditEntry]:
    last = 0
    while True:
        with store.session() as s:
            rows = list(
                s.scalars(select(AuditEntry).where(AuditEntry.seq > last).order_by(AuditEntry.seq).limit(batch))
            )
        if not rows:
            return
        yield from rows
        last = rows[-1].seq


def verify_chain(
    store: Store, head_path: Path | None = None, max_problems: int = 100, key_path: Path | None = None
) -> ChainReport:
    """Recompute every hash and link; report each entry that was edited, removed or inserted.

    The key file (`key_path`; by default beside `head_path`, or beside a SQLite database) keys the check from
    its `from_seq` on. With a `head_path`, the checkpoint must exist once the log has entries."""
    problems: list[str] = []
    if key_path is None and head_path is not None:
        key_path = head_path.with_name(KEY_FILE)
    elif key_path is None and store.url.startswith("sqlite:///"):  # the key of a home lies beside its database
        key_path = Path(store.url.removeprefix("sqlite:///")).with_name(KEY_FILE)
    key: ChainKey | None = None
    if key_path is not None:
        try:
            key = read_key(key_path)
        except AuditWriteError as exc:
            problems.append(str(exc))
    prev_hash, expected_seq, count = GENESIS, 1, 0
    unverifiable: list[int] = []  # plain-checked entries whose hash is no plain hash: a lost key, or forged
    for row in iter_entries(store):
        count += 1
        if row.seq != expected_seq:
            problems.append(
                f"entries {expected_seq}..{row.seq - 1} are missing (deleted)"
                if row.seq > expected_seq
                else f"entry {row.seq} is out of sequence"
            )
        if row.prev_hash != prev_hash:
            problems.append(
                f"entry {row.seq}: link to the previous entry is broken (an entry before it was "
                "deleted, inserted or edited)"
            )
        keyed = key is not None and row.seq >= key.from_seq
        if entry_hash(_row_fields(row), key.secret if keyed and key is not None else None) != row.hash:
            if keyed or key_path is None:
                problems.append(
                    f"entry {row.seq}: content does not match its hash (edited, or added without the audit key)"
                    if keyed
                    else f"entry {row.seq}: content does not match its hash (edited)"
                )
            else:
                unverifiable.append(row.seq)
        prev_hash, expected_seq = row.hash, row.seq + 1
        if len(problems) >= max_problems:
            problems.append("... stopped after too many problems")
            break
    if unverifiable:
        where = (
            f"entries {unverifiable[0]}..{unverifiable[-1]}" if len(unverifiable) > 1 else f"entry {unverifiable[0]}"
        )
        problems.append(
            f"{where} ({len(unverifiable)} in all) do not match a plain hash: edited, or written with an audit "
            f"key that is not in {key_path} "
            + (
                "(it was lost or replaced; restore it from a backup)"
                if key is not None
                else "(restore audit.key from a backup)"
            )
        )
    head_seq = expected_seq - 1
    if head_path is not None:
        head = read_head(head_path)
        if head is None:
            if count:
                problems.append(
                    f"the checkpoint {head_path.name} is missing or unreadable while the log has "
                    f"{count} entries (the newest entries may have been deleted with it)"
                )
        elif head[0] > head_seq:
            problems.append(
                f"the checkpoint records entry {head[0]} but the log ends at {head_seq} (newest entries deleted)"
            )
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


def _filtered(
    stmt: Any, user: str | None, case_ref: str | None, action: str | None, since: str | None, until: str | None
) -> Any:
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


def query(
    store: Store,
    *,
    user: str | None = None,
    case_ref: str | None = None,
    action: str | None = None,
    since: str | None = None,
    until: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[dict[str, Any]], int]:
    """Entries matching the filters, newest first, and how many match in all."""
    with store.session() as s:
        total = s.scalar(_filtered(select(func.count(AuditEntry.seq)), user, case_ref, action, since, until)) or 0
        rows = s.scalars(
            _filtered(select(AuditEntry), user, case_ref, action, since, until)
            .order_by(AuditEntry.seq.desc())
            .limit(limit)
            .offset(offset)
        ).all()
    return [entry_dict(r) for r in rows], int(total)


def export(
    store: Store,
    fmt: str,
    since: str | None = None,
    until: str | None = None,
    user: str | None = None,
    case_ref: str | None = None,
    action: str | None = None,
) -> str:
    """The entries in a date range as CSV or JSON text, oldest first, with their hashes so a reader
    can re-check the links between consecutive ones, and, holding the audit key (or for entries before
    `from_seq`, without it), each entry's hash. CSV cells that a spreadsheet would run as formulas are
    prefixed with a single quote (`csv_cell`); JSON keeps every value exactly."""
    with store.session() as s:
        rows = [
            entry_dict(r)
            for r in s.scalars(
                _filtered(select(AuditEntry), user, case_ref, action, since, until).order_by(AuditEntry.seq)
            )
        ]
    if fmt == "json":
        return json.dumps(
            {"exported_at": now_iso(), "since": since, "until": until, "count": len(rows), "entries": rows},
            indent=1,
            ensure_ascii=False,
        )
    if fmt != "csv":
        raise ValueError("format must be csv or json")
    buf = io.StringIO()
    writer = csv.writer(buf)
    cols = (*FIELDS, "hash")
    writer.writerow(cols)
    for r in rows:
        writer.writerow([csv_cell("" if r[c] is None else _dumps(r[c]) if c in JSON_FIELDS else r[c]) for c in cols])
    return buf.getvalue()


# A cell starting with one of these is a formula to a spreadsheet (=HYPERLINK(...), +cmd, -2+3, @SUM).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> Any:
    """A text cell that a spreadsheet would run as a formula, prefixed with a single quote so it is shown
    as text. Numbers are left alone (a negative number is not a formula)."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value
