"""People on the `synthetic` pack: photos drawn with chosen identities (several per photo), clustered after
ingest; corrections kept across a full re-clustering, undone, audited; the same-image rule; erasure and
opt-out reaching people; the schema."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from helpers import create_collection
from synthetic import write_photo

from facesearch import clustering
from facesearch.app import optout, people
from facesearch.app.context import Actor, Context
from facesearch.app.erasure import erase_images
from facesearch.app.errors import Conflict, Forbidden
from facesearch.app.ingest import Item, ingest
from facesearch.app.uploads import Photo
from facesearch.config import Settings
from facesearch.store import audit
from facesearch.store.accounts import AuditEntry

OPERATOR = Actor("op", "operator")
EXAMINER = Actor("ann", "examiner")
# photo -> identities in it. A (1) is in 4 photos, B (2) in 3, C (3) in 2, D (4) in 1, E (5) alone twice.
PHOTOS = {
    "p1": [1, 2, 3], "p2": [1, 2], "p3": [1, 3], "p4": [1, 2, 4], "p5": [5], "p6": [5],
}


def _world(tmp_path: Path) -> tuple[Context, dict[str, Path]]:
    paths = {name: write_photo(tmp_path / "g" / f"{name}.jpg", ids, seed=i, size=(760, 300), marker_px=110,
                               variant=i)
             for i, (name, ids) in enumerate(PHOTOS.items())}
    ctx = Context.open(Settings(workers=1, model="synthetic"))
    create_collection(ctx.store, "press", model="synthetic")
    res = ingest(ctx, OPERATOR, [Item(p) for p in paths.values()], "press")
    assert res.faces == sum(len(v) for v in PHOTOS.values())
    return ctx, paths


@pytest.fixture
def world(synthetic_env: Path, tmp_path: Path) -> tuple[Context, dict[str, Path]]:
    return _world(tmp_path)


def truth(ctx: Context, paths: dict[str, Path]) -> dict[int, int]:
    """face id -> identity, from the photo's identities in marker order (left to right by x)."""
    by_path = {str(p): name for name, p in paths.items()}
    out: dict[int, int] = {}
    for col in ctx.store.list_collections():
        for ids, _ in ctx.store.iter_embeddings(col.id, col.dim):
            details = ctx.store.face_details([int(i) for i in ids])
            per_image: dict[int, list[tuple[float, int]]] = {}
            for fid, d in details.items():
                per_image.setdefault(d["image_id"], []).append((d["box"][0], fid))
            for faces in per_image.values():
                name = by_path[details[faces[0][1]]["path"]]
                xs = sorted(faces)
                # write_photo places markers at random spots; order them by the identity's embedding instead
                for (_, fid), ident in zip(xs, _order(ctx, [f for _, f in xs], PHOTOS[name])):
                    out[fid] = ident
    return out


def _order(ctx: Context, face_ids: list[int], identities: list[int]) -> list[int]:
    """The identity of each face: the one whose clean marker embedding is closest (the pack is exact)."""
    from synthetic import photo

    from facesearch.models import load_pack
    pack = load_pack("synthetic", ctx.settings, 1)
    refs = []
    for ident in identities:
        fs = pack.detect(photo([ident], seed=99))
        refs.append(pack.embed(pack.align(photo([ident], seed=99), fs))[0])
    emb = ctx.store.embeddings(face_ids, 64)
    sims = emb @ np.stack(refs).T
    return [identities[int(j)] for j in sims.argmax(1)]


def groups(ctx: Context) -> dict[int, set[int]]:
    return {pid: set(fs) for pid, fs in people._members(ctx.store).items()}


def as_identities(ctx: Context, t: dict[int, int]) -> list[list[int]]:
    return sorted(sorted(t[f] for f in fs) for fs in groups(ctx).values())


EXPECTED = [[1, 1, 1, 1], [2, 2, 2], [3, 3], [4], [5, 5]]


def test_ingest_clusters_people_exactly(world: tuple[Context, dict[str, Path]]) -> None:
    ctx, paths = world
    t = truth(ctx, paths)
    assert as_identities(ctx, t) == EXPECTED
    listed = people.list_people(ctx, EXAMINER)["people"]
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


def _person_with(ctx: Context, paths: dict[str, Path], identity: int) -> int:
    t = truth(ctx, paths)
    for pid, fs in groups(ctx).items():
        if {t[f] for f in fs} == {identity}:
            return pid
    raise AssertionError(identity)


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
    assert people._person(ctx.store, a).name == "Alice"
    assert g[a] == set(a_faces[1:])  # the split holds
    assert g[split["new_person"]] == {a_faces[0]}
    assert sorted(t[f] for f in g[e]) == [4, 5, 5]  # the merge holds
    # Every correction is in the audit log with who made it.
    with ctx.store.session() as s:
        rows = s.query(AuditEntry).filter(AuditEntry.action == audit.PEOPLE_CORRECT).all()
    assert [r.actor for r in rows] == ["ann"] * 3
    # Undo: the later correction of the same faces first.
    with pytest.raises(Conflict, match="later corrections"):
        people.undo(ctx, EXAMINER, merged["correction"]["id"] - 1)  # the name, touched by the split after it
    people.undo(ctx, EXAMINER, split["correction"]["id"])
    assert groups(ctx)[a] == set(a_faces)
    people.undo(ctx, EXAMINER, merged["correction"]["id"])
    assert sorted(t[f] for f in groups(ctx)[e]) == [5, 5] and sorted(t[f] for f in groups(ctx)[d]) == [4]
    people.cluster(ctx, OPERATOR, full=True)
    assert as_identities(ctx, t) == EXPECTED
    with pytest.raises(Conflict, match="already undone"):
        people.undo(ctx, EXAMINER, split["correction"]["id"])
    with ctx.store.session() as s:
        assert s.query(AuditEntry).filter(AuditEntry.action == audit.PEOPLE_UNDO).count() == 2


def test_reject_and_move_are_kept(world: tuple[Context, dict[str, Path]]) -> None:
    ctx, paths = world
    a = _person_with(ctx, paths, 1)
    c = _person_with(ctx, paths, 3)
    face = sorted(groups(ctx)[a])[-1]
    rej = people.reject_face(ctx, EXAMINER, a, face)
    people.cluster(ctx, OPERATOR, full=True)
    assert face not in groups(ctx)[a] and len(groups(ctx)[a]) == 3
    people.undo(ctx, EXAMINER, rej["correction"]["id"])
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
        people.list_people(ctx, Actor("aud", "auditor"))


def test_erasure_and_optout_reach_people(world: tuple[Context, dict[str, Path]]) -> None:
    ctx, paths = world
    d = _person_with(ctx, paths, 4)
    c = _person_with(ctx, paths, 3)
    before = {p: bytes(people._person(ctx.store, p).template or b"") for p in (c,)}
    # D's only photo is p4: erasing it removes D (and a face of A and of B).
    img = ctx.store.face_details(sorted(groups(ctx)[d]))[sorted(groups(ctx)[d])[0]]["image_id"]
    erase_images(ctx.settings, ctx.store, [img])
    ids = {p["id"] for p in people.list_people(ctx, EXAMINER)["people"]}
    assert d not in ids and len(ids) == 4
    # Opt-out of C: their faces leave every cluster; the template of whoever is left is remade.
    optout.add_optout(ctx, OPERATOR, [Photo.from_path(write_photo(paths["p1"].parent / "c.jpg", [3], seed=50),
                                                      ctx.settings)], "DSR-9")
    listed = people.list_people(ctx, EXAMINER)["people"]
    assert c not in {p["id"] for p in listed} and before
    a = _person_with(ctx, paths, 1)
    p = people._person(ctx.store, a)
    assert p.template_faces == len(groups(ctx)[a]) == 3
