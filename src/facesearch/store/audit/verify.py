"""Checking the chain: every hash and link recomputed, the head compared with its checkpoint, each entry that
was edited, removed or inserted reported (`facesearch audit verify`, backups, restores)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from ..db import Store
from .actions import Action
from .chain import GENESIS, KEY_FILE, AuditWriteError, ChainKey, entry_hash, read_head, read_key, row_fields
from .table import AuditEntry


@dataclass(frozen=True)
class ChainReport:
    """What a check found: whether the chain is intact, how many entries, its head, and every problem."""

    ok: bool
    entries: int
    head_seq: int
    head_hash: str
    problems: list[str]


def iter_entries(store: Store, batch: int = 5000) -> Iterator[AuditEntry]:
    """Every entry, oldest first, read `batch` at a time (the log can be long)."""
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
    head = read_head(head_path) if head_path is not None else None
    at_checkpoint: str | None = None  # the hash of the entry whose sequence number the checkpoint records
    prev_hash, expected_seq, count = GENESIS, 1, 0
    unverifiable: list[int] = []  # plain-checked entries whose hash is no plain hash: a lost key, or forged
    for row in iter_entries(store):
        count += 1
        if head is not None and row.seq == head[0]:
            at_checkpoint = row.hash
        if row.action == Action.AUDIT_RESEAL.value:
            # An admin went on after a break; the break stays a finding (the entries it lost are gone).
            found = (json.loads(row.details) if row.details else {}).get("problems") or ["(none recorded)"]
            problems.append(
                f"entry {row.seq}: the log was resealed by {row.actor} at {row.ts} after a break: {found[0]}"
            )
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
        if entry_hash(row_fields(row), key.secret if keyed and key is not None else None) != row.hash:
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
        if head is None:
            if count:
                problems.append(
                    f"the checkpoint {head_path.name} is missing or unreadable while the log has "
                    f"{count} entries (the newest entries may have been deleted with it)"
                )
            elif key is not None:
                # A key is made with the first entry, and the checkpoint with it: a keyed home with neither
                # entries nor checkpoint had its log emptied.
                problems.append(
                    f"the log is empty and the checkpoint {head_path.name} is missing, but the audit key "
                    f"records entries from {key.from_seq} on (every entry deleted?)"
                )
        elif head[0] > head_seq:
            problems.append(
                f"the checkpoint records entry {head[0]} but the log ends at {head_seq} (newest entries deleted)"
            )
        elif at_checkpoint != head[1]:
            # Compared at the checkpoint's own sequence number: entries appended after a deleted tail reach
            # and pass it, but never with the hash it recorded.
            problems.append(
                f"entry {head[0]}: hash differs from the checkpoint (the entries from there on were deleted or "
                "rewritten, and new ones appended)"
            )
    return ChainReport(not problems, count, head_seq, prev_hash, problems)
