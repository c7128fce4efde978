"""Two-person confirmation of leads: an examiner proposes that a candidate of a search is the probe's person;
a different examiner confirms or rejects it. Until confirmed, every candidate is a lead, stamped as one. The
searches themselves are read back from the audit log, the record of what was searched.

Who reads a search and its candidates: the examiner who ran it; other examiners once it is under review (a
proposal on it is open or decided: they are the two-person rule's reviewers); auditors. To anyone else a
search does not exist (not found, never forbidden, so ids reveal nothing)."""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from ..calibration.wording import fmr_text
from ..store import proposals as rows
from ..store.audit import read_entry
from ..vocabulary import Action
from .auditing import record
from .context import Actor, Context
from .errors import Conflict, Forbidden, Invalid, NotFound
from .purposes import iso
from .roles import allowed

if TYPE_CHECKING:
    from ..store.governance_tables import Proposal

STAMP = "investigative lead — not an identification"
# A candidate cannot be proposed again while its latest proposal is open or confirmed (a rejected one can).
BLOCKING = ("proposed", "confirmed")


class ProposalInfo(BaseModel):
    """A proposal that a candidate of a search is the probe's person, and the decision on it."""

    id: int
    search_id: int
    probe_face: int
    face_id: int
    case_ref: str | None
    status: str = Field(description="proposed, confirmed or rejected.")
    proposed_by: str
    proposed_at: str | None
    note: str
    decided_by: str | None
    decided_at: str | None
    decision_note: str | None
    candidate: dict[str, Any] | None


class RecordedCandidate(BaseModel):
    """A candidate of a past search as its audit entry recorded it, with its review history (older entries
    may carry more fields, and lack some: read it with `model_dump(exclude_unset=True)` to see only what
    was recorded)."""

    model_config = ConfigDict(extra="allow")

    probe_face: int
    rank: int | None = None
    face_id: int
    image_id: int | None = None
    collection: str | None = None
    score: float | None = None
    fmr: float | None = None
    status: str
    stamp: str | None
    history: list[ProposalInfo]


class PastSearch(BaseModel):
    """A past search as its audit entry recorded it, with the review status of every candidate."""

    search_id: int
    case_ref: str | None
    purpose: str | None
    actor: str | None
    ts: str
    model: str | None
    threshold: float | None
    probe_sha256: str | None
    candidates: list[RecordedCandidate]
    stamp: str


def proposal_info(p: Proposal) -> ProposalInfo:
    return ProposalInfo(
        id=p.id,
        search_id=p.search_id,
        probe_face=p.probe_face,
        face_id=p.face_id,
        case_ref=p.case_ref,
        status=p.status,
        proposed_by=p.proposed_by,
        proposed_at=iso(p.proposed_at),
        note=p.note,
        decided_by=p.decided_by,
        decided_at=iso(p.decided_at),
        decision_note=p.decision_note,
        candidate=p.candidate,
    )


def search_entry(ctx: Context, search_id: int) -> dict[str, Any]:
    e = read_entry(ctx.store, search_id)
    if e is None or e["action"] != Action.SEARCH.value or e["outcome"] == "refused":
        raise NotFound(f"no search with id {search_id}")
    return e


def may_read_search(ctx: Context, entry: dict[str, Any], actor: Actor) -> bool:
    """The examiner who ran it, examiners once it is under review, auditors and admins."""
    if actor.role in ("auditor", "admin"):
        return True
    if actor.role != "examiner":
        return False
    if entry["actor"] == actor.name:
        return True
    return rows.under_review(ctx.store, entry["seq"])  # under review: every examiner is a possible reviewer


def readable_search(ctx: Context, actor: Actor, search_id: int) -> dict[str, Any]:
    """The audit entry of a search this actor may read; NotFound, as for a search that does not exist, if not."""
    e = search_entry(ctx, search_id)
    if not may_read_search(ctx, e, actor):
        raise NotFound(f"no search with id {search_id}")
    return e


def candidates_of(entry: dict[str, Any]) -> list[dict[str, Any]]:
    """The candidates of a search entry (a verify's results are a single comparison, not candidates)."""
    out: list[dict[str, Any]] = []
    if entry.get("action") != Action.SEARCH.value or not isinstance(entry.get("results"), list):
        return out
    for f in entry["results"]:
        for m in f.get("matches", []):
            out.append({"probe_face": f.get("face", 0), **m})
    return out


def proposals_for(ctx: Context, search_ids: list[int]) -> dict[tuple[int, int, int], list[ProposalInfo]]:
    """Proposal history per (search, probe face, gallery face), oldest first."""
    out: dict[tuple[int, int, int], list[ProposalInfo]] = defaultdict(list)
    for p in rows.proposals_of(ctx.store, search_ids):
        out[(p.search_id, p.probe_face, p.face_id)].append(proposal_info(p))
    return out


def status_of(history: list[ProposalInfo]) -> str:
    return history[-1].status if history else "lead"


@allowed("examiner")
def propose(ctx: Context, actor: Actor, search_id: int, face_id: int, note: str, probe_face: int = 0) -> ProposalInfo:
    entry = readable_search(ctx, actor, search_id)
    if not note.strip():
        raise Invalid("a proposal needs a note: why is this candidate the probe's person?")
    cand = next((c for c in candidates_of(entry) if c["face_id"] == face_id and c["probe_face"] == probe_face), None)
    if cand is None:
        raise NotFound(f"face {face_id} is not a candidate of search {search_id} (probe face {probe_face})")
    row, created = rows.add_proposal(
        ctx.store,
        search_id=search_id,
        probe_face=probe_face,
        face_id=face_id,
        case_ref=entry["case_ref"],
        candidate=cand,
        proposed_by=actor.name,
        note=note.strip(),
        blocked_by=BLOCKING,
    )
    if not created:
        raise Conflict(f"this candidate is already {row.status} (proposal {row.id})")
    out = proposal_info(row)
    record(
        ctx,
        actor,
        Action.PROPOSE,
        case_ref=entry["case_ref"],
        purpose=entry["purpose"],
        results={
            "proposal": out.id,
            "search_id": search_id,
            "face_id": face_id,
            "probe_face": probe_face,
            "score": cand.get("score"),
            "fmr": cand.get("fmr"),
        },
        details={"note": out.note},
    )
    return out


@allowed("examiner")
def decide(ctx: Context, actor: Actor, proposal_id: int, decision: str, note: str = "") -> ProposalInfo:
    """Confirm or reject a proposal; the examiner who proposed it may not (refused, and logged as such)."""
    if decision not in ("confirmed", "rejected"):
        raise Invalid("a decision is confirmed or rejected")
    row = rows.get_proposal(ctx.store, proposal_id)
    if row is None:
        raise NotFound(f"no proposal {proposal_id}")
    self_decision = row.proposed_by == actor.name
    if not self_decision:
        decided = rows.decide_proposal(ctx.store, proposal_id, decision, actor.name, note.strip(), ctx.now())
        if decided is None:  # decided already (perhaps by a reviewer a moment ago)
            latest = rows.get_proposal(ctx.store, proposal_id) or row
            raise Conflict(f"proposal {proposal_id} is already {latest.status}")
        row = decided
    out = proposal_info(row)
    # A self-decision is written as a refusal with what was attempted (not through `refusal_recorded`: the
    # entry names the proposal and its state, as a decision's entry does).
    record(
        ctx,
        actor,
        Action.CONFIRM if decision == "confirmed" else Action.REJECT,
        outcome="refused" if self_decision else "ok",
        case_ref=out.case_ref,
        results={"proposal": proposal_id, "search_id": out.search_id, "face_id": out.face_id, "status": out.status},
        details={"note": note.strip(), "proposed_by": out.proposed_by},
    )
    if self_decision:
        raise Forbidden("self-confirmation refused: a second, different examiner must confirm or reject a proposal")
    return out


@allowed("examiner", "auditor")
def list_proposals(
    ctx: Context, actor: Actor, case_ref: str | None = None, status: str | None = None
) -> list[ProposalInfo]:
    """Proposals, newest first, each with its candidate. A proposal puts its search under review, so every
    examiner (a possible reviewer) and auditor reads them; searches without one stay with their examiner."""
    return [proposal_info(p) for p in rows.list_proposals(ctx.store, case_ref, status, limit=1000)]


def search_view(ctx: Context, actor: Actor, search_id: int) -> PastSearch:
    """A past search as its audit entry recorded it, with the review status of every candidate."""
    e = readable_search(ctx, actor, search_id)
    hist = proposals_for(ctx, [search_id])
    cands = []
    for c in candidates_of(e):
        h = hist.get((search_id, c["probe_face"], c["face_id"]), [])
        status = status_of(h)
        words = {"fmr_text": fmr_text(c["fmr"])} if isinstance(c.get("fmr"), (int, float)) else {}
        cands.append(
            RecordedCandidate.model_validate(
                {**c, **words, "status": status, "stamp": None if status == "confirmed" else STAMP, "history": h}
            )
        )
    return PastSearch(
        search_id=search_id,
        case_ref=e["case_ref"],
        purpose=e["purpose"],
        actor=e["actor"],
        ts=e["ts"],
        model=e["model"],
        threshold=e["threshold"],
        probe_sha256=e["probe_sha256"],
        candidates=cands,
        stamp=STAMP,
    )


@allowed("examiner", "auditor", "admin")
def view_search(ctx: Context, actor: Actor, search_id: int) -> PastSearch:
    """Open a past search: one's own, one under review, or any for an auditor or admin (logged; its candidates
    count as seen by this user)."""
    view = search_view(ctx, actor, search_id)
    record(ctx, actor, Action.VIEW_SEARCH, case_ref=view.case_ref, results={"search_id": search_id})
    ctx.seen.add(actor.name, "face", [c.face_id for c in view.candidates])
    return view


@allowed("examiner", "auditor", "admin")
def export_search(ctx: Context, actor: Actor, search_id: int, fmt: str) -> PastSearch:
    """A past search's candidates with their status, for export (logged as an export); readable as for
    `view_search`."""
    if fmt not in ("json", "csv"):
        raise Invalid("format must be json or csv")
    view = search_view(ctx, actor, search_id)
    record(
        ctx,
        actor,
        Action.EXPORT,
        case_ref=view.case_ref,
        details={"what": "search", "search_id": search_id, "format": fmt},
    )
    return view
