"""People: the gallery's faces grouped into identities per model pack, corrected by hand, searched by person,
and "who appears with whom" (`together`), which is a search like any other: same gate, audit entry, case
report.

Clustering (`clustering.cluster`) runs incrementally after each ingest (new faces join the nearest person
when the link passes, else start people) and as a full pass on demand. Corrections are constraints kept by
face ids (`person_corrections`) and applied on every full pass; each is audited and can be undone. Erasure
needs no hook: `person_faces` rows go with their faces (ON DELETE CASCADE), and every use case here first
removes people left without a face and remakes templates whose face count changed.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import numpy as np
from pydantic import BaseModel
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.engine import Connection

from ..calibration.tables import load_table
from ..errors import FacesearchError
from ..services import clustering
from ..services.hiding import matching
from ..services.uploads import Photo
from ..store import Store
from ..store.audit import PEOPLE_CLUSTER, PEOPLE_CORRECT, PEOPLE_TOGETHER, PEOPLE_UNDO, PEOPLE_VIEW
from ..store.people_tables import Person, PersonCorrection, PersonFace
from ..store.schema import Collection, Face, Image
from .context import Actor, Context, system_actor
from .errors import Conflict, Invalid, NotFound
from .optout import optout_threshold
from .optout import templates as optout_templates
from .policy import search_gate
from .roles import allowed
from .searching import Lead, LeadFace, SearchAnswer, SearchRequest, search

NAME_MAX = 200
KINDS = ("name", "merge", "split", "move", "reject")
# Ids per IN (...) list: SQLite binds at most 32,766 values in one statement.
IN_CHUNK = 10_000


# Reading ---------------------------------------------------------------------------------------------


def _collections(store: Store, names: Sequence[str] | None = None) -> list[Collection]:
    cols = store.list_collections()
    if names:
        known = {c.name: c for c in cols}
        missing = [n for n in names if n not in known]
        if missing:
            raise NotFound(f"no collection named {missing[0]!r}")
        return [known[n] for n in names]
    return cols


def _pack_faces(store: Store, cols: Sequence[Collection]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(face ids, embeddings, image ids, quality) of every face of these collections (one pack), id order."""
    ids_l, vec_l = [], []
    for col in cols:
        for ids, vecs in store.iter_embeddings(col.id, col.dim):
            ids_l.append(ids)
            vec_l.append(vecs)
    if not ids_l:
        dim = cols[0].dim if cols else 0
        return np.zeros(0, np.int64), np.zeros((0, dim), np.float32), np.zeros(0, np.int64), np.zeros(0, np.float32)
    ids = np.concatenate(ids_l)
    vecs = np.concatenate(vec_l)
    order = np.argsort(ids, kind="stable")
    ids, vecs = ids[order], vecs[order]
    img, qual = _face_rows(store, ids)
    return ids, vecs, img, qual


def _face_rows(store: Store, face_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Image id and quality of each face, in the order given."""
    found: dict[int, tuple[int, float]] = {}
    with store.database.connect() as conn:
        for i in range(0, len(face_ids), 900):
            chunk = [int(x) for x in face_ids[i : i + 900]]
            found.update(
                {
                    int(f): (int(im), float(q))
                    for f, im, q in conn.execute(select(Face.id, Face.image_id, Face.quality).where(Face.id.in_(chunk)))
                }
            )
    img = np.fromiter((found[int(f)][0] for f in face_ids), np.int64, len(face_ids))
    qual = np.fromiter((found[int(f)][1] for f in face_ids), np.float32, len(face_ids))
    return img, qual


def _members(store: Store, model: str | None = None) -> dict[int, list[int]]:
    """Person id -> face ids (ascending), for one pack or all."""
    query = select(PersonFace.person_id, PersonFace.face_id).join(Person, Person.id == PersonFace.person_id)
    if model is not None:
        query = query.where(Person.model == model)
    out: dict[int, list[int]] = defaultdict(list)
    with store.database.connect() as conn:
        for pid, fid in conn.execute(query.order_by(PersonFace.face_id)):
            out[int(pid)].append(int(fid))
    return dict(out)


def _faces_of(store: Store, person_id: int) -> list[int]:
    """One person's face ids, ascending."""
    with store.database.connect() as conn:
        return [
            int(f)
            for f in conn.scalars(
                select(PersonFace.face_id).where(PersonFace.person_id == int(person_id)).order_by(PersonFace.face_id)
            )
        ]


def _persons_of(store: Store, face_ids: Iterable[int]) -> dict[int, int]:
    """Face id -> person id, for those of the faces that belong to a person."""
    ids = sorted({int(f) for f in face_ids})
    out: dict[int, int] = {}
    with store.database.connect() as conn:
        for i in range(0, len(ids), IN_CHUNK):
            out.update(
                {
                    int(f): int(p)
                    for f, p in conn.execute(
                        select(PersonFace.face_id, PersonFace.person_id).where(
                            PersonFace.face_id.in_(ids[i : i + IN_CHUNK])
                        )
                    )
                }
            )
    return out


def _people_in_images(store: Store, image_ids: Iterable[int]) -> dict[int, set[int]]:
    """Person id -> those of the images in which the person has a face."""
    ids = sorted({int(i) for i in image_ids})
    out: dict[int, set[int]] = defaultdict(set)
    with store.database.connect() as conn:
        for i in range(0, len(ids), IN_CHUNK):
            for pid, img in conn.execute(
                select(PersonFace.person_id, Face.image_id)
                .join(Face, Face.id == PersonFace.face_id)
                .where(Face.image_id.in_(ids[i : i + IN_CHUNK]))
            ):
                out[int(pid)].add(int(img))
    return out


def _person(store: Store, person_id: int) -> Person:
    with store.session() as s:
        row = s.get(Person, int(person_id))
    if row is None:
        raise NotFound(f"no person with id {person_id}")
    return row


def _person_of_face(store: Store, face_id: int) -> int | None:
    with store.database.connect() as conn:
        pid = conn.scalar(select(PersonFace.person_id).where(PersonFace.face_id == int(face_id)))
    return int(pid) if pid is not None else None


def _images_of(store: Store, face_ids: Iterable[int]) -> dict[int, int]:
    ids = [int(f) for f in face_ids]
    out: dict[int, int] = {}
    with store.database.connect() as conn:
        for i in range(0, len(ids), 900):
            out.update(
                {
                    int(f): int(im)
                    for f, im in conn.execute(select(Face.id, Face.image_id).where(Face.id.in_(ids[i : i + 900])))
                }
            )
    return out


def _face_pack(store: Store, face_id: int) -> tuple[str, int]:
    with store.database.connect() as conn:
        row = conn.execute(
            select(Collection.model, Collection.dim)
            .join(Face, Face.collection_id == Collection.id)
            .where(Face.id == int(face_id))
        ).first()
    if row is None:
        raise NotFound(f"no face with id {face_id}")
    return str(row[0]), int(row[1])


def resolve_person(store: Store, text: str | int) -> int:
    """A person given as an id or an exact name (a name shared by several people is refused as ambiguous)."""
    value = str(text).strip()
    if value.isdigit():
        return _person(store, int(value)).id
    with store.database.connect() as conn:
        ids = [int(i) for i in conn.scalars(select(Person.id).where(Person.name == value))]
    if not ids:
        raise NotFound(f"no person named {value!r}")
    if len(ids) > 1:
        raise Invalid(f"{len(ids)} people are named {value!r}; give an id: {', '.join(map(str, ids))}")
    return ids[0]


# Upkeep: erased faces, stale templates ----------------------------------------------------------------


def tidy(store: Store, model: str | None = None) -> dict[str, int]:
    """Remove people left without a face (their last face was erased or moved) and remake every template
    whose face count no longer matches its rows. Cheap when nothing changed (two aggregate queries)."""
    with store.database.begin() as conn:
        empty = select(Person.id).where(~select(PersonFace.face_id).where(PersonFace.person_id == Person.id).exists())
        if model is not None:
            empty = empty.where(Person.model == model)
        gone = [int(i) for i in conn.scalars(empty)]
        for i in range(0, len(gone), IN_CHUNK):
            conn.execute(delete(Person).where(Person.id.in_(gone[i : i + IN_CHUNK])))
        counts = (
            select(Person.id, Person.model, Person.template_faces, func.count(PersonFace.face_id))
            .join(PersonFace, PersonFace.person_id == Person.id)
            .group_by(Person.id)
        )
        if model is not None:
            counts = counts.where(Person.model == model)
        stale = [(int(p), str(m)) for p, m, t, n in conn.execute(counts) if int(t or 0) != int(n)]
    by_model: dict[str, list[int]] = defaultdict(list)
    for pid, m in stale:
        by_model[m].append(pid)
    for m, pids in by_model.items():
        _remake_templates(store, m, pids)
    return {"removed": len(gone), "templates": len(stale)}


def _pack_dim(store: Store, model: str) -> int | None:
    for c in store.list_collections():
        if c.model == model:
            return c.dim
    return None


def _remake_templates(store: Store, model: str, person_ids: Iterable[int]) -> None:
    pids = sorted({int(p) for p in person_ids})
    dim = _pack_dim(store, model)
    if not pids or dim is None:
        return
    rows: list[Any] = []
    with store.database.connect() as conn:
        for i in range(0, len(pids), IN_CHUNK):  # SQLite: at most 32,766 bound values per statement
            rows.extend(
                conn.execute(
                    select(PersonFace.person_id, PersonFace.face_id, Face.quality)
                    .join(Face, Face.id == PersonFace.face_id)
                    .where(PersonFace.person_id.in_(pids[i : i + IN_CHUNK]))
                ).all()
            )
    if not rows:
        return
    pid_arr = np.array([r[0] for r in rows], np.int64)
    fids = [int(r[1]) for r in rows]
    qual = np.array([r[2] for r in rows], np.float32)
    emb = store.embeddings(fids, dim)
    uniq, labels = np.unique(pid_arr, return_inverse=True)
    tmpl = clustering.templates(emb, labels, qual, len(uniq))
    counts = np.bincount(labels, minlength=len(uniq))
    with store.database.begin() as conn:
        for j, pid in enumerate(uniq.tolist()):
            conn.execute(
                update(Person).where(Person.id == pid).values(template=tmpl[j].tobytes(), template_faces=int(counts[j]))
            )


def _templates(store: Store, model: str) -> tuple[np.ndarray, np.ndarray]:
    """(person ids, templates) of a pack's people (templates current: call `tidy` first)."""
    with store.database.connect() as conn:
        rows = conn.execute(
            select(Person.id, Person.template)
            .where(Person.model == model, Person.template.is_not(None))
            .order_by(Person.id)
        ).all()
    if not rows:
        return np.zeros(0, np.int64), np.zeros((0, _pack_dim(store, model) or 0), np.float32)
    return (np.array([r[0] for r in rows], np.int64), np.stack([np.frombuffer(r[1] or b"", np.float32) for r in rows]))


def _insert_person(conn: Connection, model: str, name: str | None, now: datetime) -> int:
    # template_faces -1: no template yet, so `tidy` makes it
    return int(
        conn.execute(
            insert(Person).values(model=model, name=name, created_at=now, template_faces=-1).returning(Person.id)
        ).scalar_one()
    )


# Clustering ------------------------------------------------------------------------------------------


def _threshold(ctx: Context, model: str, gallery_size: int) -> tuple[float, str]:
    table = load_table(model, ctx.settings.home / "calibration")
    return clustering.link_threshold(table, gallery_size, clustering.LINK_FPIR, ctx.settings.verify_fmr)


def _active_corrections(store: Store) -> list[PersonCorrection]:
    with store.session() as s:
        return list(
            s.scalars(
                select(PersonCorrection).where(PersonCorrection.undone_at.is_(None)).order_by(PersonCorrection.id)
            )
        )


def _constraints(store: Store, face_ids: np.ndarray) -> tuple[clustering.Constraints, dict[int, str | None]]:
    """Every active correction as constraints on rows of `face_ids` (faces not there are left out), and the
    name each exclusive label stands for."""
    row = {int(f): i for i, f in enumerate(face_ids.tolist())}

    def rows(ids: Iterable[int]) -> np.ndarray:
        return np.array([row[int(f)] for f in ids if int(f) in row], np.int64)

    cons = clustering.Constraints(exclusive=np.full(len(face_ids), -1, np.int64))
    names: dict[str, int] = {}
    assert cons.exclusive is not None
    for c in _active_corrections(store):
        links = c.links or {}
        for group in links.get("must", []):
            r = rows(group)
            if len(r) > 1:
                cons.must_link.append(r)
        for left, right in links.get("cannot", []):
            a, b = rows(left), rows(right)
            if len(a) and len(b):
                cons.cannot_link.append((a, b))
        if c.kind == "name":
            # The latest name of a face wins; faces named differently are never one person.
            r = rows(c.faces)
            label = names.setdefault(c.name, len(names)) if c.name else -1
            cons.exclusive[r] = label
    return cons, {v: k for k, v in names.items()}


def _full_pass(ctx: Context, model: str, cols: list[Collection]) -> dict[str, Any]:
    store = ctx.store
    started = time.perf_counter()
    ids, emb, img, qual = _pack_faces(store, cols)
    threshold, reason = _threshold(ctx, model, len(ids))
    cons, label_names = _constraints(store, ids)
    labels = clustering.cluster(emb, img, threshold, constraints=cons)
    n_people = int(labels.max()) + 1 if len(labels) else 0
    # Each new group keeps the id of the old person it overlaps most (largest overlaps first), so ids and
    # names stay put across passes; the rest are new people.
    old = {f: p for p, fs in _members(store, model).items() for f in fs}
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
    names: dict[int, str | None] = {}
    assert cons.exclusive is not None
    for lab, x in zip(labels.tolist(), cons.exclusive.tolist()):
        if x >= 0:
            names[lab] = label_names[x]
    with store.session() as s:
        old_names = {int(p.id): p.name for p in s.scalars(select(Person).where(Person.model == model))}
    with store.database.begin() as conn:
        if len(ids):
            for i in range(0, len(ids), 900):
                conn.execute(delete(PersonFace).where(PersonFace.face_id.in_([int(x) for x in ids[i : i + 900]])))
        person_of: dict[int, int] = {}
        for lab in range(n_people):
            name = names.get(lab)
            if lab in keep:
                pid = keep[lab]
                # A name given by a correction wins; else the person keeps the name it had.
                conn.execute(
                    update(Person)
                    .where(Person.id == pid)
                    .values(name=name if name is not None else old_names.get(pid), template_faces=-1)
                )
            else:
                pid = _insert_person(conn, model, name, ctx.now())
            person_of[lab] = pid
        if len(ids):
            conn.execute(
                insert(PersonFace),
                [{"face_id": f, "person_id": person_of[lab]} for f, lab in zip(ids.tolist(), labels.tolist())],
            )
    tidy(store, model)
    return {
        "model": model,
        "collections": [c.name for c in cols],
        "faces": int(len(ids)),
        "people": n_people,
        "assigned": int(len(ids)),
        "started": n_people - len(keep),
        "threshold": round(threshold, 6),
        "threshold_reason": reason,
        "full": True,
        "seconds": round(time.perf_counter() - started, 3),
    }


def _incremental_pass(ctx: Context, model: str, cols: list[Collection]) -> dict[str, Any]:
    """Faces of these collections that belong to no person join the best person (template) at or above the
    link threshold, else are clustered among themselves into new people."""
    store = ctx.store
    started = time.perf_counter()
    tidy(store, model)
    col_ids = [c.id for c in cols]
    with store.database.connect() as conn:
        new = np.array(
            list(
                conn.scalars(
                    select(Face.id)
                    .where(
                        Face.collection_id.in_(col_ids),
                        ~select(PersonFace.face_id).where(PersonFace.face_id == Face.id).exists(),
                    )
                    .order_by(Face.id)
                )
            ),
            np.int64,
        )
    pack_cols = [c for c in store.list_collections() if c.model == model]
    gallery = store.gallery_size([c.id for c in pack_cols])
    threshold, reason = _threshold(ctx, model, gallery)
    out = {
        "model": model,
        "collections": [c.name for c in cols],
        "faces": int(len(new)),
        "people": 0,
        "assigned": 0,
        "started": 0,
        "threshold": round(threshold, 6),
        "threshold_reason": reason,
        "full": False,
        "seconds": 0.0,
    }
    if not len(new):
        return out
    dim = cols[0].dim
    emb = store.embeddings(new.tolist(), dim)
    img, _ = _face_rows(store, new)
    pids, tmpl = _templates(store, model)
    # The same-image rule only needs the new faces' photos: who already has a face in one of them.
    in_images = _people_in_images(store, img.tolist())
    p_images = [in_images.get(int(p), set()) for p in pids]
    cons, _ = _constraints(store, new)
    banned = _banned(store, new, pids)
    chosen = clustering.assign(emb, img, tmpl, p_images, threshold, banned)
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
    n_new = int(labels.max()) + 1 if len(labels) else 0
    with store.database.begin() as conn:
        created = [_insert_person(conn, model, None, ctx.now()) for _ in range(n_new)]
        rows = [{"face_id": int(new[r]), "person_id": int(pids[chosen[r]])} for r in np.flatnonzero(joined)]
        rows += [{"face_id": int(new[r]), "person_id": created[lab]} for r, lab in zip(rest.tolist(), labels.tolist())]
        conn.execute(insert(PersonFace), rows)
    _remake_templates(store, model, [r["person_id"] for r in rows])
    out.update(
        people=len({r["person_id"] for r in rows}),
        assigned=int(joined.sum()),
        started=n_new,
        seconds=round(time.perf_counter() - started, 3),
    )
    return out


def _subset(rows: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """Rows of `keep` (as positions in it) that are in `rows`."""
    where = {int(r): i for i, r in enumerate(keep.tolist())}
    return np.array([where[int(r)] for r in rows if int(r) in where], np.int64)


def _banned(store: Store, new: np.ndarray, pids: np.ndarray) -> list[set[int]]:
    """Per new face, the people (template positions) a cannot-link correction keeps it out of."""
    pos = {int(p): j for j, p in enumerate(pids.tolist())}
    new_rows = {int(f): i for i, f in enumerate(new.tolist())}
    pairs: list[tuple[list[int], list[int]]] = []  # (rows of new faces, faces they must not join)
    for c in _active_corrections(store):
        for left, right in (c.links or {}).get("cannot", []):
            for a, b in ((left, right), (right, left)):
                rows = [new_rows[int(f)] for f in a if int(f) in new_rows]
                if rows:
                    pairs.append((rows, [int(f) for f in b]))
    person_of = _persons_of(store, (f for _, b in pairs for f in b))
    out: list[set[int]] = [set() for _ in range(len(new))]
    for rows, b in pairs:
        people = {pos[person_of[f]] for f in b if f in person_of and person_of[f] in pos}
        for r in rows:
            out[r] |= people
    return out


def _passes(ctx: Context, collection: str | None) -> list[tuple[str, list[Collection]]]:
    cols = _collections(ctx.store, [collection] if collection else None)
    by_model: dict[str, list[Collection]] = defaultdict(list)
    for c in cols:
        by_model[c.model].append(c)
    return sorted(by_model.items())


@allowed("operator", "admin")
def cluster(ctx: Context, actor: Actor, *, collection: str | None = None, full: bool = False) -> dict[str, Any]:
    """Group faces into people. Incremental by default (faces in no person yet join or start people); `full`
    re-clusters every face of the pack (of `collection`, or of every pack in use), applying every active
    correction. The threshold comes from the pack's calibration table."""
    passes = []
    with ctx.engine_lock:
        for model, cols in _passes(ctx, collection):
            if full:
                passes.append(_full_pass(ctx, model, [c for c in ctx.store.list_collections() if c.model == model]))
            else:
                passes.append(_incremental_pass(ctx, model, cols))
    ctx.audit.record(
        PEOPLE_CLUSTER,
        actor=actor.name,
        role=actor.role,
        ip=actor.ip,
        collections=[c for p in passes for c in p["collections"]],
        results=[{k: p[k] for k in ("model", "faces", "people", "assigned", "started")} for p in passes],
        details={"full": full, "thresholds": {p["model"]: p["threshold"] for p in passes}},
    )
    return {"passes": passes}


def cluster_new(ctx: Context, collection: str) -> dict[str, Any]:
    """The ingest hook: the collection's new faces join or start people (incremental, as the system).

    A pack without a calibration table cannot link faces; its faces wait for `people cluster`."""
    col = ctx.store.get_collection(collection)
    if col is None:
        return {"passes": []}
    try:
        one = _incremental_pass(ctx, col.model, [col])
    except FacesearchError:
        return {"passes": []}
    if one["faces"]:
        who = system_actor("ingest")
        ctx.audit.record(
            PEOPLE_CLUSTER,
            actor=who.name,
            role=who.role,
            collections=[col.name],
            results=[{k: one[k] for k in ("model", "faces", "people", "assigned", "started")}],
            details={"full": False, "thresholds": {one["model"]: one["threshold"]}},
        )
    return {"passes": [one]}


# Viewing ---------------------------------------------------------------------------------------------


def _face_info(store: Store, face_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    return store.face_details(list(face_ids))


@allowed("examiner", "operator")
def list_people(
    ctx: Context,
    actor: Actor,
    *,
    model: str | None = None,
    collection: str | None = None,
    min_faces: int = 1,
    limit: int | None = None,
) -> dict[str, Any]:
    """Every person (most faces first) with their faces and photos."""
    store = ctx.store
    tidy(store)
    allowed_cols = {c.name for c in _collections(store, [collection] if collection else None)}
    with store.session() as s:
        people = {int(p.id): p for p in s.scalars(select(Person))}
    members = _members(store, model)
    info = _face_info(store, [f for fs in members.values() for f in fs])
    out: list[dict[str, Any]] = []
    for pid, fids in members.items():
        p = people.get(pid)
        # Best face first: the one a grid shows for the person.
        shown = sorted(
            (f for f in fids if f in info and info[f]["collection"] in allowed_cols),
            key=lambda f: (-float(info[f]["quality"] or 0.0), f),
        )
        faces = [{"face_id": f, "image": {"id": info[f]["image_id"], "path": info[f]["path"]}} for f in shown]
        if p is None or len(faces) < max(1, min_faces):
            continue
        out.append({"id": pid, "name": p.name, "model": p.model, "face_count": len(faces), "faces": faces})
    out.sort(key=lambda d: (-d["face_count"], d["id"]))
    if limit is not None:
        out = out[: max(0, limit)]
    ctx.audit.record(
        PEOPLE_VIEW,
        actor=actor.name,
        role=actor.role,
        ip=actor.ip,
        collections=sorted(allowed_cols),
        results={"people": [d["id"] for d in out], "faces": sum(d["face_count"] for d in out)},
        details={"view": "list"},
    )
    face_ids = [f["face_id"] for d in out for f in d["faces"]]
    ctx.seen.add(actor.name, "face", face_ids)
    return {"people": out}


def _similar(store: Store, model: str, person_id: int, limit: int = 5) -> list[dict[str, Any]]:
    pids, tmpl = _templates(store, model)
    where = np.flatnonzero(pids == person_id)
    if not len(where) or len(pids) < 2:
        return []
    sims = tmpl @ tmpl[where[0]]
    order = np.array([j for j in np.argsort(-sims) if j != where[0]][:limit], dtype=np.int64)
    with store.session() as s:
        names = {int(p.id): p.name for p in s.scalars(select(Person).where(Person.id.in_(pids[order].tolist())))}
    members = _members(store, model)
    return [
        {
            "person": int(pids[j]),
            "name": names.get(int(pids[j])),
            "score": round(float(sims[j]), 6),
            "face_count": len(members.get(int(pids[j]), [])),
        }
        for j in order
    ]


def _correction_dict(c: PersonCorrection) -> dict[str, Any]:
    return {
        "id": c.id,
        "kind": c.kind,
        "actor": c.actor,
        "at": c.created_at.isoformat() if c.created_at else None,
        "name": c.name,
        "faces": list(c.faces),
        "undone_at": c.undone_at.isoformat() if c.undone_at else None,
        "undone_by": c.undone_by,
    }


@allowed("examiner", "operator")
def show_person(ctx: Context, actor: Actor, person_id: int) -> dict[str, Any]:
    """A person's faces (best quality first), photos, corrections, and the people most like them."""
    store = ctx.store
    tidy(store)
    p = _person(store, person_id)
    fids = _faces_of(store, p.id)
    info = _face_info(store, fids)
    faces = sorted(
        (
            {
                "face_id": f,
                "quality": info[f]["quality"],
                "box": info[f]["box"],
                "thumbnail": info[f]["thumbnail"],
                "image": {"id": info[f]["image_id"], "path": info[f]["path"], "collection": info[f]["collection"]},
            }
            for f in fids
            if f in info
        ),
        key=lambda d: (-(d["quality"] or 0), d["face_id"]),
    )
    corrections = [_correction_dict(c) for c in _corrections_about(store, fids)]
    ctx.audit.record(
        PEOPLE_VIEW,
        actor=actor.name,
        role=actor.role,
        ip=actor.ip,
        collections=sorted({f["image"]["collection"] for f in faces}),
        results={"person": p.id, "face_ids": [f["face_id"] for f in faces]},
        details={"view": "person"},
    )
    ctx.seen.add(actor.name, "face", [f["face_id"] for f in faces])
    ctx.seen.add(actor.name, "image", [f["image"]["id"] for f in faces])
    return {
        "id": p.id,
        "name": p.name,
        "model": p.model,
        "face_count": len(faces),
        "faces": faces,
        "photos": len({f["image"]["id"] for f in faces}),
        "corrections": corrections,
        "similar": _similar(store, p.model, p.id),
    }


def _corrections_about(store: Store, face_ids: Iterable[int]) -> list[PersonCorrection]:
    wanted = {int(f) for f in face_ids}
    out = []
    with store.session() as s:
        for c in s.scalars(select(PersonCorrection).order_by(PersonCorrection.id)):
            if wanted & _touched(c):
                out.append(c)
    return out


def _touched(c: PersonCorrection) -> set[int]:
    links = c.links or {}
    ids = {int(f) for f in c.faces}
    ids |= {int(f) for g in links.get("must", []) for f in g}
    ids |= {int(f) for pair in links.get("cannot", []) for side in pair for f in side}
    ids |= {int(f) for f in (c.before or {}).get("faces", {})}
    return ids


@allowed("examiner", "operator")
def list_corrections(ctx: Context, actor: Actor, *, person_id: int | None = None) -> dict[str, Any]:
    store = ctx.store
    if person_id is None:
        with store.session() as s:
            rows = list(s.scalars(select(PersonCorrection).order_by(PersonCorrection.id)))
    else:
        rows = _corrections_about(store, _faces_of(store, _person(store, person_id).id))
    return {"corrections": [_correction_dict(c) for c in rows]}


@allowed("examiner", "operator")
def suggestions(ctx: Context, actor: Actor, *, limit: int = 20) -> dict[str, Any]:
    """Pairs of people that may be one person: templates within the pack's verify threshold (FACESEARCH_VERIFY_FMR),
    never two people sharing a photo or kept apart by a correction. Most similar first."""
    store = ctx.store
    tidy(store)
    out: list[dict[str, Any]] = []
    with store.session() as s:
        people = {int(p.id): p for p in s.scalars(select(Person))}
    for model in sorted({p.model for p in people.values()}):
        pids, tmpl = _templates(store, model)
        if len(pids) < 2:
            continue
        try:
            t = load_table(model, ctx.settings.home / "calibration").threshold_for_fmr(ctx.settings.verify_fmr)
        except FacesearchError:
            continue
        sims, idx = clustering.knn(tmpl, k=min(5, len(pids) - 1))
        members = _members(store, model)
        imgs = _images_of(store, [f for fs in members.values() for f in fs])
        apart = _kept_apart(store, members)
        seen: set[tuple[int, int]] = set()
        for i in range(len(pids)):
            for s_, j in zip(sims[i].tolist(), idx[i].tolist()):
                if j < 0 or s_ < t:
                    continue
                a, b = sorted((int(pids[i]), int(pids[j])))
                if (a, b) in seen or (a, b) in apart:
                    continue
                seen.add((a, b))
                if {imgs[f] for f in members.get(a, [])} & {imgs[f] for f in members.get(b, [])}:
                    continue
                out.append(
                    {
                        "a": {"id": a, "name": people[a].name, "face_count": len(members.get(a, []))},
                        "b": {"id": b, "name": people[b].name, "face_count": len(members.get(b, []))},
                        "score": round(float(s_), 6),
                    }
                )
    out.sort(key=lambda d: -d["score"])
    return {"suggestions": out[:limit]}


def _kept_apart(store: Store, members: dict[int, list[int]]) -> set[tuple[int, int]]:
    person_of = {f: p for p, fs in members.items() for f in fs}
    out: set[tuple[int, int]] = set()
    for c in _active_corrections(store):
        for left, right in (c.links or {}).get("cannot", []):
            pa = {person_of[int(f)] for f in left if int(f) in person_of}
            pb = {person_of[int(f)] for f in right if int(f) in person_of}
            out |= {tuple(sorted((a, b))) for a in pa for b in pb if a != b}  # type: ignore[misc]
    return out


# Corrections -----------------------------------------------------------------------------------------


def _record(
    ctx: Context,
    actor: Actor,
    kind: str,
    *,
    faces: Sequence[int],
    links: dict[str, Any],
    before: dict[str, Any],
    name: str | None = None,
) -> PersonCorrection:
    with ctx.store.session.begin() as s:
        c = PersonCorrection(
            kind=kind,
            actor=actor.name,
            created_at=ctx.now(),
            name=name,
            faces=[int(f) for f in faces],
            links=links,
            before=before,
        )
        s.add(c)
        s.flush()
        s.expunge(c)
    return c


def _audit_correction(ctx: Context, actor: Actor, c: PersonCorrection, people: Sequence[int]) -> dict[str, Any]:
    ctx.audit.record(
        PEOPLE_CORRECT,
        actor=actor.name,
        role=actor.role,
        ip=actor.ip,
        results={"correction": c.id, "kind": c.kind, "people": sorted(set(people)), "faces": list(c.faces)},
        details={"name": c.name} if c.kind == "name" else None,
    )
    return {"correction": _correction_dict(c), "people": sorted(set(people))}


def _snapshot(store: Store, face_ids: Iterable[int], person_ids: Iterable[int]) -> dict[str, Any]:
    faces = {str(int(f)): _person_of_face(store, int(f)) for f in face_ids}
    with store.session() as s:
        people = {
            str(p.id): {"model": p.model, "name": p.name}
            for p in s.scalars(select(Person).where(Person.id.in_([int(p) for p in person_ids])))
        }
    return {"faces": faces, "people": people}


def _set_person(store: Store, face_ids: Sequence[int], person_id: int) -> None:
    with store.database.begin() as conn:
        ids = [int(f) for f in face_ids]
        conn.execute(delete(PersonFace).where(PersonFace.face_id.in_(ids)))
        if ids:
            conn.execute(insert(PersonFace), [{"face_id": f, "person_id": int(person_id)} for f in ids])


def _new_person(ctx: Context, model: str, name: str | None = None) -> int:
    with ctx.store.database.begin() as conn:
        return _insert_person(conn, model, name, ctx.now())


def _check_no_shared_photo(store: Store, a: Sequence[int], b: Sequence[int]) -> None:
    imgs = _images_of(store, list(a) + list(b))
    if {imgs[f] for f in a if f in imgs} & {imgs[f] for f in b if f in imgs}:
        raise Conflict("two faces of one photo are never one person: these share a photo")


def _after(ctx: Context, model: str, people: Iterable[int]) -> None:
    _remake_templates(ctx.store, model, people)
    tidy(ctx.store, model)


@allowed("examiner", "operator")
def name_person(ctx: Context, actor: Actor, person_id: int, name: str | None) -> dict[str, Any]:
    """Name a person (None or "" clears the name). The name is kept by the person's faces: a later full pass
    gives it to whichever person they end up in, and people named differently are never merged."""
    store = ctx.store
    tidy(store)
    p = _person(store, person_id)
    clean = (name or "").strip() or None
    if clean is not None and len(clean) > NAME_MAX:
        raise Invalid(f"a name is at most {NAME_MAX} characters", field="name")
    fids = _faces_of(store, p.id)
    c = _record(ctx, actor, "name", faces=fids, links={}, before=_snapshot(store, [], [p.id]), name=clean)
    with store.database.begin() as conn:
        conn.execute(update(Person).where(Person.id == p.id).values(name=clean))
    return _audit_correction(ctx, actor, c, [p.id])


@allowed("examiner", "operator")
def merge_people(ctx: Context, actor: Actor, person_id: int, other_id: int) -> dict[str, Any]:
    """The other person's faces join this person (must-link); the other person goes."""
    store = ctx.store
    tidy(store)
    p, o = _person(store, person_id), _person(store, other_id)
    if p.id == o.id:
        raise Invalid("a person cannot be merged with themselves")
    if p.model != o.model:
        raise Conflict(f"people of different model packs ({p.model}, {o.model}) cannot be merged")
    members = _members(store)
    a, b = members.get(p.id, []), members.get(o.id, [])
    _check_no_shared_photo(store, a, b)
    before = _snapshot(store, b, [p.id, o.id])
    c = _record(ctx, actor, "merge", faces=a + b, links={"must": [a + b]}, before=before)
    _set_person(store, b, p.id)
    if p.name is None and o.name is not None:
        with store.database.begin() as conn:
            conn.execute(update(Person).where(Person.id == p.id).values(name=o.name))
    _after(ctx, p.model, [p.id])
    return _audit_correction(ctx, actor, c, [p.id, o.id])


@allowed("examiner", "operator")
def split_person(ctx: Context, actor: Actor, person_id: int, face_ids: Sequence[int]) -> dict[str, Any]:
    """These faces of a person become a new person: one person together, never with the faces left."""
    store = ctx.store
    tidy(store)
    p = _person(store, person_id)
    fids = _faces_of(store, p.id)
    part = sorted({int(f) for f in face_ids})
    if not part or any(f not in fids for f in part):
        raise Invalid(f"give faces of person {p.id} to split off", field="face_ids")
    rest = [f for f in fids if f not in part]
    if not rest:
        raise Invalid("a split must leave at least one face with the person", field="face_ids")
    before = _snapshot(store, part, [p.id])
    new = _new_person(ctx, p.model)
    c = _record(
        ctx,
        actor,
        "split",
        faces=part,
        links={"must": [part], "cannot": [[part, rest]]},
        before={**before, "created": [new]},
    )
    _set_person(store, part, new)
    _after(ctx, p.model, [p.id, new])
    out = _audit_correction(ctx, actor, c, [p.id, new])
    out["new_person"] = new
    return out


@allowed("examiner", "operator")
def move_face(ctx: Context, actor: Actor, face_id: int, person_id: int) -> dict[str, Any]:
    """A face moves to a person: with their faces from now on, never again with the ones it leaves."""
    store = ctx.store
    tidy(store)
    target = _person(store, person_id)
    model, _ = _face_pack(store, face_id)
    if model != target.model:
        raise Conflict(f"face {face_id} is of model pack {model}, person {target.id} of {target.model}")
    source = _person_of_face(store, face_id)
    if source == target.id:
        raise Conflict(f"face {face_id} already belongs to person {target.id}")
    members = _members(store)
    theirs = members.get(target.id, [])
    _check_no_shared_photo(store, [face_id], theirs)
    left = [f for f in members.get(source, []) if f != face_id] if source is not None else []
    links: dict[str, Any] = {"must": [[int(face_id)] + theirs]}
    if left:
        links["cannot"] = [[[int(face_id)], left]]
    before = _snapshot(store, [face_id], [p for p in (source, target.id) if p is not None])
    c = _record(ctx, actor, "move", faces=[face_id], links=links, before=before)
    _set_person(store, [face_id], target.id)
    _after(ctx, model, [p for p in (source, target.id) if p is not None])
    return _audit_correction(ctx, actor, c, [p for p in (source, target.id) if p is not None])


@allowed("examiner", "operator")
def reject_face(ctx: Context, actor: Actor, person_id: int, face_id: int) -> dict[str, Any]:
    """ "Not this person": the face leaves the person (a person of its own for now) and never joins them again."""
    store = ctx.store
    tidy(store)
    p = _person(store, person_id)
    fids = _faces_of(store, p.id)
    if int(face_id) not in fids:
        raise NotFound(f"face {face_id} is not one of person {p.id}'s faces")
    rest = [f for f in fids if f != int(face_id)]
    before = _snapshot(store, [face_id], [p.id])
    new = _new_person(ctx, p.model)
    links = {"cannot": [[[int(face_id)], rest]]} if rest else {}
    c = _record(ctx, actor, "reject", faces=[face_id], links=links, before={**before, "created": [new]})
    _set_person(store, [face_id], new)
    _after(ctx, p.model, [p.id, new])
    out = _audit_correction(ctx, actor, c, [p.id, new])
    out["new_person"] = new
    return out


@allowed("examiner", "operator")
def undo(ctx: Context, actor: Actor, correction_id: int) -> dict[str, Any]:
    """Undo a correction: its constraint is dropped and the faces and names it changed are put back. A later
    correction of the same faces must be undone first."""
    store = ctx.store
    tidy(store)
    with store.session() as s:
        c = s.get(PersonCorrection, int(correction_id))
        later = list(
            s.scalars(
                select(PersonCorrection).where(
                    PersonCorrection.id > int(correction_id), PersonCorrection.undone_at.is_(None)
                )
            )
        )
    if c is None:
        raise NotFound(f"no correction with id {correction_id}")
    if c.undone_at is not None:
        raise Conflict(f"correction {c.id} was already undone by {c.undone_by}")
    mine = _touched(c)
    blocking = [x.id for x in later if _touched(x) & mine]
    if blocking:
        raise Conflict(
            f"undo the later corrections of the same faces first: {', '.join(map(str, blocking))}", corrections=blocking
        )
    before = c.before or {}
    people: dict[int, dict[str, Any]] = {int(k): v for k, v in before.get("people", {}).items()}
    with store.session() as s:
        existing = {int(i) for i in s.scalars(select(Person.id).where(Person.id.in_(list(people))))}
    touched: set[int] = set()
    faces = {int(k): v for k, v in before.get("faces", {}).items()}
    present = set(_images_of(store, list(faces)))  # faces erased since stay erased
    now_in = {fid: _person_of_face(store, fid) for fid in faces if fid in present}
    with store.database.begin() as conn:
        for pid, data in people.items():
            if pid in existing:
                conn.execute(update(Person).where(Person.id == pid).values(name=data.get("name")))
            else:  # a merged-away person comes back under its id
                conn.execute(
                    insert(Person).values(
                        id=pid, model=data["model"], name=data.get("name"), created_at=ctx.now(), template_faces=-1
                    )
                )
            touched.add(pid)
        for fid, pid in faces.items():
            if fid not in present:
                continue
            touched.add(now_in.get(fid) or 0)
            conn.execute(delete(PersonFace).where(PersonFace.face_id == fid))
            if pid is not None:
                conn.execute(insert(PersonFace).values(face_id=fid, person_id=int(pid)))
        conn.execute(
            update(PersonCorrection)
            .where(PersonCorrection.id == c.id)
            .values(undone_at=ctx.now(), undone_by=actor.name)
        )
    touched.discard(0)
    model = next((d["model"] for d in people.values()), None)
    if model is not None:
        _after(ctx, model, touched)
    else:
        tidy(store)
    ctx.audit.record(
        PEOPLE_UNDO,
        actor=actor.name,
        role=actor.role,
        ip=actor.ip,
        results={"correction": c.id, "kind": c.kind, "people": sorted(touched)},
    )
    with store.session() as s:
        done = s.get(PersonCorrection, c.id)
    assert done is not None
    return {"correction": _correction_dict(done), "people": sorted(touched)}


# Searches by person ----------------------------------------------------------------------------------


def _opted_out_people(ctx: Context, model: str, people: Iterable[int], members: dict[int, list[int]]) -> set[int]:
    """People with any face that matches an opt-out template (faces stored before the opt-out, or left
    for review): never returned by a search."""
    store = ctx.store
    tmpl = optout_templates(store, model)
    wanted = [int(p) for p in people]
    if not len(tmpl) or not wanted:
        return set()
    dim = _pack_dim(store, model)
    threshold, _ = optout_threshold(ctx.settings, model)
    out: set[int] = set()
    for pid in wanted:
        fids = members.get(pid, [])
        if fids and dim and matching(store.embeddings(fids, dim), tmpl, threshold).any():
            out.add(pid)
    return out


@allowed("examiner")
def together(
    ctx: Context,
    actor: Actor,
    person_id: int,
    *,
    case_ref: str | None,
    purpose: str | None,
    collections: list[str] | None = None,
) -> dict[str, Any]:
    """The other people in the same photos as this person: how many photos they share, and the photos
    (most shared first). A search: case reference, allowed purpose, kill switch and limits first; only the
    collections the caller may search; opted-out people never; audit-logged whatever the outcome."""
    common: dict[str, Any] = {
        "actor": actor.name,
        "role": actor.role,
        "ip": actor.ip,
        "case_ref": case_ref,
        "purpose": purpose,
        "collections": collections,
    }
    store = ctx.store
    try:
        case, why = search_gate(ctx, actor, case_ref, purpose)
        tidy(store)
        p = _person(store, person_id)
        cols = (
            [c for c in _collections(store, collections) if c.model == p.model]
            if collections
            else [c for c in _collections(store) if c.model == p.model]
        )
        col_ids = [c.id for c in cols]
        members = _members(store, p.model)
        if p.id in _opted_out_people(ctx, p.model, [p.id], members):
            raise NotFound(f"no person with id {p.id}")
        mine = members.get(p.id, [])
        with store.database.connect() as conn:
            photos = (
                sorted(
                    {
                        int(i)
                        for i in conn.scalars(
                            select(Face.image_id).where(Face.id.in_(mine), Face.collection_id.in_(col_ids))
                        )
                    }
                )
                if mine and col_ids
                else []
            )
            rows = (
                conn.execute(
                    select(PersonFace.person_id, Face.image_id)
                    .join(Face, Face.id == PersonFace.face_id)
                    .where(Face.image_id.in_(photos), PersonFace.person_id != p.id)
                ).all()
                if photos
                else []
            )
            shared: dict[int, set[int]] = defaultdict(set)
            for pid, im in rows:
                shared[int(pid)].add(int(im))
            hidden = _opted_out_people(ctx, p.model, shared, members)
            paths = (
                {
                    int(i): pth
                    for i, pth in conn.execute(
                        select(Image.id, Image.path).where(
                            Image.id.in_(sorted({i for s in shared.values() for i in s}))
                        )
                    )
                }
                if shared
                else {}
            )
            names = (
                {int(i): n for i, n in conn.execute(select(Person.id, Person.name).where(Person.id.in_(list(shared))))}
                if shared
                else {}
            )
    except FacesearchError as exc:
        ctx.audit.record(
            PEOPLE_TOGETHER, outcome="refused", details={"reason": str(exc), "person": person_id}, **common
        )
        raise
    together_: list[dict[str, Any]] = [
        {
            "person": pid,
            "name": names.get(pid),
            "photos": len(ims),
            "images": [{"id": i, "path": paths.get(i)} for i in sorted(ims)],
        }
        for pid, ims in shared.items()
        if pid not in hidden
    ]
    together_.sort(key=lambda d: (-d["photos"], d["person"]))
    entry = ctx.audit.record(
        PEOPLE_TOGETHER,
        outcome="ok" if together_ else "no_candidates",
        model=p.model,
        results={
            "person": p.id,
            "photos": len(photos),
            "together": [
                {"person": d["person"], "photos": d["photos"], "image_ids": [i["id"] for i in d["images"]]}
                for d in together_
            ],
        },
        details={"searched": [c.name for c in cols], "person_name": p.name},
        **{**common, "case_ref": case, "purpose": why, "collections": [c.name for c in cols]},
    )
    ctx.seen.add(actor.name, "image", [i["id"] for d in together_ for i in d["images"]])
    return {
        "person": p.id,
        "name": p.name,
        "together": together_,
        "photos": len(photos),
        "together_id": entry["seq"],
        "case_ref": case,
        "purpose": why,
    }


class PersonImage(BaseModel):
    id: int
    path: str | None


class PersonLead(BaseModel):
    """A person among a search's candidates, at their best face's score."""

    person: int
    name: str | None
    score: float
    fmr: float
    best_face: Lead
    images: list[PersonImage]


class PeopleSearch(SearchAnswer[LeadFace]):
    """A search whose candidates are also ranked as people."""

    people: list[PersonLead]


@allowed("examiner")
def search_people(ctx: Context, actor: Actor, probe: Photo, req: SearchRequest) -> PeopleSearch:
    """A search (`searching.search`: same gate, same audit entry) whose candidates are also ranked as people:
    each person once, at their best face's score, with that face and the person's photos in the searched
    collections. The photos shown beyond the candidates are logged as a view of the search's people."""
    result = search(ctx, actor, probe, req)
    store = ctx.store
    tidy(store)
    searched = set(result.collections)
    matches = [m for f in result.faces for m in f.matches]
    with store.database.connect() as conn:
        owner = (
            {
                int(f): int(p)
                for f, p in conn.execute(
                    select(PersonFace.face_id, PersonFace.person_id).where(
                        PersonFace.face_id.in_([m.face_id for m in matches])
                    )
                )
            }
            if matches
            else {}
        )
    best: dict[int, Lead] = {}
    for m in sorted(matches, key=lambda m: -m.score):
        pid = owner.get(m.face_id)
        if pid is not None and pid not in best:
            best[int(pid)] = m
    members = _members(store)
    info = _face_info(store, [f for pid in best for f in members.get(pid, [])])
    with store.session() as s:
        names = {int(p.id): p.name for p in s.scalars(select(Person).where(Person.id.in_(list(best))))}
    people: list[PersonLead] = []
    for pid, m in sorted(best.items(), key=lambda kv: -kv[1].score):
        imgs = {
            info[f]["image_id"]: info[f]["path"]
            for f in members.get(pid, [])
            if f in info and info[f]["collection"] in searched
        }
        people.append(
            PersonLead(
                person=pid,
                name=names.get(pid),
                score=m.score,
                fmr=m.fmr,
                best_face=m,
                images=[PersonImage(id=i, path=pth) for i, pth in sorted(imgs.items())],
            )
        )
    if people:
        ctx.audit.record(
            PEOPLE_VIEW,
            actor=actor.name,
            role=actor.role,
            ip=actor.ip,
            case_ref=result.case_ref,
            purpose=result.purpose,
            collections=sorted(searched),
            results={
                "search_id": result.search_id,
                "people": [{"person": d.person, "image_ids": [i.id for i in d.images]} for d in people],
            },
            details={"view": "search_people"},
        )
        ctx.seen.add(actor.name, "image", [i.id for d in people for i in d.images])
    return PeopleSearch(**dict(result), people=people)
