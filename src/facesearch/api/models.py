"""Response models of the JSON API: what every answer holds, so `/openapi.json` describes it. Field names are
the API's contract; they match what the routes answered before the application layer was split out.

Optional fields without a value in the answer (e.g. `skipped` on a probe face that was searched) are left
out, not sent as null: routes that return such models set `response_model_exclude_unset=True`.
Only answers that carry stored, open-ended data (audit log content) accept fields not listed here."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


# System -----------------------------------------------------------------------------------------
class Health(BaseModel):
    status: str = Field(description="Always `ok`.")
    version: str


class Me(BaseModel):
    name: str
    role: str
    via: str = Field(description="How the caller signed in: `session` or `token`.")


# Search, verify, detect -------------------------------------------------------------------------
class ThresholdPoint(BaseModel):
    score: float = Field(description="Score threshold.")
    fmr: float = Field(description="False-match rate at the threshold.")
    fmr_text: str | None = Field(default=None, description="The false-match rate in words: "
                                 "'1 in 4,300,000 different people score this high'.")
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
    fmr: float = Field(description="False-match rate of this score: the share of different people who score "
                            "this high. Not the chance that the candidate is the probe's person.")
    fmr_text: str = Field(description="The false-match rate in words: '1 in 4,300,000 different people score "
                                      "this high'.")
    expected_false_matches: float = Field(description="fmr x the faces of this pack that the probe was compared "
                                                      "with: how many such scores chance alone would give.")
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
    gallery_size: int | None = Field(default=None, description="Faces this probe face was compared with: those of "
                                     "the collections built with this model pack (the threshold is set for them).")
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
    gallery_size: int = Field(description="Faces in all the collections searched (each pack's probe is compared "
                                          "only with its own pack's faces: see each face's `gallery_size`).")
    collections: list[str]
    faces: list[SearchedFace] = Field(description="One entry per model pack searched (and per probe face with "
                                                  "`all_faces`).")
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


# Gallery ----------------------------------------------------------------------------------------
class CollectionFields(BaseModel):
    name: str
    model: str
    model_version: str
    created_at: str | None
    source: str | None
    legal_basis: str | None
    legal_basis_note: str | None
    owner: str | None
    retention_days: int | None
    keep_until_deleted: bool
    description: str | None
    problems: list[str] = Field(description="What the collection lacks before it may take photos.")


class CollectionInfo(CollectionFields):
    images: int
    faces: int


class CollectionList(BaseModel):
    collections: list[CollectionInfo]


class CreatedCollection(CollectionFields):
    dim: int = Field(description="Embedding dimension of the collection's model pack.")


class ImageFace(BaseModel):
    face_id: int
    face: int
    box: list[float]
    quality: float
    detection_score: float
    thumbnail_url: str


class ImageView(BaseModel):
    id: int
    collection: str
    sha256: str
    path: str | None
    source_url: str | None
    metadata: dict[str, Any]
    width: int
    height: int
    ingested_at: str | None
    file_url: str
    faces: list[ImageFace]


class ImageErased(BaseModel):
    image_id: int
    images: int
    faces: int
    thumbnails: int
    upload_removed: bool


# Ingest jobs ------------------------------------------------------------------------------------
class JobFailure(BaseModel):
    path: str
    reason: str
    detail: str | None


class JobSummary(BaseModel):
    id: str
    status: str = Field(description="queued, running, done or failed.")
    collection: str
    source: str
    user: str
    total: int
    processed: int
    progress: float
    counts: dict[str, Any]
    failures_total: int
    error: str | None
    ingest_job_id: int | None
    created: str | None
    started: str | None
    finished: str | None
    seconds: float
    images_per_second: float | None


class JobStatus(JobSummary):
    failures: list[JobFailure]


class JobStarted(JobStatus):
    job_id: str
    status_url: str


class JobList(BaseModel):
    jobs: list[JobSummary]


class IngestRun(BaseModel):
    id: int = Field(description="The run's id in the database (a job's `ingest_job_id`).")
    collection: str
    source: str = Field(description="`path:…`, `manifest:…` or `upload:N files`.")
    model: str
    status: str = Field(description="running, done or failed (a run whose process died stays `running`).")
    counts: dict[str, Any]
    started: str | None
    finished: str | None


class IngestRunList(BaseModel):
    runs: list[IngestRun]


# Accounts ---------------------------------------------------------------------------------------
class UserInfo(BaseModel):
    name: str
    role: str
    disabled: bool
    created_at: str | None


class UserList(BaseModel):
    users: list[UserInfo]
    roles: list[str]


class TokenInfo(BaseModel):
    id: int
    user: str
    label: str
    prefix: str
    created_at: str | None
    revoked: bool


class TokenList(BaseModel):
    tokens: list[TokenInfo]


class NewTokenResult(BaseModel):
    id: int
    user: str
    token: str = Field(description="The token itself, shown this once.")


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
    review_threshold: float = Field(description="Looser threshold: faces from it up to the strict one are listed "
                                    "in `to_review`, not erased.")
    review_threshold_reason: str
    to_review: int = Field(description="How many faces of this pack are listed in `to_review`.")
    miss_rate: float = Field(description="The pack table's false non-match rate at the strict threshold: the "
                             "share of photos of the same person that score below it.")
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
    packs: dict[str, OptOutPack] = Field(description="Per model pack: thresholds used, what was erased, how "
                                         "likely a miss is.")
    erased: ErasureCounts
    to_review: list[OptOutReviewFace] = Field(description="Faces between the review and the strict threshold, "
                                              "best first: NOT erased; an operator decides (`facesearch optout "
                                              "erase-face`, or DELETE /api/v1/images/{id}).")


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
    reference: str = Field(description="The data-subject request's reference, as logged (the audit entry's "
                           "case reference).")
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
