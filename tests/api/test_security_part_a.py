"""Through the API and the web pages (docs/security.md): `/detect` is a probe upload, limited and logged like
one and bounded by memory; a refusal for a role is logged; the sign-in lockout survives a restart; a token an
admin made for someone else is marked on every action; common passwords are refused; a people correction is
undone only by its author or an admin; the limits are an admin's, in the home; a page shows no text a link
brought.

Each test reproduces an attack that succeeded against 0.3.0 (synthetic pack: plumbing, not accuracy)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from support.people import API, CASE, World, build_world
from support.service import PASSWORD, SETUP_ADMIN, Env, make_env, synthetic_packs

from facesearch.app import accounts, limits
from facesearch.server import create_app
from facesearch.store import audit

HTML = {"accept": "text/html"}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with synthetic_packs():
        env, paths = build_world(Path(tmp_path_factory.mktemp("security-a")))
        env.add_user("examiner2", "examiner")
        with TestClient(env.app, base_url="https://testserver", raise_server_exceptions=False) as client:
            yield World(env, client, paths)


def _last(env: Env, action: str) -> dict:
    return audit.query(env.store, action=action, limit=1)[0][0]


def _probe(world: World) -> dict:
    path = world.paths["p1"]
    return {"probe": (path.name, path.read_bytes(), "image/jpeg")}


def _sign_in(app: object, name: str, password: str = PASSWORD) -> tuple[TestClient, int]:
    client = TestClient(app, base_url="https://testserver", raise_server_exceptions=False)  # type: ignore[arg-type]
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token
    r = client.post(
        "/login", data={"name": name, "password": password, "csrf_token": token.group(1)}, follow_redirects=False
    )
    return client, r.status_code


def test_detect_is_limited_and_logged(world: World) -> None:
    c, env = world.client, world.env
    before = audit.query(env.store, action="detect")[1]
    limits.set_limits(env.ctx, SETUP_ADMIN, per_minute=2)
    try:
        for _ in range(2):
            r = c.post("/api/v1/detect", files=_probe(world), headers=world.h("examiner2"))
            assert r.status_code == 200, r.text
        r = c.post("/api/v1/detect", files=_probe(world), headers=world.h("examiner2"))
        assert r.status_code == 429 and r.headers["Retry-After"] == "60"
        # Detections are counted apart from searches: the examiner may still search.
        r = c.post(
            "/api/v1/search",
            files=_probe(world),
            data={"case_ref": "CASE-D", "purpose": "test"},
            headers=world.h("examiner2"),
        )
        assert r.status_code == 200, r.text
    finally:
        limits.set_limits(env.ctx, SETUP_ADMIN, per_minute=0)
    entries = audit.query(env.store, action="detect", limit=3)[0]
    assert audit.query(env.store, action="detect")[1] == before + 3
    assert [e["outcome"] for e in entries] == ["refused", "ok", "ok"]
    assert all(e["actor"] == "examiner2" and e["probe_sha256"] and e["ip"] for e in entries)
    assert entries[1]["details"]["faces"] >= 1


def test_detect_is_bounded_by_decoding_memory(world: World) -> None:
    c, env = world.client, world.env
    settings = env.settings
    old = settings.max_decode_bytes
    settings.max_decode_bytes = 1000
    try:
        r = c.post("/api/v1/detect", files=_probe(world), headers=world.h("examiner"))
    finally:
        settings.max_decode_bytes = old
    assert r.status_code == 413 and r.json()["reason"] == "TOO_MUCH_MEMORY"
    entry = _last(env, "detect")
    assert entry["outcome"] == "refused" and "TOO_MUCH_MEMORY" in entry["details"]["reason"]


def test_refusals_for_a_role_are_logged(world: World) -> None:
    c, env = world.client, world.env
    r = c.post(
        "/api/v1/search", files=_probe(world), data={"case_ref": "C", "purpose": "test"}, headers=world.h("auditor")
    )
    assert r.status_code == 403
    entry = _last(env, "role_refused")
    assert entry["actor"] == "auditor" and entry["role"] == "auditor" and entry["outcome"] == "refused"
    assert entry["details"]["attempted"] == "searching.search" and entry["details"]["needs"] == ["examiner"]
    assert entry["ip"]


def test_limits_are_an_admins_and_logged(world: World) -> None:
    c, env = world.client, world.env
    assert c.put("/api/v1/limits", json={"per_minute": 0}, headers=world.h("examiner")).status_code == 403
    assert _last(env, "role_refused")["details"]["attempted"] == "limits.set_limits"
    r = c.put("/api/v1/limits", json={"per_day": 5000}, headers=world.h("admin"))
    assert r.status_code == 200 and r.json()["per_day"] == 5000 and r.json()["source"] == "home"
    assert _last(env, "limits_set")["actor"] == "admin"
    shown = c.get("/api/v1/limits", headers=world.h("examiner")).json()
    assert shown["per_day"] == 5000 and shown["set_by"] == "admin"
    assert c.put("/api/v1/limits", json={"per_day": -1}, headers=world.h("admin")).status_code == 422


def test_the_sign_in_lockout_survives_a_restart(tmp_path: Path) -> None:
    with synthetic_packs():
        env = make_env(tmp_path / "home", photos=False)
        for _ in range(5):
            assert _sign_in(env.app, "auditor", "not the password")[1] == 401
        assert _sign_in(env.app, "auditor")[1] == 429
        restarted = create_app(env.settings)  # a new process: nothing kept in memory
        with TestClient(restarted, base_url="https://testserver"):
            assert _sign_in(restarted, "auditor")[1] == 429
            assert _sign_in(restarted, "examiner")[1] == 303  # another account is not locked out


def test_a_token_made_for_someone_else_is_marked_on_every_action(world: World) -> None:
    c, env = world.client, world.env
    r = c.post(
        "/api/v1/search",
        files=_probe(world),
        data={"case_ref": "CASE-T", "purpose": "test"},
        headers=world.h("examiner"),
    )
    assert r.status_code == 200
    entry = _last(env, "search")
    assert entry["actor"] == "examiner" and entry["details"]["token_minted_by"] == SETUP_ADMIN.name
    # A token written into the database by hand, with no `token_create` entry, is marked as unrecorded.
    token = accounts.TOKEN_PREFIX + "handmade-token-0123456789abcdefghijkl"
    with env.store.database.begin() as conn:
        uid = conn.execute(text("SELECT id FROM users WHERE name = 'examiner'")).scalar()
        conn.execute(
            text(
                "INSERT INTO api_tokens (user_id, label, token_hash, prefix, created_at) "
                "VALUES (:u, 'x', :h, 'fs_hand', CURRENT_TIMESTAMP)"
            ),
            {"u": uid, "h": accounts.sha256_hex(token)},
        )
    r = c.get(f"{API}", params=CASE, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200
    r = c.post(
        "/api/v1/search",
        files=_probe(world),
        data={"case_ref": "CASE-T", "purpose": "test"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert r.status_code == 200
    assert _last(env, "search")["details"]["token_minted_by"] == "unrecorded"


@pytest.mark.parametrize("password", ["abcdefghij", "Qwerty123456", "1234567890a", "iloveyou2024", "password1234"])
def test_common_passwords_are_refused(world: World, password: str) -> None:
    r = world.client.post(
        "/api/v1/users", json={"name": "newbie", "role": "examiner", "password": password}, headers=world.h("admin")
    )
    assert r.status_code == 422 and "too common" in r.json()["detail"]


def test_a_correction_is_undone_by_its_author_or_an_admin(world: World) -> None:
    c, env = world.client, world.env
    a = world.person(1)
    named = c.post(f"{API}/{a}/name", json={"name": "Alice"}, headers=world.h("examiner"))
    assert named.status_code == 200, named.text
    cid = named.json()["correction"]["id"]
    # 0.3.0: any examiner or operator could undo it.
    for other in ("examiner2", "operator"):
        r = c.post(f"{API}/corrections/{cid}/undo", headers=world.h(other))
        assert r.status_code == 403 and "only its author or an admin" in r.json()["detail"]
    refused = _last(env, "people_undo")
    assert refused["outcome"] == "refused" and refused["actor"] == "operator"
    r = c.post(f"{API}/corrections/{cid}/undo", headers=world.h("admin"))
    assert r.status_code == 200 and r.json()["correction"]["undone_by"] == "admin"
    again = c.post(f"{API}/{a}/name", json={"name": "Alice"}, headers=world.h("examiner")).json()["correction"]["id"]
    assert c.post(f"{API}/corrections/{again}/undo", headers=world.h("examiner")).status_code == 200


def test_pages_show_no_text_a_link_brought(world: World) -> None:
    client, status = _sign_in(world.env.app, "examiner")
    assert status == 303
    bait = "Your session expired: sign in again at https://evil.example/login"
    for url in (f"/people?error={bait}", f"/people?msg={bait}&sig=0123", f"/people/{world.person(1)}?error={bait}"):
        page = client.get(url, headers=HTML)
        assert page.status_code == 200 and "evil.example" not in page.text, url
    # A notice the server made for this user still shows (a refusal of a merge, back on the person's page).
    people_page = client.get("/people", params=CASE).text  # the case kept for the session (a cookie)
    csrf = re.search(r'name="csrf-token" content="([^"]+)"', people_page).group(1)  # type: ignore[union-attr]
    a = world.person(1)
    r = client.post(f"/people/{a}/merge", data={"other": "Bob", "csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303 and "sig=" in r.headers["location"]
    assert "as a number" in client.get(r.headers["location"], headers=HTML).text
    # The notice is for this user only.
    other, _ = _sign_in(world.env.app, "examiner2")
    assert "as a number" not in other.get(r.headers["location"], headers=HTML).text
    admin, _ = _sign_in(world.env.app, "admin")
    page = admin.get(f"/admin/users?created={bait}", headers=HTML)
    assert page.status_code == 200 and "evil.example" not in page.text
    assert "User examiner created." in admin.get("/admin/users?created=examiner", headers=HTML).text
