"""Reading the audit log: check its hash chain, query it, export it (exports are logged too)."""

from __future__ import annotations

from typing import Any

from ..store import audit as log
from .context import Actor, Context
from .errors import Invalid
from .roles import allowed


@allowed("auditor")
def verify(ctx: Context, actor: Actor) -> log.ChainReport:
    """Recompute every hash and link, and compare the head with its checkpoint."""
    return log.verify_chain(ctx.store, ctx.audit.head_path)


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
) -> tuple[list[dict[str, Any]], int]:
    """Entries matching the filters, newest first, and how many match in all."""
    try:
        return log.query(
            ctx.store, user=user, case_ref=case_ref, action=action, since=since, until=until, limit=limit, offset=offset
        )
    except ValueError as exc:
        raise Invalid(str(exc)) from exc


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
    ctx.audit.record(
        log.EXPORT,
        actor=actor.name,
        role=actor.role,
        ip=actor.ip,
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
