"""Retention: images older than their collection's retention period are erased as thoroughly as any
other erasure; kept probes past theirs go too."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import select

from ..config import Settings
from ..fsutil import write_atomic
from ..store.audit import PURGE
from ..store.schema import Image
from .context import Actor, Context
from .erasure import Erasure, erase_images
from .roles import allowed

_last_probe_purge = 0.0


def _utc(value: datetime | None) -> datetime:
    value = value or datetime.now(timezone.utc)
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def keep_probe(settings: Settings, data: bytes, sha: str, now: datetime) -> None:
    """Store a probe only when the deployment asked for it (FACESEARCH_KEEP_PROBES), and drop kept probes
    past their retention at most once an hour."""
    global _last_probe_purge
    if not settings.keep_probes:
        return
    path = settings.home / "probes" / now.strftime("%Y-%m-%d") / f"{sha}.img"
    if not path.exists():
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
def purge(ctx: Context, actor: Actor, now: datetime | None = None) -> dict[str, Any]:
    """Erase every image older than its collection's retention period (by ingest time), as thoroughly as
    any other erasure, and kept probes past theirs. One audit entry per run, listing each collection.
    `now` (default: the context's clock) lets an operator purge as of another time."""
    settings, store = ctx.settings, ctx.store
    now = _utc(now or ctx.now())
    per: list[dict[str, Any]] = []
    total = Erasure(0, 0, 0)
    for col in store.list_collections():
        if col.retention_days is None:  # keep until deleted
            continue
        cutoff = now - timedelta(days=col.retention_days)
        with store.database.connect() as conn:
            ids = [
                int(x)
                for x in conn.scalars(select(Image.id).where(Image.collection_id == col.id, Image.ingested_at < cutoff))
            ]
        with ctx.engine_lock:  # never erase under a running search
            done = erase_images(settings, store, ids) if ids else Erasure(0, 0, 0)
        total += done
        per.append(
            {
                "collection": col.name,
                "retention_days": col.retention_days,
                "cutoff": cutoff.isoformat(),
                "image_ids": ids,
                **done.as_dict(),
            }
        )
    probes = purge_kept_probes(settings, now)
    report = {"now": now.isoformat(), "collections": per, "erased": total.as_dict(), "expired_probes": probes}
    ctx.audit.record(
        PURGE,
        actor=actor.name,
        role=actor.role,
        ip=actor.ip,
        collections=[p["collection"] for p in per if p["images"]],
        results={
            "erased": total.as_dict(),
            "expired_probes": probes,
            "per_collection": [dict(p) for p in per if p["images"]],
        },
        details={"now": report["now"]},
    )
    return report
