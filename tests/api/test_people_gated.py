"""People browsing is a search (issue 18, part B, reproduction 4): while searching is suspended, or without a
case and purpose, an examiner cannot list people, open a person with "similar" scores, or download images and
faces by id; every view is audited under its case; faces a search hides (an opt-out) are never listed.
Through the API, the CLI and the web pages."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from support.people import World, build_world
from support.service import SETUP_ADMIN, SETUP_OPERATOR, synthetic_packs
from support.synthetic import write_photo
from typer.testing import CliRunner

from facesearch.app import optout
from facesearch.app.suspension import set_suspended
from facesearch.cli import app as cli_app
from facesearch.services.uploads import Photo, decode
from facesearch.store import audit

API = "/api/v1/people"
CASE = {"case_ref": "CASE-P4", "purpose": "test"}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with synthetic_packs():
        env, paths = build_world(Path(tmp_path_factory.mktemp("people-gated")))
        with TestClient(env.app, base_url="https://testserver", raise_server_exceptions=False) as client:
            yield World(env, client, paths)


def _last(world: World, action: str) -> dict:
    return audit.query(world.ctx.store, action=action, limit=1)[0][0]


def test_browsing_needs_a_case_and_purpose_and_is_audited(world: World) -> None:
    c, h = world.client, world.h("examiner")
    a = world.person(1)
    for url in (API, f"{API}/{a}", f"{API}/suggestions"):
        r = c.get(url, headers=h)
        assert r.status_code == 422 and r.json()["title"] == "Case reference and purpose required", (url, r.text)
        assert _last(world, "people_view")["outcome"] == "refused"
        assert c.get(url, params={**CASE, "purpose": "FISHING"}, headers=h).status_code == 422
    r = c.get(API, params=CASE, headers=h)
    assert r.status_code == 200, r.text
    e = _last(world, "people_view")
    assert (e["outcome"], e["case_ref"], e["purpose"]) == ("ok", "CASE-P4", "test")
    shown = c.get(f"{API}/{a}", params=CASE, headers=h).json()
    assert shown["id"] == a and _last(world, "people_view")["case_ref"] == "CASE-P4"
    # Faces shown by a gated view may be fetched; an image nobody showed this examiner needs the gate too.
    assert c.get(f"/api/v1/faces/{shown['faces'][0]['face_id']}/thumbnail", headers=h).status_code == 200
    with world.ctx.store.session() as s:
        from facesearch.store.schema import Image

        ids = sorted(i.id for i in s.query(Image))
    world.ctx.seen._items.clear()
    r = c.get(f"/api/v1/images/{ids[-1]}/file", headers=h)
    assert r.status_code == 422, r.text
    assert c.get(f"/api/v1/images/{ids[-1]}/file", params=CASE, headers=h).status_code == 200
    e = _last(world, "view_match")
    assert e["case_ref"] == "CASE-P4" and e["results"]["image_id"] == ids[-1]


def test_nothing_is_browsed_while_searching_is_suspended(world: World) -> None:
    c, h = world.client, world.h("examiner")
    a = world.person(1)
    world.ctx.seen._items.clear()
    set_suspended(world.ctx, SETUP_ADMIN, True, "drill P4")
    try:
        for url in (API, f"{API}/{a}", f"{API}/suggestions", "/api/v1/images/1/file", "/api/v1/faces/1/thumbnail"):
            r = c.get(url, params=CASE, headers=h)
            assert r.status_code == 503, (url, r.text)
        page = c.get("/people", params=CASE, headers=h)
        assert page.status_code == 503 and "suspended" in page.text.lower()
    finally:
        set_suspended(world.ctx, SETUP_ADMIN, False)


def test_web_pages_ask_for_the_case_and_keep_it_for_the_session(world: World) -> None:
    c, h = world.client, world.h("examiner")
    c.cookies.clear()
    page = c.get("/people", headers=h)
    assert page.status_code == 200 and 'id="people-case-form"' in page.text and 'id="people"' not in page.text
    page = c.get("/people", params=CASE, headers=h)
    assert page.status_code == 200 and 'id="people"' in page.text and "CASE-P4" in page.text
    a = world.person(1)
    page = c.get(f"/people/{a}", headers=h)  # the case kept by the session cookie
    assert page.status_code == 200 and "CASE-P4" in page.text
    assert _last(world, "people_view")["case_ref"] == "CASE-P4"


def test_cli_people_commands_take_the_case(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FACESEARCH_HOME", str(world.ctx.settings.home))
    monkeypatch.setenv("FACESEARCH_TEST_PACKS", "1")
    monkeypatch.setenv("FACESEARCH_MODEL", "synthetic")
    r = CliRunner().invoke(cli_app, ["people", "list", "--json"])
    assert r.exit_code == 4 and "case" in r.output.lower(), r.output
    r = CliRunner().invoke(cli_app, ["people", "list", "--case", "CASE-CLI", "--purpose", "test", "--json"])
    assert r.exit_code == 0, r.output
    assert _last(world, "people_view")["case_ref"] == "CASE-CLI"


def test_person_pages_never_list_faces_that_search_hides(world: World) -> None:
    c, h = world.client, world.h("examiner")
    e = world.person(5)  # E, alone in two photos
    before = c.get(f"{API}/{e}", params=CASE, headers=h).json()
    assert before["face_count"] == 2
    # An opt-out whose faces were not erased (stored before it, or by an older version): hidden everywhere.
    photo = write_photo(world.paths["p1"].parent / "e-optout.jpg", [5], seed=77)
    with world.ctx.engine_lock:
        from facesearch.store import optouts as registry

        image = decode(world.ctx.settings, Photo.from_path(photo)).image
        vec = optout.embed_largest(world.ctx.engine, "synthetic", image, "e")
        registry.add_optout(world.ctx.store, "DSR-P4", SETUP_OPERATOR.name, 1, [optout._template("synthetic", vec)])
    assert c.get(f"{API}/{e}", params=CASE, headers=h).status_code == 404
    listed = c.get(API, params=CASE, headers=h).json()["people"]
    assert e not in {p["id"] for p in listed}
    for f in before["faces"]:
        assert c.get(f"/api/v1/faces/{f['face_id']}/thumbnail", params=CASE, headers=h).status_code == 404
    assert _last(world, "optout_hide")["results"]["face_ids"]
