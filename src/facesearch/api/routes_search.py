"""Search, verify and probe detection: the examiner's routes, each answer written to the audit log."""

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Depends, File, Form, Request, UploadFile

from .. import audit, imaging
from ..auth import Principal
from ..config import Settings
from ..errors import FacesearchError, ImageError
from ..governance import purge_kept_probes
from ..oversight import STAMP, annotate
from .deps import Services, client_ip, require_role, services
from .problems import Problem

router = APIRouter(prefix="/api/v1", tags=["search"])
examiner = require_role("examiner")

# Decoding runs on its own small pool so a slow file can be abandoned after `upload_decode_seconds`;
# the pixel limit (checked from the header before decoding) bounds what an abandoned decode can cost.
_decoder = ThreadPoolExecutor(max_workers=2, thread_name_prefix="decode")
_last_probe_purge = 0.0


def read_upload(upload: UploadFile, settings: Settings, label: str) -> bytes:
    limit = settings.max_upload_bytes
    data = upload.file.read(limit + 1)
    if len(data) > limit:
        raise Problem(413, "Upload too large", f"the {label} is larger than the limit of {limit} bytes "
                      "(FACESEARCH_MAX_UPLOAD_BYTES)")
    if not data:
        raise Problem(422, "Empty upload", f"the {label} is an empty file")
    return data


def decode_bounded(data: bytes, settings: Settings, label: str) -> np.ndarray:
    future = _decoder.submit(imaging.decode_image, data, settings.max_pixels)
    try:
        return future.result(timeout=settings.upload_decode_seconds)
    except TimeoutError as exc:
        raise Problem(422, "The image cannot be read", f"decoding the {label} took longer than "
                      f"{settings.upload_decode_seconds:g} s", reason="DECODE_TIMEOUT") from exc
    except ImageError as exc:
        status = 413 if exc.reason in ("FILE_TOO_LARGE", "TOO_MANY_PIXELS") else 422
        raise Problem(status, "The image cannot be read", f"the {label}: {exc}", reason=exc.reason) from exc


def keep_probe(settings: Settings, data: bytes, sha: str) -> None:
    """Store the probe only when the deployment asked for it, and drop kept probes past retention."""
    global _last_probe_purge
    if not settings.keep_probes:
        return
    root = settings.home / "probes"
    day = datetime.now(timezone.utc).strftime("%Y-%m-%d")
    path = root / day / f"{sha}.img"
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        path.write_bytes(data)
    if time.monotonic() - _last_probe_purge > 3600:
        _last_probe_purge = time.monotonic()
        purge_kept_probes(settings)


def search_gate(svc: Services, p: Principal, purpose: str) -> None:
    from .routes_governance import search_gate as gate

    gate(svc, p, purpose)


def _text(value: str, name: str, limit: int) -> str:
    value = value.strip()
    if not value:
        raise Problem(422, "Invalid request", f"{name} must not be empty", errors=[
            {"field": name, "message": "must not be empty"}])
    if len(value) > limit:
        raise Problem(422, "Invalid request", f"{name} is longer than {limit} characters")
    return value


def _names(values: list[str] | None) -> list[str] | None:
    out = [n.strip() for v in values or [] for n in v.split(",") if n.strip()]
    return out or None


def _decorate(result: dict[str, Any]) -> None:
    for f in result["faces"]:
        for m in f.get("matches", []):
            m["image_id"] = m["image"]["id"]
            m["source_url"] = m["image"]["source_url"]
            m["thumbnail_url"] = f"/api/v1/faces/{m['face_id']}/thumbnail"
            m["image_url"] = f"/api/v1/images/{m['image_id']}"
            m.pop("thumbnail", None)  # a server-side path; clients use thumbnail_url


@router.post("/search", summary="Search the gallery with a probe photo")
def search(
    request: Request,
    probe: Annotated[UploadFile, File(description="The probe photo.")],
    case_ref: Annotated[str, Form(description="Case reference this search is made for (required).")],
    purpose: Annotated[str, Form(description="Why this search is made (required).")],
    top_k: Annotated[int, Form(ge=1, le=200)] = 10,
    collections: Annotated[list[str] | None, Form(description="Collections to search (default all); "
                                                  "repeat the field or separate names by commas.")] = None,
    threshold: Annotated[float | None, Form(description="Score threshold (default: calibrated).")] = None,
    face: Annotated[int | None, Form(description="Which probe face, 0 = largest (default).")] = None,
    all_faces: Annotated[bool, Form()] = False,
    force: Annotated[bool, Form(description="Search a probe face below the quality bar.")] = False,
    p: Principal = Depends(examiner),
    svc: Services = Depends(services),
) -> dict[str, Any]:
    case_ref = _text(case_ref, "case_ref", 200)
    purpose = _text(purpose, "purpose", 1000)
    names = _names(collections)
    data = read_upload(probe, svc.settings, "probe")
    sha = imaging.sha256_bytes(data)
    common: dict[str, Any] = {"actor": p.name, "role": p.role, "ip": client_ip(request), "case_ref": case_ref,
                              "purpose": purpose, "probe_sha256": sha, "collections": names}
    try:
        search_gate(svc, p, purpose)  # kill switch, allowed purposes, per-user limits (issue 5)
        image = decode_bounded(data, svc.settings, "probe")
        keep_probe(svc.settings, data, sha)
        started = time.perf_counter()
        with svc.engine_lock:
            result = svc.engine.search(image, top_k=top_k, collections=names, face=face, all_faces=all_faces,
                                       threshold=threshold, force=force)
        seconds = time.perf_counter() - started
    except (Problem, FacesearchError) as exc:
        svc.audit.record(audit.SEARCH, outcome="refused", threshold=threshold,
                         details={"reason": str(exc), "top_k": top_k}, **common)
        if svc.metrics:
            svc.metrics.searches.labels("refused").inc()
        raise
    faces = result["faces"]
    first = faces[0] if faces else {}
    entry = svc.audit.record(
        audit.SEARCH, outcome="ok" if any(f.get("matches") for f in faces) else "no_candidates",
        model=",".join(sorted({f["model"] for f in faces})) or None,
        threshold=first.get("threshold", {}).get("score") if first else threshold,
        results=audit.search_summary(result),
        details={"top_k": top_k, "gallery_size": result["gallery_size"], "searched": result["collections"],
                 "threshold": first.get("threshold"), "face": face, "all_faces": all_faces, "force": force,
                 "seconds": round(seconds, 4)},
        **{**common, "collections": result["collections"]},
    )
    svc.seen.add(p.user_id, "face", [m["face_id"] for f in faces for m in f.get("matches", [])])
    svc.seen.add(p.user_id, "image", [m["image"]["id"] for f in faces for m in f.get("matches", [])])
    if svc.metrics:
        svc.metrics.searches.labels("ok").inc()
        svc.metrics.search_seconds.observe(seconds)
    _decorate(result)
    annotate(result)  # every candidate starts as a lead, stamped as one
    result.update({"search_id": entry["seq"], "case_ref": case_ref, "purpose": purpose, "probe_sha256": sha,
                   "stamp": STAMP})
    return result


@router.post("/verify", summary="Compare two photos: same person?")
def verify(
    request: Request,
    a: Annotated[UploadFile, File(description="First photo.")],
    b: Annotated[UploadFile, File(description="Second photo.")],
    case_ref: Annotated[str, Form()],
    purpose: Annotated[str, Form()],
    model: Annotated[str | None, Form()] = None,
    threshold: Annotated[float | None, Form()] = None,
    force: Annotated[bool, Form()] = False,
    p: Principal = Depends(examiner),
    svc: Services = Depends(services),
) -> dict[str, Any]:
    case_ref = _text(case_ref, "case_ref", 200)
    purpose = _text(purpose, "purpose", 1000)
    data_a, data_b = read_upload(a, svc.settings, "first photo"), read_upload(b, svc.settings, "second photo")
    shas = [imaging.sha256_bytes(data_a), imaging.sha256_bytes(data_b)]
    common: dict[str, Any] = {"actor": p.name, "role": p.role, "ip": client_ip(request), "case_ref": case_ref,
                              "purpose": purpose, "probe_sha256": shas[0]}
    try:
        search_gate(svc, p, purpose)
        img_a = decode_bounded(data_a, svc.settings, "first photo")
        img_b = decode_bounded(data_b, svc.settings, "second photo")
        with svc.engine_lock:
            result = svc.engine.verify(img_a, img_b, model=model, threshold=threshold, force=force)
    except (Problem, FacesearchError) as exc:
        svc.audit.record(audit.VERIFY, outcome="refused", model=model, threshold=threshold,
                         details={"reason": str(exc), "second_sha256": shas[1]}, **common)
        raise
    entry = svc.audit.record(
        audit.VERIFY, model=result["model"], threshold=result["threshold"],
        results={"score": result["score"], "fmr": result["fmr"], "same_person": result["same_person"]},
        details={"second_sha256": shas[1], "model_version": result["model_version"],
                 "threshold_reason": result["threshold_reason"],
                 "quality": [f["quality"] for f in result["faces"]]},
        **common,
    )
    result.update({"verify_id": entry["seq"], "case_ref": case_ref, "probe_sha256": shas})
    return result


@router.post("/detect", summary="Find the faces in a probe before searching (nothing is searched)")
def detect(
    probe: Annotated[UploadFile, File()],
    collections: Annotated[list[str] | None, Form()] = None,
    p: Principal = Depends(examiner),
    svc: Services = Depends(services),
) -> dict[str, Any]:
    # Not audited: nothing is compared with the gallery. The search that follows is.
    data = read_upload(probe, svc.settings, "probe")
    image = decode_bounded(data, svc.settings, "probe")
    names = _names(collections)
    cols = {c.name: c for c in svc.store.list_collections()}
    chosen = [cols[n] for n in names or [] if n in cols] or list(cols.values())
    pack = chosen[0].model if chosen else svc.settings.model
    with svc.engine_lock:
        fs = svc.engine.analyze_probe(pack, image)
    faces = [{"face": i, "box": [round(float(v), 1) for v in fs.boxes[i]],
              "quality": round(float(fs.quality[i]), 4), "quality_reasons": fs.reasons[i],
              "searchable": bool(fs.quality[i] >= svc.settings.probe_min_quality)} for i in range(len(fs))]
    return {"width": int(image.shape[1]), "height": int(image.shape[0]), "model": pack, "faces": faces}
