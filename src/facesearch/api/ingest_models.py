"""Response models of the JSON API: ingest jobs and runs.

A job's status and summary are what the job queue reports (services/jobqueue.py), a run what the database
recorded (app/jobs.py); a started job adds where to poll it. Field names are the API's contract; see the `api`
package for the rules all response models follow."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, computed_field

from ..app.jobs import IngestRun
from ..services.jobqueue import JobFailure, JobStatus, JobSummary
from .common import status_url

__all__ = ["IngestRun", "IngestRunList", "JobFailure", "JobList", "JobStarted", "JobStatus", "JobSummary"]


# Ingest jobs ------------------------------------------------------------------------------------
class JobStarted(JobStatus):
    model_config = ConfigDict(from_attributes=True)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def job_id(self) -> str:
        return self.id

    @computed_field  # type: ignore[prop-decorator]
    @property
    def status_url(self) -> str:
        return status_url(self.id)


class JobList(BaseModel):
    jobs: list[JobSummary]


class IngestRunList(BaseModel):
    runs: list[IngestRun]
