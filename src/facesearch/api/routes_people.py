"""People routes: clustering, people and their faces, corrections, and `together` (a gated search)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from ..app import people
from ..app.context import Actor
from ..http.deps import Caller
from .common import Ctx, Id
from .people_models import (
    ClusterRequest,
    ClusterResult,
    CorrectionResult,
    MergeRequest,
    MoveRequest,
    NameRequest,
    PeopleList,
    PersonView,
    SplitRequest,
    Suggestions,
    TogetherRequest,
    TogetherResult,
)

router = APIRouter(prefix="/api/v1/people", tags=["people"])

# Browsing people is a search: every view names its case and purpose (the search gate, audited).
CaseRef = Annotated[str | None, Query(max_length=200, description="The case reference (required).")]
Purpose = Annotated[str | None, Query(max_length=1000, description="An allowed purpose (required).")]


@router.post("/cluster", response_model=ClusterResult, summary="Group faces into people (incremental or full)")
def cluster(body: ClusterRequest, ctx: Ctx, actor: Actor = Depends(Caller(people.cluster))) -> people.ClusterResult:
    return people.cluster(ctx, actor, collection=body.collection, full=body.full)


@router.get("", response_model=PeopleList, summary="People with their faces, most faces first")
def list_people(
    ctx: Ctx,
    collection: str | None = None,
    min_faces: int = 1,
    case_ref: CaseRef = None,
    purpose: Purpose = None,
    actor: Actor = Depends(Caller(people.list_people)),
) -> people.PeopleList:
    return people.list_people(
        ctx, actor, collection=collection, min_faces=min_faces, case_ref=case_ref, purpose=purpose
    )


@router.get("/suggestions", response_model=Suggestions, summary="Pairs of people that may be one person")
def suggestions(
    ctx: Ctx, case_ref: CaseRef = None, purpose: Purpose = None, actor: Actor = Depends(Caller(people.suggestions))
) -> people.Suggestions:
    return people.suggestions(ctx, actor, case_ref=case_ref, purpose=purpose)


@router.get("/{person_id}", response_model=PersonView, summary="A person's faces, corrections, similar people")
def show(
    person_id: Id,
    ctx: Ctx,
    case_ref: CaseRef = None,
    purpose: Purpose = None,
    actor: Actor = Depends(Caller(people.show_person)),
) -> people.PersonView:
    return people.show_person(ctx, actor, person_id, case_ref=case_ref, purpose=purpose)


@router.post("/{person_id}/name", response_model=CorrectionResult, summary="Name a person")
def name(
    person_id: Id, body: NameRequest, ctx: Ctx, actor: Actor = Depends(Caller(people.name_person))
) -> people.Corrected:
    return people.name_person(ctx, actor, person_id, body.name)


@router.post("/{person_id}/merge", response_model=CorrectionResult, summary="Merge another person into this one")
def merge(
    person_id: Id, body: MergeRequest, ctx: Ctx, actor: Actor = Depends(Caller(people.merge_people))
) -> people.Corrected:
    return people.merge_people(ctx, actor, person_id, body.other)


@router.post("/{person_id}/split", response_model=CorrectionResult, summary="Split faces off into a new person")
def split(
    person_id: Id, body: SplitRequest, ctx: Ctx, actor: Actor = Depends(Caller(people.split_person))
) -> people.Corrected:
    return people.split_person(ctx, actor, person_id, body.face_ids)


@router.post("/faces/{face_id}/move", response_model=CorrectionResult, summary="Move a face to a person")
def move(
    face_id: Id, body: MoveRequest, ctx: Ctx, actor: Actor = Depends(Caller(people.move_face))
) -> people.Corrected:
    return people.move_face(ctx, actor, face_id, body.person)


@router.post("/{person_id}/reject/{face_id}", response_model=CorrectionResult, summary="Not this person")
def reject(
    person_id: Id, face_id: Id, ctx: Ctx, actor: Actor = Depends(Caller(people.reject_face))
) -> people.Corrected:
    return people.reject_face(ctx, actor, person_id, face_id)


@router.post("/corrections/{correction_id}/undo", response_model=CorrectionResult, summary="Undo a correction")
def undo(correction_id: Id, ctx: Ctx, actor: Actor = Depends(Caller(people.undo))) -> people.Corrected:
    return people.undo(ctx, actor, correction_id)


@router.post(
    "/{person_id}/together",
    response_model=TogetherResult,
    summary="Who appears in the same photos (a search: case reference and purpose required)",
)
def together(
    person_id: Id, body: TogetherRequest, ctx: Ctx, actor: Actor = Depends(Caller(people.together))
) -> people.TogetherResult:
    return people.together(
        ctx, actor, person_id, case_ref=body.case_ref, purpose=body.purpose, collections=body.collections
    )
