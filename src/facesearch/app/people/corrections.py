"""Corrections by hand: name, merge, split, move, "not this person", and undo.

A correction is kept by face ids (`person_corrections`): what it asserts (must-link groups, cannot-link pairs
of groups, a name), applied again on every full pass, and what it changed, so that it can be undone. Two
faces of one photo are never one person. Each correction and each undo is audited (`people_correct`,
`people_undo`); a correction of faces that a later correction also touched is undone only after it."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from ...services.people_upkeep import remake_templates, tidy
from ...store import Store
from ...store import people as rows
from ...store.people_tables import PersonCorrection
from ...vocabulary import Action
from ..auditing import record, refusal_recorded
from ..context import Actor, Context
from ..errors import Conflict, Forbidden, Invalid, NotFound
from ..roles import allowed
from .lookup import person
from .results import Corrected, CorrectedIntoNewPerson, Correction

NAME_MAX = 200


# What corrections say about faces ---------------------------------------------------------------------


def touched(c: PersonCorrection) -> set[int]:
    """Every face a correction is about, asserts something of, or changed."""
    links = c.links or {}
    ids = {int(f) for f in c.faces}
    ids |= {int(f) for g in links.get("must", []) for f in g}
    ids |= {int(f) for pair in links.get("cannot", []) for side in pair for f in side}
    ids |= {int(f) for f in (c.before or {}).get("faces", {})}
    return ids


def corrections_about(store: Store, face_ids: Iterable[int]) -> list[PersonCorrection]:
    """The corrections (undone ones too) that touch any of these faces, oldest first."""
    wanted = {int(f) for f in face_ids}
    return [c for c in rows.kept_corrections(store) if wanted & touched(c)]


def kept_apart(store: Store, members: dict[int, list[int]]) -> set[tuple[int, int]]:
    """Pairs of people (smaller id first) that an active cannot-link correction keeps apart."""
    person_of = {f: p for p, fs in members.items() for f in fs}
    out: set[tuple[int, int]] = set()
    for c in rows.kept_corrections(store, active=True):
        for left, right in (c.links or {}).get("cannot", []):
            pa = {person_of[int(f)] for f in left if int(f) in person_of}
            pb = {person_of[int(f)] for f in right if int(f) in person_of}
            out |= {(min(a, b), max(a, b)) for a in pa for b in pb if a != b}
    return out


# Shared steps ----------------------------------------------------------------------------------------


def _keep(
    ctx: Context,
    actor: Actor,
    kind: str,
    *,
    faces: Sequence[int],
    links: dict[str, Any],
    before: dict[str, Any],
    name: str | None = None,
) -> PersonCorrection:
    return rows.add_correction(
        ctx.store, kind=kind, actor=actor.name, now=ctx.now(), faces=faces, links=links, before=before, name=name
    )


def _audit(ctx: Context, actor: Actor, c: PersonCorrection, people: Sequence[int]) -> list[int]:
    """The correction's audit entry; the people it changed, ascending."""
    changed = sorted(set(people))
    record(
        ctx,
        actor,
        Action.PEOPLE_CORRECT,
        results={"correction": c.id, "kind": c.kind, "people": changed, "faces": list(c.faces)},
        details={"name": c.name} if c.kind == "name" else None,
    )
    return changed


def _check_no_shared_photo(store: Store, a: Sequence[int], b: Sequence[int]) -> None:
    imgs = rows.images_of(store, list(a) + list(b))
    if {imgs[f] for f in a if f in imgs} & {imgs[f] for f in b if f in imgs}:
        raise Conflict("two faces of one photo are never one person: these share a photo")


def _after(ctx: Context, model: str, people: Iterable[int]) -> None:
    remake_templates(ctx.store, model, people)
    tidy(ctx.store, model)


# The corrections --------------------------------------------------------------------------------------


@allowed("examiner", "operator")
def name_person(ctx: Context, actor: Actor, person_id: int, name: str | None) -> Corrected:
    """Name a person (None or "" clears the name). The name is kept by the person's faces: a later full pass
    gives it to whichever person they end up in, and people named differently are never merged."""
    store = ctx.store
    tidy(store)
    p = person(store, person_id)
    clean = (name or "").strip() or None
    if clean is not None and len(clean) > NAME_MAX:
        raise Invalid(f"a name is at most {NAME_MAX} characters", field="name")
    fids = rows.faces_of(store, p.id)
    c = _keep(ctx, actor, "name", faces=fids, links={}, before=rows.snapshot(store, [], [p.id]), name=clean)
    rows.rename(store, p.id, clean)
    return Corrected(correction=Correction.of(c), people=_audit(ctx, actor, c, [p.id]))


@allowed("examiner", "operator")
def merge_people(ctx: Context, actor: Actor, person_id: int, other_id: int) -> Corrected:
    """The other person's faces join this person (must-link); the other person goes."""
    store = ctx.store
    tidy(store)
    p, o = person(store, person_id), person(store, other_id)
    if p.id == o.id:
        raise Invalid("a person cannot be merged with themselves")
    if p.model != o.model:
        raise Conflict(f"people of different model packs ({p.model}, {o.model}) cannot be merged")
    members = rows.members(store)
    a, b = members.get(p.id, []), members.get(o.id, [])
    _check_no_shared_photo(store, a, b)
    before = rows.snapshot(store, b, [p.id, o.id])
    c = _keep(ctx, actor, "merge", faces=a + b, links={"must": [a + b]}, before=before)
    rows.set_person(store, b, p.id)
    if p.name is None and o.name is not None:
        rows.rename(store, p.id, o.name)
    _after(ctx, p.model, [p.id])
    return Corrected(correction=Correction.of(c), people=_audit(ctx, actor, c, [p.id, o.id]))


@allowed("examiner", "operator")
def split_person(ctx: Context, actor: Actor, person_id: int, face_ids: Sequence[int]) -> CorrectedIntoNewPerson:
    """These faces of a person become a new person: one person together, never with the faces left."""
    store = ctx.store
    tidy(store)
    p = person(store, person_id)
    fids = rows.faces_of(store, p.id)
    part = sorted({int(f) for f in face_ids})
    if not part or any(f not in fids for f in part):
        raise Invalid(f"give faces of person {p.id} to split off", field="face_ids")
    rest = [f for f in fids if f not in part]
    if not rest:
        raise Invalid("a split must leave at least one face with the person", field="face_ids")
    before = rows.snapshot(store, part, [p.id])
    new = rows.new_person(store, p.model, ctx.now())
    c = _keep(
        ctx,
        actor,
        "split",
        faces=part,
        links={"must": [part], "cannot": [[part, rest]]},
        before={**before, "created": [new]},
    )
    rows.set_person(store, part, new)
    _after(ctx, p.model, [p.id, new])
    changed = _audit(ctx, actor, c, [p.id, new])
    return CorrectedIntoNewPerson(correction=Correction.of(c), people=changed, new_person=new)


@allowed("examiner", "operator")
def move_face(ctx: Context, actor: Actor, face_id: int, person_id: int) -> Corrected:
    """A face moves to a person: with their faces from now on, never again with the ones it leaves."""
    store = ctx.store
    tidy(store)
    target = person(store, person_id)
    pack = rows.face_pack(store, face_id)
    if pack is None:
        raise NotFound(f"no face with id {face_id}")
    model, _ = pack
    if model != target.model:
        raise Conflict(f"face {face_id} is of model pack {model}, person {target.id} of {target.model}")
    source = rows.person_of_face(store, face_id)
    if source == target.id:
        raise Conflict(f"face {face_id} already belongs to person {target.id}")
    members = rows.members(store)
    theirs = members.get(target.id, [])
    _check_no_shared_photo(store, [face_id], theirs)
    left = [f for f in members.get(source, []) if f != face_id] if source is not None else []
    links: dict[str, Any] = {"must": [[int(face_id)] + theirs]}
    if left:
        links["cannot"] = [[[int(face_id)], left]]
    changed = [p for p in (source, target.id) if p is not None]
    before = rows.snapshot(store, [face_id], changed)
    c = _keep(ctx, actor, "move", faces=[face_id], links=links, before=before)
    rows.set_person(store, [face_id], target.id)
    _after(ctx, model, changed)
    return Corrected(correction=Correction.of(c), people=_audit(ctx, actor, c, changed))


@allowed("examiner", "operator")
def reject_face(ctx: Context, actor: Actor, person_id: int, face_id: int) -> CorrectedIntoNewPerson:
    """ "Not this person": the face leaves the person (a person of its own for now) and never joins them again."""
    store = ctx.store
    tidy(store)
    p = person(store, person_id)
    fids = rows.faces_of(store, p.id)
    if int(face_id) not in fids:
        raise NotFound(f"face {face_id} is not one of person {p.id}'s faces")
    rest = [f for f in fids if f != int(face_id)]
    before = rows.snapshot(store, [face_id], [p.id])
    new = rows.new_person(store, p.model, ctx.now())
    links = {"cannot": [[[int(face_id)], rest]]} if rest else {}
    c = _keep(ctx, actor, "reject", faces=[face_id], links=links, before={**before, "created": [new]})
    rows.set_person(store, [face_id], new)
    _after(ctx, p.model, [p.id, new])
    changed = _audit(ctx, actor, c, [p.id, new])
    return CorrectedIntoNewPerson(correction=Correction.of(c), people=changed, new_person=new)


@allowed("examiner", "operator", "admin")
def undo(ctx: Context, actor: Actor, correction_id: int) -> Corrected:
    """Undo a correction: its constraint is dropped and the faces and names it changed are put back. A later
    correction of the same faces must be undone first. Only its author or an admin (who reviews corrections:
    there is no other reviewer role) may undo it; anyone else is refused, and the refusal is logged."""
    store = ctx.store
    tidy(store)
    c = rows.get_correction(store, correction_id)
    later = rows.active_corrections_after(store, correction_id)
    if c is None:
        raise NotFound(f"no correction with id {correction_id}")
    if actor.role != "admin" and c.actor != actor.name:
        with refusal_recorded(ctx, actor, Action.PEOPLE_UNDO, details={"correction": c.id}):
            raise Forbidden(f"correction {c.id} is {c.actor}'s: only its author or an admin may undo it")
    if c.undone_at is not None:
        raise Conflict(f"correction {c.id} was already undone by {c.undone_by}")
    mine = touched(c)
    blocking = [x.id for x in later if touched(x) & mine]
    if blocking:
        raise Conflict(
            f"undo the later corrections of the same faces first: {', '.join(map(str, blocking))}", corrections=blocking
        )
    before = c.before or {}
    people: dict[int, dict[str, Any]] = {int(k): v for k, v in before.get("people", {}).items()}
    faces = {int(k): v for k, v in before.get("faces", {}).items()}
    changed = rows.restore(store, c.id, people, faces, now=ctx.now(), by=actor.name)
    model = next((d["model"] for d in people.values()), None)
    if model is not None:
        _after(ctx, model, changed)
    else:
        tidy(store)
    record(
        ctx,
        actor,
        Action.PEOPLE_UNDO,
        results={"correction": c.id, "kind": c.kind, "people": sorted(changed)},
    )
    done = rows.get_correction(store, c.id)
    assert done is not None
    return Corrected(correction=Correction.of(done), people=sorted(changed))
