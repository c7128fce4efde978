"""The kill switch: an admin suspends all searching and verifying at once, for every entry point and
every process (the flag lives in the database)."""

from __future__ import annotations

from typing import Any

from ..store import Store
from ..store.audit import SEARCH_RESUME, SEARCH_SUSPEND
from ..store.governance_tables import SystemFlag
from .context import Actor, Context
from .errors import Suspended
from .roles import allowed

SUSPEND_KEY = "search_suspended"


def suspension(store: Store) -> dict[str, Any] | None:
    with store.session() as s:
        row = s.get(SystemFlag, SUSPEND_KEY)
    if row is None or not row.value or not row.value.get("suspended"):
        return None
    return dict(row.value)


def check_not_suspended(store: Store) -> None:
    st = suspension(store)
    if st:
        raise Suspended(
            f"searching is suspended (by {st.get('by')} at {st.get('at')}"
            f"{': ' + st['reason'] if st.get('reason') else ''}); an admin resumes it "
            "with `facesearch search-resume`",
            suspension=st,
        )


@allowed("admin")
def set_suspended(ctx: Context, actor: Actor, suspended: bool, reason: str = "") -> dict[str, Any]:
    now = ctx.now()
    value = {"suspended": suspended, "by": actor.name, "at": now.isoformat(timespec="seconds"), "reason": reason}
    with ctx.store.session.begin() as s:
        s.merge(SystemFlag(key=SUSPEND_KEY, value=value, updated_at=now, updated_by=actor.name))
    ctx.audit.record(
        SEARCH_SUSPEND if suspended else SEARCH_RESUME,
        actor=actor.name,
        role=actor.role,
        ip=actor.ip,
        details={"reason": reason},
    )
    return value


@allowed("examiner", "admin")
def search_status(ctx: Context, actor: Actor) -> dict[str, Any]:
    """Whether searching is suspended, and by whom, when and why."""
    st = suspension(ctx.store)
    return {"suspended": bool(st), "suspension": st}
