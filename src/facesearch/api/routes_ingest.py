"""Ingest through the API: a server-side folder or manifest, or uploaded files; runs as a background job."""

import re
import uuid
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile

from .. import audit, governance
from ..auth import Principal
from ..errors import FacesearchError
from ..ingest import Item, items_from_folder, items_from_manifest
from .deps import Services, client_ip, require_role, services
from .jobs import Job
from .problems import Problem

router = APIRouter(prefix="/api/v1", tags=["ingest"])
operator = require_role("operator")
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def _allowed(svc: Services, path: Path) -> Path:
    path = path.expanduser().resolve()
    roots = [r.expanduser().resolve() for r in svc.settings.ingest_roots]
    if roots and not any(path.is_relative_to(r) for r in roots):
        raise Problem(403, "Forbidden", "server-side ingest is limited to FACESEARCH_INGEST_ROOTS: "
                      + ", ".join(str(r) for r in roots))
    if not path.exists():
        raise Problem(422, "Invalid request", f"{path} does not exist on the server")
    return path


def _save_uploads(svc: Services, files: list[UploadFile]) -> tuple[Path, list[Item]]:
    staging = svc.settings.home / "uploads" / uuid.uuid4().hex[:16]
    staging.mkdir(parents=True, exist_ok=True)
    items: list[Item] = []
    limit = svc.settings.max_upload_bytes
    for n, f in enumerate(files):
        # Keep the client's file name for provenance, but never let it choose a path.
        name = _SAFE_NAME.sub("_", Path(f.filename or f"upload-{n}").name).strip("._") or f"upload-{n}"
        target = staging / f"{n:05d}_{name}"
        data = f.file.read(limit + 1)
        # An oversized upload is kept truncated to limit + 1 bytes: the job reads uploads with the same
        # limit (see start_ingest), so it is reported as FILE_TOO_LARGE like any other bad file.
        target.write_bytes(data[: limit + 1])
        items.append(Item(target, meta={"uploaded_name": f.filename or ""}))
    return staging, items


@router.post("/ingest", status_code=202, summary="Start an ingest job (server-side path or uploaded files)")
def start_ingest(
    request: Request,
    collection: Annotated[str, Form(min_length=1, max_length=200)],
    path: Annotated[str | None, Form(description="A folder or file on the server.")] = None,
    manifest: Annotated[str | None, Form(description="A CSV manifest on the server.")] = None,
    files: Annotated[list[UploadFile] | None, File(description="Photos to upload.")] = None,
    model: Annotated[str | None, Form()] = None,
    p: Principal = Depends(operator),
    svc: Services = Depends(services),
) -> dict[str, Any]:
    files = [f for f in files or [] if f.filename]
    given = [x for x in (path, manifest) if x] + (["files"] if files else [])
    if len(given) != 1:
        raise Problem(422, "Invalid request", "give exactly one of: path, manifest, files")
    col = svc.store.get_collection(collection.strip())
    try:  # refuse at once, not as a failed job: collections are created with their provenance first
        if col is None:
            raise governance.missing_collection_error(collection.strip())
        governance.require_documented(col)
    except FacesearchError as exc:
        raise Problem(422, "Collection problem", f"{exc} (or POST /api/v1/collections)") from exc
    staging = None
    try:
        if path:
            src = _allowed(svc, Path(path))
            items, source = items_from_folder(src), f"path:{src}"
        elif manifest:
            src = _allowed(svc, Path(manifest))
            items, source = items_from_manifest(src), f"manifest:{src}"
        else:
            staging, items = _save_uploads(svc, files)
            source = f"upload:{len(items)} files"
    except FacesearchError as exc:
        raise Problem(422, "Invalid request", str(exc)) from exc
    if not items:
        raise Problem(422, "Invalid request", "nothing to ingest: no files found")
    ip = client_ip(request)

    def finished(job: Job) -> None:
        svc.audit.record(audit.INGEST, actor=p.name, role=p.role, ip=ip, collections=[job.collection],
                         model=model, outcome=job.status,
                         results={"counts": job.counts, "failures": len(job.failures)},
                         details={"job": job.id, "ingest_job_id": job.ingest_job_id, "source": job.source,
                                  "error": job.error})

    settings = svc.settings
    if staging is not None:
        settings = settings.model_copy(update={"max_file_bytes": min(settings.max_file_bytes,
                                                                      settings.max_upload_bytes)})
    job = svc.jobs.start(items, collection.strip(), source, p.name, model, staging, finished, settings)
    svc.audit.record(audit.INGEST, actor=p.name, role=p.role, ip=ip, collections=[job.collection], model=model,
                     outcome="started", details={"job": job.id, "source": source, "files": len(items)})
    return {"job_id": job.id, "status_url": f"/api/v1/jobs/{job.id}", **job.as_dict()}


@router.get("/jobs", summary="Ingest jobs started by this server process")
def list_jobs(p: Principal = Depends(operator), svc: Services = Depends(services)) -> dict[str, Any]:
    jobs = []
    for j in svc.jobs.all():
        d = j.as_dict()
        d.pop("failures")
        jobs.append(d)
    return {"jobs": jobs}


@router.get("/jobs/{job_id}", summary="Progress and failures of an ingest job")
def get_job(job_id: str, p: Principal = Depends(operator), svc: Services = Depends(services)) -> dict[str, Any]:
    job = svc.jobs.get(job_id)
    if job is None:
        raise Problem(404, "Not found", f"no job {job_id!r} in this server process")
    return job.as_dict()
