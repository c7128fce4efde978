"""Corrections as they are kept: what each asserts and changed, who made it, and putting back what it changed
when it is undone."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select, update

from ..db import Store
from ..people_tables import Person, PersonCorrection, PersonFace
from ..schema import Face
from .reads import images_of, person_of_face

# Corrections ----------------------------------------------------------------------------------------


def kept_corrections(store: Store, *, active: bool = False) -> list[PersonCorrection]:
    """Every correction (or only those not undone), oldest first."""
    query = select(PersonCorrection)
    if active:
        query = query.where(PersonCorrection.undone_at.is_(None))
    with store.session() as s:
        return list(s.scalars(query.order_by(PersonCorrection.id)))


def get_correction(store: Store, correction_id: int) -> PersonCorrection | None:
    with store.session() as s:
        return s.get(PersonCorrection, int(correction_id))


def active_corrections_after(store: Store, correction_id: int) -> list[PersonCorrection]:
    """The corrections made after this one that are not undone."""
    with store.session() as s:
        return list(
            s.scalars(
                select(PersonCorrection).where(
                    PersonCorrection.id > int(correction_id), PersonCorrection.undone_at.is_(None)
                )
            )
        )


def add_correction(
    store: Store,
    *,
    kind: str,
    actor: str,
    now: datetime,
    faces: Sequence[int],
    links: dict[str, Any],
    before: dict[str, Any],
    name: str | None = None,
) -> PersonCorrection:
    """Keep a correction: what it asserts (`links`), what it changes (`before`), who made it and when."""
    with store.session.begin() as s:
        c = PersonCorrection(
            kind=kind,
            actor=actor,
            created_at=now,
            name=name,
            faces=[int(f) for f in faces],
            links=links,
            before=before,
        )
        s.add(c)
        s.flush()
        s.expunge(c)
    return c


def snapshot(store: Store, face_ids: Iterable[int], person_ids: Iterable[int]) -> dict[str, Any]:
    """What a correction is about to change, as it keeps it (`before`): each face's person (None: nobody),
    each person's pack and name."""
    faces = {str(int(f)): person_of_face(store, int(f)) for f in face_ids}
    with store.session() as s:
        people = {
            str(p.id): {"model": p.model, "name": p.name}
            for p in s.scalars(select(Person).where(Person.id.in_([int(p) for p in person_ids])))
        }
    return {"faces": faces, "people": people}


def restore(
    store: Store,
    correction_id: int,
    people: Mapping[int, Mapping[str, Any]],
    faces: Mapping[int, int | None],
    *,
    now: datetime,
    by: str,
) -> set[int]:
    """Put back what a correction changed, and mark it undone by `by`, in one transaction: each person's
    name (a person that is gone comes back under its id), each face's person (a face erased since stays
    erased). Returns the people whose faces or names changed: those put back and those the faces leave."""
    with store.session() as s:
        existing = {int(i) for i in s.scalars(select(Person.id).where(Person.id.in_(list(people))))}
    present = set(images_of(store, list(faces)))
    now_in = {fid: person_of_face(store, fid) for fid in faces if fid in present}
    touched: set[int] = set()
    with store.database.begin() as conn:
        for pid, data in people.items():
            if pid in existing:
                conn.execute(update(Person).where(Person.id == pid).values(name=data.get("name")))
            else:
                conn.execute(
                    insert(Person).values(
                        id=pid, model=data["model"], name=data.get("name"), created_at=now, template_faces=-1
                    )
                )
            touched.add(pid)
        for fid, owner in faces.items():
            if fid not in present:
                continue
            touched.add(now_in.get(fid) or 0)
            conn.execute(delete(PersonFace).where(PersonFace.face_id == fid))
            if owner is not None:
                conn.execute(insert(PersonFace).values(face_id=fid, person_id=int(owner)))
        conn.execute(
            update(PersonCorrection)
            .where(PersonCorrection.id == int(correction_id))
            .values(undone_at=now, undone_by=by)
        )
    touched.discard(0)
    return touched


def forget_erased_faces(store: Store) -> int:
    """Take erased faces out of the corrections that name them, in one transaction: a correction left about
    no face at all is deleted (its name and what it asserted were about someone erased), the others keep only
    faces that still exist, and the names they would put back only for people a kept face leads to or that
    still exist. Returns how many corrections were deleted or changed."""
    changed = 0
    with store.session.begin() as s:
        kept = list(s.scalars(select(PersonCorrection)))
        mentioned = {int(f) for c in kept for f in _faces_named(c)}
        existing = _existing_faces(s, mentioned)
        people = {int(i) for i in s.scalars(select(Person.id))}
        for c in kept:
            named = _faces_named(c)
            if not named - existing:
                continue
            changed += 1
            if not named & existing:
                s.delete(c)
                continue
            c.faces = [int(f) for f in c.faces if int(f) in existing]
            c.links = _links_without(c.links or {}, existing)
            before = dict(c.before or {})
            faces_before = {k: v for k, v in (before.get("faces") or {}).items() if int(k) in existing}
            owners = {int(v) for v in faces_before.values() if v is not None}
            before["faces"] = faces_before
            before["people"] = {
                k: v for k, v in (before.get("people") or {}).items() if int(k) in owners or int(k) in people
            }
            c.before = before
    return changed


def corrections_naming_erased_faces(store: Store) -> list[int]:
    """Ids of the corrections that still name a face that no longer exists (what `forget_erased_faces` fixes)."""
    with store.session() as s:
        kept = list(s.scalars(select(PersonCorrection)))
        existing = _existing_faces(s, {int(f) for c in kept for f in _faces_named(c)})
    return [int(c.id) for c in kept if _faces_named(c) - existing]


def _existing_faces(s: Any, ids: set[int]) -> set[int]:
    wanted = sorted(ids)
    found: set[int] = set()
    for i in range(0, len(wanted), 500):
        found.update(int(f) for f in s.scalars(select(Face.id).where(Face.id.in_(wanted[i : i + 500]))))
    return found


def _faces_named(c: PersonCorrection) -> set[int]:
    links = c.links or {}
    ids = {int(f) for f in c.faces or []}
    ids.update(int(f) for group in links.get("must") or [] for f in group)
    ids.update(int(f) for pair in links.get("cannot") or [] for side in pair for f in side)
    ids.update(int(k) for k in ((c.before or {}).get("faces") or {}))
    return ids


def _links_without(links: Mapping[str, Any], existing: set[int]) -> dict[str, Any]:
    must = [[int(f) for f in g if int(f) in existing] for g in links.get("must") or []]
    cannot = []
    for pair in links.get("cannot") or []:
        sides = [[int(f) for f in side if int(f) in existing] for side in pair]
        if all(sides):
            cannot.append(sides)
    return {**links, "must": [g for g in must if g], "cannot": cannot}
