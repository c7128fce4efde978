"""Who may read what is recorded under a case: auditors and admins every case; an examiner the cases they own
or are assigned to. The owner is who opened the case: the examiner of its first search, verify, co-appearance
search or watch that was not refused. Assigned is a reviewer an admin assigned to a proposal made under the
case. Running something under a case reference (the references are seen in the proposals list) makes no one
a reader of the case: a case reference is a name, not a key."""

from __future__ import annotations

from dataclasses import dataclass

from ..store.audit import case_owner, case_refs
from ..store.authorisations import reviewers_of_case
from ..vocabulary import Action
from .context import Actor, Context
from .roles import allowed

TAKING_PART = (Action.SEARCH.value, Action.VERIFY.value, Action.PEOPLE_TOGETHER.value, Action.WATCH_ADD.value)


def may_read_case(ctx: Context, case_ref: str, actor: Actor) -> bool:
    if actor.role in ("auditor", "admin"):
        return True
    if actor.role != "examiner":
        return False
    if case_owner(ctx.store, case_ref, TAKING_PART) == actor.name:
        return True
    return actor.name in reviewers_of_case(ctx.store, case_ref)


@dataclass(frozen=True)
class CaseListed:
    """A case the caller may open: its reference, when it was last used and how many uses it has."""

    case_ref: str
    last_used: str
    uses: int


# Auditors first: the role the command line would act with by default.
@allowed("auditor", "examiner", "admin")
def list_cases(ctx: Context, actor: Actor) -> list[CaseListed]:
    """The cases whose report the caller may open (`may_read_case`), the most recently used first: every case
    for auditors and admins, an examiner's own (those they opened or review). Not logged: a list of references
    shows nothing recorded under them, and opening a report is logged."""
    mine = None if actor.role in ("auditor", "admin") else actor.name
    used = case_refs(ctx.store, TAKING_PART, mine)
    return [CaseListed(c, t, n) for c, t, n in used if mine is None or may_read_case(ctx, c, actor)]
