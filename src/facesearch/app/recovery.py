"""Recovery after a process died mid-work (kill -9, power loss): ingest runs it left "running" are closed as
interrupted, and photos uploaded for an ingest job that never finished are removed unless they became
images (otherwise they would stay on disk, personal data that no erasure, opt-out or purge reaches).

A run belongs to a process (host:pid); only runs of this host whose process is gone are closed. A staging
folder is locked by its live job (jobqueue.hold_staging), so a live job's uploads are never touched."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass

from ..services.jobqueue import STAGING_LOCK, staging_in_use
from ..vocabulary import Action
from .auditing import record
from .context import Context, system_actor


@dataclass(frozen=True)
class Recovery:
    """What a recovery did: the ingest runs it closed as interrupted, and how many abandoned uploads it removed."""

    interrupted_runs: list[int]
    uploads_removed: int


def process_alive(owner: str | None) -> bool:
    """Whether the process that owns a run may still be running (unknown owners count as alive)."""
    if not owner or ":" not in owner:
        return True
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return True  # another machine's process: not ours to judge
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def recover(ctx: Context) -> Recovery:
    """Close dead runs and tidy abandoned uploads; logged when anything was done."""
    dead = [job_id for job_id, owner in ctx.store.running_jobs() if not process_alive(owner)]
    ctx.store.mark_interrupted(dead)
    removed = 0
    uploads = ctx.settings.home / "uploads"
    if uploads.is_dir():
        for staging in sorted(p for p in uploads.iterdir() if p.is_dir()):
            if staging_in_use(staging):
                continue
            kept = ctx.store.paths_under(str(staging))
            for f in staging.iterdir():
                if f.is_file() and str(f) not in kept and str(f.resolve()) not in kept:
                    if f.name != STAGING_LOCK:
                        removed += 1
                    f.unlink(missing_ok=True)
            if not any(staging.iterdir()):
                staging.rmdir()
    if dead or removed:
        results = {"interrupted_runs": dead, "uploads_removed": removed}
        record(ctx, system_actor("recovery"), Action.INGEST, outcome="recovered", results=results)
    return Recovery(dead, removed)
