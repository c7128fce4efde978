"""Response models of the JSON API: ingest jobs and runs.

Field names are the API's contract; see the `api` package for the rules all response models follow."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


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
