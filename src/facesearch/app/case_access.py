"""Who may read what is recorded under a case: auditors and admins every case; an examiner the cases they took
part in (a search, verify, co-appearance search or watch of theirs that was not refused). A refused attempt
makes no one a participant: anyone can be refused under any case reference."""

from __future__ import annotations

from dataclasses import dataclass

from ..store.audit import case_refs, took_part
from ..vocabulary import Action
from .context import Actor, Context
from .roles import allowed

TAKING_PART = (Action.SEARCH.value, Action.VERIFY.value, Action.PEOPLE_TOGETHER.value, Action.WATCH_ADD.value)


def may_read_case(ctx: Context, case_ref: str, actor: Actor) -> bool:
    if actor.role in ("auditor", "admin"):
        return True
    if actor.role != "examiner":
        return False
    return took_part(ctx.store, case_ref, actor.name, TAKING_PART)


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
    for auditors and admins, an examiner's own (those they took part in). Not logged: a list of references
    shows nothing recorded under them, and opening a report is logged."""
    mine = None if actor.role in ("auditor", "admin") else actor.name
    return [CaseListed(c, t, n) for c, t, n in case_refs(ctx.store, TAKING_PART, mine)]
