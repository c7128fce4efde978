"""Accounts (admin) and the audit log (auditor)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response
from pydantic import BaseModel, Field

from ..app import accounts
from ..app import audit as audit_uc
from ..app.accounts import CreatedToken, UserInfo
from ..app.context import Actor
from ..http.deps import Caller
from ..vocabulary import ROLES
from .admin_models import AuditExport, AuditPage, ChainReport, NewTokenResult, Revoked, TokenList, UserList
from .common import Ctx, Id

router = APIRouter(prefix="/api/v1", tags=["accounts and audit"])


class NewUser(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    role: Literal["admin", "operator", "examiner", "auditor"]
    password: str = Field(min_length=accounts.MIN_PASSWORD, max_length=1000)


class UserChange(BaseModel):
    disabled: bool | None = None
    password: str | None = Field(default=None, min_length=accounts.MIN_PASSWORD, max_length=1000)


class NewToken(BaseModel):
    label: str = Field(default="", max_length=200)


@router.get("/users", response_model=UserList, summary="List accounts")
def list_users(ctx: Ctx, actor: Actor = Depends(Caller(accounts.list_users))) -> UserList:
    return UserList(users=accounts.list_users(ctx, actor), roles=list(ROLES))


@router.post("/users", status_code=201, response_model=UserInfo, summary="Create an account")
def create_user(body: NewUser, ctx: Ctx, actor: Actor = Depends(Caller(accounts.add_user))) -> UserInfo:
    return accounts.add_user(ctx, actor, body.name, body.role, body.password)


@router.patch("/users/{name}", response_model=UserInfo, summary="Disable, enable or reset the password of an account")
def change_user(
    name: str, body: UserChange, ctx: Ctx, actor: Actor = Depends(Caller(accounts.change_user))
) -> UserInfo:
    return accounts.change_user(ctx, actor, name, disabled=body.disabled, password=body.password)


@router.get("/tokens", response_model=TokenList, summary="List API tokens (never the tokens themselves)")
def list_tokens(ctx: Ctx, actor: Actor = Depends(Caller(accounts.list_tokens))) -> TokenList:
    return TokenList(tokens=accounts.list_tokens(ctx, actor))


@router.post(
    "/users/{name}/tokens", status_code=201, response_model=NewTokenResult, summary="Create an API token for an account"
)
def create_token(
    name: str, body: NewToken, ctx: Ctx, actor: Actor = Depends(Caller(accounts.create_token))
) -> CreatedToken:
    return accounts.create_token(ctx, actor, name, body.label)


@router.delete("/tokens/{token_id}", response_model=Revoked, summary="Revoke an API token")
def revoke_token(token_id: Id, ctx: Ctx, actor: Actor = Depends(Caller(accounts.revoke_token))) -> Revoked:
    return Revoked(revoked=accounts.revoke_token(ctx, actor, str(token_id)))


# Audit ------------------------------------------------------------------------------------------
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
) -> dict[str, Any]:
    entries, total = audit_uc.query(
        ctx, actor, user=user, case_ref=case_ref, action=action, since=since, until=until, limit=limit, offset=offset
    )
    return {"total": total, "limit": limit, "offset": offset, "entries": entries}


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


@router.get("/audit/verify", response_model=ChainReport, summary="Check the hash chain of the whole audit log")
def verify_audit(ctx: Ctx, actor: Actor = Depends(Caller(audit_uc.verify))) -> dict[str, Any]:
    return audit_uc.verify(ctx, actor).as_dict()
