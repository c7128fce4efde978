"""Governance routes: kill switch, purposes, opt-outs, data-subject reports, doctor and purge, two-person
review of leads, case disclosure reports; plus the search gate and the scheduled purge of `serve`."""

import csv
import io
import json
import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, Field

from .. import audit, governance, imaging, oversight
from ..auth import Principal
from ..errors import FacesearchError
from .deps import Services, client_ip, require_role, services
from .problems import Problem
from .routes_search import decode_bounded, read_upload

router = APIRouter(prefix="/api/v1", tags=["governance"])
admin = require_role("admin")
examiner = require_role("examiner")
curator = require_role("operator", "admin")
log = logging.getLogger("facesearch.governance")
# The report page has no script; its styles are inline so the same HTML works as a saved file.
REPORT_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; frame-ancestors 'none'"


def _limiter(svc: Services) -> oversight.SearchLimiter:
    lim = getattr(svc, "_limiter", None)
    if lim is None:
        lim = oversight.SearchLimiter()
        svc._limiter = lim  # type: ignore[attr-defined]
    return lim


def search_gate(svc: Services, p: Principal, purpose: str) -> None:
    """Called by search and verify before anything is compared: the kill switch, the list of allowed
    purposes (the code before an optional ':' note), and the caller's rate limit and daily quota."""
    st = oversight.suspension(svc.store)
    if st:
        raise Problem(503, "Searching is suspended", f"an admin suspended all searching ({st.get('by')}, "
                      f"{st.get('at')}{': ' + st['reason'] if st.get('reason') else ''})", suspension=st)
    try:
        oversight.check_purpose(svc.store, purpose.split(":", 1)[0])
    except oversight.PurposeError as exc:
        raise Problem(422, "Purpose not allowed", str(exc), allowed=exc.allowed) from exc
    try:
        _limiter(svc).check(svc.store, p.name, svc.settings.search_rate_per_minute, svc.settings.search_daily_quota)
    except oversight.LimitExceeded as exc:
        raise Problem(429, "Too many searches", str(exc), retry_after=exc.retry_after) from exc


# Scheduled purge (inside `serve`) --------------------------------------------------------------
def _purge_loop(app: FastAPI, stop: threading.Event) -> None:
    svc: Services = app.state.services
    if stop.wait(max(0.0, svc.settings.purge_first_delay_seconds)):
        return
    while True:
        try:
            with svc.engine_lock:  # never erase under a running search
                governance.purge(svc.settings, svc.store, audit=svc.audit, actor="system:scheduled-purge")
        except Exception:  # a failed run is logged and retried next time; it must not end the loop
            log.exception("scheduled purge failed")
        if stop.wait(svc.settings.purge_interval_hours * 3600):
            return


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    stop = threading.Event()
    svc: Services = app.state.services
    thread = None
    if svc.settings.purge_interval_hours > 0:
        thread = threading.Thread(target=_purge_loop, args=(app, stop), name="purge", daemon=True)
        thread.start()
    try:
        yield
    finally:
        stop.set()
        if thread is not None:
            thread.join(timeout=5)


# Kill switch -----------------------------------------------------------------------------------
class Reason(BaseModel):
    reason: str = Field(default="", max_length=1000)


@router.get("/search/status", summary="Is searching suspended?")
def search_status(p: Principal = Depends(require_role("examiner", "admin")),
                  svc: Services = Depends(services)) -> dict[str, Any]:
    st = oversight.suspension(svc.store)
    return {"suspended": bool(st), "suspension": st}


@router.post("/search/suspend", summary="Suspend all searching at once (admin)")
def suspend(body: Reason, request: Request, p: Principal = Depends(admin),
            svc: Services = Depends(services)) -> dict[str, Any]:
    return oversight.set_suspended(svc.store, True, actor=p.name, role=p.role, ip=client_ip(request),
                                   reason=body.reason, audit=svc.audit)


@router.post("/search/resume", summary="Allow searching again (admin)")
def resume(request: Request, p: Principal = Depends(admin), svc: Services = Depends(services)) -> dict[str, Any]:
    return oversight.set_suspended(svc.store, False, actor=p.name, role=p.role, ip=client_ip(request),
                                   audit=svc.audit)


# Purposes --------------------------------------------------------------------------------------
class NewPurpose(BaseModel):
    code: str = Field(min_length=1, max_length=64)
    description: str = Field(min_length=1, max_length=2000)


@router.get("/purposes", summary="Allowed search purposes (and retired ones)")
def get_purposes(p: Principal = Depends(require_role("admin", "examiner", "auditor")),
                 svc: Services = Depends(services)) -> dict[str, Any]:
    return {"purposes": oversight.list_purposes(svc.store)}


@router.post("/purposes", status_code=201, summary="Add an allowed search purpose (admin)")
def post_purpose(body: NewPurpose, request: Request, p: Principal = Depends(admin),
                 svc: Services = Depends(services)) -> dict[str, Any]:
    try:
        return oversight.add_purpose(svc.store, body.code, body.description, actor=p.name, role=p.role,
                                     ip=client_ip(request), audit=svc.audit)
    except FacesearchError as exc:
        raise Problem(422, "Invalid request", str(exc)) from exc


@router.post("/purposes/{code}/retire", summary="Retire a purpose: refused for new searches (admin)")
def retire(code: str, request: Request, p: Principal = Depends(admin),
           svc: Services = Depends(services)) -> dict[str, Any]:
    try:
        return oversight.retire_purpose(svc.store, code, actor=p.name, role=p.role, ip=client_ip(request),
                                        audit=svc.audit)
    except FacesearchError as exc:
        raise Problem(404, "Not found", str(exc)) from exc


@router.get("/reports/usage", summary="Searches per purpose or per case: how many, by whom, leads confirmed")
def usage(by: Annotated[Literal["purpose", "case"], Query()] = "purpose",
          p: Principal = Depends(require_role("auditor", "admin")),
          svc: Services = Depends(services)) -> dict[str, Any]:
    return {"by": by, "rows": oversight.usage_report(svc.store, by)}


# Opt-out, data-subject access, doctor, purge ---------------------------------------------------
@router.post("/optouts", status_code=201, summary="Register an opt-out from photos of the person (erases now)")
def post_optout(
    request: Request,
    reference: Annotated[str, Form(min_length=1, max_length=200)],
    photos: Annotated[list[UploadFile], File(description="One or more photos of the person.")],
    p: Principal = Depends(curator),
    svc: Services = Depends(services),
) -> dict[str, Any]:
    loaded = []
    for n, f in enumerate(photos):
        data = read_upload(f, svc.settings, f"photo {n + 1}")
        loaded.append((f.filename or f"photo {n + 1}", decode_bounded(data, svc.settings, f"photo {n + 1}"),
                       imaging.sha256_bytes(data)))
    try:
        with svc.engine_lock:
            res = governance.add_optout(svc.settings, svc.store, loaded, reference, actor=p.name, role=p.role,
                                        ip=client_ip(request), audit=svc.audit)
    except FacesearchError as exc:
        raise Problem(422, "Opt-out refused", str(exc)) from exc
    for c in svc.store.list_collections():  # the service's cached indexes pick up the erasure
        svc.engine.forget_index(c.id)
    return res


@router.get("/optouts", summary="Registered opt-outs (references and counts, never templates)")
def get_optouts(p: Principal = Depends(curator), svc: Services = Depends(services)) -> dict[str, Any]:
    return {"optouts": governance.list_optouts(svc.store)}


@router.post("/subject-report", summary="Data-subject access: every image where the person's face matches")
def post_subject_report(request: Request, photo: Annotated[UploadFile, File()],
                        p: Principal = Depends(require_role("operator")),
                        svc: Services = Depends(services)) -> dict[str, Any]:
    data = read_upload(photo, svc.settings, "photo")
    image = decode_bounded(data, svc.settings, "photo")
    with svc.engine_lock:
        return governance.subject_report(svc.settings, svc.store, image, imaging.sha256_bytes(data), actor=p.name,
                                         role=p.role, ip=client_ip(request), audit=svc.audit)


@router.get("/doctor", summary="Scan for orphans in every direction")
def get_doctor(p: Principal = Depends(curator), svc: Services = Depends(services)) -> dict[str, Any]:
    with svc.engine_lock:
        return governance.doctor(svc.settings, svc.store)


class PurgeRequest(BaseModel):
    now: datetime | None = Field(default=None, description="Time to treat as now (default: the clock).")


@router.post("/purge", summary="Erase images past their collection's retention period (logged)")
def post_purge(body: PurgeRequest, p: Principal = Depends(curator),
               svc: Services = Depends(services)) -> dict[str, Any]:
    with svc.engine_lock:
        return governance.purge(svc.settings, svc.store, body.now, actor=p.name, audit=svc.audit)


# Two-person review -----------------------------------------------------------------------------
def _review_problem(exc: oversight.ReviewError) -> Problem:
    titles = {403: "Forbidden", 404: "Not found", 409: "Conflict", 422: "Invalid request"}
    return Problem(exc.status, titles.get(exc.status, "Refused"), str(exc))


def _search_view(svc: Services, search_id: int) -> dict[str, Any]:
    try:
        e = oversight.search_entry(svc.store, search_id)
    except oversight.ReviewError as exc:
        raise _review_problem(exc) from exc
    hist = oversight.proposals_for(svc.store, [search_id])
    cands = []
    for c in oversight.candidates_of(e):
        h = hist.get((search_id, c["probe_face"], c["face_id"]), [])
        status = oversight.status_of(h)
        cands.append({**c, "status": status, "stamp": None if status == "confirmed" else oversight.STAMP,
                      "history": h, "thumbnail_url": f"/api/v1/faces/{c['face_id']}/thumbnail"})
    return {"search_id": search_id, "case_ref": e["case_ref"], "purpose": e["purpose"], "actor": e["actor"],
            "ts": e["ts"], "model": e["model"], "threshold": e["threshold"], "probe_sha256": e["probe_sha256"],
            "candidates": cands, "stamp": oversight.STAMP}


@router.get("/searches/{search_id}", summary="A past search with the review status of every candidate")
def get_search(search_id: int, request: Request, p: Principal = Depends(examiner),
               svc: Services = Depends(services)) -> dict[str, Any]:
    view = _search_view(svc, search_id)
    svc.audit.record(oversight.VIEW_SEARCH, actor=p.name, role=p.role, ip=client_ip(request),
                     case_ref=view["case_ref"], results={"search_id": search_id})
    svc.seen.add(p.user_id, "face", [c["face_id"] for c in view["candidates"]])
    return view


@router.get("/searches/{search_id}/export", summary="Export a search's candidates with their status")
def export_search(search_id: int, request: Request,
                  format: Annotated[Literal["json", "csv"], Query()] = "json",
                  p: Principal = Depends(examiner), svc: Services = Depends(services)) -> Response:
    view = _search_view(svc, search_id)
    svc.audit.record(audit.EXPORT, actor=p.name, role=p.role, ip=client_ip(request), case_ref=view["case_ref"],
                     details={"what": "search", "search_id": search_id, "format": format})
    name = f"facesearch-search-{search_id}.{format}"
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    if format == "json":
        return Response(json.dumps(view, indent=1, ensure_ascii=False), media_type="application/json",
                        headers=headers)
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["search_id", "case_ref", "rank", "face_id", "image_id", "collection", "score", "fmr", "status",
                "stamp"])
    for c in view["candidates"]:
        w.writerow([search_id, view["case_ref"], c["rank"], c["face_id"], c["image_id"], c["collection"],
                    c["score"], c["fmr"], c["status"], c["stamp"] or ""])
    return Response(buf.getvalue(), media_type="text/csv; charset=utf-8", headers=headers)


class NewProposal(BaseModel):
    face_id: int
    probe_face: int = 0
    note: str = Field(min_length=1, max_length=4000)


class Decision(BaseModel):
    note: str = Field(default="", max_length=4000)


@router.post("/searches/{search_id}/proposals", status_code=201,
             summary="Propose that a candidate is the probe's person (a second examiner must decide)")
def post_proposal(search_id: int, body: NewProposal, request: Request, p: Principal = Depends(examiner),
                  svc: Services = Depends(services)) -> dict[str, Any]:
    try:
        return oversight.propose(svc.store, search_id, body.face_id, body.note, actor=p.name, role=p.role,
                                 probe_face=body.probe_face, ip=client_ip(request), audit=svc.audit)
    except oversight.ReviewError as exc:
        raise _review_problem(exc) from exc


def _decide(proposal_id: int, decision: str, body: Decision, request: Request, p: Principal,
            svc: Services) -> dict[str, Any]:
    try:
        return oversight.decide(svc.store, proposal_id, decision, body.note, actor=p.name, role=p.role,
                                ip=client_ip(request), audit=svc.audit)
    except oversight.ReviewError as exc:
        raise _review_problem(exc) from exc


@router.post("/proposals/{proposal_id}/confirm", summary="Confirm a proposal (a different examiner)")
def confirm(proposal_id: int, body: Decision, request: Request, p: Principal = Depends(examiner),
            svc: Services = Depends(services)) -> dict[str, Any]:
    return _decide(proposal_id, "confirmed", body, request, p, svc)


@router.post("/proposals/{proposal_id}/reject", summary="Reject a proposal (a different examiner)")
def reject(proposal_id: int, body: Decision, request: Request, p: Principal = Depends(examiner),
           svc: Services = Depends(services)) -> dict[str, Any]:
    return _decide(proposal_id, "rejected", body, request, p, svc)


@router.get("/proposals", summary="Proposals, newest first (filter by case and status)")
def get_proposals(case_ref: Annotated[str | None, Query(max_length=200)] = None,
                  status: Annotated[Literal["proposed", "confirmed", "rejected"] | None, Query()] = None,
                  p: Principal = Depends(require_role("examiner", "auditor")),
                  svc: Services = Depends(services)) -> dict[str, Any]:
    return {"proposals": oversight.list_proposals(svc.store, case_ref, status)}


# Case report -----------------------------------------------------------------------------------
@router.get("/cases/{case_ref}/report", summary="Case disclosure report (examiners on their own cases, auditors)")
def get_case_report(case_ref: str, request: Request,
                    format: Annotated[Literal["json", "html"], Query()] = "json",
                    p: Principal = Depends(require_role("examiner", "auditor")),
                    svc: Services = Depends(services)) -> Response:
    if not oversight.may_read_case(svc.store, case_ref, p.name, p.role):
        raise Problem(403, "Forbidden", "examiners read the reports of cases they have searched in; "
                      "ask an auditor for this one")
    report = oversight.case_report(svc.settings, svc.store, case_ref)
    svc.audit.record(oversight.CASE_REPORT, actor=p.name, role=p.role, ip=client_ip(request), case_ref=case_ref,
                     details={"format": format, "searches": len(report["searches"])})
    if format == "json":
        return Response(json.dumps(report, ensure_ascii=False), media_type="application/json")
    html = oversight.render_case_html(svc.settings, svc.store, report)
    return HTMLResponse(html, headers={"Content-Security-Policy": REPORT_CSP})
