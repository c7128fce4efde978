"""Response models of the JSON API: accounts and tokens.

Field names are the API's contract; see the `api` package for the rules all response models follow."""

from __future__ import annotations

from pydantic import BaseModel, Field


# Accounts ---------------------------------------------------------------------------------------
class UserInfo(BaseModel):
    name: str
    role: str
    disabled: bool
    created_at: str | None


class UserList(BaseModel):
    users: list[UserInfo]
    roles: list[str]


class TokenInfo(BaseModel):
    id: int
    user: str
    label: str
    prefix: str
    created_at: str | None
    revoked: bool


class TokenList(BaseModel):
    tokens: list[TokenInfo]


class NewTokenResult(BaseModel):
    id: int
    user: str
    token: str = Field(description="The token itself, shown this once.")


class Revoked(BaseModel):
    revoked: int
