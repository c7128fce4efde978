"""The rows of case authorisations and of the rules that need them: which purposes require a live authorisation
(and how long a use may precede it under urgency), when a case's urgent use began, who a proposal is assigned
to, and the uses of a year that the yearly report counts."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from .audit.table import AuditEntry
from .db import Store
from .governance_tables import Proposal, Purpose
from .watch_tables import CaseAuthorisation, ProposalAssignment, PurposeAuthorisation, UrgentUse

CHUNK = 5000


@dataclass(frozen=True)
class Use:
    """An audit entry the yearly report counts."""

    seq: int
    ts: str
    action: str
    outcome: str
    case_ref: str | None
    purpose: str | None


# Authorisations ----------------------------------------------------------------------------------
def add_authorisation(store: Store, **fields: object) -> CaseAuthorisation:
    with store.session.begin() as s:
        row = CaseAuthorisation(**fields)
        s.add(row)
    return row


def authorisations(store: Store, case_refs: Sequence[str] | None = None) -> list[CaseAuthorisation]:
    """Authorisations of these cases (all for None), oldest first."""
    out: list[CaseAuthorisation] = []
    with store.session() as s:
        if case_refs is None:
            return list(s.scalars(select(CaseAuthorisation).order_by(CaseAuthorisation.id)))
        wanted = list(dict.fromkeys(case_refs))
        for i in range(0, len(wanted), CHUNK):
            out.extend(
                s.scalars(select(CaseAuthorisation).where(CaseAuthorisation.case_ref.in_(wanted[i : i + CHUNK])))
            )
    return sorted(out, key=lambda a: a.id)


def live_cases(store: Store, case_refs: Sequence[str], now: datetime) -> set[str]:
    """The cases among these with an authorisation in force at `now`."""
    wanted = list(dict.fromkeys(case_refs))
    out: set[str] = set()
    with store.session() as s:
        for i in range(0, len(wanted), CHUNK):
            out.update(
                s.scalars(
                    select(CaseAuthorisation.case_ref).where(
                        CaseAuthorisation.case_ref.in_(wanted[i : i + CHUNK]),
                        CaseAuthorisation.granted_at <= now,
                        CaseAuthorisation.expires_at > now,
                    )
                )
            )
    return out


# Purposes that need one ----------------------------------------------------------------------------
def add_purpose_requiring(
    store: Store, code: str, description: str, created_by: str, urgent_hours: int | None
) -> Purpose | None:
    """Add a purpose that requires an authorisation, and its rule, in one transaction; None (nothing written)
    when the code exists already."""
    with store.session.begin() as s:
        if s.get(Purpose, code) is not None:
            return None
        row = Purpose(code=code, description=description, created_by=created_by)
        s.add(row)
        s.flush()
        s.add(PurposeAuthorisation(code=code, urgent_hours=urgent_hours))
    return row


def purpose_rules(store: Store, codes: Collection[str] | None = None) -> dict[str, int | None]:
    """Purposes that require an authorisation (of these codes, or all): code -> urgent hours (None: none)."""
    stmt = select(PurposeAuthorisation.code, PurposeAuthorisation.urgent_hours)
    if codes is not None:
        stmt = stmt.where(PurposeAuthorisation.code.in_(list(codes)))
    with store.session() as s:
        return {str(c): (None if h is None else int(h)) for c, h in s.execute(stmt)}


def start_urgent(store: Store, case_ref: str, code: str, now: datetime, by: str) -> datetime:
    """When the case's urgent use of this purpose began: now, if this is the first."""
    try:
        with store.session.begin() as s:
            row = s.get(UrgentUse, (case_ref, code))
            if row is not None:
                return row.started_at
            s.add(UrgentUse(case_ref=case_ref, purpose=code, started_at=now, started_by=by))
            return now
    except IntegrityError:  # a concurrent first use
        found = urgent_started(store, [case_ref]).get((case_ref, code))
        return found or now


def urgent_started(store: Store, case_refs: Sequence[str]) -> dict[tuple[str, str], datetime]:
    """(case, purpose) -> when its urgent use began, for these cases."""
    wanted = list(dict.fromkeys(case_refs))
    out: dict[tuple[str, str], datetime] = {}
    with store.session() as s:
        for i in range(0, len(wanted), CHUNK):
            for row in s.scalars(select(UrgentUse).where(UrgentUse.case_ref.in_(wanted[i : i + CHUNK]))):
                out[(row.case_ref, row.purpose)] = row.started_at
    return out


# Reviewer assignments ------------------------------------------------------------------------------
def assign(store: Store, proposal_id: int, reviewer: str, by: str, now: datetime) -> None:
    """Assign (or re-assign) a proposal to a reviewer."""
    with store.session.begin() as s:
        row = s.get(ProposalAssignment, proposal_id, with_for_update=True)
        if row is None:
            s.add(ProposalAssignment(proposal_id=proposal_id, reviewer=reviewer, assigned_by=by, assigned_at=now))
        else:
            row.reviewer, row.assigned_by, row.assigned_at = reviewer, by, now


def reviewers_of_case(store: Store, case_ref: str) -> set[str]:
    """The reviewers assigned to a proposal made under this case reference (explicit assignment)."""
    with store.session() as s:
        return {
            str(r)
            for r in s.scalars(
                select(ProposalAssignment.reviewer)
                .join(Proposal, Proposal.id == ProposalAssignment.proposal_id)
                .where(Proposal.case_ref == case_ref)
            )
        }


def assignments(store: Store, proposal_ids: Sequence[int]) -> dict[int, str]:
    """proposal id -> its assigned reviewer, for the proposals that have one."""
    wanted = [int(p) for p in proposal_ids]
    out: dict[int, str] = {}
    with store.session() as s:
        for i in range(0, len(wanted), CHUNK):
            for pid, who in s.execute(
                select(ProposalAssignment.proposal_id, ProposalAssignment.reviewer).where(
                    ProposalAssignment.proposal_id.in_(wanted[i : i + CHUNK])
                )
            ):
                out[int(pid)] = str(who)
    return out


# Uses of a year ------------------------------------------------------------------------------------
def uses_between(store: Store, actions: Collection[str], since: str, until: str) -> list[Use]:
    """The entries of these actions written in [since, until) (ISO times, as stored), oldest first."""
    stmt = (
        select(
            AuditEntry.seq,
            AuditEntry.ts,
            AuditEntry.action,
            AuditEntry.outcome,
            AuditEntry.case_ref,
            AuditEntry.purpose,
        )
        .where(AuditEntry.action.in_([str(a) for a in actions]), AuditEntry.ts >= since, AuditEntry.ts < until)
        .order_by(AuditEntry.seq)
    )
    with store.session() as s:
        return [Use(int(q), str(t), str(a), str(o), c, p) for q, t, a, o, c, p in s.execute(stmt)]
