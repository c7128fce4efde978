"""Search (1:N), verify (1:1) and probe detection: the examiner's use cases. A search or verify passes the
gate first (case reference, allowed purpose, kill switch, limits), hides opted-out faces inside the
engine's search, and is written to the audit log whatever its outcome, refusals included."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

from ..errors import FacesearchError, ModelNotFoundError
from ..models import get_entry
from ..pipeline.imaging import sha256_bytes
from ..services.uploads import Photo, decode
from ..store.audit import SEARCH, VERIFY
from .context import Actor, Context
from .errors import Invalid
from .optout import hide_opted_out
from .policy import search_gate
from .retention import keep_probe
from .review import STAMP
from .roles import allowed
from .wording import word_search, word_verify


@dataclass(frozen=True)
class SearchRequest:
    case_ref: str | None
    purpose: str | None
    top_k: int = 10
    collections: list[str] | None = None
    face: int | None = None
    all_faces: bool = False
    threshold: float | None = None
    force: bool = False


def check_threshold(value: float | None) -> float | None:
    """A threshold given by the caller is a similarity score: a finite number in [-1, 1]."""
    if value is None:
        return None
    if not isinstance(value, (int, float)) or not math.isfinite(value) or not -1.0 <= value <= 1.0:
        raise Invalid(f"the threshold must be a number between -1 and 1 (got {value!r})", field="threshold")
    return float(value)


def check_model(name: str | None) -> None:
    """A model pack named by the caller must be a known pack; nothing is read for an unknown name."""
    if name is None:
        return
    try:
        get_entry(name)
    except ModelNotFoundError as exc:
        raise Invalid(str(exc), field="model") from exc


def _logged_threshold(value: float | None) -> tuple[float | None, dict[str, Any]]:
    """What the audit entry can keep of a threshold (its JSON has no NaN or infinity): the number, or None and
    the value as given, in words."""
    if value is None or (isinstance(value, (int, float)) and math.isfinite(value)):
        return value, {}
    return None, {"threshold_given": repr(value)}


def summary(result: dict[str, Any]) -> list[dict[str, Any]]:
    """What the audit log keeps of a search answer: per probe face, every candidate's ids and scores."""
    return [
        {
            "face": f["face"],
            "box": f["box"],
            "quality": f["quality"],
            "quality_reasons": f["quality_reasons"],
            "model": f["model"],
            "model_version": f["model_version"],
            "skipped": f.get("skipped"),
            "threshold": (f.get("threshold") or {}).get("score"),
            "matches": [
                {
                    "rank": m["rank"],
                    "face_id": m["face_id"],
                    "image_id": m["image"]["id"],
                    "collection": m["collection"],
                    "score": m["score"],
                    "fmr": m["fmr"],
                    "above_threshold": m["above_threshold"],
                }
                for m in f.get("matches", [])
            ],
        }
        for f in result["faces"]
    ]


@allowed("examiner")
def search(ctx: Context, actor: Actor, probe: Photo, req: SearchRequest) -> dict[str, Any]:
    """Find the probe's face in the gallery. The answer carries `search_id` (its audit entry), and every
    candidate is a lead, stamped as one, until two examiners confirm it."""
    common: dict[str, Any] = {
        "actor": actor.name,
        "role": actor.role,
        "ip": actor.ip,
        "case_ref": req.case_ref,
        "purpose": req.purpose,
        "probe_sha256": None,
        "collections": req.collections,
    }
    try:
        check_threshold(req.threshold)
        data = probe.read(ctx.settings)
        sha = common["probe_sha256"] = sha256_bytes(data)
        case_ref, purpose = search_gate(ctx, actor, req.case_ref, req.purpose)
        decoded = decode(ctx.settings, Photo(data, probe.label))
        keep_probe(ctx.settings, data, sha, ctx.now())
        started = time.perf_counter()
        with ctx.engine_lock:
            result = ctx.engine.search(
                decoded.image,
                top_k=req.top_k,
                collections=req.collections,
                face=req.face,
                all_faces=req.all_faces,
                threshold=req.threshold,
                force=req.force,
                hide=hide_opted_out(ctx),
            )
        seconds = time.perf_counter() - started
    except FacesearchError as exc:
        logged, given = _logged_threshold(req.threshold)
        ctx.audit.record(
            SEARCH,
            outcome="refused",
            threshold=logged,
            details={"reason": str(exc), "top_k": req.top_k, **given},
            **common,
        )
        raise
    faces = result["faces"]
    first = faces[0] if faces else {}
    entry = ctx.audit.record(
        SEARCH,
        outcome="ok" if any(f.get("matches") for f in faces) else "no_candidates",
        model=",".join(sorted({f["model"] for f in faces})) or None,
        threshold=first.get("threshold", {}).get("score") if first else req.threshold,
        results=summary(result),
        details={
            "top_k": req.top_k,
            "gallery_size": result["gallery_size"],
            "searched": result["collections"],
            "threshold": first.get("threshold"),
            "face": req.face,
            "all_faces": req.all_faces,
            "force": req.force,
            "seconds": round(seconds, 4),
        },
        **{**common, "case_ref": case_ref, "purpose": purpose, "collections": result["collections"]},
    )
    matches = [m for f in faces for m in f.get("matches", [])]
    ctx.seen.add(actor.name, "face", [m["face_id"] for m in matches])
    ctx.seen.add(actor.name, "image", [m["image"]["id"] for m in matches])
    for m in matches:  # a new search's candidates are all leads
        m["status"], m["stamp"] = "lead", STAMP
    width, height = decoded.size
    result.update(
        {
            "search_id": entry["seq"],
            "case_ref": case_ref,
            "purpose": purpose,
            "probe_sha256": sha,
            "stamp": STAMP,
            "seconds": round(seconds, 4),
            "probe": {"label": probe.label, "sha256": sha, "width": width, "height": height},
        }
    )
    return word_search(result)


@allowed("examiner")
def verify(
    ctx: Context,
    actor: Actor,
    first: Photo,
    second: Photo,
    *,
    case_ref: str | None,
    purpose: str | None,
    model: str | None = None,
    threshold: float | None = None,
    force: bool = False,
) -> dict[str, Any]:
    """Are two photos of the same person? The largest face of each is compared. Audit-logged."""
    shas: list[str | None] = [None, None]
    common: dict[str, Any] = {
        "actor": actor.name,
        "role": actor.role,
        "ip": actor.ip,
        "case_ref": case_ref,
        "purpose": purpose,
        "probe_sha256": None,
    }
    try:
        check_model(model)  # before any file is read
        check_threshold(threshold)
        data = [first.read(ctx.settings), second.read(ctx.settings)]
        shas = [sha256_bytes(d) for d in data]
        common["probe_sha256"] = shas[0]
        case, why = search_gate(ctx, actor, case_ref, purpose)
        a, b = decode(ctx.settings, Photo(data[0], first.label)), decode(ctx.settings, Photo(data[1], second.label))
        with ctx.engine_lock:
            result = ctx.engine.verify(a.image, b.image, model=model, threshold=threshold, force=force)
    except FacesearchError as exc:
        logged, given = _logged_threshold(threshold)
        ctx.audit.record(
            VERIFY,
            outcome="refused",
            model=model,
            threshold=logged,
            details={"reason": str(exc), "second_sha256": shas[1], **given},
            **common,
        )
        raise
    entry = ctx.audit.record(
        VERIFY,
        model=result["model"],
        threshold=result["threshold"],
        results={"score": result["score"], "fmr": result["fmr"], "same_person": result["same_person"]},
        details={
            "second_sha256": shas[1],
            "model_version": result["model_version"],
            "threshold_reason": result["threshold_reason"],
            "quality": [f["quality"] for f in result["faces"]],
        },
        **{**common, "case_ref": case, "purpose": why},
    )
    result.update({"verify_id": entry["seq"], "case_ref": case, "purpose": why, "probe_sha256": shas})
    return word_verify(result)


@allowed("examiner")
def detect(ctx: Context, actor: Actor, probe: Photo, collections: list[str] | None = None) -> dict[str, Any]:
    """The faces of a probe, before searching. Not logged: nothing is compared with the gallery; the
    search that follows is."""
    decoded = decode(ctx.settings, probe)
    cols = {c.name: c for c in ctx.store.list_collections()}
    chosen = [cols[n] for n in collections or [] if n in cols] or list(cols.values())
    pack = chosen[0].model if chosen else ctx.settings.model
    with ctx.engine_lock:
        fs = ctx.engine.analyze_probe(pack, decoded.image)
    faces = [
        {
            "face": i,
            "box": [round(float(v), 1) for v in fs.boxes[i]],
            "quality": round(float(fs.quality[i]), 4),
            "quality_reasons": fs.reasons[i],
            "searchable": bool(fs.quality[i] >= ctx.settings.probe_min_quality),
        }
        for i in range(len(fs))
    ]
    width, height = decoded.size
    return {"width": width, "height": height, "model": pack, "faces": faces}
