"""Reading the log back: one entry, a filtered page, an export, and the questions the rules ask of it (how many
searches a user ran since a time, who took part in a case, searches and verifies per purpose or case).

Entries come back as plain dicts (`entry_dict`): the stored fields, JSON fields decoded, the hash included."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Collection
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

from sqlalchemy import func, select

from ..db import Store
from .chain import FIELDS, JSON_FIELDS, canonical_json, now_iso, row_fields
from .table import AuditEntry

# A cell starting with one of these is a formula to a spreadsheet (=HYPERLINK(...), +cmd, -2+3, @SUM).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def entry_dict(row: AuditEntry) -> dict[str, Any]:
    """An entry for display or export: JSON fields decoded, hash included."""
    out = row_fields(row)
    for k in JSON_FIELDS:
        out[k] = json.loads(out[k]) if out[k] else None
    out["hash"] = row.hash
    return out


def read_entry(store: Store, seq: int) -> dict[str, Any] | None:
    """The entry with this sequence number, or None."""
    with store.session() as s:
        row = s.get(AuditEntry, seq)
    return entry_dict(row) if row is not None else None


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
        stmt = stmt.where(AuditEntry.action == str(action))
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
    """Entries matching the filters, newest first, and how many match in all. A date that cannot be read
    raises ValueError."""
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
        writer.writerow(
            [csv_cell("" if r[c] is None else canonical_json(r[c]) if c in JSON_FIELDS else r[c]) for c in cols]
        )
    return buf.getvalue()


def csv_cell(value: Any) -> Any:
    """A text cell that a spreadsheet would run as a formula, prefixed with a single quote so it is shown
    as text. Numbers are left alone (a negative number is not a formula)."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


# The questions the rules ask ------------------------------------------------------------------------------
def count_since(store: Store, actor: str, actions: Collection[str], since: str) -> int:
    """How many entries of these actions `actor` wrote at or after `since` (an ISO time), refusals left out:
    what the per-user search limits count."""
    with store.session() as s:
        return int(
            s.scalar(
                select(func.count(AuditEntry.seq)).where(
                    AuditEntry.actor == actor,
                    AuditEntry.action.in_([str(a) for a in actions]),
                    AuditEntry.ts >= since,
                    AuditEntry.outcome != "refused",
                )
            )
            or 0
        )


def login_failures(store: Store, name: str, ip: str | None, since: str) -> int:
    """Failed sign-ins (refused, not throttled) for `name` (any case) from `ip` at or after `since`, and after
    that name's last successful sign-in from that address: what the sign-in lockout counts."""
    same_ip = AuditEntry.ip.is_(None) if ip is None else AuditEntry.ip == ip
    who = func.lower(AuditEntry.actor) == name.lower()
    with store.session() as s:
        last_ok = s.scalar(
            select(func.max(AuditEntry.seq)).where(
                AuditEntry.action == "login", AuditEntry.ts >= since, AuditEntry.outcome == "ok", who, same_ip
            )
        )
        return int(
            s.scalar(
                select(func.count(AuditEntry.seq)).where(
                    AuditEntry.action == "login_failed",
                    AuditEntry.ts >= since,
                    AuditEntry.outcome == "refused",
                    AuditEntry.seq > (last_ok or 0),
                    who,
                    same_ip,
                )
            )
            or 0
        )


def token_minter(store: Store, token_id: int) -> str | None:
    """Who made API token `token_id`, as its `token_create` entry says; None when no entry says so."""
    with store.session() as s:
        for actor, details in s.execute(
            select(AuditEntry.actor, AuditEntry.details)
            .where(AuditEntry.action == "token_create", AuditEntry.outcome == "ok")
            .order_by(AuditEntry.seq.desc())
        ):
            try:
                if details and int(json.loads(details).get("token_id", -1)) == token_id:
                    return str(actor) if actor is not None else None
            except (ValueError, TypeError, AttributeError):
                continue
    return None


def case_entries(store: Store, case_ref: str, actions: Collection[str]) -> list[dict[str, Any]]:
    """The entries of these actions under a case reference, oldest first."""
    with store.session() as s:
        rows = s.scalars(
            select(AuditEntry)
            .where(AuditEntry.case_ref == case_ref, AuditEntry.action.in_([str(a) for a in actions]))
            .order_by(AuditEntry.seq)
        ).all()
    return [entry_dict(r) for r in rows]


def took_part(store: Store, case_ref: str, actor: str, actions: Collection[str]) -> bool:
    """Whether `actor` wrote an entry of these actions under the case reference that was not a refusal."""
    with store.session() as s:
        return (
            s.scalar(
                select(AuditEntry.seq)
                .where(
                    AuditEntry.case_ref == case_ref,
                    AuditEntry.actor == actor,
                    AuditEntry.action.in_([str(a) for a in actions]),
                    AuditEntry.outcome != "refused",
                )
                .limit(1)
            )
            is not None
        )


def case_owner(store: Store, case_ref: str, actions: Collection[str]) -> str | None:
    """Who opened the case: the actor of its first entry of these actions that was not a refusal."""
    with store.session() as s:
        found = s.scalar(
            select(AuditEntry.actor)
            .where(
                AuditEntry.case_ref == case_ref,
                AuditEntry.action.in_([str(a) for a in actions]),
                AuditEntry.outcome != "refused",
            )
            .order_by(AuditEntry.seq)
            .limit(1)
        )
    return None if found is None else str(found)


def case_members(store: Store, case_ref: str, action: str, removal: str | None = None) -> set[str]:
    """The examiners named (`details.examiner`) by the entries of `action` under the case that were not
    refusals (those an admin added to it), less those a later entry of `removal` named (taken off it): the
    entries replayed in the order they were written."""
    actions = [str(action)] + ([str(removal)] if removal else [])
    with store.session() as s:
        rows = s.execute(
            select(AuditEntry.action, AuditEntry.details)
            .where(
                AuditEntry.case_ref == case_ref,
                AuditEntry.action.in_(actions),
                AuditEntry.outcome != "refused",
            )
            .order_by(AuditEntry.seq)
        ).all()
    out: set[str] = set()
    for entry_action, details in rows:
        name = json.loads(details).get("examiner") if details else None
        if not isinstance(name, str):
            continue
        if entry_action == str(action):
            out.add(name)
        else:
            out.discard(name)
    return out


def case_refs(
    store: Store, actions: Collection[str], actor: str | None = None, limit: int = 500
) -> list[tuple[str, str, int]]:
    """(case reference, time of its latest entry, entries) of the cases with an entry of these actions that was
    not a refusal (only `actor`'s entries when given), the most recently used first, at most `limit`."""
    last = func.max(AuditEntry.ts)
    stmt = (
        select(AuditEntry.case_ref, last, func.count(AuditEntry.seq))
        .where(
            AuditEntry.case_ref.is_not(None),
            AuditEntry.action.in_([str(a) for a in actions]),
            AuditEntry.outcome != "refused",
        )
        .group_by(AuditEntry.case_ref)
        .order_by(last.desc())
        .limit(limit)
    )
    if actor is not None:
        stmt = stmt.where(AuditEntry.actor == actor)
    with store.session() as s:
        return [(str(c), str(t), int(n)) for c, t, n in s.execute(stmt)]


def action_rows(store: Store, actions: Collection[str], by: str) -> list[tuple[int, str | None, str | None, str, str]]:
    """(seq, purpose or case reference, actor, action, outcome) of every entry of these actions: what a usage
    report counts. `by` is "purpose" or "case"."""
    key = AuditEntry.purpose if by == "purpose" else AuditEntry.case_ref
    stmt = select(AuditEntry.seq, key, AuditEntry.actor, AuditEntry.action, AuditEntry.outcome).where(
        AuditEntry.action.in_([str(a) for a in actions])
    )
    with store.session() as s:
        return [(int(seq), k, who, action, outcome) for seq, k, who, action, outcome in s.execute(stmt).all()]
