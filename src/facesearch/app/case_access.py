"""Who may read what is recorded under a case: auditors and admins every case; an examiner the cases they took
part in (a search, verify, co-appearance search or watch of theirs that was not refused). A refused attempt
makes no one a participant: anyone can be refused under any case reference."""

from __future__ import annotations

from ..store.audit import took_part
from ..vocabulary import Action
from .context import Actor, Context

TAKING_PART = (Action.SEARCH.value, Action.VERIFY.value, Action.PEOPLE_TOGETHER.value, Action.WATCH_ADD.value)


def may_read_case(ctx: Context, case_ref: str, actor: Actor) -> bool:
    if actor.role in ("auditor", "admin"):
        return True
    if actor.role != "examiner":
        return False
    return took_part(ctx.store, case_ref, actor.name, TAKING_PART)
