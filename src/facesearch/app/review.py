"""Two-person confirmation of leads: an examiner proposes that a candidate of a search is the probe's person;
a different examiner confirms or rejects it. Until confirmed, every candidate is a lead, stamped as one. The
searches themselves are read back from the audit log, the record of what was searched.

A watch's hit is a lead like a search's candidate: its `watch_hit` audit entry stands where a search's entry
stands (the hit is its one candidate), and its owner is the watch's.

Who reads a search and its candidates: the examiner who ran it (the watch's owner, for a hit); other examiners
once it is under review (a proposal on it is open or decided: they are the two-person rule's reviewers);
auditors. To anyone else a search does not exist (not found, never forbidden, so ids reveal nothing).

A proposal may be assigned to a named reviewer, who alone may then decide it. With FACESEARCH_BLIND_REVIEW=1
a reviewer sees the probe and the candidate, not who proposed it or why, until it is decided."""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from ..calibration.wording import fmr_text
from ..services.search_results import absent
from ..store import authorisations as assignments
from ..store import proposals as rows
from ..store.audit import read_entry
from ..vocabulary import Action
from .accounts import find_account
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
LEADS = (Action.SEARCH.value, Action.WATCH_HIT.value)  # the audit entries whose candidates are leads
BLIND = "(hidden: blind review)"


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
    assigned_to: str | None = Field(
        default=None, exclude_if=absent, description="The reviewer who alone may decide it (when one is named)."
    )
    blind: bool | None = Field(
        default=None,
        exclude_if=absent,
        description="True when who proposed it and why are hidden from this reader (FACESEARCH_BLIND_REVIEW).",
    )


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


def proposal_info(p: Proposal, assigned_to: str | None = None) -> ProposalInfo:
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
        assigned_to=assigned_to,
    )


def as_read_by(ctx: Context, actor: Actor, info: ProposalInfo) -> ProposalInfo:
    """The proposal as this reader may see it: under blind review, an open proposal's author and note are
    hidden from every examiner but its author (the reviewer decides on the probe and the candidate alone)."""
    if (
        not ctx.settings.blind_review
        or info.status != "proposed"
        or actor.role != "examiner"
        or info.proposed_by == actor.name
    ):
        return info
    return info.model_copy(update={"proposed_by": BLIND, "note": "", "blind": True})


def infos(ctx: Context, actor: Actor, proposals: list[Proposal]) -> list[ProposalInfo]:
    named = assignments.assignments(ctx.store, [p.id for p in proposals])
    return [as_read_by(ctx, actor, proposal_info(p, named.get(p.id))) for p in proposals]


def search_entry(ctx: Context, search_id: int) -> dict[str, Any]:
    """The audit entry of a search (or of a watch's hit: its lead), not refused."""
    e = read_entry(ctx.store, search_id)
    if e is None or e["action"] not in LEADS or e["outcome"] == "refused":
        raise NotFound(f"no search with id {search_id}")
    return e


def owner_of(entry: dict[str, Any]) -> str | None:
    """Who a search's candidates belong to: the examiner who ran it, or the owner of the watch that hit."""
    if entry.get("action") == Action.WATCH_HIT.value:
        return (entry.get("details") or {}).get("owner")
    return entry.get("actor")


def may_read_search(ctx: Context, entry: dict[str, Any], actor: Actor) -> bool:
    """The examiner who ran it, examiners once it is under review, auditors and admins."""
    if actor.role in ("auditor", "admin"):
        return True
    if actor.role != "examiner":
        return False
    if owner_of(entry) == actor.name:
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
    if entry.get("action") == Action.WATCH_HIT.value and isinstance(entry.get("results"), dict):
        return [{"probe_face": 0, **entry["results"]}]
    if entry.get("action") != Action.SEARCH.value or not isinstance(entry.get("results"), list):
        return out
    for f in entry["results"]:
        for m in f.get("matches", []):
            out.append({"probe_face": f.get("face", 0), **m})
    return out


def proposals_for(
    ctx: Context, search_ids: list[int], reader: Actor | None = None
) -> dict[tuple[int, int, int], list[ProposalInfo]]:
    """Proposal history per (search, probe face, gallery face), oldest first (as `reader` may see it)."""
    out: dict[tuple[int, int, int], list[ProposalInfo]] = defaultdict(list)
    found = rows.proposals_of(ctx.store, search_ids)
    named = assignments.assignments(ctx.store, [p.id for p in found])
    for p in found:
        info = proposal_info(p, named.get(p.id))
        out[(p.search_id, p.probe_face, p.face_id)].append(info if reader is None else as_read_by(ctx, reader, info))
    return out


def _reviewer(ctx: Context, proposer: str, name: str) -> str:
    """A reviewer named for a proposal: an enabled examiner account (or a command-line examiner, `cli:NAME`),
    never the proposer."""
    name = name.strip()
    if not name:
        raise Invalid("name the reviewer", field="reviewer")
    if name == proposer:
        raise Invalid("the reviewer must be another examiner than the one who proposed it", field="reviewer")
    account = find_account(ctx, name)
    if account is None and not name.startswith("cli:"):
        raise Invalid(f"no account {name!r}", field="reviewer")
    if account is not None and (account.disabled or account.role != "examiner"):
        raise Invalid(f"{name} cannot review: reviewers are enabled examiner accounts", field="reviewer")
    return name


def status_of(history: list[ProposalInfo]) -> str:
    return history[-1].status if history else "lead"


@allowed("examiner")
def propose(
    ctx: Context,
    actor: Actor,
    search_id: int,
    face_id: int,
    note: str,
    probe_face: int = 0,
    *,
    reviewer: str | None = None,
) -> ProposalInfo:
    """Propose that a candidate of a search (or a watch's hit: `search_id` is its lead) is the probe's person;
    with `reviewer`, only that examiner may decide it."""
    entry = readable_search(ctx, actor, search_id)
    if not note.strip():
        raise Invalid("a proposal needs a note: why is this candidate the probe's person?")
    named = _reviewer(ctx, actor.name, reviewer) if reviewer is not None else None
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
    if named is not None:
        assignments.assign(ctx.store, row.id, named, actor.name, ctx.now())
    out = proposal_info(row, named)
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
        details={"note": out.note, **({"reviewer": named} if named else {})},
    )
    return out


@allowed("examiner", "admin")
def assign_reviewer(ctx: Context, actor: Actor, proposal_id: int, reviewer: str) -> ProposalInfo:
    """Name the reviewer of an open proposal (its proposer, or an admin): from then on only they may decide
    it. Logged."""
    row = rows.get_proposal(ctx.store, proposal_id)
    if row is None or (actor.role == "examiner" and row.proposed_by != actor.name):
        raise NotFound(f"no proposal {proposal_id} of yours")
    if row.status != "proposed":
        raise Conflict(f"proposal {proposal_id} is already {row.status}")
    named = _reviewer(ctx, row.proposed_by, reviewer)
    assignments.assign(ctx.store, row.id, named, actor.name, ctx.now())
    record(
        ctx,
        actor,
        Action.LEAD_ASSIGN,
        case_ref=row.case_ref,
        results={"proposal": row.id, "search_id": row.search_id, "face_id": row.face_id},
        details={"reviewer": named},
    )
    return proposal_info(row, named)


@allowed("examiner")
def decide(ctx: Context, actor: Actor, proposal_id: int, decision: str, note: str = "") -> ProposalInfo:
    """Confirm or reject a proposal; the examiner who proposed it may not (refused, and logged as such)."""
    if decision not in ("confirmed", "rejected"):
        raise Invalid("a decision is confirmed or rejected")
    row = rows.get_proposal(ctx.store, proposal_id)
    if row is None:
        raise NotFound(f"no proposal {proposal_id}")
    assigned = assignments.assignments(ctx.store, [row.id]).get(row.id)
    if assigned is not None and assigned != actor.name and row.proposed_by != actor.name:
        record(
            ctx,
            actor,
            Action.CONFIRM if decision == "confirmed" else Action.REJECT,
            outcome="refused",
            case_ref=row.case_ref,
            results={"proposal": proposal_id, "search_id": row.search_id, "face_id": row.face_id, "status": row.status},
            details={"note": note.strip(), "assigned_to": assigned, "reason": "assigned to another reviewer"},
        )
        raise Forbidden(f"proposal {proposal_id} is assigned to {assigned}: only they may decide it")
    self_decision = row.proposed_by == actor.name
    if not self_decision:
        decided = rows.decide_proposal(ctx.store, proposal_id, decision, actor.name, note.strip(), ctx.now())
        if decided is None:  # decided already (perhaps by a reviewer a moment ago)
            latest = rows.get_proposal(ctx.store, proposal_id) or row
            raise Conflict(f"proposal {proposal_id} is already {latest.status}")
        row = decided
    out = proposal_info(row, assigned)
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
    return infos(ctx, actor, rows.list_proposals(ctx.store, case_ref, status, limit=1000))


def search_view(ctx: Context, actor: Actor, search_id: int) -> PastSearch:
    """A past search as its audit entry recorded it, with the review status of every candidate."""
    e = readable_search(ctx, actor, search_id)
    hist = proposals_for(ctx, [search_id], actor)
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
        actor=owner_of(e),
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
