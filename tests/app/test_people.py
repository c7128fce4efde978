"""People on the `synthetic` pack: photos drawn with chosen identities (several per photo), clustered after
ingest; corrections kept across a full re-clustering, undone, audited; the same-image rule; erasure and
opt-out reaching people; the schema."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
from support.people import CASE, EXAMINER, OPERATOR, _person_with, _world, groups, truth
from support.synthetic import write_photo

from facesearch.app import optout, people
from facesearch.app.context import Actor, Context
from facesearch.app.erasure import erase_images
from facesearch.app.errors import Conflict, Forbidden
from facesearch.services import clustering
from facesearch.services.uploads import Photo
from facesearch.store import people as people_rows
from facesearch.store.audit.table import AuditEntry
from facesearch.vocabulary import Action


@pytest.fixture
def world(synthetic_env: Path, tmp_path: Path) -> tuple[Context, dict[str, Path]]:
    return _world(tmp_path)


def as_identities(ctx: Context, t: dict[int, int]) -> list[list[int]]:
    return sorted(sorted(t[f] for f in fs) for fs in groups(ctx).values())


EXPECTED = [[1, 1, 1, 1], [2, 2, 2], [3, 3], [4], [5, 5]]


def test_ingest_clusters_people_exactly(world: tuple[Context, dict[str, Path]]) -> None:
    ctx, paths = world
    t = truth(ctx, paths)
    assert as_identities(ctx, t) == EXPECTED
    listed = asdict(people.list_people(ctx, EXAMINER, **CASE))["people"]
    assert [len(p["faces"]) for p in listed] == [4, 3, 2, 2, 1]
    assert set(listed[0]) >= {"id", "name", "faces"} and set(listed[0]["faces"][0]) == {"face_id", "image"}
    assert set(listed[0]["faces"][0]["image"]) == {"id", "path"}
    # A full pass finds the same people, under the same ids.
    before = groups(ctx)
    people.cluster(ctx, OPERATOR, full=True)
    assert groups(ctx) == before


def test_same_image_faces_never_one_person(world: tuple[Context, dict[str, Path]]) -> None:
    ctx, paths = world
    # Even with a threshold that links everything, faces of one photo stay apart.
    emb = np.ones((3, 4), np.float32)
    labels = clustering.cluster(emb, np.array([7, 7, 8]), threshold=-1.0)
    assert labels[0] != labels[1] and clustering.same_image_merges(labels, np.array([7, 7, 8])) == 0
    a_id, b_id = _person_with(ctx, paths, 1), _person_with(ctx, paths, 2)
    with pytest.raises(Conflict, match="one photo"):
        people.merge_people(ctx, EXAMINER, a_id, b_id)


def test_corrections_survive_full_pass_undo_and_audit(world: tuple[Context, dict[str, Path]]) -> None:
    ctx, paths = world
    t = truth(ctx, paths)
    a = _person_with(ctx, paths, 1)
    d = _person_with(ctx, paths, 4)
    e = _person_with(ctx, paths, 5)
    people.name_person(ctx, EXAMINER, a, "Alice")
    # Merge D (one face) into E: must-link, kept by a full pass although the faces differ.
    merged = people.merge_people(ctx, EXAMINER, e, d)
    a_faces = sorted(groups(ctx)[a])
    split = people.split_person(ctx, EXAMINER, a, a_faces[:1])
    people.cluster(ctx, OPERATOR, full=True)
    g = groups(ctx)
    assert people_rows.get_person(ctx.store, a).name == "Alice"
    assert g[a] == set(a_faces[1:])  # the split holds
    assert g[split.new_person] == {a_faces[0]}
    assert sorted(t[f] for f in g[e]) == [4, 5, 5]  # the merge holds
    # Every correction is in the audit log with who made it.
    with ctx.store.session() as s:
        rows = s.query(AuditEntry).filter(AuditEntry.action == Action.PEOPLE_CORRECT).all()
    assert [r.actor for r in rows] == ["ann"] * 3
    # Undo: the later correction of the same faces first.
    with pytest.raises(Conflict, match="later corrections"):
        people.undo(ctx, EXAMINER, merged.correction.id - 1)  # the name, touched by the split after it
    people.undo(ctx, EXAMINER, split.correction.id)
    assert groups(ctx)[a] == set(a_faces)
    people.undo(ctx, EXAMINER, merged.correction.id)
    assert sorted(t[f] for f in groups(ctx)[e]) == [5, 5] and sorted(t[f] for f in groups(ctx)[d]) == [4]
    people.cluster(ctx, OPERATOR, full=True)
    assert as_identities(ctx, t) == EXPECTED
    with pytest.raises(Conflict, match="already undone"):
        people.undo(ctx, EXAMINER, split.correction.id)
    with ctx.store.session() as s:
        assert s.query(AuditEntry).filter(AuditEntry.action == Action.PEOPLE_UNDO).count() == 2


def test_reject_and_move_are_kept(world: tuple[Context, dict[str, Path]]) -> None:
    ctx, paths = world
    a = _person_with(ctx, paths, 1)
    c = _person_with(ctx, paths, 3)
    face = sorted(groups(ctx)[a])[-1]
    rej = people.reject_face(ctx, EXAMINER, a, face)
    people.cluster(ctx, OPERATOR, full=True)
    assert face not in groups(ctx)[a] and len(groups(ctx)[a]) == 3
    people.undo(ctx, EXAMINER, rej.correction.id)
    people.cluster(ctx, OPERATOR, full=True)
    assert face in groups(ctx)[a]
    # Move a face of C that shares no photo with D... onto E (one face each photo): kept by a full pass.
    e = _person_with(ctx, paths, 5)
    moved = sorted(groups(ctx)[c])[0]
    people.move_face(ctx, EXAMINER, moved, e)
    people.cluster(ctx, OPERATOR, full=True)
    assert moved in groups(ctx)[e] and moved not in groups(ctx)[c]


def test_roles(world: tuple[Context, dict[str, Path]]) -> None:
    ctx, _ = world
    with pytest.raises(Forbidden):
        people.cluster(ctx, EXAMINER)
    with pytest.raises(Forbidden):
        people.list_people(ctx, Actor("aud", "auditor"), **CASE)


def test_erasure_and_optout_reach_people(world: tuple[Context, dict[str, Path]]) -> None:
    ctx, paths = world
    d = _person_with(ctx, paths, 4)
    c = _person_with(ctx, paths, 3)
    before = {p: bytes(people_rows.get_person(ctx.store, p).template or b"") for p in (c,)}
    # D's only photo is p4: erasing it removes D (and a face of A and of B).
    img = ctx.store.face_details(sorted(groups(ctx)[d]))[sorted(groups(ctx)[d])[0]]["image_id"]
    erase_images(ctx.settings, ctx.store, [img])
    ids = {p.id for p in people.list_people(ctx, EXAMINER, **CASE).people}
    assert d not in ids and len(ids) == 4
    # Opt-out of C: their faces leave every cluster; the template of whoever is left is remade.
    optout.add_optout(
        ctx, OPERATOR, [Photo.from_path(write_photo(paths["p1"].parent / "c.jpg", [3], seed=50), ctx.settings)], "DSR-9"
    )
    listed = people.list_people(ctx, EXAMINER, **CASE).people
    assert c not in {p.id for p in listed} and before
    a = _person_with(ctx, paths, 1)
    p = people_rows.get_person(ctx.store, a)
    assert p.template_faces == len(groups(ctx)[a]) == 3
