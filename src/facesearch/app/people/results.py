"""What the people use cases return: frozen dataclasses, built once, complete, by the use case.

Their field names are the JSON keys of the API (`api/people_models.py` answers with these types) and of the
command line's `--json`. A clustering pass's own record (`ClusterPass`) comes from the mechanism that ran it
(`services.people_passes`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from pydantic import Field

from ...services.people_passes import ClusterPass
from ...store.people_tables import PersonCorrection

# Clustering -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClusterResult:
    passes: list[ClusterPass]  # one per model pack


# Listing and showing people ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ImageRef:
    id: int
    path: str | None


@dataclass(frozen=True)
class PersonFaceRef:
    face_id: int
    image: ImageRef


@dataclass(frozen=True)
class PersonSummary:
    id: int
    name: str | None
    model: str
    face_count: int  # faces in the collections listed
    faces: list[PersonFaceRef]  # best quality first: the first is the one a grid shows


@dataclass(frozen=True)
class PeopleList:
    people: list[PersonSummary]


@dataclass(frozen=True)
class FaceImage:
    id: int
    path: str | None
    collection: str


@dataclass(frozen=True)
class ShownFace:
    face_id: int
    quality: float | None
    box: list[float]
    thumbnail: str | None
    image: FaceImage


@dataclass(frozen=True)
class Correction:
    id: int
    kind: str  # name, merge, split, move, reject
    actor: str
    at: str | None  # ISO 8601
    name: str | None  # the name given (kind "name")
    faces: list[int]
    undone_at: str | None
    undone_by: str | None

    @classmethod
    def of(cls, c: PersonCorrection) -> Correction:
        return cls(
            id=c.id,
            kind=c.kind,
            actor=c.actor,
            at=c.created_at.isoformat() if c.created_at else None,
            name=c.name,
            faces=[int(f) for f in c.faces],
            undone_at=c.undone_at.isoformat() if c.undone_at else None,
            undone_by=c.undone_by,
        )


@dataclass(frozen=True)
class SimilarPerson:
    person: int
    name: str | None
    score: float  # similarity of the two templates
    face_count: int


@dataclass(frozen=True)
class PersonView:
    id: int
    name: str | None
    model: str
    face_count: int
    photos: int
    faces: list[ShownFace]  # best quality first
    corrections: list[Correction]  # every correction about these faces, oldest first
    similar: list[SimilarPerson]  # most alike first


@dataclass(frozen=True)
class SuggestedPerson:
    id: int
    name: str | None
    face_count: int


@dataclass(frozen=True)
class Suggestion:
    a: SuggestedPerson
    b: SuggestedPerson
    score: float


@dataclass(frozen=True)
class Suggestions:
    suggestions: list[Suggestion]  # most similar first


@dataclass(frozen=True)
class PersonRef:
    """A person found by id or exact name."""

    id: int
    name: str | None


# Corrections -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Corrected:
    """A correction made (or undone), and the people it changed."""

    correction: Correction
    people: list[int]


@dataclass(frozen=True)
class CorrectedIntoNewPerson(Corrected):
    """A split or a "not this person": the faces taken out became a new person."""

    new_person: int


# Searches by person ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TogetherMoment:
    """A stretch of a video in which two people were on screen in the same frame: the video, and the times
    (seconds from its start) at which both tracks were being followed."""

    image: ImageRef
    start: float
    end: float
    track: Annotated[int, Field(description="The person searched's track in the video.")]
    other_track: Annotated[int, Field(description="This person's track, seen in the same frame.")]


def _none(value: object) -> bool:
    return value is None


@dataclass(frozen=True)
class TogetherPerson:
    """Someone who appears with the person searched: in the same photos, and (videos) in the same frame. The
    video keys are there only when there is something to say."""

    person: int
    name: str | None
    photos: Annotated[int, Field(description="Photos shared with the person searched.")]
    images: list[ImageRef]
    videos: Annotated[
        int | None,
        Field(
            exclude_if=_none,
            description="Videos in which both were on screen in the same frame (co-appearance in a video counts "
            "only so; being in the same video at other times does not).",
        ),
    ] = None
    moments: Annotated[
        list[TogetherMoment] | None,
        Field(exclude_if=_none, description="When, in those videos, they were seen together."),
    ] = None


@dataclass(frozen=True)
class TogetherResult:
    person: int
    name: str | None
    together: list[TogetherPerson]  # most shared photos and videos first
    photos: int  # the person's photos searched
    together_id: Annotated[int, Field(description="The audit entry of this search.")]
    case_ref: str
    purpose: str
