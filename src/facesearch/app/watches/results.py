"""What the watch use cases answer. `WatchHit` holds exactly the keys of `facesearch watch hits --json` (and
of the API's hits), `video` only for a face from a video, as search results carry it."""

from __future__ import annotations

from pydantic import BaseModel, Field

from ...services.search_results import VideoTime, absent


class WatchInfo(BaseModel):
    """A standing search: under which case and purpose, whose, until when, and what it has found."""

    id: int
    case: str
    purpose: str
    owner: str
    created_at: str | None
    until: str | None
    status: str = Field(description="active, stopped or expired.")
    ended_at: str | None
    ended_by: str | None
    end_reason: str | None
    threshold: float | None = Field(description="Set by the examiner; null: the search's own 1:N decision.")
    collections: list[str] | None = Field(description="The collections it covers; null: every collection.")
    face: int = Field(description="The probe face it looks for (0 = largest).")
    probe_sha256: str
    models: list[str] = Field(description="The model packs it holds the probe face's template for.")
    webhook: bool = Field(description="Whether it calls a webhook of its own (the URL is never shown).")
    hits: int
    unseen: int = Field(description="Hits its owner has not seen yet.")


class HitImage(BaseModel):
    id: int
    path: str | None
    source_url: str | None


class WatchHit(BaseModel):
    """A new face at or above a watch's threshold: a lead under the watch's case, until two examiners confirm
    it."""

    watch: int
    case: str
    face_id: int
    image: HitImage
    score: float
    decision: str = Field(description="`above threshold`: a hit is made at or above the watch's threshold.")
    fmr: float = Field(description="False-match rate of the score: the share of different people who score this high.")
    ingest_job: int | None = Field(description="The ingest run that stored the face.")
    at: str = Field(description="When the hit was found (ISO 8601).")
    video: VideoTime | None = Field(
        default=None,
        exclude_if=absent,
        description="Only for a face from a video (whose file is `image`): when it was seen, and its track.",
    )


class HitReview(BaseModel):
    """A hit with its lead: the id the two-person review refers to and where the review stands."""

    hit: WatchHit
    lead_id: int
    status: str = Field(description="lead, proposed, confirmed or rejected.")
    thumbnail: str | None = Field(description="The face's thumbnail, relative to the home's thumbnail folder.")
