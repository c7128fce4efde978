"""Accounts (admin) and the audit log (auditor)."""

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from .. import audit, auth
from ..auth import Principal
from ..store.accounts import ROLES
from .deps import Services, client_ip, require_role, services
from .problems import Problem

router = APIRouter(prefix="/api/v1", tags=["accounts and audit"])
admin = require_role("admin")
auditor = require_role("auditor")


def _user_dict(u: Any) -> dict[str, Any]:
    return {"name": u.name, "role": u.role, "disabled": u.disabled,
            "created_at": u.created_at.isoformat() if u.created_at else None}


class NewUser(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    role: Literal["admin", "operator", "examiner", "auditor"]
    password: str = Field(min_length=auth.MIN_PASSWORD, max_length=1000)


class UserChange(BaseModel):
    disabled: bool | None = None
    password: str | None = Field(default=None, min_length=auth.MIN_PASSWORD, max_length=1000)


class NewToken(BaseModel):
    label: str = Field(default="", max_length=200)


@router.get("/users", summary="List accounts")
def list_users(p: Principal = Depends(admin), svc: Services = Depends(services)) -> dict[str, Any]:
    return {"users": [_user_dict(u) for u in auth.list_users(svc.store)], "roles": list(ROLES)}


@router.post("/users", status_code=201, summary="Create an account")
def create_user(body: NewUser, request: Request, p: Principal = Depends(admin),
                svc: Services = Depends(services)) -> dict[str, Any]:
    try:
        user = auth.add_user(svc.store, body.name, body.role, body.password)
    except auth.AuthError as exc:
        raise Problem(422, "Invalid request", str(exc)) from exc
    svc.audit.record(audit.USER_ADD, actor=p.name, role=p.role, ip=client_ip(request),
                     details={"user": user.name, "user_role": user.role})
    return _user_dict(user)


@router.patch("/users/{name}", summary="Disable, enable or reset the password of an account")
def change_user(name: str, body: UserChange, request: Request, p: Principal = Depends(admin),
                svc: Services = Depends(services)) -> dict[str, Any]:
    try:
        if body.password is not None:
            auth.set_password(svc.store, name, body.password)
        if body.disabled is not None:
            if body.disabled and name == p.name:
                raise Problem(422, "Invalid request", "you cannot disable your own account")
            auth.set_disabled(svc.store, name, body.disabled)
    except auth.AuthError as exc:
        raise Problem(404, "Not found", str(exc)) from exc
    svc.audit.record(audit.USER_CHANGE, actor=p.name, role=p.role, ip=client_ip(request),
                     details={"user": name, "disabled": body.disabled, "password_reset": body.password is not None})
    user = auth.get_user(svc.store, name)
    return _user_dict(user)


@router.get("/tokens", summary="List API tokens (never the tokens themselves)")
def list_tokens(p: Principal = Depends(admin), svc: Services = Depends(services)) -> dict[str, Any]:
    return {"tokens": [{"id": t.id, "user": n, "label": t.label, "prefix": t.prefix,
                        "created_at": t.created_at.isoformat() if t.created_at else None,
                        "revoked": t.revoked_at is not None} for t, n in auth.list_tokens(svc.store)]}


@router.post("/users/{name}/tokens", status_code=201, summary="Create an API token for an account")
def create_token(name: str, body: NewToken, request: Request, p: Principal = Depends(admin),
                 svc: Services = Depends(services)) -> dict[str, Any]:
    try:
        token_id, token = auth.create_token(svc.store, name, body.label)
    except auth.AuthError as exc:
        raise Problem(404, "Not found", str(exc)) from exc
    svc.audit.record(audit.TOKEN_CREATE, actor=p.name, role=p.role, ip=client_ip(request),
                     details={"user": name, "token_id": token_id, "label": body.label})
    return {"id": token_id, "user": name, "token": token}


@router.delete("/tokens/{token_id}", summary="Revoke an API token")
def revoke_token(token_id: int, request: Request, p: Principal = Depends(admin),
                 svc: Services = Depends(services)) -> dict[str, Any]:
    n = auth.revoke_token(svc.store, str(token_id))
    if not n:
        raise Problem(404, "Not found", f"no active token with id {token_id}")
    svc.audit.record(audit.TOKEN_REVOKE, actor=p.name, role=p.role, ip=client_ip(request),
                     details={"token_id": token_id})
    return {"revoked": n}


# Audit ------------------------------------------------------------------------------------------
def _bad_date(exc: ValueError) -> Problem:
    return Problem(422, "Invalid request", str(exc))


@router.get("/audit", summary="Read the audit log (newest first)")
def read_audit(
    user: Annotated[str | None, Query()] = None,
    case_ref: Annotated[str | None, Query()] = None,
    action: Annotated[str | None, Query()] = None,
    since: Annotated[str | None, Query(description="Date (YYYY-MM-DD) or ISO date-time, inclusive.")] = None,
    until: Annotated[str | None, Query(description="Date (whole day included) or ISO date-time.")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
    p: Principal = Depends(auditor),
    svc: Services = Depends(services),
) -> dict[str, Any]:
    try:
        entries, total = audit.query(svc.store, user=user, case_ref=case_ref, action=action, since=since,
                                     until=until, limit=limit, offset=offset)
    except ValueError as exc:
        raise _bad_date(exc) from exc
    return {"total": total, "limit": limit, "offset": offset, "entries": entries}


@router.get("/audit/export", summary="Export the audit log for a date range as CSV or JSON")
def export_audit(
    request: Request,
    format: Annotated[Literal["csv", "json"], Query()] = "csv",
    since: Annotated[str | None, Query()] = None,
    until: Annotated[str | None, Query()] = None,
    user: Annotated[str | None, Query()] = None,
    case_ref: Annotated[str | None, Query()] = None,
    action: Annotated[str | None, Query()] = None,
    p: Principal = Depends(auditor),
    svc: Services = Depends(services),
) -> Response:
    try:
        text = audit.export(svc.store, format, since=since, until=until, user=user, case_ref=case_ref,
                            action=action)
    except ValueError as exc:
        raise _bad_date(exc) from exc
    svc.audit.record(audit.EXPORT, actor=p.name, role=p.role, ip=client_ip(request), case_ref=case_ref,
                     details={"what": "audit", "format": format, "since": since, "until": until, "user": user,
                              "action": action, "bytes": len(text)})
    name = f"facesearch-audit-{since or 'start'}-{until or 'now'}.{format}"
    media = "text/csv; charset=utf-8" if format == "csv" else "application/json"
    return Response(text, media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}"'})


@router.get("/audit/verify", summary="Check the hash chain of the whole audit log")
def verify_audit(p: Principal = Depends(auditor), svc: Services = Depends(services)) -> dict[str, Any]:
    return audit.verify_chain(svc.store, svc.audit.head_path).as_dict()
