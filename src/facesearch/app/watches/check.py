"""Every ingest's new faces compared with the active watches: the cost is new faces x watches, never a scan of
the gallery.

Each collection has a mark: the newest face an earlier check compared. A check reads the faces stored since (an
index range on (collection, face id)), compares them in memory with the templates of the watches covering the
collection (one matrix product per batch of faces), and moves the mark. A run killed before its check leaves
the mark behind, so the next check of the collection covers its faces; a check run twice adds no hit twice (one
hit per watch and face). A watch reports only faces newer than itself.

A hit is a face at or above the watch's threshold: the examiner's, or the search's own 1:N decision for the
faces the watch covers (FACESEARCH_SEARCH_FPIR over that gallery's size, from the pack's score table). It
becomes a lead under the watch's case: a `watch_hit` audit entry (face, image, score, false-match rate), which
the two-person review refers to as it refers to a search, and the case report lists. Faces matching an
opt-out never hit (they are kept out of the gallery at ingest, and hidden here too if any got in); watches
that are stopped, expired, or whose case lost the authorisation its purpose requires never run; while
searching is suspended nothing is compared (the mark stays, so the faces are compared once it is resumed and
the collection is next checked).

Ingest calls `check_new_faces` after the run and, during a long one, every `CHECK_SECONDS` between batches
(`DuringIngest`); any other path that stores faces (a cluster of ingest workers, video ingest) calls it the
same way once its faces are committed."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ...calibration.tables import load_table, search_point
from ...errors import FacesearchError
from ...services.hiding import Hidden
from ...store import videos
from ...store import watches as rows
from ...store.schema import Collection
from ...store.watches import ActiveWatch
from ...vocabulary import Action
from ..auditing import record
from ..context import Context, system_actor
from ..errors import Suspended
from ..optout import hide_opted_out, record_hidden
from ..suspension import check_not_suspended
from ..when import utc
from .manage import end_lapsed
from .notify import HitNote, notify

log = logging.getLogger("facesearch.watch")
CHECK_SECONDS = 30.0  # during a long ingest, between batches, at most this often
FACE_BATCH = 4096  # new faces compared per matrix product


@dataclass
class CheckResult:
    """One check of one collection: how many new faces were compared with how many watches, the hits it made
    (ids), and why it did not run when it did not."""

    collection: str
    faces: int = 0
    watches: int = 0
    hits: list[int] = field(default_factory=list)
    skipped: str | None = None
    seconds: float = 0.0


@dataclass(frozen=True)
class _Found:
    watch: ActiveWatch
    face_id: int
    score: float
    threshold: float
    gallery_size: int
    reason: str


def _covering(active: list[ActiveWatch], col: Collection) -> list[ActiveWatch]:
    return [w for w in active if w.collections is None or col.name in w.collections]


def check_new_faces(ctx: Context, col: Collection) -> CheckResult:
    """Compare the collection's faces stored since its last check with the active watches covering it; every
    face at or above a watch's threshold becomes a hit (logged, then told to webhooks). See the module."""
    started = time.perf_counter()
    result = CheckResult(col.name)
    watches = _covering(end_lapsed(ctx), col)
    if not watches:
        return result
    tmpl = rows.templates(ctx.store, col.model, [w.id for w in watches], col.dim)  # one join, no id list
    if not len(tmpl.watch_ids):
        return result
    by_id = {w.id: w for w in watches}
    ws = [by_id[int(i)] for i in tmpl.watch_ids]  # row j of the templates is watch ws[j]
    result.watches = len(ws)
    try:
        check_not_suspended(ctx)
    except Suspended:
        result.skipped = "suspended"
        record(
            ctx,
            system_actor("watch"),
            Action.WATCH_CHECK,
            outcome="suspended",
            collections=[col.name],
            model=col.model,
            details={"watches": len(ws), "reason": "searching is suspended: the new faces wait for the next check"},
        )
        return result
    table = load_table(col.model, ctx.settings.home / "calibration")
    thresholds, sizes, reasons = _thresholds(ctx, col, ws, table)
    after = np.array([w.from_face_id for w in ws], np.int64)
    start = max(rows.mark(ctx.store, col.id), int(after.min()))
    hide = hide_opted_out(ctx)
    found: list[_Found] = []
    hidden_all: set[int] = set()
    last = start
    for ids, vecs in rows.new_faces(ctx.store, col.id, start, col.dim, FACE_BATCH):
        result.faces += len(ids)
        last = int(ids[-1])
        keep = np.ones(len(ids), bool)
        if hide.covers(col.model):
            hidden = hide.hidden(col.model, ids.tolist(), vecs)
            if hidden:
                # A video's track is one person: hiding one of its faces hides them all (in any batch).
                hidden = set(videos.track_mates(ctx.store, hidden))
                hidden_all |= hidden
                keep = ~np.isin(ids, list(hidden))
                record_hidden(ctx, hide, [Hidden(col.model, tuple(sorted(hidden)))])
        scores = vecs @ tmpl.vectors.T
        hit = (scores >= thresholds[None, :]) & (ids[:, None] > after[None, :]) & keep[:, None]
        for i, j in zip(*np.nonzero(hit)):
            found.append(_Found(ws[j], int(ids[i]), float(scores[i, j]), thresholds[j], sizes[j], reasons[j]))
    made = _hits(ctx, col, _one_per_track(ctx, [f for f in found if f.face_id not in hidden_all]), table)
    if result.faces:
        rows.advance_mark(ctx.store, col.id, last)
    result.hits = [hit_id for hit_id, _, _ in made]
    notify(ctx, [(w, note) for _, w, note in made])
    result.seconds = time.perf_counter() - started
    return result


def _one_per_track(ctx: Context, found: list[_Found]) -> list[_Found]:
    """A video's track is one person: a watch hits it once, on its best-scoring face (its other faces would
    repeat the same moment as more leads). A track's faces are committed together, so one check sees them all."""
    track_of = videos.tracks_of_faces(ctx.store, [f.face_id for f in found]) if found else {}
    if not track_of:
        return found
    best: dict[tuple[int, int], _Found] = {}
    out: list[_Found] = []
    for f in found:
        track = track_of.get(f.face_id)
        if track is None:
            out.append(f)
        elif (f.watch.id, track) not in best or f.score > best[(f.watch.id, track)].score:
            best[(f.watch.id, track)] = f
    return out + list(best.values())


def _thresholds(
    ctx: Context, col: Collection, ws: list[ActiveWatch], table: Any
) -> tuple[np.ndarray, list[int], list[str]]:
    """Each watch's threshold, the faces it covers in this pack, and where the threshold comes from (worked
    out once per set of collections and threshold, not per watch)."""
    sizes_of: dict[tuple[str, ...] | None, int] = {}
    points: dict[tuple[tuple[str, ...] | None, float | None], tuple[float, str]] = {}
    values: list[float] = []
    sizes: list[int] = []
    reasons: list[str] = []
    for w in ws:
        key = None if w.collections is None else tuple(sorted(w.collections))
        if key not in sizes_of:
            ids = rows.collection_ids(ctx.store, list(key) if key else None, col.model)
            sizes_of[key] = ctx.store.gallery_size(ids)
        n = sizes_of[key]
        if (key, w.threshold) not in points:
            point = search_point(table, ctx.settings.search_fpir, n, w.threshold)
            why = "set by the watch's --threshold" if w.threshold is not None else point.reason
            points[(key, w.threshold)] = (point.threshold, why)
        value, why = points[(key, w.threshold)]
        values.append(value)
        sizes.append(n)
        reasons.append(why)
    return np.asarray(values, np.float32), sizes, reasons


def _hits(ctx: Context, col: Collection, found: list[_Found], table: Any) -> list[tuple[int, ActiveWatch, HitNote]]:
    """Store and log each hit (a hit without its audit entry must not exist); returns the new ones."""
    if not found:
        return []
    sources = rows.face_sources(ctx.store, [f.face_id for f in found])
    who = system_actor("watch")
    now = utc(ctx.now())
    made: list[tuple[int, ActiveWatch, HitNote]] = []
    for f in sorted(found, key=lambda f: (f.watch.id, f.face_id)):
        source = sources.get(f.face_id)
        if source is None:  # erased since it was read
            continue
        image_id, job = source
        fmr = float(table.fmr_at(f.score))
        hit_id = rows.add_hit(
            ctx.store,
            rows.NewHit(
                f.watch.id, f.face_id, image_id, col.name, round(f.score, 6), fmr, float(f.threshold), job, now
            ),
        )
        if hit_id is None:  # found already (a check run again, or a concurrent one)
            continue
        try:
            lead = record(
                ctx,
                who,
                Action.WATCH_HIT,
                case_ref=f.watch.case_ref,
                purpose=f.watch.purpose,
                collections=[col.name],
                model=col.model,
                threshold=round(float(f.threshold), 6),
                probe_sha256=f.watch.probe_sha256,
                results={
                    "watch": f.watch.id,
                    "rank": 1,
                    "face_id": f.face_id,
                    "image_id": image_id,
                    "collection": col.name,
                    "score": round(f.score, 6),
                    "fmr": fmr,
                    "above_threshold": True,
                },
                details={
                    "owner": f.watch.owner,
                    "ingest_job": job,
                    "gallery_size": f.gallery_size,
                    "threshold_reason": f.reason,
                },
            )
        except BaseException:
            rows.delete_hit(ctx.store, hit_id)
            raise
        rows.set_lead(ctx.store, hit_id, lead)
        made.append((hit_id, f.watch, HitNote(lead, f.face_id, image_id, job)))
    return made


class DuringIngest:
    """Checks a collection's new faces while an ingest runs (between batches, at most every `CHECK_SECONDS`)
    and once it ends. A check that fails is logged and left to the next one: the ingest itself goes on, and
    its faces stay behind the mark until a check covers them."""

    def __init__(self, ctx: Context, col: Collection, every: float = CHECK_SECONDS) -> None:
        self.ctx, self.col, self.every = ctx, col, every
        self._last = time.monotonic()
        self.results: list[CheckResult] = []

    def progress(self, inner: Callable[[Any, int], None] | None) -> Callable[[Any, int], None]:
        def step(result: Any, total: int) -> None:
            if inner is not None:
                inner(result, total)
            if time.monotonic() - self._last >= self.every:
                self.run()

        return step

    def run(self) -> CheckResult | None:
        self._last = time.monotonic()
        try:
            done = check_new_faces(self.ctx, self.col)
        except (FacesearchError, OSError) as exc:
            log.warning(
                "the watch check of collection %s did not complete (%s); the next check covers its faces",
                self.col.name,
                type(exc).__name__,
            )
            return None
        self.results.append(done)
        return done
