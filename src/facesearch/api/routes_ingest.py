"""Ingest through the API: a server-side folder or manifest, or uploaded files (photos and videos); runs as a
background job."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Query, UploadFile

from ..app import jobs
from ..app.context import Actor
from ..errors import CollectionError
from ..http.deps import Caller
from ..http.problems import Problem
from ..http.uploads import takes_uploads, upload_of
from .common import Ctx
from .ingest_models import IngestRunList, JobList, JobStarted, JobStatus, JobSummary

router = APIRouter(prefix="/api/v1", tags=["ingest"])


@router.post(
    "/ingest",
    status_code=202,
    response_model=JobStarted,
    summary="Start an ingest job (server-side path or uploaded files)",
)
@takes_uploads(batch=True)
def start_ingest(
    ctx: Ctx,
    collection: Annotated[str, Form(min_length=1, max_length=200)],
    path: Annotated[str | None, Form(description="A folder or file on the server.")] = None,
    manifest: Annotated[str | None, Form(description="A CSV manifest on the server.")] = None,
    files: Annotated[list[UploadFile] | None, File(description="Photos and videos to upload.")] = None,
    model: Annotated[str | None, Form()] = None,
    video_fps: Annotated[
        float | None,
        Form(gt=0, le=60, description="Frames analysed per second of video (default FACESEARCH_VIDEO_FPS)."),
    ] = None,
    actor: Actor = Depends(Caller(jobs.start_job)),
) -> JobStatus:
    uploads = [upload_of(f) for f in files or [] if f.filename]  # a browser sends an empty part for no file
    try:
        job = jobs.start_job(
            ctx, actor, collection, path=path, manifest=manifest, files=uploads, model=model, video_fps=video_fps
        )
    except CollectionError as exc:  # point API clients at the route that creates a collection
        raise Problem(422, "Collection problem", f"{exc} (or POST /api/v1/collections)") from exc
    return job


@router.get("/jobs", response_model=JobList, summary="Ingest jobs started by this server process")
def list_jobs(ctx: Ctx, actor: Actor = Depends(Caller(jobs.list_jobs))) -> JobList:
    # Summaries only (a JobList serialises each as a JobSummary): failures are listed per job at /jobs/{id}.
    summaries: list[JobSummary] = list(jobs.list_jobs(ctx, actor))
    return JobList(jobs=summaries)


@router.get("/jobs/{job_id}", response_model=JobStatus, summary="Progress and failures of an ingest job")
def get_job(job_id: str, ctx: Ctx, actor: Actor = Depends(Caller(jobs.get_job))) -> JobStatus:
    return jobs.get_job(ctx, actor, job_id)


@router.get(
    "/ingest/runs",
    response_model=IngestRunList,
    summary="Recent ingest runs from the database, whoever started them (CLI included)",
)
def list_runs(
    ctx: Ctx, limit: Annotated[int, Query(ge=1, le=500)] = 20, actor: Actor = Depends(Caller(jobs.list_runs))
) -> IngestRunList:
    return IngestRunList(runs=jobs.list_runs(ctx, actor, limit))
