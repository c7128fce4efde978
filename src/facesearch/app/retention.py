"""Retention: images older than their collection's retention period are erased as thoroughly as any
other erasure; kept probes past theirs go too."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from pydantic import BaseModel

from ..config import Settings
from ..fsutil import write_atomic
from ..store.housekeeping import images_ingested_before
from ..vocabulary import Action
from .auditing import record
from .context import Actor, Context
from .erasure import Erasure, ErasureCounts, erase_images
from .roles import allowed

_last_probe_purge = 0.0


class PurgedCollection(ErasureCounts):
    """One collection with a retention period: its cutoff, and the images older than it that were erased."""

    collection: str
    retention_days: int
    cutoff: str
    image_ids: list[int]


class PurgeReport(BaseModel):
    """A purge run: as of when, per collection with a retention period, in all, and expired kept probes."""

    now: str
    collections: list[PurgedCollection]
    erased: ErasureCounts
    expired_probes: int


def _utc(value: datetime | None) -> datetime:
    value = value or datetime.now(timezone.utc)
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def keep_probe(settings: Settings, data: bytes | Path, sha: str, now: datetime) -> None:
    """Store a probe only when the deployment asked for it (FACESEARCH_KEEP_PROBES), and drop kept probes
    past their retention at most once an hour. `data`: the probe's bytes, or the file of a clip given by path
    (copied as a stream, never read whole)."""
    global _last_probe_purge
    if not settings.keep_probes:
        return
    path = settings.home / "probes" / now.strftime("%Y-%m-%d") / f"{sha}.img"
    if not path.exists():
        if isinstance(data, Path):
            with data.open("rb") as fh:
                write_atomic(path, fh)
        else:
            write_atomic(path, data)
    if time.monotonic() - _last_probe_purge > 3600:
        _last_probe_purge = time.monotonic()
        purge_kept_probes(settings, now)


def purge_kept_probes(settings: Settings, now: datetime | None = None) -> int:
    root = settings.home / "probes"
    if not root.is_dir():
        return 0
    cutoff = (_utc(now) - timedelta(days=settings.probe_retention_days)).strftime("%Y-%m-%d")
    removed = 0
    for day in root.iterdir():
        if day.is_dir() and day.name < cutoff:
            for f in day.iterdir():
                f.unlink(missing_ok=True)
                removed += 1
            day.rmdir()
    return removed


@allowed("operator", "admin", "system")
def purge(ctx: Context, actor: Actor, now: datetime | None = None) -> PurgeReport:
    """Erase every image older than its collection's retention period (by ingest time), as thoroughly as
    any other erasure, and kept probes past theirs. One audit entry per run, listing each collection.
    `now` (default: the context's clock) lets an operator purge as of another time."""
    settings, store = ctx.settings, ctx.store
    now = _utc(now or ctx.now())
    per: list[PurgedCollection] = []
    total = Erasure(0, 0, 0)
    for col in store.list_collections():
        if col.retention_days is None:  # keep until deleted
            continue
        cutoff = now - timedelta(days=col.retention_days)
        ids = images_ingested_before(store, col.id, cutoff)
        with ctx.engine_lock:  # never erase under a running search
            done = erase_images(settings, store, ids) if ids else Erasure(0, 0, 0)
        total += done
        per.append(
            PurgedCollection(
                collection=col.name,
                retention_days=col.retention_days,
                cutoff=cutoff.isoformat(),
                image_ids=ids,
                **done.as_dict(),
            )
        )
    probes = purge_kept_probes(settings, now)
    report = PurgeReport(now=now.isoformat(), collections=per, erased=total.counts(), expired_probes=probes)
    purged = [p for p in per if p.images]
    record(
        ctx,
        actor,
        Action.PURGE,
        collections=[p.collection for p in purged],
        results={
            "erased": total.as_dict(),
            "expired_probes": probes,
            "per_collection": [p.model_dump() for p in purged],
        },
        details={"now": report.now},
    )
    return report
