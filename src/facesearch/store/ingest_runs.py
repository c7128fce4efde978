"""The durable record of ingest runs: who runs one (host and process), its status and counts, its failures.
A run a process left `running` when it died is closed as `interrupted` by recovery."""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import insert, select, update

from .base import StoreBase
from .gallery import iso
from .schema import Collection, IngestFailure, IngestJob, utcnow


@dataclass(frozen=True)
class IngestRunRow:
    """One ingest run as recorded, with its collection's name; times in ISO 8601."""

    id: int
    collection: str
    source: str
    model: str
    status: str
    counts: dict[str, Any] = field(default_factory=dict)
    started: str | None = None
    finished: str | None = None


class IngestRuns(StoreBase):
    def start_job(self, collection_id: int, source: str, model: str) -> int:
        with self.session.begin() as s:
            job = IngestJob(collection_id=collection_id, source=source, model=model, owner=process_id())
            s.add(job)
            s.flush()
            return job.id

    def running_jobs(self) -> list[tuple[int, str | None]]:
        """(id, owner) of the ingest runs recorded as still running."""
        with self.session() as s:
            return [
                (int(i), o)
                for i, o in s.execute(select(IngestJob.id, IngestJob.owner).where(IngestJob.status == "running"))
            ]

    def mark_interrupted(self, job_ids: Sequence[int]) -> None:
        """Close runs whose process died: status interrupted, their counts left as last written."""
        if job_ids:
            with self.session.begin() as s:
                s.execute(
                    update(IngestJob)
                    .where(IngestJob.id.in_(list(job_ids)))
                    .values(status="interrupted", finished_at=utcnow())
                )

    def finish_job(self, job_id: int, status: str, counts: dict[str, int | float]) -> None:
        with self.session.begin() as s:
            s.execute(
                update(IngestJob)
                .where(IngestJob.id == job_id)
                .values(status=status, counts=counts, finished_at=utcnow())
            )

    def recent_ingest_jobs(self, limit: int = 20) -> list[IngestRunRow]:
        """The newest ingest runs (from any process: the CLI's too), with their collection's name."""
        with self.database.connect() as conn:
            rows = conn.execute(
                select(
                    IngestJob.id,
                    Collection.name,
                    IngestJob.source,
                    IngestJob.model,
                    IngestJob.status,
                    IngestJob.counts,
                    IngestJob.started_at,
                    IngestJob.finished_at,
                )
                .join(Collection, Collection.id == IngestJob.collection_id)
                .order_by(IngestJob.id.desc())
                .limit(limit)
            ).all()
        return [
            IngestRunRow(int(i), c, src, m, st, counts or {}, iso(sa), iso(fa))
            for i, c, src, m, st, counts, sa, fa in rows
        ]

    def record_failures(self, job_id: int, failures: list[tuple[str, str, str]]) -> None:
        if not failures:
            return
        with self.session.begin() as s:
            s.execute(
                insert(IngestFailure), [{"job_id": job_id, "path": p, "reason": r, "detail": d} for p, r, d in failures]
            )


def process_id() -> str:
    """This process as the owner of an ingest run: host and pid."""
    return f"{socket.gethostname()}:{os.getpid()}"
