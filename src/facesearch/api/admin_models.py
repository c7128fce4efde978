"""Response models of the JSON API: accounts, tokens and the audit log.

Field names are the API's contract; see the `api` package for the rules all response models follow."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ..app.accounts import CreatedToken, TokenInfo, UserInfo


# Accounts: the use cases' results (app/accounts.py), and the lists that carry them ---------------
class UserList(BaseModel):
    users: list[UserInfo]
    roles: list[str]


class TokenList(BaseModel):
    tokens: list[TokenInfo]


class NewTokenResult(CreatedToken):
    """`create_token`'s answer, under the name clients know it by."""

    model_config = ConfigDict(from_attributes=True)


class Revoked(BaseModel):
    revoked: int


# Audit log --------------------------------------------------------------------------------------
class AuditEntry(BaseModel):
    seq: int
    ts: str
    actor: str | None
    role: str | None
    action: str
    outcome: str
    ip: str | None
    case_ref: str | None
    purpose: str | None
    collections: list[Any] | None
    model: str | None
    threshold: float | None
    probe_sha256: str | None
    results: Any = Field(description="What came back (free-form, depends on the action).")
    details: Any = Field(description="Further detail (free-form, depends on the action).")
    prev_hash: str
    hash: str


class AuditPage(BaseModel):
    total: int
    limit: int
    offset: int
    entries: list[AuditEntry]


class AuditExport(BaseModel):
    exported_at: str
    since: str | None
    until: str | None
    count: int
    entries: list[AuditEntry]


class ChainReport(BaseModel):
    ok: bool
    entries: int
    head_seq: int
    head_hash: str
    problems: list[str]
