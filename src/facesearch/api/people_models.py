"""Response and request models of the people routes (`routes_people`).

The answers are the people use cases' own result types (`app.people.results`), so the API says what the
use cases return and nothing is copied by hand; `CorrectionResult` is the one answer shared by every
correction, so its `new_person` is there (null) for the corrections that make nobody new."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from ..app.people import ClusterResult, PeopleList, PersonView, Suggestions, TogetherResult
from ..app.people.results import Correction

__all__ = [
    "ClusterRequest",
    "ClusterResult",
    "CorrectionResult",
    "MergeRequest",
    "MoveRequest",
    "NameRequest",
    "PeopleList",
    "PersonView",
    "SplitRequest",
    "Suggestions",
    "TogetherRequest",
    "TogetherResult",
]


class CorrectionResult(BaseModel):
    """A correction made or undone (`app.people.Corrected`), with the new person of a split or a reject."""

    model_config = ConfigDict(from_attributes=True)

    correction: Correction
    people: list[int]
    new_person: int | None = None


class ClusterRequest(BaseModel):
    collection: str | None = None
    full: bool = False


class NameRequest(BaseModel):
    name: str | None = Field(default=None, max_length=200)


class MergeRequest(BaseModel):
    other: int


class SplitRequest(BaseModel):
    face_ids: list[int] = Field(min_length=1)


class MoveRequest(BaseModel):
    person: int = Field(ge=1, le=2**63 - 1, description="The person to move the face to (a positive 64-bit id).")


class TogetherRequest(BaseModel):
    case_ref: str | None = None
    purpose: str | None = None
    collections: list[str] | None = None
