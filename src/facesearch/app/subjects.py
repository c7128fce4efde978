"""Data-subject access: where does this person appear? Every image and collection holding a face that
matches their photo at the strict opt-out threshold."""

from __future__ import annotations

from typing import Any

from ..calibration import load_table
from ..errors import ProbeError
from ..store.audit import SUBJECT_REPORT
from .context import Actor, Context
from .optout import embed_largest, gallery_matches, optout_threshold, packs_in_use
from .roles import allowed
from .uploads import Photo, decode


@allowed("operator")
def subject_report(ctx: Context, actor: Actor, photo: Photo) -> dict[str, Any]:
    """Every image and collection holding a face that matches the photo at the strict opt-out
    threshold: what an operator needs to answer an access request. Audit-logged."""
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
            matches.append({"face_id": fid, "score": round(score, 6), "fmr": float(table.fmr_at(score)),
                            "model": pack, "collection": d["collection"], "image_id": d["image_id"],
                            "path": d["path"], "source_url": d["source_url"], "box": d["box"]})
    if thresholds and all("error" in v for v in thresholds.values()):
        raise ProbeError("no face found in the photo with any model pack")
    images = sorted({m["image_id"] for m in matches})
    names: list[str] = sorted({m["collection"] for m in matches})
    report = {"probe_sha256": decoded.sha256, "thresholds": thresholds, "matches": matches, "images": len(images),
              "collections": names}
    ctx.audit.record(SUBJECT_REPORT, actor=actor.name, role=actor.role, ip=actor.ip, probe_sha256=decoded.sha256,
                     collections=names, results={"face_ids": [m["face_id"] for m in matches], "image_ids": images})
    return report
