"""The people routes of /api/v1 on photos of known groups (tests/test_people.py's PHOTOS, `synthetic` pack):
the JSON shapes, every correction and its undo, `together` with exact counts and the search gate, and the
role refusals of each route.

One service for the module: each test leaves the people as it found them (corrections are undone)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from support.people import World, build_world, groups
from support.service import synthetic_packs

from facesearch.store import audit
from facesearch.vocabulary import Action

API = "/api/v1/people"
CASE = {"case_ref": "CASE-PEOPLE", "purpose": "test"}  # browsing people is a search


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with synthetic_packs():
        env, paths = build_world(Path(tmp_path_factory.mktemp("people-api")))
        with TestClient(env.app, base_url="https://testserver", raise_server_exceptions=False) as client:
            yield World(env, client, paths)


def test_list_and_show(world: World) -> None:
    c = world.client
    r = c.get(API, params=CASE, headers=world.h("examiner"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"people"}
    assert [len(p["faces"]) for p in body["people"]] == [4, 3, 2, 2, 1]
    for p in body["people"]:
        assert {"id", "name", "faces"} <= set(p) and p["face_count"] == len(p["faces"])
        for f in p["faces"]:
            assert set(f) == {"face_id", "image"} and set(f["image"]) == {"id", "path"}
            assert Path(f["image"]["path"]).parent == world.paths["p1"].parent
    # A's faces are in the four photos the test drew A in.
    a = world.person(1)
    listed_a = next(p for p in body["people"] if p["id"] == a)
    assert sorted(Path(f["image"]["path"]).stem for f in listed_a["faces"]) == ["p1", "p2", "p3", "p4"]
    assert [
        len(p["faces"])
        for p in c.get(API, params={"min_faces": 2, **CASE}, headers=world.h("operator")).json()["people"]
    ] == [4, 3, 2, 2]
    shown = c.get(f"{API}/{a}", params=CASE, headers=world.h("examiner")).json()
    assert (shown["id"], shown["face_count"], shown["photos"], shown["name"]) == (a, 4, 4, None)
    assert {f["face_id"] for f in shown["faces"]} == {f["face_id"] for f in listed_a["faces"]}
    assert {"face_id", "quality", "box", "thumbnail", "image"} <= set(shown["faces"][0])
    qualities = [f["quality"] for f in shown["faces"]]
    assert qualities == sorted(qualities, reverse=True)
    # Every face shown has a thumbnail the caller may fetch.
    t = c.get(f"/api/v1/faces/{shown['faces'][0]['face_id']}/thumbnail", headers=world.h("examiner"))
    assert t.status_code == 200 and t.headers["content-type"] == "image/jpeg"
    assert c.get(f"{API}/999999", params=CASE, headers=world.h("examiner")).status_code == 404
    assert c.get(f"{API}/abc", params=CASE, headers=world.h("examiner")).status_code == 422
    sugg = c.get(f"{API}/suggestions", params=CASE, headers=world.h("examiner"))
    assert sugg.status_code == 200 and set(sugg.json()) == {"suggestions"}


def test_a_person_is_not_among_the_people_most_like_them(world: World) -> None:
    for p in world.client.get(API, params=CASE, headers=world.h("examiner")).json()["people"]:
        similar = world.client.get(f"{API}/{p['id']}", params=CASE, headers=world.h("examiner")).json()["similar"]
        assert similar and all(s["person"] != p["id"] and s["score"] is not None for s in similar), similar


@pytest.mark.parametrize("role", ["auditor", "admin"])
def test_who_may_not_see_or_correct_people(world: World, role: str) -> None:
    c, h = world.client, world.h(role)
    a, e = world.people(1, 5)
    face = sorted(groups(world.ctx)[a])[0]
    for method, url, body in [
        ("GET", API, None),
        ("GET", f"{API}/{a}", None),
        ("GET", f"{API}/suggestions", None),
        ("POST", f"{API}/{a}/name", {"name": "X"}),
        ("POST", f"{API}/{e}/merge", {"other": a}),
        ("POST", f"{API}/{a}/split", {"face_ids": [face]}),
        ("POST", f"{API}/faces/{face}/move", {"person": e}),
        ("POST", f"{API}/{a}/reject/{face}", None),
        # An admin may undo any correction (corrections are undone by their author or an admin).
        *([("POST", f"{API}/corrections/1/undo", None)] if role != "admin" else []),
        ("POST", f"{API}/{a}/together", {"case_ref": "CASE-1", "purpose": "test"}),
    ]:
        r = c.request(method, url, json=body, headers=h)
        assert r.status_code == 403, f"{role} {method} {url} -> {r.status_code}"
        assert r.json()["title"] == "Forbidden"
    assert c.get(API).status_code == 401  # nobody signed in
    # Nothing changed.
    assert [len(p["faces"]) for p in c.get(API, params=CASE, headers=world.h("examiner")).json()["people"]] == [
        4,
        3,
        2,
        2,
        1,
    ]


def test_corrections_and_undo(world: World) -> None:
    c, h = world.client, world.h("examiner")
    before = groups(world.ctx)
    a, b, d, e = world.people(1, 2, 4, 5)
    a_faces = sorted(before[a])

    r = c.post(f"{API}/{a}/name", json={"name": "Alice"}, headers=h)
    assert r.status_code == 200, r.text
    named = r.json()
    assert named["correction"]["kind"] == "name" and named["correction"]["actor"] == "examiner"
    assert named["people"] == [a]
    assert c.get(f"{API}/{a}", params=CASE, headers=h).json()["name"] == "Alice"
    assert c.post(f"{API}/{a}/name", json={"name": "x" * 201}, headers=h).status_code == 422

    merged = c.post(f"{API}/{e}/merge", json={"other": d}, headers=h).json()  # D's only face joins E
    assert merged["correction"]["kind"] == "merge" and groups(world.ctx)[e] == before[e] | before[d]
    assert c.get(f"{API}/{d}", params=CASE, headers=h).status_code == 404
    # Two people of one photo are never merged; a person is never merged with themselves.
    r = c.post(f"{API}/{a}/merge", json={"other": b}, headers=h)
    assert r.status_code == 409 and "one photo" in r.json()["detail"]
    assert c.post(f"{API}/{a}/merge", json={"other": a}, headers=h).status_code == 422

    split = c.post(f"{API}/{a}/split", json={"face_ids": a_faces[:1]}, headers=h).json()
    new = split["new_person"]
    assert groups(world.ctx)[new] == {a_faces[0]} and groups(world.ctx)[a] == set(a_faces[1:])
    assert c.post(f"{API}/{a}/split", json={"face_ids": [a_faces[0]]}, headers=h).status_code == 422
    assert c.post(f"{API}/{a}/split", json={"face_ids": []}, headers=h).status_code == 422

    moved = c.post(f"{API}/faces/{a_faces[1]}/move", json={"person": new}, headers=h)
    assert moved.status_code == 200, moved.text
    assert groups(world.ctx)[new] == {a_faces[0], a_faces[1]}
    assert c.post(f"{API}/faces/{a_faces[1]}/move", json={"person": new}, headers=h).status_code == 409

    rejected = c.post(f"{API}/{a}/reject/{a_faces[2]}", headers=h).json()
    assert a_faces[2] not in groups(world.ctx)[a] and groups(world.ctx)[rejected["new_person"]] == {a_faces[2]}
    assert c.post(f"{API}/{a}/reject/{a_faces[2]}", headers=h).status_code == 404

    shown = c.get(f"{API}/{a}", params=CASE, headers=h).json()
    assert [x["kind"] for x in shown["corrections"]] == ["name", "split", "move", "reject"]
    # Undo: a later correction of the same faces first, then newest to oldest, back to where it started.
    r = c.post(f"{API}/corrections/{split['correction']['id']}/undo", headers=h)
    assert r.status_code == 409 and "later corrections" in r.json()["detail"]
    for done in (rejected, moved.json(), split, merged, named):
        r = c.post(f"{API}/corrections/{done['correction']['id']}/undo", headers=h)
        assert r.status_code == 200, r.text
        assert r.json()["correction"]["undone_by"] == "examiner"
    assert c.post(f"{API}/corrections/{named['correction']['id']}/undo", headers=h).status_code == 409
    assert c.post(f"{API}/corrections/999999/undo", headers=h).status_code == 404
    after = groups(world.ctx)
    assert sorted(map(sorted, after.values())) == sorted(map(sorted, before.values()))
    assert c.get(f"{API}/{a}", params=CASE, headers=h).json()["name"] is None
    # An operator may correct too.
    op = world.h("operator")
    r = c.post(f"{API}/{a}/name", json={"name": "Ann"}, headers=op)
    assert r.status_code == 200
    assert c.post(f"{API}/corrections/{r.json()['correction']['id']}/undo", headers=op).status_code == 200
    rows = audit.query(world.env.store, action=Action.PEOPLE_CORRECT, limit=100)[0]
    assert {row["actor"] for row in rows} == {"examiner", "operator"}


def test_together(world: World) -> None:
    c, h = world.client, world.h("examiner")
    a, b, cc, d = world.people(1, 2, 3, 4)
    r = c.post(f"{API}/{a}/together", json={"case_ref": "CASE-T1", "purpose": "test"}, headers=h)
    assert r.status_code == 200, r.text
    out = r.json()
    assert {"person", "together"} <= set(out) and out["person"] == a and out["photos"] == 4
    assert out["case_ref"] == "CASE-T1" and out["purpose"] == "test"
    for t in out["together"]:
        assert set(t) == {"person", "name", "photos", "images"} and all(set(i) == {"id", "path"} for i in t["images"])
    got = [(t["person"], t["photos"], sorted(Path(i["path"]).stem for i in t["images"])) for t in out["together"]]
    assert got == [(b, 3, ["p1", "p2", "p4"]), (cc, 2, ["p1", "p3"]), (d, 1, ["p4"])]
    entry = audit.query(world.env.store, action=Action.PEOPLE_TOGETHER, limit=1)[0][0]
    assert entry["seq"] == out["together_id"] and entry["case_ref"] == "CASE-T1"
    # The search gate: case reference, allowed purpose, role.
    r = c.post(f"{API}/{a}/together", json={"purpose": "test"}, headers=h)
    assert r.status_code == 422 and r.json()["title"] == "Case reference and purpose required"
    r = c.post(f"{API}/{a}/together", json={"case_ref": "CASE-T1", "purpose": "gossip"}, headers=h)
    assert r.status_code == 422 and r.json()["title"] == "Purpose not allowed"
    assert {"code": "test", "description": "tests: identify a suspect"} in r.json()["allowed"]
    r = c.post(f"{API}/{a}/together", json={"case_ref": "CASE-T1", "purpose": "test"}, headers=world.h("operator"))
    assert r.status_code == 403
    outcomes = [e["outcome"] for e in audit.query(world.env.store, action=Action.PEOPLE_TOGETHER, limit=10)[0]]
    assert outcomes == ["refused", "refused", "ok"]  # newest first; the role refusal never reached the use case


def test_cluster_is_for_operators(world: World) -> None:
    c = world.client
    before = groups(world.ctx)
    assert c.post(f"{API}/cluster", json={"full": True}, headers=world.h("examiner")).status_code == 403
    r = c.post(f"{API}/cluster", json={"full": True}, headers=world.h("operator"))
    assert r.status_code == 200, r.text
    (one,) = r.json()["passes"]
    assert (one["model"], one["faces"], one["people"], one["full"]) == ("synthetic", 12, 5, True)
    assert groups(world.ctx) == before


PERSON_KEYS = {"id", "name", "model", "face_count", "faces"}
VIEW_KEYS = {"id", "name", "model", "face_count", "photos", "faces", "corrections", "similar"}
SHOWN_FACE_KEYS = {"face_id", "quality", "box", "thumbnail", "image"}
CORRECTION_KEYS = {"id", "kind", "actor", "at", "name", "faces", "undone_at", "undone_by"}
PASS_KEYS = {"model", "collections", "faces", "people", "assigned", "started", "threshold", "threshold_reason"}
PASS_KEYS |= {"full", "seconds"}


def test_answers_keep_their_keys(world: World) -> None:
    """Every people answer carries exactly the JSON keys it always had (the answers are typed results now)."""
    c, h = world.client, world.h("examiner")
    a = world.person(1)
    listed = c.get(API, params=CASE, headers=h).json()
    assert set(listed) == {"people"} and set(listed["people"][0]) == PERSON_KEYS
    assert set(listed["people"][0]["faces"][0]) == {"face_id", "image"}
    assert set(listed["people"][0]["faces"][0]["image"]) == {"id", "path"}
    shown = c.get(f"{API}/{a}", params=CASE, headers=h).json()
    assert set(shown) == VIEW_KEYS and set(shown["faces"][0]) == SHOWN_FACE_KEYS
    assert set(shown["faces"][0]["image"]) == {"id", "path", "collection"}
    assert set(shown["similar"][0]) == {"person", "name", "score", "face_count"}

    named = c.post(f"{API}/{a}/name", json={"name": "Keys"}, headers=h).json()
    assert set(named) == {"correction", "people", "new_person"} and named["new_person"] is None
    assert set(named["correction"]) == CORRECTION_KEYS
    split = c.post(f"{API}/{a}/split", json={"face_ids": [shown["faces"][0]["face_id"]]}, headers=h).json()
    assert set(split) == {"correction", "people", "new_person"} and isinstance(split["new_person"], int)
    (first, *_) = c.get(f"{API}/{a}", params=CASE, headers=h).json()["corrections"]
    assert set(first) == CORRECTION_KEYS
    for done in (split, named):
        undone = c.post(f"{API}/corrections/{done['correction']['id']}/undo", headers=h).json()
        assert set(undone) == {"correction", "people", "new_person"} and undone["new_person"] is None
        assert set(undone["correction"]) == CORRECTION_KEYS and undone["correction"]["undone_at"]

    out = c.post(f"{API}/{a}/together", json={"case_ref": "CASE-K", "purpose": "test"}, headers=h).json()
    assert set(out) == {"person", "name", "together", "photos", "together_id", "case_ref", "purpose"}
    assert set(out["together"][0]) == {"person", "name", "photos", "images"}
    clustered = c.post(f"{API}/cluster", json={}, headers=world.h("operator")).json()
    assert set(clustered) == {"passes"} and set(clustered["passes"][0]) == PASS_KEYS
    assert set(c.get(f"{API}/suggestions", params=CASE, headers=h).json()) == {"suggestions"}
    # Suggestions are rare on these photos: their keys, as the schema promises them.
    spec = c.get("/openapi.json", headers=h).json()["components"]["schemas"]
    assert set(spec["Suggestion"]["properties"]) == {"a", "b", "score"}
    assert set(spec["SuggestedPerson"]["properties"]) == {"id", "name", "face_count"}
