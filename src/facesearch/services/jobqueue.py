"""Background jobs of a long-lived process (the web service): one thread each, one job at a time,
progress kept in memory for whoever polls a running job. The database keeps the durable record of every
ingest run; this only adds live progress.

A `Job` changes while it runs; whoever asks about it gets a `JobStatus`, a copy taken at that moment."""

from __future__ import annotations

import fcntl
import os
import shutil
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ..errors import FacesearchError

# (job, report progress) -> None; raises to fail the job.
STAGING_LOCK = ".job.lock"
Work = Callable[["Job"], None]


MAX_FAILURES_SHOWN = 500


class JobFailure(BaseModel):
    model_config = ConfigDict(frozen=True)

    path: str
    reason: str
    detail: str | None


class JobVideo(BaseModel):
    """The video a running job is scanning: its file's name and how far the scan is, in video seconds."""

    model_config = ConfigDict(frozen=True)

    name: str
    seconds: float
    duration: float | None


class JobSummary(BaseModel):
    """A job as listed: where it stands, its counts and speed."""

    model_config = ConfigDict(frozen=True)

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
    video: JobVideo | None = Field(
        default=None,
        exclude_if=lambda v: v is None,
        description="Only while a video is being scanned: which file, and how far into it (video seconds).",
    )


class JobStatus(JobSummary):
    """A job as polled: its summary and its failures (the first MAX_FAILURES_SHOWN)."""

    failures: list[JobFailure]


@dataclass
class Job:
    id: str
    collection: str
    source: str
    user: str
    total: int
    status: str = "queued"  # queued, running, done, failed
    created: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None
    ingest_job_id: int | None = None
    counts: dict[str, Any] = field(default_factory=dict)
    processed: int = 0
    failures: list[dict[str, str]] = field(default_factory=list)
    error: str | None = None
    staging: Path | None = None
    video: JobVideo | None = None
    settled: bool = False  # its end is logged and its staging tidied: only then is it shown done or failed

    def status_now(self) -> JobStatus:
        """Where the job stands at this moment (a copy: the job goes on changing, the answer does not)."""
        elapsed = ((self.finished or time.time()) - self.started) if self.started else 0.0
        failures = list(self.failures)
        return JobStatus(
            id=self.id,
            status=self.status if self.settled or self.status in ("queued", "running") else "running",
            collection=self.collection,
            source=self.source,
            user=self.user,
            total=self.total,
            processed=self.processed,
            progress=round(self.processed / self.total, 4) if self.total else (1.0 if self.finished else 0.0),
            counts=dict(self.counts),
            failures=[JobFailure(**f) for f in failures[:MAX_FAILURES_SHOWN]],
            failures_total=len(failures),
            error=self.error,
            ingest_job_id=self.ingest_job_id,
            created=_iso(self.created),
            started=_iso(self.started),
            finished=_iso(self.finished),
            seconds=round(elapsed, 2),
            images_per_second=round(self.processed / elapsed, 2) if elapsed > 0 else None,
            video=self.video if self.status == "running" else None,
        )


def _iso(t: float | None) -> str | None:
    if t is None:
        return None
    return datetime.fromtimestamp(t, timezone.utc).isoformat(timespec="seconds")


class JobManager:
    def __init__(self, kept_paths: Callable[[str], set[str]]) -> None:
        self._kept_paths = kept_paths  # which staged uploads became images (they stay)
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        # One ingest at a time: jobs share the CPU with searches, and two jobs writing the same
        # collection's index would only contend.
        self._run_lock = threading.Lock()

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def all(self) -> list[Job]:
        with self._lock:
            return sorted(self._jobs.values(), key=lambda j: j.created, reverse=True)

    def running(self) -> int:
        with self._lock:
            return sum(j.status in ("queued", "running") for j in self._jobs.values())

    def start(
        self,
        collection: str,
        source: str,
        user: str,
        total: int,
        staging: Path | None,
        work: Work,
        on_finish: Callable[[Job], None],
        before: Callable[[Job], None] | None = None,
    ) -> Job:
        """Run `work` in the background. `before` runs first, in the caller's thread, with the job's id (the
        job's audit entry): if it raises, the job never starts and its staged uploads are removed."""
        job = Job(uuid.uuid4().hex[:16], collection, source, user, total, staging=staging)
        if before is not None:
            try:
                before(job)
            except BaseException:
                if staging is not None:
                    shutil.rmtree(staging, ignore_errors=True)
                raise
        held = hold_staging(staging) if staging is not None else None
        with self._lock:
            self._jobs[job.id] = job
        t = threading.Thread(target=self._run, args=(job, work, on_finish, held), name=f"job-{job.id}", daemon=True)
        t.start()
        return job

    def _run(self, job: Job, work: Work, on_finish: Callable[[Job], None], held: int | None) -> None:
        with self._run_lock:
            job.status, job.started = "running", time.time()
            try:
                work(job)
                job.status = "done"
            except FacesearchError as exc:
                job.status, job.error = "failed", str(exc)
            except Exception as exc:  # a crash in a job must be visible in its status, not only in a log
                job.status, job.error = "failed", f"{type(exc).__name__}: {exc}"
            finally:
                job.finished = time.time()
        try:
            on_finish(job)
        finally:
            try:
                if job.staging is not None:
                    self._tidy_staging(job.staging)
            finally:
                job.settled = True
                if held is not None:
                    os.close(held)  # releases the lock

    def _tidy_staging(self, staging: Path) -> None:
        """Keep only the uploads that became images (they are the originals a result view shows); files
        that failed, had duplicates or were never reached are not kept."""
        kept = self._kept_paths(str(staging))
        for f in staging.iterdir():
            if str(f) not in kept:
                f.unlink(missing_ok=True)
        if not any(staging.iterdir()):
            shutil.rmtree(staging, ignore_errors=True)


def hold_staging(staging: Path) -> int:
    """Lock a staging folder for as long as its job runs (the descriptor holds the lock), so that recovery in
    this or another process never tidies the uploads of a live job."""
    fd = os.open(staging / STAGING_LOCK, os.O_CREAT | os.O_RDWR, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


def staging_in_use(staging: Path) -> bool:
    try:
        fd = os.open(staging / STAGING_LOCK, os.O_RDWR)
    except OSError:  # no lock file: no job has it (and nothing is created by asking)
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False
