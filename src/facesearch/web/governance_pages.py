"""Governance pages of the browser UI: review of proposed leads (examiners), case reports (examiners and
auditors), purposes and the kill switch (admins). Plain server-side forms; no script needed."""

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import RedirectResponse, Response

from .. import governance, imaging, oversight
from ..api.deps import Services, client_ip, require_role, services
from ..auth import Principal
from ..errors import FacesearchError

router = APIRouter(include_in_schema=False)


def _render(request: Request, template: str, p: Principal, **ctx: Any) -> Response:
    from .pages import render

    return render(request, template, principal=p, **ctx)


@router.get("/review")
def review_page(request: Request, msg: str | None = None, p: Principal = Depends(require_role("examiner")),
                svc: Services = Depends(services)) -> Response:
    return _render(request, "review.html", p, open=oversight.list_proposals(svc.store, status="proposed"),
                   recent=oversight.list_proposals(svc.store)[:50], msg=msg, stamp=oversight.STAMP)


@router.post("/review/{proposal_id}/{decision}")
def review_decide(request: Request, proposal_id: int, decision: str,
                  note: Annotated[str, Form(max_length=4000)] = "",
                  p: Principal = Depends(require_role("examiner")), svc: Services = Depends(services)) -> Response:
    status = {"confirm": "confirmed", "reject": "rejected"}.get(decision, "")
    try:
        oversight.decide(svc.store, proposal_id, status, note, actor=p.name, role=p.role, ip=client_ip(request),
                         audit=svc.audit)
        msg = f"Proposal {proposal_id} {status}."
    except oversight.ReviewError as exc:
        msg = str(exc)
    return RedirectResponse(f"/review?msg={quote(msg)}", status_code=303)


@router.post("/collections/new")
def collection_new(request: Request, name: Annotated[str, Form(max_length=200)],
                   source: Annotated[str, Form(max_length=2000)], legal_basis: Annotated[str, Form(max_length=64)],
                   legal_basis_note: Annotated[str, Form(max_length=2000)] = "",
                   retention_days: Annotated[str, Form(max_length=10)] = "",
                   p: Principal = Depends(require_role("operator")), svc: Services = Depends(services)) -> Response:
    from .. import audit, governance

    try:
        days = int(retention_days) if retention_days.strip() else None
        col = governance.create_collection(svc.settings, svc.store, name.strip(), source=source,
                                           legal_basis=legal_basis, owner=p.name, retention_days=days,
                                           keep=days is None, legal_basis_note=legal_basis_note.strip() or None)
    except (FacesearchError, ValueError) as exc:
        return RedirectResponse(f"/ingest?msg={quote(str(exc))}", status_code=303)
    svc.audit.record(audit.COLLECTION_CREATE, actor=p.name, role=p.role, ip=client_ip(request),
                     collections=[col.name], model=col.model, details=governance.collection_dict(col))
    return RedirectResponse(f"/ingest?msg={quote('Created collection ' + col.name)}", status_code=303)


@router.get("/cases")
def cases_page(request: Request, ref: Annotated[str | None, Query(max_length=200)] = None,
               p: Principal = Depends(require_role("examiner", "auditor"))) -> Response:
    if ref and ref.strip():
        return RedirectResponse(f"/api/v1/cases/{quote(ref.strip(), safe='')}/report?format=html", status_code=303)
    return _render(request, "cases.html", p)


@router.get("/admin/governance")
def governance_page(request: Request, msg: str | None = None, p: Principal = Depends(require_role("admin")),
                    svc: Services = Depends(services)) -> Response:
    return _render(request, "governance.html", p, purposes=oversight.list_purposes(svc.store),
                   suspension=oversight.suspension(svc.store), msg=msg)


@router.post("/admin/governance/{action}")
def governance_act(request: Request, action: str, code: Annotated[str, Form(max_length=64)] = "",
                   description: Annotated[str, Form(max_length=2000)] = "",
                   reason: Annotated[str, Form(max_length=1000)] = "",
                   p: Principal = Depends(require_role("admin")), svc: Services = Depends(services)) -> Response:
    who = {"actor": p.name, "role": p.role, "ip": client_ip(request), "audit": svc.audit}
    try:
        if action == "suspend":
            oversight.set_suspended(svc.store, True, reason=reason, **who)  # type: ignore[arg-type]
            msg = "Searching suspended."
        elif action == "resume":
            oversight.set_suspended(svc.store, False, **who)  # type: ignore[arg-type]
            msg = "Searching resumed."
        elif action == "add-purpose":
            oversight.add_purpose(svc.store, code, description, **who)  # type: ignore[arg-type]
            msg = f"Purpose {code} added."
        elif action == "retire-purpose":
            oversight.retire_purpose(svc.store, code, **who)  # type: ignore[arg-type]
            msg = f"Purpose {code} retired."
        else:
            msg = "Unknown action."
    except FacesearchError as exc:
        msg = str(exc)
    return RedirectResponse(f"/admin/governance?msg={quote(msg)}", status_code=303)


# Data protection (operators): opt-out, subject access, doctor, purge --------------------------
def _privacy(request: Request, p: Principal, svc: Services, **ctx: Any) -> Response:
    return _render(request, "privacy.html", p, optouts=governance.list_optouts(svc.store), **ctx)


@router.get("/privacy")
def privacy_page(request: Request, p: Principal = Depends(require_role("operator")),
                 svc: Services = Depends(services)) -> Response:
    return _privacy(request, p, svc)


def _photos(svc: Services, files: list[UploadFile]) -> list[tuple[str, Any, str]]:
    from ..api.routes_search import decode_bounded, read_upload

    out = []
    for n, f in enumerate(f for f in files if f.filename):
        data = read_upload(f, svc.settings, f"photo {n + 1}")
        out.append((f.filename or f"photo {n + 1}", decode_bounded(data, svc.settings, f"photo {n + 1}"),
                    imaging.sha256_bytes(data)))
    return out


@router.post("/privacy/optout")
def privacy_optout(request: Request, reference: Annotated[str, Form(max_length=200)],
                   photos: Annotated[list[UploadFile], File()],
                   p: Principal = Depends(require_role("operator")), svc: Services = Depends(services)) -> Response:
    try:
        loaded = _photos(svc, photos)
        with svc.engine_lock:
            res = governance.add_optout(svc.settings, svc.store, loaded, reference, actor=p.name, role=p.role,
                                        ip=client_ip(request), audit=svc.audit)
        for c in svc.store.list_collections():
            svc.engine.forget_index(c.id)
    except FacesearchError as exc:
        return _privacy(request, p, svc, error=str(exc))
    e = res["erased"]
    return _privacy(request, p, svc, done=f"Opt-out {res['reference']} registered from {res['photos']} photo(s): "
                    f"erased {e['faces']} face(s) and {e['images']} image(s).")


@router.post("/privacy/subject")
def privacy_subject(request: Request, photo: Annotated[UploadFile, File()],
                    p: Principal = Depends(require_role("operator")), svc: Services = Depends(services)) -> Response:
    try:
        _, image, sha = _photos(svc, [photo])[0]
        with svc.engine_lock:
            rep = governance.subject_report(svc.settings, svc.store, image, sha, actor=p.name, role=p.role,
                                            ip=client_ip(request), audit=svc.audit)
    except (FacesearchError, IndexError) as exc:
        return _privacy(request, p, svc, error=str(exc) or "choose a photo")
    return _privacy(request, p, svc, subject=rep)


@router.post("/privacy/doctor")
def privacy_doctor(request: Request, p: Principal = Depends(require_role("operator")),
                   svc: Services = Depends(services)) -> Response:
    with svc.engine_lock:
        rep = governance.doctor(svc.settings, svc.store)
    return _privacy(request, p, svc, doctor=rep)


@router.post("/privacy/purge")
def privacy_purge(request: Request, p: Principal = Depends(require_role("operator")),
                  svc: Services = Depends(services)) -> Response:
    with svc.engine_lock:
        rep = governance.purge(svc.settings, svc.store, actor=p.name, audit=svc.audit)
    e = rep["erased"]
    return _privacy(request, p, svc, done=f"Purge done: erased {e['images']} image(s), {e['faces']} face(s); "
                    f"{rep['expired_probes']} expired probe(s).")
