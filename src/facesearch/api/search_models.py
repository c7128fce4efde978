"""Response models of the JSON API: search, verify and probe detection.

Field names are the API's contract; see the `api` package for the rules all response models follow."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


# Search, verify, detect -------------------------------------------------------------------------
class ThresholdPoint(BaseModel):
    score: float = Field(description="Score threshold.")
    fmr: float = Field(description="False-match rate at the threshold.")
    fmr_text: str | None = Field(
        default=None, description="The false-match rate in words: '1 in 4,300,000 different people score this high'."
    )
    reason: str = Field(description="Where the threshold comes from.")


class MatchImage(BaseModel):
    id: int
    path: str | None
    source_url: str | None
    sha256: str
    metadata: dict[str, Any]


class SearchMatch(BaseModel):
    rank: int
    score: float
    fmr: float = Field(
        description="False-match rate of this score: the share of different people who score "
        "this high. Not the chance that the candidate is the probe's person."
    )
    fmr_text: str = Field(
        description="The false-match rate in words: '1 in 4,300,000 different people score this high'."
    )
    expected_false_matches: float = Field(
        description="fmr x the faces of this pack that the probe was compared "
        "with: how many such scores chance alone would give."
    )
    above_threshold: bool
    decision: str = Field(description="`above threshold` or `below threshold`, the same test as `above_threshold`.")
    face_id: int
    image_id: int
    collection: str
    source_url: str | None
    box: list[float]
    quality: float
    thumbnail_url: str
    image_url: str
    image: MatchImage
    status: str = Field(description="Review status: `lead` for a new search.")
    stamp: str | None = Field(description="The lead stamp; null only once confirmed by two examiners.")


class ProbeFace(BaseModel):
    """A face found in a probe photo, as the engine describes it for a search or a verify."""

    face: int = Field(description="Probe face number, 0 = largest.")
    box: list[float]
    landmarks: list[list[float]]
    detection_score: float
    quality: float
    quality_reasons: list[str]
    model: str
    model_version: str


class SearchedFace(ProbeFace):
    threshold: ThresholdPoint
    gallery_size: int | None = Field(
        default=None,
        description="Faces this probe face was compared with: those of "
        "the collections built with this model pack (the threshold is set for them).",
    )
    collections: list[str] | None = Field(default=None, description="The collections searched with this pack.")
    skipped: str | None = Field(default=None, description="Why this face was not searched (only when it was not).")
    matches: list[SearchMatch]


class ProbeInfo(BaseModel):
    label: str
    sha256: str
    width: int
    height: int


class SearchResult(BaseModel):
    search_id: int = Field(description="Sequence number of the search's audit entry.")
    case_ref: str
    purpose: str
    probe_sha256: str
    stamp: str
    gallery_size: int = Field(
        description="Faces in all the collections searched (each pack's probe is compared "
        "only with its own pack's faces: see each face's `gallery_size`)."
    )
    collections: list[str]
    faces: list[SearchedFace] = Field(
        description="One entry per model pack searched (and per probe face with `all_faces`)."
    )
    seconds: float = Field(description="Time spent in the search engine.")
    probe: ProbeInfo


class VerifiedFace(ProbeFace):
    pass


class VerifyResult(BaseModel):
    verify_id: int = Field(description="Sequence number of the verify's audit entry.")
    case_ref: str
    purpose: str
    probe_sha256: list[str] = Field(description="SHA-256 of the first and the second photo.")
    score: float
    fmr: float = Field(description="False-match rate of the score: the share of different people who score this high.")
    fmr_text: str = Field(description="The false-match rate in words.")
    threshold: float
    threshold_fmr: float
    threshold_fmr_text: str | None = None
    threshold_reason: str
    same_person: bool = Field(description="Score at or above the threshold.")
    decision: str = Field(description="`above threshold` or `below threshold`.")
    model: str
    model_version: str
    faces: list[VerifiedFace]


class DetectedFace(BaseModel):
    face: int
    box: list[float]
    quality: float
    quality_reasons: list[str]
    searchable: bool


class DetectResult(BaseModel):
    width: int
    height: int
    model: str
    faces: list[DetectedFace]
