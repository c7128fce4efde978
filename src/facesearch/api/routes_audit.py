"""The audit log (auditor): read it, export it, check its hash chain."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from ..app import audit as audit_uc
from ..app.context import Actor
from ..http.deps import Caller
from .audit_models import AuditExport, AuditPage, ChainCheck
from .common import Ctx

router = APIRouter(prefix="/api/v1", tags=["audit"])


@router.get("/audit", response_model=AuditPage, summary="Read the audit log (newest first)")
def read_audit(
    ctx: Ctx,
    user: Annotated[str | None, Query()] = None,
    case_ref: Annotated[str | None, Query()] = None,
    action: Annotated[str | None, Query()] = None,
    since: Annotated[str | None, Query(description="Date (YYYY-MM-DD) or ISO date-time, inclusive.")] = None,
    until: Annotated[str | None, Query(description="Date (whole day included) or ISO date-time.")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
    actor: Actor = Depends(Caller(audit_uc.query)),
) -> AuditPage:
    return audit_uc.query(
        ctx, actor, user=user, case_ref=case_ref, action=action, since=since, until=until, limit=limit, offset=offset
    )


@router.get(
    "/audit/export",
    response_class=Response,
    summary="Export the audit log for a date range as CSV or JSON",
    responses={
        200: {
            "description": "The entries, oldest first, with their hashes, as a download "
            "(CSV: one row per entry, JSON fields as canonical JSON).",
            "model": AuditExport,
            "content": {"text/csv": {"schema": {"type": "string"}}},
        }
    },
)
def export_audit(
    ctx: Ctx,
    format: Annotated[Literal["csv", "json"], Query()] = "csv",
    since: Annotated[str | None, Query()] = None,
    until: Annotated[str | None, Query()] = None,
    user: Annotated[str | None, Query()] = None,
    case_ref: Annotated[str | None, Query()] = None,
    action: Annotated[str | None, Query()] = None,
    actor: Actor = Depends(Caller(audit_uc.export)),
) -> Response:
    text = audit_uc.export(
        ctx, actor, format, since=since, until=until, user=user, case_ref=case_ref, action=action, destination="http"
    )
    name = f"facesearch-audit-{since or 'start'}-{until or 'now'}.{format}"
    media = "text/csv; charset=utf-8" if format == "csv" else "application/json"
    return Response(text, media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}"'})


@router.get("/audit/verify", response_model=ChainCheck, summary="Check the hash chain of the whole audit log")
def verify_audit(ctx: Ctx, actor: Actor = Depends(Caller(audit_uc.verify))) -> ChainCheck:
    return audit_uc.verify(ctx, actor)
