"""The parts of a case report that standing searches and authorisations add: the case's authorisations, each
watch of the case with its hits (leads, with their review history) and what became of it, and the basis each
use under a purpose that requires an authorisation rested on (flagged while an urgent use has none recorded).
Like the rest of the report they are read from the audit log, beside the authorisations table it names."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from ..calibration.wording import decision_text
from ..store.audit import case_entries
from ..vocabulary import Action
from .authorisations import AuthorisationInfo, basis, case_auths, info, purpose_rules
from .context import Context
from .policy import purpose_code
from .review import STAMP, ProposalInfo, proposals_for, status_of
from .when import utc

WATCH_ACTIONS = (
    Action.WATCH_ADD.value,
    Action.WATCH_RENEW.value,
    Action.WATCH_STOP.value,
    Action.WATCH_EXPIRE.value,
    Action.WATCH_HIT.value,
)


class WatchEvent(BaseModel):
    """A renewal, stop or expiry of a watch (refused attempts included)."""

    ts: str
    action: str
    actor: str | None
    outcome: str
    reason: str | None = None
    until: str | None = None


class CaseWatchHit(BaseModel):
    """A hit of a watch of the case: a lead, with its review history."""

    lead_id: int = Field(description="The hit's audit entry: what proposals on it refer to.")
    ts: str
    face_id: int
    image_id: int | None
    collection: str | None
    score: float | None
    fmr: float | None
    threshold: float | None
    threshold_reason: str | None
    gallery_size: int | None
    decision: str
    ingest_job: int | None
    status: str
    stamp: str | None
    history: list[ProposalInfo]
    erased: bool = Field(description="The face has been erased since (no thumbnail then).")


class CaseWatch(BaseModel):
    """A watch of the case (or a refused attempt to add one): its probe, its life and its hits."""

    watch: int | None = Field(description="Its id; null for a refused attempt.")
    ts: str
    actor: str | None
    role: str | None
    purpose: str | None
    outcome: str
    probe_sha256: str | None
    collections: list[Any] | None
    model: str | None
    threshold: float | None
    until: str | None
    refusal: str | None = Field(default=None, description="Why it was refused (refused ones only).")
    authorisation: str | None = Field(
        default=None, description="What it rested on, when its purpose requires an authorisation."
    )
    events: list[WatchEvent]
    hits: list[CaseWatchHit]


def authorisations_of(ctx: Context, case_ref: str) -> list[AuthorisationInfo]:
    now = utc(ctx.now())
    return [info(a, now) for a in case_auths(ctx, [case_ref]).get(case_ref, [])]


class Bases:
    """The basis of each use of one case under a purpose that requires an authorisation, in words."""

    def __init__(self, ctx: Context, case_ref: str) -> None:
        self.rules = purpose_rules(ctx)
        self.auths = case_auths(ctx, [case_ref]).get(case_ref, []) if self.rules else []

    def of(self, entry: dict[str, Any]) -> str | None:
        code = purpose_code(entry.get("purpose") or "")
        if code not in self.rules or entry.get("outcome") == "refused":
            return None
        return basis(entry["ts"], self.rules[code], self.auths).text()


def case_watches(ctx: Context, case_ref: str, existing: set[int], bases: Bases) -> list[CaseWatch]:
    """The case's watches, oldest first, each with its events and hits. `existing`: the faces still in the
    gallery (a hit of an erased face is marked so)."""
    entries = case_entries(ctx.store, case_ref, WATCH_ACTIONS)
    hit_entries = [e for e in entries if e["action"] == Action.WATCH_HIT.value]
    history = proposals_for(ctx, [e["seq"] for e in hit_entries])
    watches: dict[int, CaseWatch] = {}
    out: list[CaseWatch] = []
    for e in entries:
        raw = e.get("results")
        results: dict[str, Any] = raw if isinstance(raw, dict) else {}
        details: dict[str, Any] = e.get("details") or {}
        wid = results.get("watch", details.get("watch"))
        if e["action"] == Action.WATCH_ADD.value:
            w = CaseWatch(
                watch=wid if e["outcome"] != "refused" else None,
                ts=e["ts"],
                actor=e["actor"],
                role=e["role"],
                purpose=e["purpose"],
                outcome=e["outcome"],
                probe_sha256=e["probe_sha256"],
                collections=e["collections"],
                model=e["model"],
                threshold=e["threshold"],
                until=details.get("until"),
                refusal=details.get("reason") if e["outcome"] == "refused" else None,
                authorisation=bases.of(e),
                events=[],
                hits=[],
            )
            out.append(w)
            if w.watch is not None:
                watches[w.watch] = w
            continue
        found = watches.get(wid) if isinstance(wid, int) else None
        if found is None:
            continue
        if e["action"] == Action.WATCH_HIT.value:
            h = history.get((e["seq"], 0, results.get("face_id", 0)), [])
            status = status_of(h)
            found.hits.append(
                CaseWatchHit(
                    lead_id=e["seq"],
                    ts=e["ts"],
                    face_id=results.get("face_id", 0),
                    image_id=results.get("image_id"),
                    collection=results.get("collection"),
                    score=results.get("score"),
                    fmr=results.get("fmr"),
                    threshold=e["threshold"],
                    threshold_reason=details.get("threshold_reason"),
                    gallery_size=details.get("gallery_size"),
                    decision=decision_text(True),
                    ingest_job=details.get("ingest_job"),
                    status=status,
                    stamp=None if status == "confirmed" else STAMP,
                    history=h,
                    erased=results.get("face_id") not in existing,
                )
            )
        else:
            found.events.append(
                WatchEvent(
                    ts=e["ts"],
                    action=e["action"],
                    actor=e["actor"],
                    outcome=e["outcome"],
                    reason=details.get("reason"),
                    until=details.get("until"),
                )
            )
    return out


def hit_faces(ctx: Context, case_ref: str) -> list[int]:
    """The faces of the case's watch hits (whose existence and thumbnails the report looks up)."""
    return [
        int((e.get("results") or {}).get("face_id", 0))
        for e in case_entries(ctx.store, case_ref, (Action.WATCH_HIT.value,))
        if isinstance(e.get("results"), dict)
    ]
