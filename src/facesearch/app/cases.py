"""Case disclosure reports (every search and verify of a case, every candidate with its review history,
the model's known limitations) and usage reports per purpose or per case. Both are rebuilt from the audit
log, never from a second copy that could disagree with it. The report is data; transports render it (the
self-contained HTML page is drawn by `http.case_report`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, Field

from ..calibration.tables import load_table
from ..calibration.wording import decision_text, threshold_text
from ..config import Settings
from ..errors import FacesearchError
from ..store.audit import action_rows, case_entries
from ..store.proposals import proposal_statuses
from ..vocabulary import Action
from .auditing import record
from .authorisations import AuthorisationInfo
from .case_access import TAKING_PART as TAKING_PART
from .case_access import may_read_case
from .case_watches import Bases, CaseWatch, authorisations_of, case_watches, hit_faces
from .context import Actor, Context
from .errors import Forbidden, Invalid
from .review import STAMP, RecordedCandidate, candidates_of, proposals_for, status_of
from .roles import allowed

SEARCHES = (Action.SEARCH.value, Action.VERIFY.value)
NOTICE = (
    "Every candidate not confirmed by two different examiners is an investigative lead, not an "
    "identification. Searches that returned no candidate and refused searches are listed too."
)
KNOWN_FLAWS = [
    "Accuracy was measured on LFW (mostly frontal, well-lit news photos of adults); low light, "
    "blur, occlusion, strong pose, children and aged photos give more misses and more false matches.",
    "Error rates differ between demographic groups; groups with too few measured pairs are marked "
    "not measurable and their rates are unknown.",
    "In a 1:N search the expected number of false candidates grows with the gallery size "
    "(about FMR x gallery faces per search).",
    "A candidate above the threshold is a lead for a human examiner, never an identification.",
]


# The report. Optional fields are set only where they apply (a refusal's reason, a verify's result), so
# `model_dump(exclude_unset=True)` gives exactly the keys each entry has: the API, the JSON text and the
# HTML page all read it so.
class CaseSummary(BaseModel):
    searches: int
    verifies: int
    no_candidates: int
    candidates: int
    proposed: int
    confirmed: int
    rejected: int
    refused: int


class CaseCounts(CaseSummary):
    """The summary of a case report, its co-appearance searches counted too."""

    together: int


class CaseProbeFace(BaseModel):
    face: int | None
    quality: float | None
    quality_reasons: list[str] | None
    skipped: str | None
    model: str | None
    model_version: str | None
    video: dict[str, Any] | None = Field(
        default=None, description="A probe clip's face (a track): its time, frame, track, start and end."
    )


class DisclosedCandidate(RecordedCandidate):
    """A candidate of a search of the case, with its review history and what its score meant (a face from a
    video also has `video`: the time and frame it was seen at, its track's start and end, as the search's audit
    entry recorded them)."""

    erased: bool = Field(description="The face has been erased since (no thumbnail then).")
    decision: str | None = Field(description="Above or below the threshold, in words (None when unknown).")


class DisclosedSearch(BaseModel):
    """One search or verify of the case, refused ones included."""

    search_id: int
    kind: str = Field(description="search or verify.")
    ts: str
    actor: str | None
    role: str | None
    purpose: str | None
    outcome: str
    probe_sha256: str | None
    collections: list[Any] | None
    model: str | None
    threshold: float | None
    threshold_fmr: float | None
    threshold_reason: str | None
    gallery_size: int | None
    candidates: list[DisclosedCandidate]
    probe_faces: list[CaseProbeFace]
    refusal: str | None = Field(default=None, description="Why it was refused (refused ones only).")
    no_candidates: bool | None = Field(default=None, description="Searches only.")
    verify: dict[str, Any] | None = Field(default=None, description="Verifies only: score, fmr, same_person.")
    quality: list[float] | None = Field(default=None, description="Verifies only.")
    model_version: str | None = Field(default=None, description="Verifies only.")
    authorisation: str | None = Field(
        default=None,
        description="What it rested on, under a purpose that requires an authorisation (such uses only); an "
        "urgent use without one recorded is flagged URGENT USE.",
    )


class TogetherSearch(BaseModel):
    """A "who appears with whom" search of the case (`people together`), refused ones included."""

    search_id: int
    kind: str
    ts: str
    actor: str | None
    role: str | None
    purpose: str | None
    outcome: str
    collections: list[Any] | None
    model: str | None
    person: Any
    photos: Any
    together: list[Any]
    refusal: str | None


class ModelLimitations(BaseModel):
    model: str
    error: str | None = Field(default=None, description="Set (alone) when the calibration table is missing.")
    model_version: str | None = None
    calibration_dataset: str | None = None
    method: str | None = None
    genuine_pairs: int | None = None
    impostor_pairs: int | None = None
    lowest_measurable_fmr: float | None = None
    policy: str | None = None
    at_threshold: dict[str, Any] | None = None
    groups: dict[str, Any] | None = None
    groups_source: str | None = None
    known_flaws: list[str] | None = None


class CaseDisclosure(BaseModel):
    """The disclosure report of a case."""

    case_ref: str
    generated_at: str
    stamp: str
    summary: CaseCounts
    searches: list[DisclosedSearch]
    together: list[TogetherSearch]
    limitations: list[ModelLimitations]
    notice: str
    authorisations: list[AuthorisationInfo] | None = Field(
        default=None, description="The case's recorded authorisations (only when it has any)."
    )
    watches: list[CaseWatch] | None = Field(
        default=None, description="The case's standing searches and their hits (only when it has any)."
    )


@dataclass(frozen=True)
class CaseReportResult:
    """What `case_report` returns: the report in the format asked for, and for the HTML page the thumbnails it
    embeds (JPEG bytes by face id, of candidates still in the gallery; none for JSON)."""

    report: CaseDisclosure
    format: str
    thumbnails: dict[int, bytes] = field(default_factory=dict)


class UsageRow(BaseModel):
    """Searches and verifies of one purpose (or case): how many, by whom, refused, leads proposed and decided.
    Exactly one of `purpose` and `case` is set."""

    purpose: str | None = Field(default=None, description="The purpose code (when by=purpose).")
    case: str | None = Field(default=None, description="The case reference (when by=case).")
    searches: int
    verifies: int
    refused: int
    users: dict[str, int] = Field(description="Searches and verifies per user.")
    no_candidates: int
    proposed: int
    confirmed: int
    rejected: int


def _together(ctx: Context, case_ref: str) -> list[TogetherSearch]:
    """The case's "who appears with whom" searches (`people together`), refusals included."""
    out = []
    for e in case_entries(ctx.store, case_ref, (Action.PEOPLE_TOGETHER.value,)):
        r = e.get("results") or {}
        d = e.get("details") or {}
        out.append(
            TogetherSearch(
                search_id=e["seq"],
                kind=Action.PEOPLE_TOGETHER.value,
                ts=e["ts"],
                actor=e["actor"],
                role=e["role"],
                purpose=e["purpose"],
                outcome=e["outcome"],
                collections=e["collections"],
                model=e["model"],
                person=r.get("person", d.get("person")),
                photos=r.get("photos"),
                together=r.get("together", []),
                refusal=d.get("reason"),
            )
        )
    return out


def model_limitations(settings: Settings, pack: str, threshold: float | None) -> ModelLimitations:
    try:
        table = load_table(pack, settings.home / "calibration")
    except FacesearchError as exc:
        return ModelLimitations(model=pack, error=str(exc))
    at: dict[str, Any] = {}
    if threshold is not None:
        fnmr = table.fnmr_at(threshold)
        at = {
            "threshold": threshold,
            "fmr": float(table.fmr_at(threshold)),
            "fnmr": fnmr,
            "true_match_rate": 1 - fnmr,
            "worst_group_fmr": table.worst_group_fmr_at(threshold),
        }
    return ModelLimitations(
        model=pack,
        model_version=table.model_version,
        calibration_dataset=table.dataset,
        method=table.method,
        genuine_pairs=table.n_genuine,
        impostor_pairs=table.n_impostor,
        lowest_measurable_fmr=table.fmr_floor,
        policy=table.policy,
        at_threshold=at,
        groups=table.groups or {},
        groups_source=table.groups_source,
        known_flaws=list(KNOWN_FLAWS),
    )


def _decision(m: dict[str, Any], face_threshold: float | None) -> str | None:
    if "above_threshold" in m:
        return decision_text(bool(m["above_threshold"]))
    if face_threshold is not None and m.get("score") is not None:
        return threshold_text(m["score"], face_threshold)
    return None


def build_case_report(ctx: Context, case_ref: str, now: str) -> CaseDisclosure:
    entries = case_entries(ctx.store, case_ref, SEARCHES)
    hist = proposals_for(ctx, [e["seq"] for e in entries if e["action"] == Action.SEARCH.value])
    hits = hit_faces(ctx, case_ref)
    existing = set(ctx.store.face_details(sorted({c["face_id"] for e in entries for c in candidates_of(e)} | {*hits})))
    bases = Bases(ctx, case_ref)
    searches: list[DisclosedSearch] = []
    models: dict[str, float | None] = {}
    counts = dict.fromkeys(CaseSummary.model_fields, 0)
    for e in entries:
        d = e.get("details") or {}
        th: dict[str, Any] = d["threshold"] if isinstance(d.get("threshold"), dict) else {}
        item: dict[str, Any] = {
            "search_id": e["seq"],
            "kind": e["action"],
            "ts": e["ts"],
            "actor": e["actor"],
            "role": e["role"],
            "purpose": e["purpose"],
            "outcome": e["outcome"],
            "probe_sha256": e["probe_sha256"],
            "collections": e["collections"],
            "model": e["model"],
            "threshold": e["threshold"],
            "threshold_fmr": th.get("fmr"),
            "threshold_reason": th.get("reason") or d.get("threshold_reason"),
            "gallery_size": d.get("gallery_size"),
            "candidates": [],
            "probe_faces": [],
        }
        if e["outcome"] == "refused":
            counts["refused"] += 1
            item["refusal"] = d.get("reason")
        if (grounds := bases.of(e)) is not None:
            item["authorisation"] = grounds
        if e["action"] == Action.VERIFY.value:
            counts["verifies"] += 1
            item["verify"] = e.get("results")
            item["quality"] = d.get("quality")
            item["model_version"] = d.get("model_version")
        else:
            counts["searches"] += 1
            single_pack = "," not in (e["model"] or "")
            for f in e.get("results") or []:
                item["probe_faces"].append(
                    {
                        "face": f.get("face"),
                        "quality": f.get("quality"),
                        "quality_reasons": f.get("quality_reasons"),
                        "skipped": f.get("skipped"),
                        "model": f.get("model"),
                        "model_version": f.get("model_version"),
                        **({"video": f["video"]} if f.get("video") else {}),
                    }
                )
                # Each probe face has its pack's threshold; entries written before that was kept have only
                # the search's threshold, which is right when one pack was searched.
                face_threshold = f.get("threshold", e["threshold"] if single_pack else None)
                for m in f.get("matches", []):
                    h = hist.get((e["seq"], f.get("face", 0), m["face_id"]), [])
                    status = status_of(h)
                    counts["candidates"] += 1
                    if status in counts:
                        counts[status] += 1
                    item["candidates"].append(
                        {
                            **m,
                            "probe_face": f.get("face", 0),
                            "status": status,
                            "stamp": None if status == "confirmed" else STAMP,
                            "history": h,
                            "erased": m["face_id"] not in existing,
                            "decision": _decision(m, face_threshold),
                        }
                    )
            if item["outcome"] != "refused" and not item["candidates"]:
                counts["no_candidates"] += 1
            item["no_candidates"] = item["outcome"] != "refused" and not item["candidates"]
        for pack in (e["model"] or "").split(","):
            if pack:
                models.setdefault(pack, e["threshold"])
        searches.append(DisclosedSearch.model_validate(item))
    together = _together(ctx, case_ref)
    watches = case_watches(ctx, case_ref, existing, bases)
    for w in watches:
        for pack in (w.model or "").split(","):
            if pack:
                models.setdefault(pack, None)
    authorisations = authorisations_of(ctx, case_ref)
    # Set only when the case has them, so a report without them has exactly the keys it always had.
    extra: dict[str, Any] = {}
    if authorisations:
        extra["authorisations"] = authorisations
    if watches:
        extra["watches"] = watches
    return CaseDisclosure(
        case_ref=case_ref,
        generated_at=now,
        stamp=STAMP,
        summary=CaseCounts(**counts, together=len(together)),
        searches=searches,
        together=together,
        limitations=[model_limitations(ctx.settings, p, t) for p, t in sorted(models.items())],
        notice=NOTICE,
        **extra,
    )


def _thumbnails(ctx: Context, report: CaseDisclosure) -> dict[int, bytes]:
    """The thumbnails of the report's candidates that are still on disk, by face id."""
    ids = [c.face_id for s in report.searches for c in s.candidates]
    ids += [h.face_id for w in report.watches or [] for h in w.hits]
    out = {}
    for fid, d in ctx.store.face_details(ids).items():
        path = ctx.settings.thumbs_dir / d["thumbnail"]
        if path.is_file():
            out[fid] = path.read_bytes()
    return out


@allowed("auditor", "admin")
def usage_report(ctx: Context, actor: Actor, by: str = "purpose") -> list[UsageRow]:
    """Per purpose (or case): searches, by whom, searches without candidates, leads proposed/confirmed."""
    if by not in ("purpose", "case"):
        raise Invalid("report by purpose or case")
    groups: dict[str, dict[str, Any]] = {}
    key_of: dict[int, str] = {}
    for seq, key, who, action, outcome in action_rows(ctx.store, SEARCHES, by):
        # Purposes are entered as CODE or 'CODE: note'; reports count them by code.
        k: str = (str(key).split(":", 1)[0].strip() if by == "purpose" and key else key) or "(none)"
        key_of[seq] = k
        g = groups.setdefault(
            k,
            {
                by: k,
                "searches": 0,
                "verifies": 0,
                "refused": 0,
                "users": {},
                "no_candidates": 0,
                "proposed": 0,
                "confirmed": 0,
                "rejected": 0,
            },
        )
        if outcome == "refused":
            g["refused"] += 1
            continue
        g["searches" if action == Action.SEARCH.value else "verifies"] += 1
        g["users"][who or "?"] = g["users"].get(who or "?", 0) + 1
        if outcome == "no_candidates":
            g["no_candidates"] += 1
    for search_id, status in proposal_statuses(ctx.store):
        group = key_of.get(search_id)
        if group is not None and status in ("proposed", "confirmed", "rejected"):
            groups[group][status] += 1
    return [UsageRow.model_validate(g) for g in sorted(groups.values(), key=lambda g: str(g[by]))]


# Auditors first: the role the command line acts with by default (`facesearch case report`).
@allowed("auditor", "examiner", "admin")
def case_report(ctx: Context, actor: Actor, case_ref: str, fmt: str = "json") -> CaseReportResult:
    """The disclosure report of a case, for the format asked for (json, or html: a self-contained, printable
    page, which transports draw from the report and its thumbnails). Auditors read every case; an examiner
    the cases they have searched in. Logged."""
    if fmt not in ("json", "html"):
        raise Invalid("format must be json or html")
    if not may_read_case(ctx, case_ref, actor):
        raise Forbidden("examiners read the reports of cases they have searched in; ask an auditor for this one")
    report = build_case_report(ctx, case_ref, ctx.now().isoformat(timespec="seconds"))
    thumbnails = _thumbnails(ctx, report) if fmt == "html" else {}
    record(ctx, actor, Action.CASE_REPORT, case_ref=case_ref, details={"format": fmt, "searches": len(report.searches)})
    return CaseReportResult(report, fmt, thumbnails)
