"""Two-person confirmation of leads: an examiner proposes that a candidate of a search is the probe's
person; a different examiner confirms or rejects it. Until confirmed, every candidate is a lead, stamped
as one. The searches themselves are read back from the audit log, the record of what was searched.

Who reads a search and its candidates: the examiner who ran it; other examiners once it is under review (a
proposal on it is open or decided: they are the two-person rule's reviewers); auditors. To anyone else a
search does not exist (not found, never forbidden, so ids reveal nothing)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import select

from ..calibration.wording import fmr_text
from ..store import Store
from ..store.accounts import AuditEntry
from ..store.audit import CONFIRM, EXPORT, PROPOSE, REJECT, SEARCH, VIEW_SEARCH, entry_dict
from ..store.governance_tables import Proposal
from .context import Actor, Context
from .errors import Conflict, Forbidden, Invalid, NotFound
from .purposes import iso
from .roles import allowed

STAMP = "investigative lead — not an identification"
STATUSES = ("lead", "proposed", "confirmed", "rejected")


def _entry(store: Store, seq: int) -> dict[str, Any] | None:
    with store.session() as s:
        row = s.get(AuditEntry, seq)
    return entry_dict(row) if row is not None else None


def search_entry(store: Store, search_id: int) -> dict[str, Any]:
    e = _entry(store, search_id)
    if e is None or e["action"] != SEARCH or e["outcome"] == "refused":
        raise NotFound(f"no search with id {search_id}")
    return e


def may_read_search(store: Store, entry: dict[str, Any], actor: Actor) -> bool:
    """The examiner who ran it, examiners once it is under review, auditors and admins."""
    if actor.role in ("auditor", "admin"):
        return True
    if actor.role != "examiner":
        return False
    if entry["actor"] == actor.name:
        return True
    with store.session() as s:  # under review: every examiner is a possible reviewer
        return s.scalar(select(Proposal.id).where(Proposal.search_id == entry["seq"]).limit(1)) is not None


def readable_search(store: Store, actor: Actor, search_id: int) -> dict[str, Any]:
    """The audit entry of a search this actor may read; NotFound, as for a search that does not exist, if not."""
    e = search_entry(store, search_id)
    if not may_read_search(store, e, actor):
        raise NotFound(f"no search with id {search_id}")
    return e


def candidates_of(entry: dict[str, Any]) -> list[dict[str, Any]]:
    """The candidates of a search entry (a verify's results are a single comparison, not candidates)."""
    out: list[dict[str, Any]] = []
    if entry.get("action") != SEARCH or not isinstance(entry.get("results"), list):
        return out
    for f in entry["results"]:
        for m in f.get("matches", []):
            out.append({"probe_face": f.get("face", 0), **m})
    return out


def proposal_dict(p: Proposal) -> dict[str, Any]:
    return {
        "id": p.id,
        "search_id": p.search_id,
        "probe_face": p.probe_face,
        "face_id": p.face_id,
        "case_ref": p.case_ref,
        "status": p.status,
        "proposed_by": p.proposed_by,
        "proposed_at": iso(p.proposed_at),
        "note": p.note,
        "decided_by": p.decided_by,
        "decided_at": iso(p.decided_at),
        "decision_note": p.decision_note,
        "candidate": p.candidate,
    }


def proposals_for(store: Store, search_ids: list[int]) -> dict[tuple[int, int, int], list[dict[str, Any]]]:
    """Proposal history per (search, probe face, gallery face), oldest first."""
    out: dict[tuple[int, int, int], list[dict[str, Any]]] = defaultdict(list)
    if not search_ids:
        return out
    with store.session() as s:
        for p in s.scalars(select(Proposal).where(Proposal.search_id.in_(search_ids)).order_by(Proposal.id)):
            out[(p.search_id, p.probe_face, p.face_id)].append(proposal_dict(p))
    return out


def status_of(history: list[dict[str, Any]]) -> str:
    return history[-1]["status"] if history else "lead"


@allowed("examiner")
def propose(ctx: Context, actor: Actor, search_id: int, face_id: int, note: str, probe_face: int = 0) -> dict[str, Any]:
    entry = readable_search(ctx.store, actor, search_id)
    if not note.strip():
        raise Invalid("a proposal needs a note: why is this candidate the probe's person?")
    cand = next((c for c in candidates_of(entry) if c["face_id"] == face_id and c["probe_face"] == probe_face), None)
    if cand is None:
        raise NotFound(f"face {face_id} is not a candidate of search {search_id} (probe face {probe_face})")
    with ctx.store.session.begin() as s:
        prior = list(
            s.scalars(
                select(Proposal)
                .where(Proposal.search_id == search_id, Proposal.face_id == face_id, Proposal.probe_face == probe_face)
                .order_by(Proposal.id)
            )
        )
        if prior and prior[-1].status in ("proposed", "confirmed"):
            raise Conflict(f"this candidate is already {prior[-1].status} (proposal {prior[-1].id})")
        row = Proposal(
            search_id=search_id,
            probe_face=probe_face,
            face_id=face_id,
            seq=len(prior) + 1,
            case_ref=entry["case_ref"],
            candidate=cand,
            status="proposed",
            proposed_by=actor.name,
            note=note.strip(),
        )
        s.add(row)
        s.flush()
        out = proposal_dict(row)
    ctx.audit.record(
        PROPOSE,
        actor=actor.name,
        role=actor.role,
        ip=actor.ip,
        case_ref=entry["case_ref"],
        purpose=entry["purpose"],
        results={
            "proposal": out["id"],
            "search_id": search_id,
            "face_id": face_id,
            "probe_face": probe_face,
            "score": cand.get("score"),
            "fmr": cand.get("fmr"),
        },
        details={"note": out["note"]},
    )
    return out


@allowed("examiner")
def decide(ctx: Context, actor: Actor, proposal_id: int, decision: str, note: str = "") -> dict[str, Any]:
    """Confirm or reject a proposal; the examiner who proposed it may not (refused, and logged as such)."""
    if decision not in ("confirmed", "rejected"):
        raise Invalid("a decision is confirmed or rejected")
    with ctx.store.session.begin() as s:
        row = s.get(Proposal, proposal_id)
        if row is None:
            raise NotFound(f"no proposal {proposal_id}")
        if row.proposed_by == actor.name:
            outcome = "refused"
        elif row.status != "proposed":
            raise Conflict(f"proposal {proposal_id} is already {row.status}")
        else:
            outcome = "ok"
            row.status, row.decided_by, row.decided_at = decision, actor.name, ctx.now()
            row.decision_note = note.strip()
        out = proposal_dict(row)
    action = CONFIRM if decision == "confirmed" else REJECT
    ctx.audit.record(
        action,
        actor=actor.name,
        role=actor.role,
        ip=actor.ip,
        case_ref=out["case_ref"],
        outcome=outcome,
        results={
            "proposal": proposal_id,
            "search_id": out["search_id"],
            "face_id": out["face_id"],
            "status": out["status"],
        },
        details={"note": note.strip(), "proposed_by": out["proposed_by"]},
    )
    if outcome == "refused":
        raise Forbidden("self-confirmation refused: a second, different examiner must confirm or reject a proposal")
    return out


@allowed("examiner", "auditor")
def list_proposals(
    ctx: Context, actor: Actor, case_ref: str | None = None, status: str | None = None
) -> list[dict[str, Any]]:
    """Proposals, newest first, each with its candidate. A proposal puts its search under review, so every
    examiner (a possible reviewer) and auditor reads them; searches without one stay with their examiner."""
    with ctx.store.session() as s:
        stmt = select(Proposal).order_by(Proposal.id.desc())
        if case_ref:
            stmt = stmt.where(Proposal.case_ref == case_ref)
        if status:
            stmt = stmt.where(Proposal.status == status)
        return [proposal_dict(p) for p in s.scalars(stmt.limit(1000))]


def search_view(store: Store, actor: Actor, search_id: int) -> dict[str, Any]:
    """A past search as its audit entry recorded it, with the review status of every candidate."""
    e = readable_search(store, actor, search_id)
    hist = proposals_for(store, [search_id])
    cands = []
    for c in candidates_of(e):
        h = hist.get((search_id, c["probe_face"], c["face_id"]), [])
        status = status_of(h)
        words = {"fmr_text": fmr_text(c["fmr"])} if isinstance(c.get("fmr"), (int, float)) else {}
        cands.append({**c, **words, "status": status, "stamp": None if status == "confirmed" else STAMP, "history": h})
    return {
        "search_id": search_id,
        "case_ref": e["case_ref"],
        "purpose": e["purpose"],
        "actor": e["actor"],
        "ts": e["ts"],
        "model": e["model"],
        "threshold": e["threshold"],
        "probe_sha256": e["probe_sha256"],
        "candidates": cands,
        "stamp": STAMP,
    }


@allowed("examiner", "auditor", "admin")
def view_search(ctx: Context, actor: Actor, search_id: int) -> dict[str, Any]:
    """Open a past search: one's own, one under review, or any for an auditor or admin (logged; its candidates
    count as seen by this user)."""
    view = search_view(ctx.store, actor, search_id)
    ctx.audit.record(
        VIEW_SEARCH,
        actor=actor.name,
        role=actor.role,
        ip=actor.ip,
        case_ref=view["case_ref"],
        results={"search_id": search_id},
    )
    ctx.seen.add(actor.name, "face", [c["face_id"] for c in view["candidates"]])
    return view


@allowed("examiner", "auditor", "admin")
def export_search(ctx: Context, actor: Actor, search_id: int, fmt: str) -> dict[str, Any]:
    """A past search's candidates with their status, for export (logged as an export); readable as for
    `view_search`."""
    if fmt not in ("json", "csv"):
        raise Invalid("format must be json or csv")
    view = search_view(ctx.store, actor, search_id)
    ctx.audit.record(
        EXPORT,
        actor=actor.name,
        role=actor.role,
        ip=actor.ip,
        case_ref=view["case_ref"],
        details={"what": "search", "search_id": search_id, "format": fmt},
    )
    return view
