"""Ingest jobs started through the web service: from a server-side folder or manifest (limited to
FACESEARCH_INGEST_ROOTS when that is set) or from uploaded files, photos and videos (staged under the home's
`uploads/`, videos copied as a stream; only those that became images are kept). They run in the background,
one at a time; a job scanning a video says how far into it it is.

With FACESEARCH_INGEST_ROOTS set, every item's path (from the folder, or listed by the manifest) is resolved,
symlinks included, and checked against the roots before anything reads it: one outside is a failure with
the reason OUTSIDE_ROOTS and the same detail whatever is (or is not) there. The checked path is then read
without following a link in any of its components, so a root (or a folder in it) swapped for a link while the
job runs reads nothing outside the roots."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ..config import Settings
from ..errors import FacesearchError
from ..models import PACKS, is_installed
from ..pipeline.sources import Item, items_from_folder, items_from_manifest
from ..pipeline.video.formats import HEAD_BYTES, sniff
from ..services.batching import IngestResult
from ..services.jobqueue import Job, JobStatus, JobVideo
from ..vocabulary import Action
from .auditing import record
from .collection import missing_collection_error, require_documented
from .context import Actor, Context
from .errors import Forbidden, Invalid, NotFound
from .ingest import check_video_fps, run, where_analysed
from .roles import allowed

_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")
STAGE_CHUNK = 1 << 20
OUTSIDE_ROOTS = "OUTSIDE_ROOTS"
OUTSIDE_DETAIL = "outside the allowed roots"
Failure = tuple[str, str, str]


class IngestRun(BaseModel):
    """An ingest run as the database recorded it, whoever started it."""

    model_config = ConfigDict(frozen=True)

    id: int = Field(description="The run's id in the database (a job's `ingest_job_id`).")
    collection: str
    source: str = Field(description="`path:…`, `manifest:…` or `upload:N files`.")
    model: str
    status: str = Field(description="running, done or failed (a run whose process died stays `running`).")
    counts: dict[str, Any]
    started: str | None
    finished: str | None


@dataclass(frozen=True)
class Upload:
    """A file sent by a client: its name as given (kept for provenance, never used as a path) and a reader."""

    filename: str
    read: Callable[[int], bytes]


def _roots(settings: Settings) -> list[Path]:
    return [r.expanduser().resolve() for r in settings.ingest_roots]


def _within_roots(settings: Settings, items: list[Item]) -> tuple[list[Item], list[Failure]]:
    """The items whose real path (symlinks resolved) lies under an ingest root, with that path, and a failure
    for each of the others. Nothing is read, and existence is not looked at: the answer for a path outside is
    the same whether or not anything is there. Without roots every item is kept as it is."""
    roots = _roots(settings)
    if not roots:
        return items, []
    inside: list[Item] = []
    outside: list[Failure] = []
    for item in items:
        try:
            real = item.path.expanduser().resolve()
        except (OSError, RuntimeError):  # a symlink loop, an unreadable folder on the way
            real = None
        if real is not None and any(real.is_relative_to(r) for r in roots):
            inside.append(replace(item, path=real, checked=True))  # read as checked: no link followed
        else:
            outside.append((str(item.path), OUTSIDE_ROOTS, OUTSIDE_DETAIL))
    return inside, outside


def _allowed_path(settings: Settings, path: Path) -> Path:
    path = path.expanduser().resolve()
    roots = _roots(settings)
    if roots and not any(path.is_relative_to(r) for r in roots):
        raise Forbidden("server-side ingest is limited to FACESEARCH_INGEST_ROOTS: " + ", ".join(map(str, roots)))
    if not path.exists():
        raise Invalid(f"{path} does not exist on the server")
    return path


def _stage(settings: Settings, files: list[Upload]) -> tuple[Path, list[Item]]:
    staging = settings.home / "uploads" / uuid.uuid4().hex[:16]
    staging.mkdir(parents=True, exist_ok=True)
    items: list[Item] = []
    limit = settings.max_upload_bytes
    for n, f in enumerate(files):
        name = _SAFE_NAME.sub("_", Path(f.filename or f"upload-{n}").name).strip("._") or f"upload-{n}"
        target = staging / f"{n:05d}_{name}"
        with target.open("wb") as out:
            first = f.read(STAGE_CHUNK)
            out.write(first)
            if sniff(first[:HEAD_BYTES]) is not None:
                # A video is copied as a stream, whole: the request's own bound (FACESEARCH_MAX_INGEST_REQUEST_BYTES)
                # limits it, and it is never held in memory.
                while chunk := f.read(STAGE_CHUNK):
                    out.write(chunk)
            else:
                # An oversized photo is kept truncated to limit + 1 bytes: the job reads uploads with the same
                # limit, so it is reported as FILE_TOO_LARGE like any other bad file.
                left = limit + 1 - len(first)
                while left > 0 and (chunk := f.read(min(STAGE_CHUNK, left))):
                    out.write(chunk)
                    left -= len(chunk)
        items.append(Item(target, meta={"uploaded_name": f.filename or ""}))
    return staging, items


@allowed("operator")
def start_job(
    ctx: Context,
    actor: Actor,
    collection: str,
    *,
    path: str | None = None,
    manifest: str | None = None,
    files: list[Upload] | None = None,
    model: str | None = None,
    video_fps: float | None = None,
) -> JobStatus:
    """Start an ingest job from a server-side folder or manifest, or from uploaded files (photos and videos).
    A collection that does not exist or lacks its provenance is refused at once, not as a failed job. Video
    files are sampled at `video_fps` frames per second (default FACESEARCH_VIDEO_FPS)."""
    check_video_fps(video_fps)
    files = files or []
    given = [x for x in (path, manifest) if x] + (["files"] if files else [])
    if len(given) != 1:
        raise Invalid("give exactly one of: path, manifest, files")
    name = collection.strip()
    col = ctx.store.get_collection(name)
    if col is None:
        raise missing_collection_error(name)
    require_documented(col)
    settings, staging = ctx.settings, None
    try:
        if path:
            src = _allowed_path(settings, Path(path))
            items, source = items_from_folder(src), f"path:{src}"
        elif manifest:
            src = _allowed_path(settings, Path(manifest))
            items, source = items_from_manifest(src), f"manifest:{src}"
        else:
            staging, items = _stage(settings, files)
            source = f"upload:{len(items)} files"
            settings = settings.model_copy(
                update={"max_file_bytes": min(settings.max_file_bytes, settings.max_upload_bytes)}
            )
    except FacesearchError as exc:
        if isinstance(exc, (Forbidden, Invalid)):
            raise
        raise Invalid(str(exc)) from exc
    if not items:
        raise Invalid("nothing to ingest: no files found")
    total = len(items)
    items, outside = _within_roots(settings, items) if staging is None else (items, [])

    cluster_detail: dict[str, str] = {}  # where the photos were analysed, when not here (settings.cluster)

    def finished(job: Job) -> None:
        record(
            ctx,
            actor,
            Action.INGEST,
            collections=[job.collection],
            model=model,
            outcome=job.status,
            results={"counts": job.counts, "failures": len(job.failures)},
            details={
                "job": job.id,
                "ingest_job_id": job.ingest_job_id,
                "source": job.source,
                "error": job.error,
                **cluster_detail,
                **({"video_fps": video_fps or ctx.settings.video_fps} if "videos" in job.counts else {}),
            },
        )

    def work(job: Job) -> None:
        def progress(res: IngestResult, _: int) -> None:
            cluster_detail.update(where_analysed(res))
            job.ingest_job_id = res.job_id
            job.processed = res.processed + len(outside)
            now = res.video.now
            job.video = JobVideo(name=Path(now.path).name, seconds=now.seconds, duration=now.duration) if now else None
            counts = res.counts()
            job.counts = {**counts, "failed": counts["failed"] + len(outside)}
            job.failures = [{"path": p, "reason": r, "detail": d} for p, r, d in [*outside, *res.failures]]

        try:
            res = run(
                ctx,
                items,
                name,
                model=model,
                workers=settings.ingest_workers,
                progress=progress,
                source=source,
                settings=settings,
                # Uploads are staged in the home, which cluster nodes never see: they are analysed here.
                cluster="local" if staging is not None else None,
                video_fps=video_fps,
            )
            progress(res, total)
        finally:
            if outside and job.ingest_job_id is not None:  # the durable record of the run lists them too
                ctx.store.record_failures(job.ingest_job_id, outside)
        if outside:
            ctx.store.finish_job(res.job_id, "done", job.counts)

    def started(job: Job) -> None:  # logged before the job runs: an action that cannot be logged does not happen
        record(
            ctx,
            actor,
            Action.INGEST,
            collections=[job.collection],
            model=model,
            outcome="started",
            details={"job": job.id, "source": source, "files": total},
        )

    return ctx.jobs.start(name, source, actor.name, total, staging, work, finished, before=started).status_now()


@allowed("operator")
def list_jobs(ctx: Context, actor: Actor) -> list[JobStatus]:
    """The jobs of this server process, newest first."""
    return [job.status_now() for job in ctx.jobs.all()]


@allowed("operator")
def get_job(ctx: Context, actor: Actor, job_id: str) -> JobStatus:
    job = ctx.jobs.get(job_id)
    if job is None:
        raise NotFound(f"no job {job_id!r} in this server process")
    return job.status_now()


@allowed("operator")
def list_runs(ctx: Context, actor: Actor, limit: int = 20) -> list[IngestRun]:
    """The newest ingest runs recorded in the database, whoever started them: this server, another one, or
    `facesearch ingest` on the command line. Newest first."""
    if not 1 <= limit <= 500:
        raise Invalid("limit must be between 1 and 500")
    return [IngestRun.model_validate(r, from_attributes=True) for r in ctx.store.recent_ingest_jobs(limit)]


def installed_packs(settings: Settings) -> list[str]:
    """The model packs a new collection can be built with here (their weights are installed), the
    deployment's default first."""
    names = [n for n in PACKS if _installed(n, settings)]
    return sorted(names, key=lambda n: (n != settings.model, n))


def _installed(name: str, settings: Settings) -> bool:
    try:
        return is_installed(name, settings)
    except FacesearchError:
        return False
