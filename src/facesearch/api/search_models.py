"""Response models of the JSON API: search, verify and probe detection.

Each derives from the use case's answer (`app.searching`), which holds the engine's (`services.search_results`):
the API adds the links a client follows and copies a match's image id and source URL to the top of the match,
as computed fields, and leaves out what is the server's alone (a match's thumbnail path, the probe's file) or
not part of the API's answer (`calibrated`). Field names are the API's contract; see the `api` package for the
rules all response models follow."""

from __future__ import annotations

from pydantic import Field, computed_field

from ..app.searching import DetectAnswer, DetectedFace, Lead, ProbeSummary, SearchAnswer, VerifyAnswer
from ..services.search_results import FaceCandidates, MatchImage, ProbeFace, SearchThreshold
from .common import image_url, thumbnail_url

__all__ = [
    "DetectResult",
    "DetectedFace",
    "MatchImage",
    "ProbeFace",
    "ProbeInfo",
    "SearchMatch",
    "SearchResult",
    "SearchedFace",
    "ThresholdPoint",
    "VerifyResult",
]


class ThresholdPoint(SearchThreshold):
    calibrated: bool | None = Field(default=None, exclude=True)


class SearchMatch(Lead):
    thumbnail: str = Field(exclude=True, description="Server-side: the API links to the thumbnail instead.")

    @computed_field  # type: ignore[prop-decorator]
    @property
    def image_id(self) -> int:
        return self.image.id

    @computed_field  # type: ignore[prop-decorator]
    @property
    def source_url(self) -> str | None:
        return self.image.source_url

    @computed_field  # type: ignore[prop-decorator]
    @property
    def thumbnail_url(self) -> str:
        return thumbnail_url(self.face_id)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def image_url(self) -> str:
        return image_url(self.image.id)


class SearchedFace(FaceCandidates[SearchMatch]):
    threshold: ThresholdPoint


class ProbeInfo(ProbeSummary):
    path: str | None = Field(default=None, exclude=True)


class SearchResult(SearchAnswer[SearchedFace]):
    probe: ProbeInfo

    @classmethod
    def of(cls, answer: SearchAnswer[FaceCandidates[Lead]]) -> SearchResult:
        """The use case's answer as the API gives it (its fields read as they are, links added)."""
        return cls.model_validate(answer, from_attributes=True)


class VerifyResult(VerifyAnswer):
    @classmethod
    def of(cls, answer: VerifyAnswer) -> VerifyResult:
        return cls.model_validate(answer, from_attributes=True)


class DetectResult(DetectAnswer):
    @classmethod
    def of(cls, answer: DetectAnswer) -> DetectResult:
        return cls.model_validate(answer, from_attributes=True)
