"""Allowed search purposes: admins add and retire them; a search names one, or is refused."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import select

from ..store import Store
from ..store.audit import PURPOSE_ADD, PURPOSE_RETIRE
from ..store.governance_tables import Purpose
from .context import Actor, Context
from .errors import Conflict, Invalid, NotFound, PurposeNotAllowed
from .roles import allowed

_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")


def iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return (value if value.tzinfo else value.replace(tzinfo=timezone.utc)).isoformat()


def purpose_dict(p: Purpose) -> dict[str, Any]:
    return {
        "code": p.code,
        "description": p.description,
        "active": p.retired_at is None,
        "created_at": iso(p.created_at),
        "created_by": p.created_by,
        "retired_at": iso(p.retired_at),
        "retired_by": p.retired_by,
    }


def active_purposes(store: Store) -> list[dict[str, Any]]:
    """The purposes a search may name (what a search form offers)."""
    return _purposes(store, include_retired=False)


def _purposes(store: Store, include_retired: bool) -> list[dict[str, Any]]:
    with store.session() as s:
        stmt = select(Purpose).order_by(Purpose.code)
        if not include_retired:
            stmt = stmt.where(Purpose.retired_at.is_(None))
        return [purpose_dict(p) for p in s.scalars(stmt)]


@allowed("admin", "examiner", "auditor")
def list_purposes(ctx: Context, actor: Actor, include_retired: bool = True) -> list[dict[str, Any]]:
    return _purposes(ctx.store, include_retired)


@allowed("admin")
def add_purpose(ctx: Context, actor: Actor, code: str, description: str) -> dict[str, Any]:
    code = code.strip()
    if not _CODE.match(code):
        raise Invalid("a purpose code is 1-64 letters, digits and . _ : - (e.g. LE-ART10)")
    if not description.strip():
        raise Invalid("a purpose needs a description (e.g. the legal provision it rests on)")
    with ctx.store.session.begin() as s:
        if s.get(Purpose, code) is not None:
            raise Conflict(
                f"purpose {code!r} already exists (retired codes are not reused, so old "
                "audit entries keep their meaning)"
            )
        row = Purpose(code=code, description=description.strip(), created_by=actor.name)
        s.add(row)
    ctx.audit.record(
        PURPOSE_ADD, actor=actor.name, role=actor.role, ip=actor.ip, purpose=code, details={"description": description}
    )
    return purpose_dict(row)


@allowed("admin")
def retire_purpose(ctx: Context, actor: Actor, code: str) -> dict[str, Any]:
    with ctx.store.session.begin() as s:
        row = s.get(Purpose, code)
        if row is None:
            raise NotFound(f"no purpose {code!r}")
        if row.retired_at is not None:
            raise Conflict(f"purpose {code!r} is already retired")
        row.retired_at, row.retired_by = ctx.now(), actor.name
    ctx.audit.record(PURPOSE_RETIRE, actor=actor.name, role=actor.role, ip=actor.ip, purpose=code)
    return purpose_dict(row)


def check_purpose(store: Store, code: str) -> str:
    """The purpose code if it is on the active list, else PurposeNotAllowed carrying the allowed ones."""
    allowed_ = [{"code": p["code"], "description": p["description"]} for p in _purposes(store, False)]
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
