"""Who may read what is recorded under a case: auditors and admins every case; an examiner the cases they own
or are assigned to. The owner is who opened the case: the examiner of its first search, verify, co-appearance
search or watch that was not refused. Assigned is a reviewer an admin assigned to a proposal made under the
case. Running something under a case reference (the references are seen in the proposals list) makes no one
a reader of the case: a case reference is a name, not a key."""

from __future__ import annotations

from ..store.audit import case_owner
from ..store.authorisations import reviewers_of_case
from ..vocabulary import Action
from .context import Actor, Context

TAKING_PART = (Action.SEARCH.value, Action.VERIFY.value, Action.PEOPLE_TOGETHER.value, Action.WATCH_ADD.value)


def may_read_case(ctx: Context, case_ref: str, actor: Actor) -> bool:
    if actor.role in ("auditor", "admin"):
        return True
    if actor.role != "examiner":
        return False
    if case_owner(ctx.store, case_ref, TAKING_PART) == actor.name:
        return True
    return actor.name in reviewers_of_case(ctx.store, case_ref)
