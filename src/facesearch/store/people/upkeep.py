"""Writing people: the upkeep after erasures (people without faces, stale templates), new people, names,
who holds which face, and what a clustering pass decided, each in one transaction."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.engine import Connection

from ..db import Store
from ..people_tables import Person, PersonFace
from ..schema import Face
from .reads import FACE_CHUNK, IN_CHUNK

# People without faces, stale templates --------------------------------------------------------


def sweep(store: Store, model: str | None = None) -> tuple[int, list[tuple[int, str]]]:
    """Remove the people left without a face (of one pack or all), in one transaction with reading which
    templates are stale (made of a number of faces the person no longer has): (people removed, [(person
    id, pack)] of the stale templates). Two aggregate queries when nothing changed."""
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
    return len(gone), stale


def release_below(store: Store, model: str, floor: float) -> int:
    """Take the faces whose quality is below `floor` (the ingest floor) out of the people of one pack, in one
    transaction; returns how many. Their people's templates are stale then, and a person left with no face is
    removed by the next `sweep`. A home made before the floor holds such faces: blobs that became people."""
    if floor <= 0:
        return 0
    with store.database.begin() as conn:
        below = [
            int(f)
            for f in conn.scalars(
                select(PersonFace.face_id)
                .join(Face, Face.id == PersonFace.face_id)
                .join(Person, Person.id == PersonFace.person_id)
                .where(Person.model == model, Face.quality < floor)
            )
        ]
        for i in range(0, len(below), IN_CHUNK):
            conn.execute(delete(PersonFace).where(PersonFace.face_id.in_(below[i : i + IN_CHUNK])))
    return len(below)


def template_rows(store: Store, person_ids: Sequence[int]) -> list[tuple[int, int, float]]:
    """(person id, face id, face quality) of every face of these people."""
    pids = [int(p) for p in person_ids]
    rows: list[tuple[int, int, float]] = []
    with store.database.connect() as conn:
        for i in range(0, len(pids), IN_CHUNK):
            rows.extend(
                (int(p), int(f), q)
                for p, f, q in conn.execute(
                    select(PersonFace.person_id, PersonFace.face_id, Face.quality)
                    .join(Face, Face.id == PersonFace.face_id)
                    .where(PersonFace.person_id.in_(pids[i : i + IN_CHUNK]))
                )
            )
    return rows


def set_templates(store: Store, made: Sequence[tuple[int, bytes, int]]) -> None:
    """Store (person id, template bytes, faces it was made of) for each person, in one transaction."""
    with store.database.begin() as conn:
        for pid, template, count in made:
            conn.execute(
                update(Person).where(Person.id == int(pid)).values(template=template, template_faces=int(count))
            )


def _insert_person(conn: Connection, model: str, name: str | None, now: datetime) -> int:
    # template_faces -1: no template yet, so the next upkeep makes it
    return int(
        conn.execute(
            insert(Person).values(model=model, name=name, created_at=now, template_faces=-1).returning(Person.id)
        ).scalar_one()
    )


def new_person(store: Store, model: str, now: datetime, name: str | None = None) -> int:
    """A person without faces yet (the caller gives them faces next); its id."""
    with store.database.begin() as conn:
        return _insert_person(conn, model, name, now)


def rename(store: Store, person_id: int, name: str | None) -> None:
    with store.database.begin() as conn:
        conn.execute(update(Person).where(Person.id == int(person_id)).values(name=name))


def set_person(store: Store, face_ids: Sequence[int], person_id: int) -> None:
    """These faces belong to this person (and to nobody else) from now on."""
    with store.database.begin() as conn:
        ids = [int(f) for f in face_ids]
        conn.execute(delete(PersonFace).where(PersonFace.face_id.in_(ids)))
        if ids:
            conn.execute(insert(PersonFace), [{"face_id": f, "person_id": int(person_id)} for f in ids])


# Clustering passes: what a pass decided, written in one transaction ---------------------------------


def regroup_pack(
    store: Store,
    model: str,
    face_ids: Sequence[int],
    labels: Sequence[int],
    keep: Mapping[int, int],
    names: Mapping[int, str | None],
    now: datetime,
) -> None:
    """A full pass's grouping: face `face_ids[i]` is in group `labels[i]` (0..n-1). Group `lab` keeps the
    person `keep[lab]` (whose template is marked stale, and whose name becomes `names[lab]` when a
    correction gave one, else stays); every other group becomes a new person named `names.get(lab)`."""
    with store.session() as s:
        old_names = {int(p.id): p.name for p in s.scalars(select(Person).where(Person.model == model))}
    n_people = max(labels) + 1 if len(labels) else 0
    with store.database.begin() as conn:
        for i in range(0, len(face_ids), FACE_CHUNK):
            conn.execute(
                delete(PersonFace).where(PersonFace.face_id.in_([int(x) for x in face_ids[i : i + FACE_CHUNK]]))
            )
        person_of: dict[int, int] = {}
        for lab in range(n_people):
            name = names.get(lab)
            if lab in keep:
                pid = keep[lab]
                conn.execute(
                    update(Person)
                    .where(Person.id == pid)
                    .values(name=name if name is not None else old_names.get(pid), template_faces=-1)
                )
            else:
                pid = _insert_person(conn, model, name, now)
            person_of[lab] = pid
        if len(face_ids):
            conn.execute(
                insert(PersonFace),
                [{"face_id": int(f), "person_id": person_of[int(lab)]} for f, lab in zip(face_ids, labels)],
            )


def add_faces(
    store: Store, model: str, joins: Sequence[tuple[int, int]], starts: Sequence[tuple[int, int]], now: datetime
) -> dict[int, int]:
    """An incremental pass's decisions: (face id, person id) joins, and (face id, new group) starts, the groups
    numbered 0..n-1 each becoming a new person. Returns face id -> person id of every face placed."""
    n_new = max((lab for _, lab in starts), default=-1) + 1
    with store.database.begin() as conn:
        created = [_insert_person(conn, model, None, now) for _ in range(n_new)]
        placed = {int(f): int(p) for f, p in joins}
        placed.update({int(f): created[lab] for f, lab in starts})
        conn.execute(insert(PersonFace), [{"face_id": f, "person_id": p} for f, p in placed.items()])
    return placed
