"""Writing the audit log from a use case: one helper for an entry, one for a refusal.

`record(ctx, actor, Action.X, ...)` writes who (the `Actor`: name, role, address), what and why
(`record_claim` writes an attempt by someone not signed in, under the name they gave); a failure
to write raises `AuditWriteError` (a `StorageError`), and the action it records must not happen.
`refusal_recorded(...)` wraps the part of a use case that may refuse: a `FacesearchError` raised inside is
written as an entry with outcome `refused` and its reason, then raised again. Fields learnt while the use
case runs (the probe's hash, the cleaned case reference) are set on the `Attempt` it yields."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ..errors import FacesearchError
from ..vocabulary import Action
from .context import Actor, Context


def record(
    ctx: Context,
    actor: Actor,
    action: Action,
    *,
    outcome: str = "ok",
    case_ref: str | None = None,
    purpose: str | None = None,
    collections: list[str] | None = None,
    model: str | None = None,
    threshold: float | None = None,
    probe_sha256: str | None = None,
    results: Any = None,
    details: dict[str, Any] | None = None,
) -> int:
    """Append one entry acted by `actor`; returns its sequence number (the id of a search, a verify). A name
    the actor claimed without proving it (`claimed_as`) and the maker of a token made for them by someone else
    (`token_minted_by`) go into its details."""
    if actor.claimed is not None or actor.minted_by is not None:
        details = dict(details or {})
        if actor.claimed is not None:
            details["claimed_as"] = actor.claimed
        if actor.minted_by is not None:
            details["token_minted_by"] = actor.minted_by
    entry = ctx.audit.record(
        action,
        actor=actor.name,
        role=actor.role,
        ip=actor.ip,
        outcome=outcome,
        case_ref=case_ref,
        purpose=purpose,
        collections=collections,
        model=model,
        threshold=threshold,
        probe_sha256=probe_sha256,
        results=results,
        details=details,
    )
    return int(entry["seq"])


def record_claim(ctx: Context, claimed: str | None, ip: str | None, action: Action, *, outcome: str) -> int:
    """Append an entry for someone who has not proved who they are (a failed sign-in): the name as given,
    unconfirmed, and no role. Returns its sequence number."""
    entry = ctx.audit.record(action, actor=claimed, ip=ip, outcome=outcome)
    return int(entry["seq"])


@dataclass
class Attempt:
    """What the entry of a refused attempt says besides its reason; the use case fills it in as it learns."""

    case_ref: str | None = None
    purpose: str | None = None
    collections: list[str] | None = None
    model: str | None = None
    threshold: float | None = None
    probe_sha256: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


@contextlib.contextmanager
def refusal_recorded(ctx: Context, actor: Actor, action: Action, **fields: Any) -> Iterator[Attempt]:
    """Record a refusal raised inside the block (outcome `refused`, `details.reason`), then raise it again."""
    attempt = Attempt(**fields)
    try:
        yield attempt
    except FacesearchError as exc:
        record(
            ctx,
            actor,
            action,
            outcome="refused",
            case_ref=attempt.case_ref,
            purpose=attempt.purpose,
            collections=attempt.collections,
            model=attempt.model,
            threshold=attempt.threshold,
            probe_sha256=attempt.probe_sha256,
            details={"reason": str(exc), **attempt.details},
        )
        raise
