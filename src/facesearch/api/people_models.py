"""Response and request models of the people routes (`routes_people`)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class ImageRef(BaseModel):
    id: int
    path: str | None = None


class PersonFaceRef(BaseModel):
    face_id: int
    image: ImageRef


class PersonSummary(BaseModel):
    id: int
    name: str | None = None
    model: str | None = None
    face_count: int | None = None
    faces: list[PersonFaceRef]


class PeopleList(BaseModel):
    people: list[PersonSummary]


class PersonView(BaseModel):
    id: int
    name: str | None = None
    model: str
    face_count: int
    photos: int
    faces: list[dict[str, Any]]
    corrections: list[dict[str, Any]]
    similar: list[dict[str, Any]]


class TogetherPerson(BaseModel):
    person: int
    name: str | None = None
    photos: int = Field(description="Photos shared with the person searched.")
    images: list[ImageRef]


class TogetherResult(BaseModel):
    person: int
    name: str | None = None
    together: list[TogetherPerson]
    photos: int
    together_id: int = Field(description="The audit entry of this search.")
    case_ref: str
    purpose: str


class CorrectionResult(BaseModel):
    correction: dict[str, Any]
    people: list[int]
    new_person: int | None = None


class ClusterResult(BaseModel):
    passes: list[dict[str, Any]]


class Suggestions(BaseModel):
    suggestions: list[dict[str, Any]]


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
