"""The two clustering passes over the stored faces of one model pack: the mechanism, without rules.

- The incremental pass (after each ingest, and `people cluster`): faces that belong to no person join the
  person whose template they match best at or above the link threshold, else are clustered among
  themselves into new people. It reads only what the new faces need.
- Both leave out faces below the ingest floor (FACESEARCH_INGEST_MIN_QUALITY), and first take such faces out
  of the people they are in: a home made before the floor (or with a lower one) holds blobs that became
  people, and these go at its next pass.
- The full pass (`people cluster --full`): every face of the pack is clustered again, with every active
  correction applied as constraints; each new group keeps the id (and name) of the old person it overlaps
  most, so ids and names stay put across passes.

Faces from videos follow two more rules (`people_tracks`): the faces of one track are one person, and two
tracks on screen in the same frame are never one person.

The link threshold comes from the pack's calibration table (`clustering.link_threshold`): a pack without one
cannot link faces, and the pass raises the table's error. Who may run a pass, and its audit entry, are the
use case's (`app.people.grouping`)."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from ..calibration.tables import load_table
from ..config import Settings
from ..store import Store
from ..store import people as rows
from ..store.schema import Collection
from . import clustering
from .people_tracks import banned_by_company, keep_apart, units, video_rules, with_video
from .people_upkeep import remake_templates, tidy


@dataclass(frozen=True)
class ClusterPass:
    """What one pass over one pack did."""

    model: str
    collections: list[str]
    faces: int  # faces looked at: every face of the pack (full), or those in no person yet
    people: int  # people that hold those faces now
    assigned: int  # faces that joined a person (incremental), or every face (full)
    started: int  # new people
    threshold: float
    threshold_reason: str
    full: bool
    seconds: float


def link_threshold(settings: Settings, model: str, gallery_size: int) -> tuple[float, str]:
    """The pack's link threshold for a gallery of this many faces, and why (from its calibration table)."""
    table = load_table(model, settings.home / "calibration")
    return clustering.link_threshold(table, gallery_size, clustering.LINK_FPIR, settings.verify_fmr)


def constraints(store: Store, face_ids: np.ndarray) -> tuple[clustering.Constraints, dict[int, str | None]]:
    """Every active correction as constraints on rows of `face_ids` (faces not there are left out), and the
    name each exclusive label stands for."""
    row = {int(f): i for i, f in enumerate(face_ids.tolist())}

    def rows_of(ids: Iterable[int]) -> np.ndarray:
        return np.array([row[int(f)] for f in ids if int(f) in row], np.int64)

    cons = clustering.Constraints(exclusive=np.full(len(face_ids), -1, np.int64))
    names: dict[str, int] = {}
    assert cons.exclusive is not None
    for c in rows.kept_corrections(store, active=True):
        links = c.links or {}
        for group in links.get("must", []):
            r = rows_of(group)
            if len(r) > 1:
                cons.must_link.append(r)
        for left, right in links.get("cannot", []):
            a, b = rows_of(left), rows_of(right)
            if len(a) and len(b):
                cons.cannot_link.append((a, b))
        if c.kind == "name":
            # The latest name of a face wins; faces named differently are never one person.
            r = rows_of(c.faces)
            label = names.setdefault(c.name, len(names)) if c.name else -1
            cons.exclusive[r] = label
    return cons, {v: k for k, v in names.items()}


def full_pass(
    store: Store, settings: Settings, model: str, collections: list[Collection], now: datetime
) -> ClusterPass:
    """Every face of these collections (all of the pack's) clustered again, every active correction applied."""
    started = time.perf_counter()
    rows.release_below(store, model, settings.ingest_min_quality)
    ids, emb, img, qual = rows.pack_faces(store, collections)
    # Faces below the ingest floor belong to nobody (a home made before the floor holds some).
    above = qual >= settings.ingest_min_quality
    ids, emb, img = ids[above], emb[above], img[above]
    threshold, reason = link_threshold(settings, model, len(ids))
    cons, label_names = constraints(store, ids)
    video = video_rules(store, ids, img)  # a track is one person; tracks seen together are two
    labels = clustering.cluster(emb, video.images, threshold, constraints=with_video(cons, video))
    n_people = int(labels.max()) + 1 if len(labels) else 0
    # Each new group keeps the id of the old person it overlaps most (largest overlaps first), so ids and
    # names stay put across passes; the rest are new people.
    old = {f: p for p, fs in rows.members(store, model).items() for f in fs}
    overlap: dict[tuple[int, int], int] = defaultdict(int)
    for f, lab in zip(ids.tolist(), labels.tolist()):
        if f in old:
            overlap[(lab, old[f])] += 1
    keep: dict[int, int] = {}
    used: set[int] = set()
    for (lab, pid), _n in sorted(overlap.items(), key=lambda kv: (-kv[1], kv[0])):
        if lab not in keep and pid not in used:
            keep[lab] = pid
            used.add(pid)
    # A name given by a correction wins; else a kept person keeps the name it had.
    names: dict[int, str | None] = {}
    assert cons.exclusive is not None
    for lab, x in zip(labels.tolist(), cons.exclusive.tolist()):
        if x >= 0:
            names[lab] = label_names[x]
    rows.regroup_pack(store, model, ids.tolist(), labels.tolist(), keep, names, now)
    tidy(store, model)
    return ClusterPass(
        model=model,
        collections=[c.name for c in collections],
        faces=int(len(ids)),
        people=n_people,
        assigned=int(len(ids)),
        started=n_people - len(keep),
        threshold=round(threshold, 6),
        threshold_reason=reason,
        full=True,
        seconds=round(time.perf_counter() - started, 3),
    )


def incremental_pass(
    store: Store, settings: Settings, model: str, collections: list[Collection], now: datetime
) -> ClusterPass:
    """Faces of these collections that belong to no person join the best person (template) at or above the
    link threshold, else are clustered among themselves into new people."""
    started = time.perf_counter()
    rows.release_below(store, model, settings.ingest_min_quality)
    tidy(store, model)
    new = rows.unassigned_faces(store, [c.id for c in collections])
    if len(new):
        # Faces below the ingest floor join nobody (a home made before the floor holds some).
        new = new[rows.face_rows(store, new)[1] >= settings.ingest_min_quality]
    gallery = store.gallery_size([c.id for c in store.list_collections() if c.model == model])
    threshold, reason = link_threshold(settings, model, gallery)
    if not len(new):
        return ClusterPass(
            model=model,
            collections=[c.name for c in collections],
            faces=0,
            people=0,
            assigned=0,
            started=0,
            threshold=round(threshold, 6),
            threshold_reason=reason,
            full=False,
            seconds=0.0,
        )
    emb = store.embeddings(new.tolist(), collections[0].dim)
    img, _ = rows.face_rows(store, new)
    pids, tmpl = rows.templates(store, model)
    # The same-image rule only needs the new faces' photos: who already has a face in one of them.
    in_images = rows.people_in_images(store, img.tolist())
    p_images = [in_images.get(int(p), set()) for p in pids]
    video = video_rules(store, new, img)
    cons = with_video(constraints(store, new)[0], video)
    # A video's track is placed whole (its faces' mean), never in a person who was on screen beside it.
    group = units(emb, video)
    banned = _banned(store, new, pids)
    company = banned_by_company(store, group, pids)
    banned_units = [set().union(*(banned[r] for r in g.tolist())) | company[k] for k, g in enumerate(group.rows)]
    placed_units = clustering.assign(group.emb, group.images, tmpl, p_images, threshold, banned_units)
    placed_units = keep_apart(placed_units, group, video, tmpl)
    chosen = np.full(len(new), -1, np.int64)
    for k, g in enumerate(group.rows):
        chosen[g] = placed_units[k]
    img = video.images
    joined = chosen >= 0
    rest = np.flatnonzero(~joined)
    labels = np.zeros(0, np.int64)
    if len(rest):
        sub = clustering.Constraints(
            must_link=[m for m in (_subset(g, rest) for g in cons.must_link) if len(m) > 1],
            cannot_link=[
                (a, b)
                for a, b in ((_subset(x, rest), _subset(y, rest)) for x, y in cons.cannot_link)
                if len(a) and len(b)
            ],
        )
        labels = clustering.cluster(emb[rest], img[rest], threshold, constraints=sub)
    placed = rows.add_faces(
        store,
        model,
        joins=[(int(new[r]), int(pids[chosen[r]])) for r in np.flatnonzero(joined)],
        starts=[(int(new[r]), int(lab)) for r, lab in zip(rest.tolist(), labels.tolist())],
        now=now,
    )
    remake_templates(store, model, placed.values())
    return ClusterPass(
        model=model,
        collections=[c.name for c in collections],
        faces=int(len(new)),
        people=len(set(placed.values())),
        assigned=int(joined.sum()),
        started=int(labels.max()) + 1 if len(labels) else 0,
        threshold=round(threshold, 6),
        threshold_reason=reason,
        full=False,
        seconds=round(time.perf_counter() - started, 3),
    )


def _subset(rows_: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """Rows of `keep` (as positions in it) that are in `rows_`."""
    where = {int(r): i for i, r in enumerate(keep.tolist())}
    return np.array([where[int(r)] for r in rows_ if int(r) in where], np.int64)


def _banned(store: Store, new: np.ndarray, pids: np.ndarray) -> list[set[int]]:
    """Per new face, the people (template positions) a cannot-link correction keeps it out of."""
    pos = {int(p): j for j, p in enumerate(pids.tolist())}
    new_rows = {int(f): i for i, f in enumerate(new.tolist())}
    pairs: list[tuple[list[int], list[int]]] = []  # (rows of new faces, faces they must not join)
    for c in rows.kept_corrections(store, active=True):
        for left, right in (c.links or {}).get("cannot", []):
            for a, b in ((left, right), (right, left)):
                found = [new_rows[int(f)] for f in a if int(f) in new_rows]
                if found:
                    pairs.append((found, [int(f) for f in b]))
    person_of = rows.persons_of(store, (f for _, b in pairs for f in b))
    out: list[set[int]] = [set() for _ in range(len(new))]
    for found, b in pairs:
        people = {pos[person_of[f]] for f in b if f in person_of and person_of[f] in pos}
        for r in found:
            out[r] |= people
    return out


def groups_by_pack(collections: Sequence[Collection]) -> list[tuple[str, list[Collection]]]:
    """Collections grouped by model pack (one pass per pack), packs in name order."""
    by_model: dict[str, list[Collection]] = defaultdict(list)
    for c in collections:
        by_model[c.model].append(c)
    return sorted(by_model.items())
