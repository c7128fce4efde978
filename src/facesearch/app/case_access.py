"""Who may work on a case and read what is recorded under it: auditors and admins read every case; an examiner
the cases they own or are a member of. The owner is who opened the case: the examiner of its first search,
verify, co-appearance search, people view or watch that was not refused. Members are the examiners an admin
added to the case (`add_member`, `facesearch cases assign`) and has not taken off it since (`remove_member`,
`facesearch cases unassign`), and the reviewers an admin assigned to a proposal made under it. Once a case has
an owner, only its owner and members may search under it (`check_case_use`, part of the search gate): a case
reference is a name, not a key, so neither running something under it nor having used it first makes anyone
else a reader of someone else's work."""

from __future__ import annotations

from dataclasses import dataclass

from ..store.audit import case_members, case_owner, case_refs
from ..store.authorisations import reviewers_of_case
from ..vocabulary import Action
from .accounts import find_account
from .auditing import record
from .context import Actor, Context
from .errors import Forbidden, Invalid
from .roles import allowed

TAKING_PART = (
    Action.SEARCH.value,
    Action.VERIFY.value,
    Action.PEOPLE_TOGETHER.value,
    Action.PEOPLE_VIEW.value,
    Action.WATCH_ADD.value,
)


def _added(ctx: Context, case_ref: str) -> set[str]:
    """The examiners an admin added to the case and did not take off it since."""
    return case_members(ctx.store, case_ref, Action.CASE_ASSIGN.value, Action.CASE_UNASSIGN.value)


def _member(ctx: Context, case_ref: str, name: str) -> bool:
    return name in _added(ctx, case_ref) or name in reviewers_of_case(ctx.store, case_ref)


def may_read_case(ctx: Context, case_ref: str, actor: Actor) -> bool:
    if actor.role in ("auditor", "admin"):
        return True
    if actor.role != "examiner":
        return False
    if case_owner(ctx.store, case_ref, TAKING_PART) == actor.name:
        return True
    return _member(ctx, case_ref, actor.name)


def check_case_use(ctx: Context, actor: Actor, case_ref: str) -> None:
    """An examiner works under a case only if it is new, theirs, or they are its member: otherwise whoever first
    used a reference another examiner later works under would own, and read, that examiner's searches."""
    if actor.role != "examiner":
        return
    owner = case_owner(ctx.store, case_ref, TAKING_PART)
    if owner is None or owner == actor.name or _member(ctx, case_ref, actor.name):
        return
    raise Forbidden(
        f"case {case_ref} was opened by another examiner: an admin adds you to it "
        f"(facesearch cases assign {case_ref} {actor.name}), or use a case reference of your own"
    )


@dataclass(frozen=True)
class CaseMember:
    """An examiner an admin added to a case: they may search under it and read its report."""

    case_ref: str
    examiner: str
    added_by: str
    seq: int


@allowed("admin")
def add_member(ctx: Context, actor: Actor, case_ref: str, examiner: str) -> CaseMember:
    """Add an examiner to a case (an enabled examiner account, or a command-line examiner `cli:NAME`). Kept in
    the audit log, the record of who may read what: a `case_assign` entry, never edited or removed."""
    case = case_ref.strip()
    if not case:
        raise Invalid("name the case (its reference)", field="case_ref")
    name = examiner.strip()
    if not name:
        raise Invalid("name the examiner", field="examiner")
    account = find_account(ctx, name)
    if account is None and not name.startswith("cli:"):
        raise Invalid(f"no account {name!r}", field="examiner")
    if account is not None and (account.disabled or account.role != "examiner"):
        raise Invalid(f"{name} cannot be added: case members are enabled examiner accounts", field="examiner")
    seq = record(ctx, actor, Action.CASE_ASSIGN, case_ref=case, details={"examiner": name})
    return CaseMember(case_ref=case, examiner=name, added_by=actor.name, seq=seq)


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


@dataclass(frozen=True)
class CaseMemberRemoved:
    """An examiner an admin took off a case: from now on they may not search under it nor read its report
    (unless they own it or review one of its proposals); what they did under it stays in the log."""

    case_ref: str
    examiner: str
    removed_by: str
    seq: int


@allowed("admin")
def remove_member(ctx: Context, actor: Actor, case_ref: str, examiner: str) -> CaseMemberRemoved:
    """Take an examiner an admin added off a case: a `case_unassign` entry (the `case_assign` entry stays, as
    every entry does; membership is the two replayed in order). Refused for a name that is not a member."""
    case, name = case_ref.strip(), examiner.strip()
    if not case:
        raise Invalid("name the case (its reference)", field="case_ref")
    if name not in _added(ctx, case):
        raise Invalid(f"{name or 'that examiner'} is not a member of case {case}", field="examiner")
    seq = record(ctx, actor, Action.CASE_UNASSIGN, case_ref=case, details={"examiner": name})
    return CaseMemberRemoved(case_ref=case, examiner=name, removed_by=actor.name, seq=seq)
