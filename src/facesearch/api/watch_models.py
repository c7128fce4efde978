"""Response models of the watch, authorisation and reviewer routes: the use cases' own result types, and the
lists that hold them. See the `api` package for the rules all response models follow."""

from __future__ import annotations

from pydantic import BaseModel, Field

from ..app.authorisations import AuthorisationDocument, AuthorisationInfo, PurposeYear, PurposeYearReport
from ..app.review import ProposalInfo
from ..app.watches import HitImage, WatchHit, WatchInfo

__all__ = [
    "AuthorisationDocument",
    "AuthorisationInfo",
    "AuthorisationList",
    "HitImage",
    "HitList",
    "ProposalInfo",
    "PurposeYear",
    "PurposeYearReport",
    "Unseen",
    "WatchHit",
    "WatchInfo",
    "WatchList",
]


class WatchList(BaseModel):
    watches: list[WatchInfo]


class HitList(BaseModel):
    hits: list[WatchHit] = Field(description="As `facesearch watch hits --json` prints them, oldest first.")


class Unseen(BaseModel):
    unseen: int = Field(description="Hits of the caller's watches they have not seen yet.")


class AuthorisationList(BaseModel):
    authorisations: list[AuthorisationInfo]
