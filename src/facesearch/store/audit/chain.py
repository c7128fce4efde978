"""The chain writer and its key: each entry appended with a keyed hash over its fields and the previous hash.

Each entry's hash is an HMAC-SHA256, under a key kept outside the database (`audit.key` in the home, mode
0600, created on first use), over the canonical JSON of all its fields, including the previous entry's
hash. Editing an entry breaks its own hash; deleting or inserting one breaks the sequence and the link
of the next; someone who can write the database but not read the key cannot append or rewrite an entry
with a valid hash. Deleting the newest entries leaves a valid shorter chain, so the head (sequence number
and hash) is also written to a checkpoint file beside the database (a missing checkpoint is a failure).

The writer never heals what it finds: it appends nothing to a log whose checkpoint is missing (while the log
has entries) or no longer matches it (the entry at the checkpoint's sequence number is gone or has another
hash), and raises `AuditWriteError` instead, so the action does not happen and `verify` sees the log as it was
left. A checkpoint is started only with a new log or a new key (a home from before keys, or a lost key, which
leave their own evidence). An admin may decide to go on (`reseal`: an `audit_reseal` entry recording what
verify found, and a new checkpoint at it); `verify` keeps reporting every reseal.

Entries written before the home had a key (by 0.1.0 and 0.2.0) carry a plain SHA-256; the key file records
the first entry under the key (`from_seq`), entries before it are checked by plain hash, and the keyed part
is anchored to them by the link of its first entry. An `audit_key` entry marks that point in the log.

Every failure to write an entry raises `AuditWriteError`: the action it records must not happen.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import logging
import secrets
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError, OperationalError

from ...errors import StorageError, redact_value
from ...fsutil import write_atomic
from ..db import Store
from ..guard import cause_of
from .actions import Action, action_value
from .table import AuditEntry

GENESIS = "0" * 64
HEAD_FILE = "audit-head.json"
KEY_FILE = "audit.key"
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

log = logging.getLogger("facesearch.audit")


class AuditWriteError(StorageError):
    """An audit entry (or its checkpoint) could not be written. The action it records must not happen.

    The message names the cause (read-only or full home, missing permission) and never the entry's content."""


def canonical_json(value: Any) -> str:
    """The exact text a structured field is stored (and hashed) as: sorted keys, no spaces, no NaN."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def entry_hash(fields: dict[str, Any], key: bytes | None = None) -> str:
    """SHA-256 of the canonical JSON of an entry's fields; with a key, HMAC-SHA256 under it."""
    data = canonical_json({k: fields.get(k) for k in FIELDS}).encode()
    if key is None:
        return hashlib.sha256(data).hexdigest()
    return hmac.new(key, data, hashlib.sha256).hexdigest()


def now_iso() -> str:
    # Fixed width UTC ISO strings sort and compare correctly as text, which the date filters rely on.
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def row_fields(row: AuditEntry) -> dict[str, Any]:
    """The hashed fields of a stored entry, as stored (structured fields still canonical JSON text)."""
    return {k: getattr(row, k) for k in FIELDS}


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


def read_head(path: Path) -> tuple[int, str] | None:
    """The checkpoint (sequence number and hash of the newest entry), or None when missing or unreadable."""
    try:
        data = json.loads(path.read_text())
        return int(data["seq"]), str(data["hash"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _retryable(exc: Exception) -> bool:
    """A lost race with another writer (same tail read) or a busy database: worth reading the tail again."""
    if isinstance(exc, IntegrityError):
        return True
    message = str(getattr(exc, "orig", exc)).lower()
    return "locked" in message or "busy" in message


class AuditLog:
    """Appends entries. One instance per process; a lock keeps in-process writers in order, and a
    unique constraint on `prev_hash` makes writers in other processes retry instead of forking the chain
    (on PostgreSQL they first queue on an advisory lock, so a retry is rare).

    With a `head_path`, the chain is keyed with the key file beside it (`key_path`, default `audit.key` in
    the same folder), created on the first append. Without one (tests, tools) entries carry a plain hash.
    Use cases write through `app.auditing.record`, which fills the actor's fields."""

    def __init__(self, store: Store, head_path: Path | None = None, key_path: Path | None = None) -> None:
        self.store = store
        self.head_path = head_path
        self.key_path = key_path or (head_path.with_name(KEY_FILE) if head_path is not None else None)
        self._key: ChainKey | None = None
        self._key_created = False  # this writer made the key file: the chain (and its checkpoint) start here
        self._head_refused = False  # warned once that the checkpoint is missing or does not match the log
        self._resealing = False  # an admin's reseal: the checkpoint starts again at its entry
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
        """Append one entry; returns its stored fields (`seq` and `hash` included). Credentials in its
        structured fields (a refusal's reason naming a URI) are redacted first: an entry is never deleted."""
        results, details = redact_value(results), redact_value(details)
        fields: dict[str, Any] = {
            "actor": actor,
            "role": role,
            "action": action_value(action),
            "outcome": outcome,
            "ip": ip,
            "case_ref": case_ref,
            "purpose": purpose,
            "collections": canonical_json(collections) if collections is not None else None,
            "model": model,
            "threshold": float(threshold) if threshold is not None else None,
            "probe_sha256": probe_sha256,
            "results": canonical_json(results) if results is not None else None,
            "details": canonical_json(details) if details else None,
        }
        with self._lock:
            key = self._ensure_key()
            self._check_head()
            return self._append_retrying(fields, key)

    def reseal(self, *, actor: str, role: str, details: dict[str, Any]) -> dict[str, Any]:
        """Append an `audit_reseal` entry even though the log no longer matches its checkpoint, and start the
        checkpoint again at it: an admin's explicit, logged decision to go on after a break, which `verify`
        keeps reporting (the use case is `app.audit.reseal`)."""
        fields: dict[str, Any] = {
            "actor": actor,
            "role": role,
            "action": Action.AUDIT_RESEAL.value,
            "outcome": "warning",
            "details": canonical_json(redact_value(details)),
        }
        with self._lock:
            key = self._ensure_key()
            self._resealing = True
            try:
                return self._append_retrying(fields, key)
            finally:
                self._resealing = False

    def head_problem(self) -> str | None:
        """Why the log cannot be appended to as it is (its checkpoint is missing while it has entries, or no
        longer matches it), or None."""
        if self.head_path is None:
            return None
        current = read_head(self.head_path)
        try:
            with self.store.session() as s:
                tail = s.scalar(select(AuditEntry.seq).order_by(AuditEntry.seq.desc()).limit(1))
        except Exception as exc:
            raise AuditWriteError(f"the audit log cannot be read: {cause_of(exc)}") from exc
        if current is None:
            if tail is None or self._key_created:
                return None  # a new log, or one whose key was just made (its own evidence: `audit_key`)
            return f"the checkpoint {self.head_path.name} is missing or unreadable while the log has entries"
        if tail is None or tail < current[0]:
            return f"the checkpoint records entry {current[0]} but the log ends at {tail or 0} (newest entries deleted)"
        if self._hash_at(current[0]) != current[1]:
            return f"entry {current[0]} no longer has the hash its checkpoint records (deleted or rewritten)"
        return None

    def _check_head(self) -> None:
        """Refuse to append to a log that does not match its checkpoint: an appended entry must never hide a
        deletion (see the module's docstring). Nothing is appended; `verify` shows what happened, and an admin
        decides (restore a backup, or `facesearch audit reseal`)."""
        problem = self.head_problem()
        if problem is not None:
            raise AuditWriteError(
                f"the audit log cannot be written: {problem}; run `facesearch audit verify`, then restore the "
                "home from a backup or have an admin run `facesearch audit reseal`"
            )

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
                self._key_created = found.from_seq == from_seq
                if tail is not None and found.from_seq == from_seq:
                    lost = entry_hash(row_fields(tail)) != tail.hash
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
                            "action": Action.AUDIT_KEY.value,
                            "outcome": "warning" if lost else "ok",
                            "details": canonical_json(details),
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
        records must not go ahead while its tail is unprotected.

        A missing (or unreadable) checkpoint is started again only by the writer that created the key (see
        the module's docstring); a checkpoint whose own entry no longer has its hash (the tail was deleted or
        rewritten) is left as it is. Either way `verify` keeps reporting it."""
        if self.head_path is None:
            return
        current = read_head(self.head_path)
        if self._resealing:
            pass
        elif current is None:
            if not (self._key_created or (self.key_path is None and seq == 1)):
                self._refuse_head(f"the checkpoint {self.head_path.name} is missing or unreadable")
                return
        elif current[0] >= seq:
            return
        elif self._hash_at(current[0]) != current[1]:
            self._refuse_head(f"entry {current[0]} no longer has the hash its checkpoint records")
            return
        write_atomic(self.head_path, json.dumps({"seq": seq, "hash": digest}), make_parents=False)
        self._key_created = False  # the checkpoint exists now: from here on its absence is a failure

    def _hash_at(self, seq: int) -> str | None:
        # Raised as AuditWriteError, never as a database error: the entry is committed, and the append loop
        # retries database errors by appending again.
        try:
            with self.store.session() as s:
                found = s.scalar(select(AuditEntry.hash).where(AuditEntry.seq == seq))
        except Exception as exc:
            raise AuditWriteError(f"the audit checkpoint cannot be checked: {cause_of(exc)}") from exc
        return str(found) if found is not None else None

    def _refuse_head(self, why: str) -> None:
        if not self._head_refused:
            self._head_refused = True
            log.warning("%s; it is left as it is (`facesearch audit verify` reports it; restore it from a backup)", why)
