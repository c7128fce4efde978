"""Ingest through the API: a server-side folder or manifest, or uploaded files; runs as a background job."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Query, UploadFile

from ..app import jobs
from ..app.context import Actor
from ..errors import CollectionError
from ..http.deps import Caller
from ..http.problems import Problem
from ..http.uploads import upload_of
from .common import Ctx, status_url
from .ingest_models import IngestRunList, JobList, JobStarted, JobStatus

router = APIRouter(prefix="/api/v1", tags=["ingest"])


@router.post(
    "/ingest",
    status_code=202,
    response_model=JobStarted,
    summary="Start an ingest job (server-side path or uploaded files)",
)
def start_ingest(
    ctx: Ctx,
    collection: Annotated[str, Form(min_length=1, max_length=200)],
    path: Annotated[str | None, Form(description="A folder or file on the server.")] = None,
    manifest: Annotated[str | None, Form(description="A CSV manifest on the server.")] = None,
    files: Annotated[list[UploadFile] | None, File(description="Photos to upload.")] = None,
    model: Annotated[str | None, Form()] = None,
    actor: Actor = Depends(Caller(jobs.start_job)),
) -> dict[str, Any]:
    uploads = [upload_of(f) for f in files or [] if f.filename]  # a browser sends an empty part for no file
    try:
        job = jobs.start_job(ctx, actor, collection, path=path, manifest=manifest, files=uploads, model=model)
    except CollectionError as exc:  # point API clients at the route that creates a collection
        raise Problem(422, "Collection problem", f"{exc} (or POST /api/v1/collections)") from exc
    return {"job_id": job.id, "status_url": status_url(job.id), **job.as_dict()}


@router.get("/jobs", response_model=JobList, summary="Ingest jobs started by this server process")
def list_jobs(ctx: Ctx, actor: Actor = Depends(Caller(jobs.list_jobs))) -> dict[str, Any]:
    listed = []
    for j in jobs.list_jobs(ctx, actor):
        d = j.as_dict()
        d.pop("failures")  # listed per job at /jobs/{id}
        listed.append(d)
    return {"jobs": listed}


@router.get("/jobs/{job_id}", response_model=JobStatus, summary="Progress and failures of an ingest job")
def get_job(job_id: str, ctx: Ctx, actor: Actor = Depends(Caller(jobs.get_job))) -> dict[str, Any]:
    return jobs.get_job(ctx, actor, job_id).as_dict()


@router.get(
    "/ingest/runs",
    response_model=IngestRunList,
    summary="Recent ingest runs from the database, whoever started them (CLI included)",
)
def list_runs(
    ctx: Ctx, limit: Annotated[int, Query(ge=1, le=500)] = 20, actor: Actor = Depends(Caller(jobs.list_runs))
) -> dict[str, Any]:
    return {"runs": jobs.list_runs(ctx, actor, limit)}
