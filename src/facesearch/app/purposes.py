"""Allowed search purposes: admins add and retire them; a search names one, or is refused."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

from ..services.search_results import absent
from ..store import authorisations as rules
from ..store import purposes as rows
from ..vocabulary import Action
from .auditing import record
from .context import Actor, Context
from .errors import Conflict, Invalid, NotFound, PurposeNotAllowed
from .roles import allowed

if TYPE_CHECKING:
    from ..store.governance_tables import Purpose

_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")


class PurposeInfo(BaseModel):
    """A search purpose: its code, what it rests on, and whether searches may still name it."""

    code: str
    description: str
    active: bool
    created_at: str | None
    created_by: str | None
    retired_at: str | None
    retired_by: str | None
    requires_authorisation: bool | None = Field(
        default=None,
        exclude_if=absent,
        description="True when a use needs a live authorisation of its case (absent otherwise).",
    )
    urgent_hours: int | None = Field(
        default=None,
        exclude_if=absent,
        description="Hours a use may precede the case's authorisation under urgency (absent: none allowed).",
    )


def iso(value: datetime | None) -> str | None:
    """A stored time in ISO 8601, as UTC when the database gave it back without a zone."""
    if value is None:
        return None
    return (value if value.tzinfo else value.replace(tzinfo=timezone.utc)).isoformat()


def _info(p: Purpose, required: dict[str, int | None]) -> PurposeInfo:
    needs = p.code in required
    return PurposeInfo(
        code=p.code,
        description=p.description,
        active=p.retired_at is None,
        created_at=iso(p.created_at),
        created_by=p.created_by,
        retired_at=iso(p.retired_at),
        retired_by=p.retired_by,
        requires_authorisation=True if needs else None,
        urgent_hours=required.get(p.code) if needs else None,
    )


def _infos(ctx: Context, purposes: list[Purpose]) -> list[PurposeInfo]:
    required = rules.purpose_rules(ctx.store)
    return [_info(p, required) for p in purposes]


@allowed()
def active_purposes(ctx: Context, actor: Actor) -> list[PurposeInfo]:
    """The purposes a search may name: what the search, verify and people pages offer (to anyone signed in,
    as those pages are)."""
    return _infos(ctx, rows.list_purposes(ctx.store, include_retired=False))


@allowed("admin", "examiner", "auditor")
def list_purposes(ctx: Context, actor: Actor, include_retired: bool = True) -> list[PurposeInfo]:
    return _infos(ctx, rows.list_purposes(ctx.store, include_retired))


@allowed("admin")
def add_purpose(
    ctx: Context,
    actor: Actor,
    code: str,
    description: str,
    *,
    requires_authorisation: bool = False,
    urgent_hours: int | None = None,
) -> PurposeInfo:
    """Allow a purpose. With `requires_authorisation`, every search, verify, co-appearance search and watch
    under it needs a live authorisation of its case (`authorisations.authorise`); `urgent_hours` lets a case
    use it that long before its authorisation is recorded (flagged in reports until it is). The rule is set
    here once: a purpose's meaning never changes under the audit entries that name it."""
    code = code.strip()
    if not _CODE.match(code):
        raise Invalid("a purpose code is 1-64 letters, digits and . _ : - (e.g. LE-ART10)")
    if not description.strip():
        raise Invalid("a purpose needs a description (e.g. the legal provision it rests on)")
    if urgent_hours is not None and not requires_authorisation:
        raise Invalid("--urgent-hours applies to a purpose that requires an authorisation (--requires-authorisation)")
    if urgent_hours is not None and not 1 <= urgent_hours <= 24 * 31:
        raise Invalid("urgent hours are between 1 and 744 (e.g. 48: a use may precede the authorisation by 48 hours)")
    if requires_authorisation:
        row = rules.add_purpose_requiring(ctx.store, code, description.strip(), actor.name, urgent_hours)
    else:
        row = rows.add_purpose(ctx.store, code, description.strip(), actor.name)
    if row is None:
        raise Conflict(
            f"purpose {code!r} already exists (retired codes are not reused, so old audit entries keep their meaning)"
        )
    rule = {"requires_authorisation": True, "urgent_hours": urgent_hours} if requires_authorisation else {}
    record(ctx, actor, Action.PURPOSE_ADD, purpose=code, details={"description": description, **rule})
    return _info(row, {code: urgent_hours} if requires_authorisation else {})


@allowed("admin")
def retire_purpose(ctx: Context, actor: Actor, code: str) -> PurposeInfo:
    found = rows.get_purpose(ctx.store, code)
    if found is None:
        raise NotFound(f"no purpose {code!r}")
    row = rows.retire_purpose(ctx.store, code, actor.name, ctx.now()) if found.retired_at is None else None
    if row is None:
        raise Conflict(f"purpose {code!r} is already retired")
    record(ctx, actor, Action.PURPOSE_RETIRE, purpose=code)
    return _info(row, rules.purpose_rules(ctx.store, [code]))


def check_purpose(ctx: Context, code: str) -> str:
    """The purpose code if it is on the active list, else PurposeNotAllowed carrying the allowed ones."""
    allowed_ = [{"code": p.code, "description": p.description} for p in rows.list_purposes(ctx.store, False)]
    code = code.strip()
    if any(a["code"] == code for a in allowed_):
        return code
    if not allowed_:
        msg = (
            "no search purposes are defined yet: an admin adds them (`facesearch purposes add CODE --description TEXT`)"
        )
    else:
        msg = f"purpose {code!r} is not on the list of allowed purposes: " + ", ".join(a["code"] for a in allowed_)
    raise PurposeNotAllowed(msg, allowed_)
