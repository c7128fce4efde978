"""Response models of the JSON API: accounts, tokens and the audit log.

Field names are the API's contract; see the `api` package for the rules all response models follow."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

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
