"""Response models of the JSON API: kill switch, purposes, opt-outs, data-subject access, doctor, purge,
two-person review and case reports.

Field names are the API's contract; see the `api` package for the rules all response models follow."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


# Kill switch, purposes, usage -------------------------------------------------------------------
class Suspension(BaseModel):
    suspended: bool
    by: str | None
    at: str | None
    reason: str | None


class SearchStatus(BaseModel):
    suspended: bool
    suspension: Suspension | None


class PurposeInfo(BaseModel):
    code: str
    description: str
    active: bool
    created_at: str | None
    created_by: str | None
    retired_at: str | None
    retired_by: str | None


class PurposeList(BaseModel):
    purposes: list[PurposeInfo]


class UsageRow(BaseModel):
    purpose: str | None = Field(default=None, description="The purpose code (when by=purpose).")
    case: str | None = Field(default=None, description="The case reference (when by=case).")
    searches: int
    verifies: int
    refused: int
    users: dict[str, int] = Field(description="Searches and verifies per user.")
    no_candidates: int
    proposed: int
    confirmed: int
    rejected: int


class UsageReport(BaseModel):
    by: str
    rows: list[UsageRow]


# Opt-outs, data-subject access, doctor, purge ---------------------------------------------------
class ErasureCounts(BaseModel):
    images: int
    faces: int
    thumbnails: int
    uploads: int
    probes: int


class OptOutPack(ErasureCounts):
    threshold: float = Field(description="Strict threshold: faces at or above it were erased.")
    threshold_reason: str
    review_threshold: float = Field(
        description="Looser threshold: faces from it up to the strict one are listed in `to_review`, not erased."
    )
    review_threshold_reason: str
    to_review: int = Field(description="How many faces of this pack are listed in `to_review`.")
    miss_rate: float = Field(
        description="The pack table's false non-match rate at the strict threshold: the "
        "share of photos of the same person that score below it."
    )
    miss_text: str = Field(description="`miss_rate` in words.")


class OptOutReviewFace(BaseModel):
    face_id: int
    image_id: int
    collection: str
    model: str
    path: str | None
    source_url: str | None
    score: float = Field(description="Best score against the opt-out photos.")
    fmr: float
    fmr_text: str


class OptOutResult(BaseModel):
    optout_id: int
    reference: str
    photos: int
    packs: dict[str, OptOutPack] = Field(
        description="Per model pack: thresholds used, what was erased, how likely a miss is."
    )
    erased: ErasureCounts
    to_review: list[OptOutReviewFace] = Field(
        description="Faces between the review and the strict threshold, "
        "best first: NOT erased; an operator decides (`facesearch optout "
        "erase-face`, or DELETE /api/v1/images/{id})."
    )


class OptOutInfo(BaseModel):
    id: int
    reference: str
    photos: int
    templates: int
    created_at: str | None
    created_by: str | None


class OptOutList(BaseModel):
    optouts: list[OptOutInfo]


class SubjectThreshold(BaseModel):
    score: float | None = None
    reason: str | None = None
    error: str | None = Field(default=None, description="Set (alone) when no face was found with this pack.")


class SubjectMatch(BaseModel):
    face_id: int
    score: float
    fmr: float
    model: str
    collection: str
    image_id: int
    path: str | None
    source_url: str | None
    box: list[float]


class SubjectReport(BaseModel):
    reference: str = Field(
        description="The data-subject request's reference, as logged (the audit entry's case reference)."
    )
    probe_sha256: str
    thresholds: dict[str, SubjectThreshold]
    matches: list[SubjectMatch]
    images: int
    collections: list[str]


class DoctorReport(BaseModel):
    ok: bool
    orphans: int
    counts: dict[str, int]
    examples: dict[str, list[Any]] = Field(description="Up to 20 examples of each kind of orphan found.")
    fixed: bool
    collections: int
    faces: int


class PurgedCollection(ErasureCounts):
    collection: str
    retention_days: int
    cutoff: str
    image_ids: list[int]


class PurgeReport(BaseModel):
    now: str
    collections: list[PurgedCollection]
    erased: ErasureCounts
    expired_probes: int


# Two-person review ------------------------------------------------------------------------------
class ProposalInfo(BaseModel):
    id: int
    search_id: int
    probe_face: int
    face_id: int
    case_ref: str | None
    status: str = Field(description="proposed, confirmed or rejected.")
    proposed_by: str
    proposed_at: str | None
    note: str
    decided_by: str | None
    decided_at: str | None
    decision_note: str | None
    candidate: dict[str, Any] | None


class ProposalList(BaseModel):
    proposals: list[ProposalInfo]


class RecordedCandidate(BaseModel):
    """A candidate of a past search as its audit entry recorded it, with its review history (older entries
    may carry more fields)."""

    model_config = ConfigDict(extra="allow")

    probe_face: int
    rank: int | None = None
    face_id: int
    image_id: int | None = None
    collection: str | None = None
    score: float | None = None
    fmr: float | None = None
    status: str
    stamp: str | None
    history: list[ProposalInfo]


class ReviewCandidate(RecordedCandidate):
    thumbnail_url: str


class SearchView(BaseModel):
    search_id: int
    case_ref: str | None
    purpose: str | None
    actor: str | None
    ts: str
    model: str | None
    threshold: float | None
    probe_sha256: str | None
    candidates: list[ReviewCandidate]
    stamp: str


# Case report ------------------------------------------------------------------------------------
class CaseSummary(BaseModel):
    searches: int
    verifies: int
    no_candidates: int
    candidates: int
    proposed: int
    confirmed: int
    rejected: int
    refused: int


class CaseProbeFace(BaseModel):
    face: int | None
    quality: float | None
    quality_reasons: list[str] | None
    skipped: str | None
    model: str | None
    model_version: str | None


class CaseCandidate(RecordedCandidate):
    erased: bool = Field(description="The face has been erased since (no thumbnail then).")
    thumbnail_url: str | None


class CaseSearch(BaseModel):
    search_id: int
    kind: str = Field(description="search or verify.")
    ts: str
    actor: str | None
    role: str | None
    purpose: str | None
    outcome: str
    probe_sha256: str | None
    collections: list[Any] | None
    model: str | None
    threshold: float | None
    threshold_fmr: float | None
    threshold_reason: str | None
    gallery_size: int | None
    candidates: list[CaseCandidate]
    probe_faces: list[CaseProbeFace]
    refusal: str | None = Field(default=None, description="Why it was refused (refused ones only).")
    no_candidates: bool | None = Field(default=None, description="Searches only.")
    verify: dict[str, Any] | None = Field(default=None, description="Verifies only: score, fmr, same_person.")
    quality: list[float] | None = Field(default=None, description="Verifies only.")
    model_version: str | None = Field(default=None, description="Verifies only.")


class ModelLimitations(BaseModel):
    model: str
    error: str | None = Field(default=None, description="Set (alone) when the calibration table is missing.")
    model_version: str | None = None
    calibration_dataset: str | None = None
    method: str | None = None
    genuine_pairs: int | None = None
    impostor_pairs: int | None = None
    lowest_measurable_fmr: float | None = None
    policy: str | None = None
    at_threshold: dict[str, Any] | None = None
    groups: dict[str, Any] | None = None
    groups_source: str | None = None
    known_flaws: list[str] | None = None


class CaseReport(BaseModel):
    case_ref: str
    generated_at: str
    stamp: str
    summary: CaseSummary
    searches: list[CaseSearch]
    limitations: list[ModelLimitations]
    notice: str
