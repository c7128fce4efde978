"""Governance routes: kill switch, purposes, usage reports, opt-outs, data-subject reports, doctor and purge,
two-person review of leads, case disclosure reports."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, File, Form, Query, UploadFile
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, Field

from ..app import cases, limits, optout, purposes, retention, review, subjects, suspension
from ..app import doctor as doctor_uc
from ..app.context import Actor
from ..app.limits import SearchLimits
from ..http.case_report import render_case_html
from ..http.deps import Caller
from ..http.uploads import read_photo
from .common import ID_MAX, Ctx, Id
from .governance_models import (
    CaseReport,
    DoctorReport,
    OptOutList,
    OptOutResult,
    ProposalInfo,
    ProposalList,
    PurgeReport,
    PurposeInfo,
    PurposeList,
    SearchStatus,
    SearchView,
    SubjectReport,
    Suspension,
    UsageReport,
)

router = APIRouter(prefix="/api/v1", tags=["governance"])
# The report page has no script; its styles are inline so the same HTML works as a saved file.
# Text a spreadsheet would read as a formula, in an exported CSV cell.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
REPORT_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; frame-ancestors 'none'"


# Kill switch -----------------------------------------------------------------------------------
class Reason(BaseModel):
    reason: str = Field(default="", max_length=1000)


@router.get("/search/status", response_model=SearchStatus, summary="Is searching suspended?")
def search_status(ctx: Ctx, actor: Actor = Depends(Caller(suspension.search_status))) -> SearchStatus:
    return suspension.search_status(ctx, actor)


@router.post("/search/suspend", response_model=Suspension, summary="Suspend all searching at once (admin)")
def suspend(body: Reason, ctx: Ctx, actor: Actor = Depends(Caller(suspension.set_suspended))) -> Suspension:
    return suspension.set_suspended(ctx, actor, True, body.reason)


@router.post("/search/resume", response_model=Suspension, summary="Allow searching again (admin)")
def resume(ctx: Ctx, actor: Actor = Depends(Caller(suspension.set_suspended))) -> Suspension:
    return suspension.set_suspended(ctx, actor, False)


# Per-user limits ---------------------------------------------------------------------------------
class NewLimits(BaseModel):
    per_minute: int | None = Field(default=None, ge=0, le=limits.LIMIT_MAX)
    per_day: int | None = Field(default=None, ge=0, le=limits.LIMIT_MAX)


@router.get("/limits", response_model=SearchLimits, summary="The per-user search limits in force")
def get_limits(ctx: Ctx, actor: Actor = Depends(Caller(limits.show_limits))) -> SearchLimits:
    return limits.show_limits(ctx, actor)


@router.put("/limits", response_model=SearchLimits, summary="Set the per-user search limits (admin; logged)")
def put_limits(body: NewLimits, ctx: Ctx, actor: Actor = Depends(Caller(limits.set_limits))) -> SearchLimits:
    return limits.set_limits(ctx, actor, body.per_minute, body.per_day)


# Purposes --------------------------------------------------------------------------------------
class NewPurpose(BaseModel):
    code: str = Field(min_length=1, max_length=64)
    description: str = Field(min_length=1, max_length=2000)
    requires_authorisation: bool = Field(default=False, description="Every use needs a live authorisation of its case.")
    urgent_hours: int | None = Field(
        default=None, ge=1, le=744, description="Hours a use may precede its case's authorisation (urgency)."
    )


@router.get("/purposes", response_model=PurposeList, summary="Allowed search purposes (and retired ones)")
def get_purposes(ctx: Ctx, actor: Actor = Depends(Caller(purposes.list_purposes))) -> PurposeList:
    return PurposeList(purposes=purposes.list_purposes(ctx, actor))


@router.post("/purposes", status_code=201, response_model=PurposeInfo, summary="Add an allowed search purpose (admin)")
def post_purpose(body: NewPurpose, ctx: Ctx, actor: Actor = Depends(Caller(purposes.add_purpose))) -> PurposeInfo:
    return purposes.add_purpose(
        ctx,
        actor,
        body.code,
        body.description,
        requires_authorisation=body.requires_authorisation,
        urgent_hours=body.urgent_hours,
    )


@router.post(
    "/purposes/{code}/retire", response_model=PurposeInfo, summary="Retire a purpose: refused for new searches (admin)"
)
def retire(code: str, ctx: Ctx, actor: Actor = Depends(Caller(purposes.retire_purpose))) -> PurposeInfo:
    return purposes.retire_purpose(ctx, actor, code)


@router.get(
    "/reports/usage",
    response_model=UsageReport,
    response_model_exclude_unset=True,
    summary="Searches per purpose or per case: how many, by whom, leads confirmed",
)
def usage(
    ctx: Ctx,
    by: Annotated[Literal["purpose", "case"], Query()] = "purpose",
    actor: Actor = Depends(Caller(cases.usage_report)),
) -> UsageReport:
    return UsageReport(by=by, rows=cases.usage_report(ctx, actor, by))


# Opt-out, data-subject access, doctor, purge ---------------------------------------------------
@router.post(
    "/optouts",
    status_code=201,
    response_model=OptOutResult,
    summary="Register an opt-out from photos of the person (erases now)",
)
def post_optout(
    ctx: Ctx,
    reference: Annotated[str, Form(min_length=1, max_length=200)],
    photos: Annotated[list[UploadFile], File(description="One or more photos of the person.")],
    actor: Actor = Depends(Caller(optout.add_optout)),
) -> OptOutResult:
    loaded = [read_photo(f, ctx.settings, f"photo {n + 1}") for n, f in enumerate(photos)]
    return optout.add_optout(ctx, actor, loaded, reference)


@router.get(
    "/optouts", response_model=OptOutList, summary="Registered opt-outs (references and counts, never templates)"
)
def get_optouts(ctx: Ctx, actor: Actor = Depends(Caller(optout.list_optouts))) -> OptOutList:
    return OptOutList(optouts=optout.list_optouts(ctx, actor))


@router.post(
    "/subject-report",
    response_model=SubjectReport,
    response_model_exclude_unset=True,
    summary="Data-subject access: every image where the person's face matches (a governed search)",
)
def post_subject_report(
    ctx: Ctx,
    photo: Annotated[UploadFile, File()],
    reference: Annotated[
        str | None,
        Form(
            description="The data-subject request's reference, e.g. its ticket "
            "(required; logged as the case reference)."
        ),
    ] = None,
    actor: Actor = Depends(Caller(subjects.subject_report)),
) -> SubjectReport:
    return subjects.subject_report(ctx, actor, read_photo(photo, ctx.settings, "photo"), reference)


@router.get("/doctor", response_model=DoctorReport, summary="Scan for orphans in every direction")
def get_doctor(
    ctx: Ctx,
    below_floor: Annotated[
        bool, Query(description="Also list the faces below the ingest floor (FACESEARCH_INGEST_MIN_QUALITY).")
    ] = False,
    actor: Actor = Depends(Caller(doctor_uc.doctor)),
) -> DoctorReport:
    return doctor_uc.doctor(ctx, actor, below_floor=below_floor)


class PurgeRequest(BaseModel):
    now: datetime | None = Field(default=None, description="Time to treat as now (default: the clock).")


@router.post(
    "/purge", response_model=PurgeReport, summary="Erase images past their collection's retention period (logged)"
)
def post_purge(body: PurgeRequest, ctx: Ctx, actor: Actor = Depends(Caller(retention.purge))) -> PurgeReport:
    return retention.purge(ctx, actor, body.now)


# Two-person review -----------------------------------------------------------------------------
@router.get(
    "/searches/{search_id}",
    response_model=SearchView,
    summary="A past search with the review status of every candidate",
)
def get_search(search_id: Id, ctx: Ctx, actor: Actor = Depends(Caller(review.view_search))) -> SearchView:
    return SearchView.of(review.view_search(ctx, actor, search_id))


@router.get(
    "/searches/{search_id}/export",
    response_class=Response,
    summary="Export a search's candidates with their status",
    responses={
        200: {
            "description": "The search as a download: JSON (as `GET /searches/{id}`) or CSV (one row per candidate).",
            "model": SearchView,
            "content": {"text/csv": {"schema": {"type": "string"}}},
        }
    },
)
def export_search(
    search_id: Id,
    ctx: Ctx,
    format: Annotated[Literal["json", "csv"], Query()] = "json",
    actor: Actor = Depends(Caller(review.export_search)),
) -> Response:
    view = SearchView.of(review.export_search(ctx, actor, search_id, format))
    headers = {"Content-Disposition": f'attachment; filename="facesearch-search-{search_id}.{format}"'}
    if format == "json":
        # As recorded: a candidate's fields an older entry lacks stay out (not null).
        data = view.model_dump(mode="json", exclude_unset=True)
        return Response(json.dumps(data, indent=1, ensure_ascii=False), media_type="application/json", headers=headers)
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(
        ["search_id", "case_ref", "rank", "face_id", "image_id", "collection", "score", "fmr", "status", "stamp"]
    )
    for c in view.candidates:
        w.writerow(
            [
                safe_cell(v)
                for v in (
                    search_id,
                    view.case_ref,
                    c.rank,
                    c.face_id,
                    c.image_id,
                    c.collection,
                    c.score,
                    c.fmr,
                    c.status,
                    c.stamp or "",
                )
            ]
        )
    return Response(buf.getvalue(), media_type="text/csv; charset=utf-8", headers=headers)


def safe_cell(value: Any) -> Any:
    """A CSV cell a spreadsheet will not run: text starting with = + - @, a tab or a carriage return gets a
    leading single quote (numbers are left as they are)."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


class NewProposal(BaseModel):
    face_id: int = Field(ge=1, le=ID_MAX)
    probe_face: int = Field(default=0, ge=0, le=1000)
    note: str = Field(min_length=1, max_length=4000)


class Decision(BaseModel):
    note: str = Field(default="", max_length=4000)


@router.post(
    "/searches/{search_id}/proposals",
    status_code=201,
    response_model=ProposalInfo,
    summary="Propose that a candidate is the probe's person (a second examiner must decide)",
)
def post_proposal(
    search_id: Id, body: NewProposal, ctx: Ctx, actor: Actor = Depends(Caller(review.propose))
) -> ProposalInfo:
    return review.propose(ctx, actor, search_id, body.face_id, body.note, probe_face=body.probe_face)


@router.post(
    "/proposals/{proposal_id}/confirm", response_model=ProposalInfo, summary="Confirm a proposal (a different examiner)"
)
def confirm(proposal_id: Id, body: Decision, ctx: Ctx, actor: Actor = Depends(Caller(review.decide))) -> ProposalInfo:
    return review.decide(ctx, actor, proposal_id, "confirmed", body.note)


@router.post(
    "/proposals/{proposal_id}/reject", response_model=ProposalInfo, summary="Reject a proposal (a different examiner)"
)
def reject(proposal_id: Id, body: Decision, ctx: Ctx, actor: Actor = Depends(Caller(review.decide))) -> ProposalInfo:
    return review.decide(ctx, actor, proposal_id, "rejected", body.note)


@router.get("/proposals", response_model=ProposalList, summary="Proposals, newest first (filter by case and status)")
def get_proposals(
    ctx: Ctx,
    case_ref: Annotated[str | None, Query(max_length=200)] = None,
    status: Annotated[Literal["proposed", "confirmed", "rejected"] | None, Query()] = None,
    actor: Actor = Depends(Caller(review.list_proposals)),
) -> ProposalList:
    return ProposalList(proposals=review.list_proposals(ctx, actor, case_ref, status))


# Case report -----------------------------------------------------------------------------------
@router.get(
    "/cases/{case_ref}/report",
    response_model=CaseReport,
    response_model_exclude_unset=True,
    summary="Case disclosure report (examiners on their own cases, auditors)",
    responses={
        200: {
            "description": "The report as JSON, or with `format=html` as a self-contained, printable page.",
            "content": {"text/html": {"schema": {"type": "string"}}},
        }
    },
)
def get_case_report(
    case_ref: str,
    ctx: Ctx,
    format: Annotated[Literal["json", "html"], Query()] = "json",
    actor: Actor = Depends(Caller(cases.case_report)),
) -> Any:
    done = cases.case_report(ctx, actor, case_ref, format)
    if format == "html":
        return HTMLResponse(
            render_case_html(done.report, done.thumbnails), headers={"Content-Security-Policy": REPORT_CSP}
        )
    return CaseReport.of(done.report)
