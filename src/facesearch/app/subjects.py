"""Data-subject access: where does this person appear? Every image and collection holding a face that
matches their photo at the strict opt-out threshold.

A subject report is a face search, so it is governed like one: it needs a reference (the data-subject
request's ticket, kept as the entry's case reference), it stops while searching is suspended, it counts
toward the per-user search limits, and it is written to the audit log with what it returned, refusals
included."""

from __future__ import annotations

from pydantic import BaseModel, Field

from ..calibration.tables import load_table
from ..errors import ProbeError
from ..pipeline.imaging import sha256_bytes
from ..services.search_results import VideoTime, absent
from ..services.uploads import Photo, decode
from ..vocabulary import Action
from .auditing import record, refusal_recorded
from .context import Actor, Context
from .errors import CaseRequired
from .optout import embed_largest, gallery_matches, optout_threshold, packs_in_use
from .policy import CASE_MAX, check_limits
from .roles import allowed
from .suspension import check_not_suspended

# What the audit entry of a subject report gives as its purpose: answering a data-subject access request
# is the one purpose a subject report has (the admin-managed purpose list governs searches and verifies).
PURPOSE = "data-subject access request"


class SubjectThreshold(BaseModel):
    """The strict threshold one pack used (`score`, `reason`), or, alone, why the pack found no face."""

    score: float | None = None
    reason: str | None = None
    error: str | None = Field(default=None, description="Set (alone) when no face was found with this pack.")


class SubjectMatch(BaseModel):
    """A gallery face that matches the person: where it is and how strong the match is."""

    face_id: int
    score: float
    fmr: float
    model: str
    collection: str
    image_id: int
    path: str | None
    source_url: str | None
    box: list[float]
    video: VideoTime | None = Field(
        default=None, exclude_if=absent, description="Only for a face in a video (`path`): when it was seen."
    )


class SubjectReport(BaseModel):
    """Every image and collection holding a face of the person. Thresholds carry only the keys that apply
    (read them with `model_dump(exclude_unset=True)`, as the API and the command line answer)."""

    reference: str = Field(
        description="The data-subject request's reference, as logged (the audit entry's case reference)."
    )
    probe_sha256: str
    thresholds: dict[str, SubjectThreshold]
    matches: list[SubjectMatch]
    images: int
    collections: list[str]


def require_reference(reference: str | None) -> str:
    value = (reference or "").strip()
    if not value:
        raise CaseRequired(
            "a reference is required: every subject report answers a data-subject request, whose "
            "reference (its ticket) is written to the audit log",
            field="reference",
        )
    if len(value) > CASE_MAX:
        raise CaseRequired(f"the reference is longer than {CASE_MAX} characters", field="reference")
    return value


@allowed("operator")
def subject_report(ctx: Context, actor: Actor, photo: Photo, reference: str | None) -> SubjectReport:
    """Every image and collection holding a face that matches the photo at the strict opt-out
    threshold: what an operator needs to answer an access request. Needs the request's reference; refused
    while searching is suspended or over the caller's search limits; audit-logged whatever its outcome."""
    with refusal_recorded(ctx, actor, Action.SUBJECT_REPORT, case_ref=reference, purpose=PURPOSE) as attempt:
        data = photo.read(ctx.settings)
        attempt.probe_sha256 = sha256_bytes(data)
        attempt.case_ref = require_reference(reference)
        check_not_suspended(ctx)
        check_limits(ctx, actor)
        report = _report(ctx, Photo(data, photo.label), attempt.case_ref)
    record(
        ctx,
        actor,
        Action.SUBJECT_REPORT,
        outcome="ok" if report.matches else "no_candidates",
        case_ref=report.reference,
        purpose=PURPOSE,
        collections=report.collections,
        probe_sha256=attempt.probe_sha256,
        results={
            "face_ids": [m.face_id for m in report.matches],
            "image_ids": sorted({m.image_id for m in report.matches}),
        },
        details={"thresholds": {k: v.model_dump(exclude_unset=True) for k, v in report.thresholds.items()}},
    )
    return report


def _report(ctx: Context, photo: Photo, reference: str) -> SubjectReport:
    settings, store = ctx.settings, ctx.store
    decoded = decode(settings, photo)
    matches: list[SubjectMatch] = []
    thresholds: dict[str, SubjectThreshold] = {}
    for pack in packs_in_use(store):
        try:
            with ctx.engine_lock:
                q = embed_largest(ctx.engine, pack, decoded.image, "the photo")
        except ProbeError:
            thresholds[pack] = SubjectThreshold(error="no face found with this pack")
            continue
        threshold, reason = optout_threshold(settings, pack)
        thresholds[pack] = SubjectThreshold(score=round(threshold, 6), reason=reason)
        table = load_table(pack, settings.home / "calibration")
        hits = gallery_matches(store, pack, q[None, :], threshold)
        details = store.face_details([fid for fid, _ in hits])
        for fid, score in sorted(hits, key=lambda h: -h[1]):
            d = details.get(fid)
            if d is None:
                continue
            matches.append(
                SubjectMatch(
                    face_id=fid,
                    score=round(score, 6),
                    fmr=float(table.fmr_at(score)),
                    model=pack,
                    collection=d["collection"],
                    image_id=d["image_id"],
                    path=d["path"],
                    source_url=d["source_url"],
                    box=d["box"],
                    video=VideoTime(**d["video"]) if d.get("video") else None,
                )
            )
    if thresholds and all(t.error is not None for t in thresholds.values()):
        raise ProbeError("no face found in the photo with any model pack")
    return SubjectReport(
        reference=reference,
        probe_sha256=decoded.sha256,
        thresholds=thresholds,
        matches=matches,
        images=len({m.image_id for m in matches}),
        collections=sorted({m.collection for m in matches}),
    )
