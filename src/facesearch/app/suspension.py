"""The kill switch: an admin suspends all searching and verifying at once, for every entry point and
every process (the flag lives in the database)."""

from __future__ import annotations

from pydantic import BaseModel

from ..store.flags import read_flag, write_flag
from ..vocabulary import Action
from .auditing import record
from .context import Actor, Context
from .errors import Suspended
from .roles import allowed

SUSPEND_KEY = "search_suspended"


class Suspension(BaseModel):
    """The kill switch as last set: on or off, by whom, when (ISO 8601) and why."""

    suspended: bool
    by: str | None
    at: str | None
    reason: str | None


class SearchStatus(BaseModel):
    suspended: bool
    suspension: Suspension | None


def _suspension(ctx: Context) -> Suspension | None:
    value = read_flag(ctx.store, SUSPEND_KEY)
    if not value or not value.get("suspended"):
        return None
    return Suspension.model_validate(value)


def check_not_suspended(ctx: Context) -> None:
    """Refuse (Suspended) while searching is suspended; the refusal carries who suspended it, when and why."""
    st = _suspension(ctx)
    if st:
        raise Suspended(
            f"searching is suspended (by {st.by} at {st.at}"
            f"{': ' + st.reason if st.reason else ''}); an admin resumes it "
            "with `facesearch search-resume`",
            suspension=st.model_dump(),
        )


@allowed()
def current_suspension(ctx: Context, actor: Actor) -> Suspension | None:
    """The suspension in force, or None: what the search, verify and people pages show (to anyone signed
    in, as those pages are)."""
    return _suspension(ctx)


@allowed("admin")
def set_suspended(ctx: Context, actor: Actor, suspended: bool, reason: str = "") -> Suspension:
    now = ctx.now()
    value = Suspension(suspended=suspended, by=actor.name, at=now.isoformat(timespec="seconds"), reason=reason)
    write_flag(ctx.store, SUSPEND_KEY, value.model_dump(), now, actor.name)
    record(ctx, actor, Action.SEARCH_SUSPEND if suspended else Action.SEARCH_RESUME, details={"reason": reason})
    return value


@allowed("examiner", "admin")
def search_status(ctx: Context, actor: Actor) -> SearchStatus:
    """Whether searching is suspended, and by whom, when and why."""
    st = _suspension(ctx)
    return SearchStatus(suspended=bool(st), suspension=st)
