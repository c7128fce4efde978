"""The rows of the two-person review: proposals that a candidate of a search is the probe's person, and the
decisions on them. Rows are never deleted; a rejected candidate can be proposed again (a new row, the next
`seq` of that candidate)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select

from .db import Store
from .governance_tables import Proposal
from .schema import Face


def get_proposal(store: Store, proposal_id: int) -> Proposal | None:
    with store.session() as s:
        return s.get(Proposal, proposal_id)


def proposals_of(store: Store, search_ids: Sequence[int]) -> list[Proposal]:
    """Every proposal on these searches, oldest first."""
    if not search_ids:
        return []
    with store.session() as s:
        return list(s.scalars(select(Proposal).where(Proposal.search_id.in_(list(search_ids))).order_by(Proposal.id)))


def under_review(store: Store, search_id: int) -> bool:
    """Whether any proposal was ever made on this search."""
    with store.session() as s:
        return s.scalar(select(Proposal.id).where(Proposal.search_id == search_id).limit(1)) is not None


def add_proposal(
    store: Store,
    *,
    search_id: int,
    probe_face: int,
    face_id: int,
    case_ref: str | None,
    candidate: dict[str, Any],
    proposed_by: str,
    note: str,
    blocked_by: Collection[str],
) -> tuple[Proposal, bool]:
    """Propose a candidate, unless its latest proposal has one of the `blocked_by` statuses. Returns (the new
    proposal, True), or (the proposal that blocks it, False) with nothing written. Checked and written in one
    transaction; the unique (search, probe face, face, seq) refuses a concurrent twin."""
    with store.session.begin() as s:
        prior = list(
            s.scalars(
                select(Proposal)
                .where(Proposal.search_id == search_id, Proposal.face_id == face_id, Proposal.probe_face == probe_face)
                .order_by(Proposal.id)
            )
        )
        if prior and prior[-1].status in blocked_by:
            return prior[-1], False
        row = Proposal(
            search_id=search_id,
            probe_face=probe_face,
            face_id=face_id,
            seq=len(prior) + 1,
            case_ref=case_ref,
            candidate=candidate,
            status="proposed",
            proposed_by=proposed_by,
            note=note,
        )
        s.add(row)
        s.flush()
    return row, True


def decide_proposal(
    store: Store, proposal_id: int, status: str, decided_by: str, note: str, now: datetime
) -> Proposal | None:
    """Record a decision on a proposal that is still open and was not made by `decided_by`; None (nothing
    written) when it is decided already, is `decided_by`'s own, or does not exist."""
    with store.session.begin() as s:
        row = s.get(Proposal, proposal_id, with_for_update=True)
        if row is None or row.status != "proposed" or row.proposed_by == decided_by:
            return None
        row.status, row.decided_by, row.decided_at, row.decision_note = status, decided_by, now, note
    return row


def list_proposals(store: Store, case_ref: str | None, status: str | None, limit: int) -> list[Proposal]:
    """Proposals, newest first, of one case and of one status when given."""
    with store.session() as s:
        stmt = select(Proposal).order_by(Proposal.id.desc())
        if case_ref:
            stmt = stmt.where(Proposal.case_ref == case_ref)
        if status:
            stmt = stmt.where(Proposal.status == status)
        return list(s.scalars(stmt.limit(limit)))


def proposal_statuses(store: Store) -> list[tuple[int, str]]:
    """(search id, status) of every proposal: what usage reports count."""
    with store.session() as s:
        return [(int(sid), str(st)) for sid, st in s.execute(select(Proposal.search_id, Proposal.status)).all()]


def open_in_collection(store: Store, collection_id: int) -> list[tuple[int, str | None]]:
    """(proposal id, case reference) of every proposal still awaiting its second examiner whose candidate is a
    face of this collection: what an open case still needs of it."""
    with store.session() as s:
        rows = s.execute(
            select(Proposal.id, Proposal.case_ref)
            .join(Face, Face.id == Proposal.face_id)
            .where(Face.collection_id == collection_id, Proposal.status == "proposed")
            .order_by(Proposal.id)
        ).all()
    return [(int(i), ref) for i, ref in rows]


def proposed_case(store: Store, face_id: int) -> str | None:
    """The case reference of the newest proposal whose candidate is this face (None: no proposal names it)."""
    with store.session() as s:
        row = s.execute(
            select(Proposal.id, Proposal.case_ref).where(Proposal.face_id == int(face_id)).order_by(Proposal.id.desc())
        ).first()
    return None if row is None else str(row[1] or "")
