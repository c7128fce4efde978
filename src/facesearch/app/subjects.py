"""Data-subject access: where does this person appear? Every image and collection holding a face that
matches their photo at the strict opt-out threshold.

A subject report is a face search, so it is governed like one: it needs a reference (the data-subject
request's ticket, kept as the entry's case reference), it stops while searching is suspended, it counts
toward the per-user search limits, and it is written to the audit log with what it returned, refusals
included."""

from __future__ import annotations

from typing import Any

from ..calibration.tables import load_table
from ..errors import FacesearchError, ProbeError
from ..pipeline.imaging import sha256_bytes
from ..services.uploads import Photo, decode
from ..store.audit import SUBJECT_REPORT
from .context import Actor, Context
from .errors import CaseRequired
from .optout import embed_largest, gallery_matches, optout_threshold, packs_in_use
from .policy import CASE_MAX, check_limits
from .roles import allowed
from .suspension import check_not_suspended

# What the audit entry of a subject report gives as its purpose: answering a data-subject access request
# is the one purpose a subject report has (the admin-managed purpose list governs searches and verifies).
PURPOSE = "data-subject access request"


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
def subject_report(ctx: Context, actor: Actor, photo: Photo, reference: str | None) -> dict[str, Any]:
    """Every image and collection holding a face that matches the photo at the strict opt-out
    threshold: what an operator needs to answer an access request. Needs the request's reference; refused
    while searching is suspended or over the caller's search limits; audit-logged whatever its outcome."""
    common: dict[str, Any] = {
        "actor": actor.name,
        "role": actor.role,
        "ip": actor.ip,
        "case_ref": reference,
        "purpose": PURPOSE,
        "probe_sha256": None,
    }
    try:
        data = photo.read(ctx.settings)
        common["probe_sha256"] = sha256_bytes(data)
        common["case_ref"] = require_reference(reference)
        check_not_suspended(ctx.store)
        check_limits(ctx, actor)
        report = _report(ctx, Photo(data, photo.label))
    except FacesearchError as exc:
        ctx.audit.record(SUBJECT_REPORT, outcome="refused", details={"reason": str(exc)}, **common)
        raise
    ctx.audit.record(
        SUBJECT_REPORT,
        outcome="ok" if report["matches"] else "no_candidates",
        collections=report["collections"],
        results={
            "face_ids": [m["face_id"] for m in report["matches"]],
            "image_ids": sorted({m["image_id"] for m in report["matches"]}),
        },
        details={"thresholds": report["thresholds"]},
        **common,
    )
    return {**report, "reference": common["case_ref"]}


def _report(ctx: Context, photo: Photo) -> dict[str, Any]:
    settings, store = ctx.settings, ctx.store
    decoded = decode(settings, photo)
    matches: list[dict[str, Any]] = []
    thresholds: dict[str, Any] = {}
    for pack in packs_in_use(store):
        try:
            with ctx.engine_lock:
                q = embed_largest(ctx.engine, pack, decoded.image, "the photo")
        except ProbeError:
            thresholds[pack] = {"error": "no face found with this pack"}
            continue
        threshold, reason = optout_threshold(settings, pack)
        thresholds[pack] = {"score": round(threshold, 6), "reason": reason}
        table = load_table(pack, settings.home / "calibration")
        hits = gallery_matches(store, pack, q[None, :], threshold)
        details = store.face_details([fid for fid, _ in hits])
        for fid, score in sorted(hits, key=lambda h: -h[1]):
            d = details.get(fid)
            if d is None:
                continue
            matches.append(
                {
                    "face_id": fid,
                    "score": round(score, 6),
                    "fmr": float(table.fmr_at(score)),
                    "model": pack,
                    "collection": d["collection"],
                    "image_id": d["image_id"],
                    "path": d["path"],
                    "source_url": d["source_url"],
                    "box": d["box"],
                }
            )
    if thresholds and all("error" in v for v in thresholds.values()):
        raise ProbeError("no face found in the photo with any model pack")
    images = sorted({m["image_id"] for m in matches})
    names: list[str] = sorted({m["collection"] for m in matches})
    return {
        "probe_sha256": decoded.sha256,
        "thresholds": thresholds,
        "matches": matches,
        "images": len(images),
        "collections": names,
    }
