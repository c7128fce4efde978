"""Accounts (admin) and the audit log (auditor)."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from ..app import accounts
from ..app.accounts import CreatedToken, UserInfo
from ..app.context import Actor
from ..http.deps import Caller
from ..vocabulary import ROLES
from .admin_models import NewTokenResult, Revoked, TokenList, UserList
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
