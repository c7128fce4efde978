"""Reading the audit log: check its hash chain, query it, export it (exports are logged too)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from ..store import audit as log
from ..vocabulary import Action
from .auditing import record
from .context import Actor, Context
from .errors import Invalid
from .roles import allowed


class AuditRecord(BaseModel):
    """One entry of the audit log as read back: its fields (structured ones decoded) and its hash. (The
    stored row is the store's `AuditEntry`.)"""

    seq: int
    ts: str
    actor: str | None
    role: str | None
    action: str
    outcome: str
    ip: str | None
    case_ref: str | None
    purpose: str | None
    collections: list[Any] | None
    model: str | None
    threshold: float | None
    probe_sha256: str | None
    results: Any = Field(description="What came back (free-form, depends on the action).")
    details: Any = Field(description="Further detail (free-form, depends on the action).")
    prev_hash: str
    hash: str


class AuditPage(BaseModel):
    """Entries matching a query, newest first: `total` match in all, this page starts at `offset`."""

    total: int
    limit: int
    offset: int
    entries: list[AuditRecord]


class ChainCheck(BaseModel):
    """What a check of the chain found: whether it is intact, how many entries, its head, every problem."""

    ok: bool
    entries: int
    head_seq: int
    head_hash: str
    problems: list[str]


@allowed("auditor")
def verify(ctx: Context, actor: Actor) -> ChainCheck:
    """Recompute every hash and link, and compare the head with its checkpoint."""
    return _check(ctx)


def _check(ctx: Context) -> ChainCheck:
    report = log.verify_chain(ctx.store, ctx.audit.head_path)
    return ChainCheck(
        ok=report.ok,
        entries=report.entries,
        head_seq=report.head_seq,
        head_hash=report.head_hash,
        problems=report.problems,
    )


@allowed("admin")
def reseal(ctx: Context, actor: Actor, reason: str) -> ChainCheck:
    """Go on after a break: the log no longer matches its checkpoint (entries deleted or rewritten, or the
    checkpoint deleted), so nothing can be appended to it. This appends an `audit_reseal` entry that records
    what `verify` found, who decided and why, and starts the checkpoint again at it. It heals nothing: `verify`
    reports every reseal from then on (restoring a backup made before the break is the other way out)."""
    why = reason.strip()
    if not why:
        raise Invalid("give the reason for going on (--reason): it is kept in the audit log", field="reason")
    problem = ctx.audit.head_problem()
    if problem is None:
        raise Invalid("the audit log matches its checkpoint: there is nothing to reseal")
    found = log.verify_chain(ctx.store, ctx.audit.head_path, max_problems=20)
    checkpoint = log.read_head(ctx.audit.head_path) if ctx.audit.head_path is not None else None
    ctx.audit.reseal(
        actor=actor.name,
        role=actor.role,
        details={
            "reason": why[:1000],
            "problems": [problem, *(p for p in found.problems if p != problem)],
            "entries": found.entries,
            "checkpoint_was": list(checkpoint) if checkpoint else None,
            **({"claimed_as": actor.claimed} if actor.claimed else {}),
            **({"token_minted_by": actor.minted_by} if actor.minted_by else {}),
        },
    )
    return _check(ctx)


@allowed("auditor")
def query(
    ctx: Context,
    actor: Actor,
    *,
    user: str | None = None,
    case_ref: str | None = None,
    action: str | None = None,
    since: str | None = None,
    until: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> AuditPage:
    """Entries matching the filters, newest first, and how many match in all."""
    try:
        entries, total = log.query(
            ctx.store, user=user, case_ref=case_ref, action=action, since=since, until=until, limit=limit, offset=offset
        )
    except ValueError as exc:
        raise Invalid(str(exc)) from exc
    return AuditPage(total=total, limit=limit, offset=offset, entries=[AuditRecord.model_validate(e) for e in entries])


@allowed("auditor")
def export(
    ctx: Context,
    actor: Actor,
    fmt: str,
    *,
    since: str | None = None,
    until: str | None = None,
    user: str | None = None,
    case_ref: str | None = None,
    action: str | None = None,
    destination: str = "-",
) -> str:
    """Entries in a range as CSV or JSON text with their hashes; the export itself is logged."""
    if fmt not in ("csv", "json"):
        raise Invalid("format must be csv or json")
    try:
        text = log.export(ctx.store, fmt, since=since, until=until, user=user, case_ref=case_ref, action=action)
    except ValueError as exc:
        raise Invalid(str(exc)) from exc
    record(
        ctx,
        actor,
        Action.EXPORT,
        case_ref=case_ref,
        details={
            "what": "audit",
            "format": fmt,
            "since": since,
            "until": until,
            "user": user,
            "action": action,
            "out": destination,
            "bytes": len(text),
        },
    )
    return text
