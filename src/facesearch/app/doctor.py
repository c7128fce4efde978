"""`doctor`: scan for orphans in every direction (index, rows, thumbnails, uploads, opted-out faces, what
people clustering and HNSW graphs kept of erased faces), unreadable index files and files others can read,
and, with fix, repair what the rows allow."""

from __future__ import annotations

import contextlib
import os
import re
import stat
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, Field

from ..index import open_index
from ..services.indexes import reconcile
from ..services.jobqueue import STAGING_LOCK, staging_in_use
from ..store import people as people_rows
from ..store.housekeeping import face_thumbnails, faces_below, faces_without_image, image_paths
from ..vocabulary import Action
from .auditing import record
from .context import Actor, Context
from .erasure import erase_faces, forget_people_of_erased
from .optout import gallery_matches, optout_threshold, packs_in_use, templates
from .recovery import process_alive
from .roles import allowed

_INDEX_FILE = re.compile(r"^collection-(\d+)\.faiss$")
BELOW_FLOOR_EXAMPLES = 50

CHECKS = (
    "index_ids_without_row",
    "rows_without_index_entry",
    "thumbnails_without_face",
    "faces_without_image",
    "faces_without_thumbnail",
    "index_files_without_collection",
    "uploads_without_image",
    "faces_matching_optout",
    "index_files_unreadable",
    "files_readable_by_others",
    "ingest_runs_left_running",
    "gallery_counters_wrong",
    "people_without_faces",
    "corrections_naming_erased_faces",
    "index_erased_vectors_kept",
)


class FaceBelowFloor(BaseModel):
    face_id: int
    collection: str
    image_id: int
    path: str | None
    quality: float
    quality_reasons: list[str]


class BelowFloor(BaseModel):
    """Stored faces whose quality is below the ingest floor (FACESEARCH_INGEST_MIN_QUALITY): a home ingested
    before the floor, or under a lower one, holds them. No orphans (`ok` does not count them): people passes
    ignore them and take them out of the people they are in; search still finds them."""

    floor: float
    faces: int
    in_people: int = Field(description="Of them, faces still in a person (until the next `people cluster`).")
    per_collection: dict[str, int]
    examples: list[FaceBelowFloor] = Field(description=f"The {BELOW_FLOOR_EXAMPLES} poorest, poorest first.")


class DoctorReport(BaseModel):
    """What a scan found: how many of each kind of problem, examples of each, and whether they were fixed."""

    ok: bool
    orphans: int
    counts: dict[str, int]
    examples: dict[str, list[Any]] = Field(description="Up to 20 examples of each kind of orphan found.")
    fixed: bool
    collections: int
    faces: int
    below_floor: BelowFloor | None = Field(
        default=None, exclude_if=lambda v: v is None, description="Only when asked for (`below_floor`)."
    )


@allowed("operator", "admin")
def doctor(ctx: Context, actor: Actor, fix: bool = False, below_floor: bool = False) -> DoctorReport:
    """Scan for orphans in every direction; with fix, repair what can be repaired from the rows (logged).
    With `below_floor`, also list the faces below the ingest floor (listed only: never erased here)."""
    with ctx.engine_lock:
        res = _scan(ctx, fix, below_floor)
    if fix:
        record(ctx, actor, Action.DOCTOR, results=res.counts, details={"fix": True})
        for c in ctx.store.list_collections():
            ctx.engine.forget_index(c.id)
    return res


def _below_floor(ctx: Context) -> BelowFloor:
    floor = ctx.settings.ingest_min_quality
    per, in_people, examples = faces_below(ctx.store, floor, BELOW_FLOOR_EXAMPLES)
    return BelowFloor(
        floor=floor,
        faces=sum(per.values()),
        in_people=in_people,
        per_collection=per,
        examples=[FaceBelowFloor(**e) for e in examples],
    )


def _scan(ctx: Context, fix: bool, below_floor: bool = False) -> DoctorReport:
    settings, store = ctx.settings, ctx.store
    found: dict[str, list[Any]] = {k: [] for k in CHECKS}
    cols = store.collections_by_id()
    for cid, (counted, rows_n) in store.recount(fix=fix).items():
        name = cols[cid].name if cid in cols else str(cid)
        found["gallery_counters_wrong"].append(f"{name}: counted {counted}, rows {rows_n}")
    for col in cols.values():
        index = open_index(settings, col.id, col.dim)
        load_error = getattr(index, "load_error", None)
        if load_error is not None:
            where = getattr(index, "path", None)
            found["index_files_unreadable"].append(f"{where.name if where else col.name} ({load_error})")
        kept = getattr(index, "erased_vectors_kept", None)
        scrub = getattr(index, "scrub_erased", None)
        if kept is not None and kept():  # an HNSW file written before removals overwrote the vectors
            found["index_erased_vectors_kept"].append(f"{col.name}: {kept()}")
            if fix and scrub is not None:
                scrub()
                index.save()
        in_index = index.ids()
        rows = store.face_ids(col.id)
        extra = np.setdiff1d(in_index, rows)
        missing = np.setdiff1d(rows, in_index)
        found["index_ids_without_row"].extend(f"{col.name}:{int(i)}" for i in extra)
        found["rows_without_index_entry"].extend(f"{col.name}:{int(i)}" for i in missing)
        if fix and (len(extra) or len(missing) or load_error is not None):
            reconcile(index, store, col.id)
            index.save()
    if settings.index_dir.is_dir():
        for f in sorted(settings.index_dir.iterdir()):
            m = _INDEX_FILE.match(f.name)
            if m and int(m.group(1)) not in cols:
                found["index_files_without_collection"].append(f.name)
                if fix:
                    f.unlink()
                    f.with_name(f.name + ".meta.json").unlink(missing_ok=True)
    thumbs = face_thumbnails(store)
    orphan_faces = faces_without_image(store)
    paths = image_paths(store)
    found["faces_without_image"].extend(orphan_faces)
    if fix and orphan_faces:
        erase_faces(settings, store, orphan_faces)
    if settings.thumbs_dir.is_dir():
        for dirpath, dirnames, filenames in os.walk(settings.thumbs_dir):
            dirnames[:] = [d for d in dirnames if d != ".tmp"]
            for name in filenames:
                rel = Path(dirpath, name).relative_to(settings.thumbs_dir).as_posix()
                if rel not in thumbs:
                    found["thumbnails_without_face"].append(rel)
                    if fix:
                        Path(dirpath, name).unlink(missing_ok=True)
    found["faces_without_thumbnail"].extend(t for t in sorted(thumbs) if not (settings.thumbs_dir / t).is_file())
    dead = [job_id for job_id, owner in store.running_jobs() if not process_alive(owner)]
    found["ingest_runs_left_running"].extend(dead)
    if fix:
        store.mark_interrupted(dead)
    uploads = settings.home / "uploads"
    if uploads.is_dir():
        busy = {p for p in uploads.iterdir() if p.is_dir() and staging_in_use(p)}  # a live job's uploads
        for f in sorted(f for f in uploads.glob("*/*") if f.parent not in busy and f.name != STAGING_LOCK):
            if f.is_file() and str(f) not in paths and str(f.resolve()) not in paths:
                found["uploads_without_image"].append(str(f))
                if fix:
                    f.unlink()
    for pack in packs_in_use(store):
        tmpl = templates(store, pack)
        if len(tmpl):
            threshold, _ = optout_threshold(settings, pack)
            hits = [fid for fid, _ in gallery_matches(store, pack, tmpl, threshold)]
            found["faces_matching_optout"].extend(hits)
            if fix and hits:
                erase_faces(settings, store, hits)
    found["people_without_faces"].extend(people_rows.people_without_faces(store))
    found["corrections_naming_erased_faces"].extend(people_rows.corrections_naming_erased_faces(store))
    if fix and (found["people_without_faces"] or found["corrections_naming_erased_faces"]):
        forget_people_of_erased(store)
    found["files_readable_by_others"].extend(loose_modes(settings.home, fix))
    counts = {k: len(v) for k, v in found.items()}
    return DoctorReport(
        ok=not any(counts.values()),
        orphans=sum(counts.values()),
        counts=counts,
        examples={k: v[:20] for k, v in found.items() if v},
        fixed=fix,
        collections=len(cols),
        faces=sum(store.face_id_stats(c)[0] for c in cols),
        below_floor=_below_floor(ctx) if below_floor else None,
    )


def loose_modes(home: Path, fix: bool = False) -> list[str]:
    """Files and folders of the home that anyone but its owner may read, write or enter (`path mode`); with
    fix, folders become 0700 and files 0600. Symbolic links are neither followed nor changed."""
    loose: list[str] = []

    def check(path: Path, folder: bool) -> None:
        try:
            mode = path.lstat().st_mode
        except OSError:
            return
        if stat.S_ISLNK(mode) or not mode & 0o077:
            return
        rel = "." if path == home else path.relative_to(home).as_posix()
        loose.append(f"{rel} {stat.S_IMODE(mode):04o}")
        if fix:
            with contextlib.suppress(OSError):
                path.chmod(0o700 if folder else 0o600)

    if not home.is_dir():
        return loose
    check(home, True)
    for dirpath, dirnames, filenames in os.walk(home):
        for d in dirnames:
            check(Path(dirpath, d), True)
        for f in filenames:
            check(Path(dirpath, f), False)
    return loose
