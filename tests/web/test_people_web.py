"""The People pages on photos of known groups (tests/test_people.py's PHOTOS, `synthetic` pack): the grid,
a person's page, every correction posted as a form with the session's CSRF token (and refused without it),
undo, "who appears with whom" with its search gate shown as messages, the roles; and one real-browser run
(Debian's chromium, skipped when absent) that opens a person and renames them.

One service for the module: each test leaves the people as it found them (corrections are undone)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from support.browser import chromium, needs_chromium, served
from support.people import CASE, World, build_world, groups
from support.service import PASSWORD, Env, synthetic_packs

HTML = {"accept": "text/html"}


@dataclass
class Web(World):
    sessions: dict[str, TestClient]

    def csrf(self, role: str, path: str = "/people") -> str:
        page = self.sessions[role].get(path)
        assert page.status_code == 200, page.text
        found = re.search(r'name="csrf-token" content="([^"]+)"', page.text)
        assert found
        return found.group(1)

    def post(self, role: str, path: str, data: dict | None = None, csrf: bool = True):
        """A form posted from the page (with the session's CSRF token unless `csrf` is False)."""
        form = {**(data or {}), **({"csrf_token": self.csrf(role)} if csrf else {})}
        return self.sessions[role].post(path, data=form, headers=HTML, follow_redirects=False)


def _session(env: Env, role: str) -> TestClient:
    client = TestClient(env.app, base_url="https://testserver", raise_server_exceptions=False)
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token
    r = client.post(
        "/login", data={"name": role, "password": PASSWORD, "csrf_token": token.group(1)}, follow_redirects=False
    )
    assert r.status_code == 303, r.text
    client.get("/people", params=CASE)  # browsing people is a search: the session's case and purpose
    return client


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Web]:
    with synthetic_packs():
        env, paths = build_world(Path(tmp_path_factory.mktemp("people-web")))
        with TestClient(env.app, base_url="https://testserver", raise_server_exceptions=False) as client:
            yield Web(env, client, paths, {role: _session(env, role) for role in ("examiner", "operator", "auditor")})


def _follow(web: Web, role: str, r) -> str:
    assert r.status_code == 303, r.text
    page = web.sessions[role].get(r.headers["location"], headers=HTML, follow_redirects=True)
    assert page.status_code == 200, page.text
    return page.text


def _alert(html: str, kind: str) -> str:
    found = re.search(rf'<div class="alert {kind}"[^>]*>(.*?)</div>', html, re.S)
    return re.sub(r"<[^>]+>", "", found.group(1)).strip() if found else ""


def test_grid_and_person_page(web: Web) -> None:
    ex = web.sessions["examiner"]
    page = ex.get("/people", headers=HTML)
    assert page.status_code == 200
    assert '<a href="/people"' in page.text  # in the navigation
    cards = re.findall(r'<li class="cand person-card">.*?</li>', page.text, re.S)
    assert len(cards) == 5
    counts = [re.search(r"(\d+) faces? · (\d+) photos?", c).groups() for c in cards]  # type: ignore[union-attr]
    assert counts == [("4", "4"), ("3", "3"), ("2", "2"), ("2", "2"), ("1", "1")]
    # Each card shows a face of its person through the thumbnail route, which answers for this session.
    thumbs = [re.search(r'src="(/api/v1/faces/(\d+)/thumbnail)"', c) for c in cards]
    members = groups(web.ctx)
    a, e = web.people(1, 5)
    assert int(thumbs[0].group(2)) in members[a]  # type: ignore[union-attr]
    t = ex.get(thumbs[0].group(1))  # type: ignore[union-attr]
    assert t.status_code == 200 and t.headers["content-type"] == "image/jpeg"
    assert "Group new faces" not in page.text  # clustering is an operator's

    person = ex.get(f"/people/{a}", headers=HTML)
    assert person.status_code == 200
    html = person.text
    assert len(re.findall(r'name="face_ids" value="(\d+)"', html)) == 4
    assert {int(f) for f in re.findall(r'name="face_ids" value="(\d+)"', html)} == members[a]
    assert sorted(re.findall(r">(p\d)\.jpg</a>", html)) == ["p1", "p2", "p3", "p4"]  # the photos
    assert f'action="/people/{a}/together"' in html and 'name="case_ref"' in html and 'name="purpose"' in html
    assert "No corrections of these faces yet." in html
    assert f'href="/people/{a}"' not in re.search(r'id="similar".*?</table>', html, re.S).group(0)  # type: ignore[union-attr]
    # An operator corrects and clusters, but may not run "who appears with whom" (a search).
    op = web.sessions["operator"]
    assert "Group new faces" in op.get("/people", headers=HTML).text
    op_html = op.get(f"/people/{e}", headers=HTML).text
    assert "only examiners may run it" in op_html and "/together" not in op_html
    # Other roles, unknown people.
    r = web.sessions["auditor"].get("/people", headers=HTML)
    assert r.status_code == 403 and "examiner or operator" in r.text
    assert ex.get("/people/999999", headers=HTML).status_code == 404
    anon = TestClient(web.env.app, base_url="https://testserver").get("/people", headers=HTML, follow_redirects=False)
    assert anon.status_code == 303 and anon.headers["location"].startswith("/login")


def test_corrections_posted_as_forms(web: Web) -> None:
    before = groups(web.ctx)
    a, b, d, e = web.people(1, 2, 4, 5)
    a_faces = sorted(before[a])
    # Without the session's CSRF token nothing happens.
    r = web.post("examiner", f"/people/{a}/name", {"name": "Mallory"}, csrf=False)
    assert r.status_code == 403 and "CSRF" in r.text

    messages = []  # of each correction made, in order
    html = _follow(web, "examiner", web.post("examiner", f"/people/{a}/name", {"name": "Alice"}))
    assert '<h1 id="person-h">Alice</h1>' in html and "Named person" in _alert(html, "ok")
    messages.append(_alert(html, "ok"))
    assert ">Alice<" in web.sessions["examiner"].get("/people").text

    html = _follow(web, "examiner", web.post("examiner", f"/people/{e}/merge", {"other": str(d)}))
    assert f"Merged person {d} into person {e}" in _alert(html, "ok") and groups(web.ctx)[e] == before[e] | before[d]
    messages.append(_alert(html, "ok"))
    # Refusals come back as messages on the page.
    html = _follow(web, "examiner", web.post("examiner", f"/people/{a}/merge", {"other": str(b)}))
    assert "never one person" in _alert(html, "error")
    html = _follow(web, "examiner", web.post("examiner", f"/people/{a}/merge", {"other": "Bob"}))
    assert "as a number" in _alert(html, "error")
    html = _follow(web, "examiner", web.post("examiner", f"/people/{a}/split", {}))
    assert "tick the faces" in _alert(html, "error")

    r = web.post("examiner", f"/people/{a}/split", {"face_ids": [str(f) for f in a_faces[:2]]})
    html = _follow(web, "examiner", r)
    new = int(re.search(r"new person (\d+)", _alert(html, "ok")).group(1))  # type: ignore[union-attr]
    assert groups(web.ctx)[new] == set(a_faces[:2]) and groups(web.ctx)[a] == set(a_faces[2:])
    assert f'href="/people/{new}">Open person {new}' in html
    messages.append(_alert(html, "ok"))

    html = _follow(web, "examiner", web.post("examiner", f"/people/{a}/move/{a_faces[2]}", {"to": str(new)}))
    assert f"Moved face {a_faces[2]} to person {new}" in _alert(html, "ok")
    messages.append(_alert(html, "ok"))
    html = _follow(web, "examiner", web.post("examiner", f"/people/{a}/reject/{a_faces[3]}"))
    assert f"Face {a_faces[3]} is not person {a}" in _alert(html, "ok")
    messages.append(_alert(html, "ok"))
    # A had four faces: two split off, one moved, one rejected. Its page is gone; the grid says why.
    assert "has no faces left" in _alert(html, "ok") and a not in groups(web.ctx)

    # Undo: a later correction of the same faces first, so newest first; only by the correction's author (or
    # an admin): the operator is refused.
    made = [int(i) for i in re.findall(r"\(correction (\d+)\)", " ".join(messages))]
    assert len(made) == 5
    blocked = _follow(web, "examiner", web.post("examiner", f"/people/{new}/undo/{made[0]}"))
    assert "later corrections" in _alert(blocked, "error")
    refused = _follow(web, "operator", web.post("operator", f"/people/{new}/undo/{made[-1]}"))
    assert "only its author or an admin" in _alert(refused, "error")
    for cid in reversed(made):
        html = _follow(web, "examiner", web.post("examiner", f"/people/{new}/undo/{cid}"))
        assert f"Undid correction {cid}" in _alert(html, "ok")
    assert sorted(map(sorted, groups(web.ctx).values())) == sorted(map(sorted, before.values()))
    html = web.sessions["examiner"].get(f"/people/{a}").text
    assert '<h1 id="person-h">Person' in html and "undone by examiner" in html and "Undo<" not in html


def _undo_ids(web: Web, person: int) -> list[int]:
    return sorted(
        int(c)
        for c in re.findall(
            rf'action="/people/{person}/undo/(\d+)"', web.sessions["examiner"].get(f"/people/{person}").text
        )
    )


def test_merge_from_the_suggestions_list(web: Web) -> None:
    before = groups(web.ctx)
    d, e = web.people(4, 5)
    html = _follow(web, "examiner", web.post("examiner", f"/people/{e}/merge", {"other": str(d), "back": "list"}))
    assert f"Merged person {d} into person {e}" in _alert(html, "ok") and f'href="/people/{e}">Open person' in html
    cid = _undo_ids(web, e)[-1]
    _follow(web, "examiner", web.post("examiner", f"/people/{e}/undo/{cid}"))
    assert groups(web.ctx) == before


def test_who_appears_with_whom(web: Web) -> None:
    a, b, c, d = web.people(1, 2, 3, 4)
    url = f"/people/{a}/together"
    r = web.post("examiner", url, {"case_ref": "", "purpose": "test"})
    assert r.status_code == 422 and "Case reference and purpose required" in _alert(r.text, "error")
    r = web.post("examiner", url, {"case_ref": "CASE-W1", "purpose": "gossip"})
    assert r.status_code == 422 and "Purpose not allowed" in _alert(r.text, "error")
    assert 'value="CASE-W1"' in r.text  # what was typed is kept
    r = web.post("examiner", url, {"case_ref": "CASE-W1", "purpose": "test"})
    assert r.status_code == 200, r.text
    panel = re.search(r'<div id="together">(.*?)</div>', r.text, re.S).group(1)  # type: ignore[union-attr]
    rows = re.findall(r'<tr>\s*<td><a href="/people/(\d+)">.*?<td class="num">(\d+)</td>\s*<td>(.*?)</td>', panel, re.S)
    got = [(int(p), int(n), sorted(re.findall(r">(p\d)\.jpg<", photos))) for p, n, photos in rows]
    assert got == [(b, 3, ["p1", "p2", "p4"]), (c, 2, ["p1", "p3"]), (d, 1, ["p4"])]
    assert "Case CASE-W1 · purpose test" in panel
    # The form is for examiners: an operator's post is refused with the role it needs.
    r = web.post("operator", url, {"case_ref": "CASE-W1", "purpose": "test"})
    assert r.status_code == 403 and "needs the role examiner" in r.text


@needs_chromium
def test_browser_renames_a_person(web: Web, tmp_path: Path) -> None:
    playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    (a,) = web.people(1)
    with synthetic_packs(), served(web.env.app) as base, chromium(playwright_api) as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.goto(f"{base}/login")
        page.get_by_label("User name").fill("examiner")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_load_state("networkidle")
        page.get_by_role("navigation", name="Main").get_by_role("link", name="People").click()
        page.get_by_label("Case reference").fill(CASE["case_ref"])  # browsing people is a search
        page.get_by_label("Purpose").fill(CASE["purpose"])
        page.get_by_role("button", name="Browse people").click()
        page.get_by_role("heading", name="People", exact=True).wait_for()
        assert page.locator(".person-card").count() == 5
        # Every card's face thumbnail loads (served by the thumbnail route to this session).
        # Polled from here: wait_for_function's string predicate would need eval, which the CSP forbids.
        deadline = time.monotonic() + 10
        while not page.evaluate(
            "[...document.querySelectorAll('.person-card img')].every(i => i.complete && i.naturalWidth > 0)"
        ):
            assert time.monotonic() < deadline, "the face thumbnails did not load"
            page.wait_for_timeout(100)
        page.locator(f'.person-card a[href="/people/{a}"]').click()
        page.get_by_label("Name").fill("Alice Example")
        page.get_by_role("button", name="Save name").click()
        page.get_by_role("heading", name="Alice Example").wait_for()
        assert "Named person" in page.get_by_role("status").inner_text()
        page.screenshot(path=tmp_path / "person.png", full_page=True)
        page.get_by_role("link", name="← All people").click()
        page.locator(".person-card", has_text="Alice Example").wait_for()
        assert page.locator(".person-card", has_text="Alice Example").count() == 1
        assert not errors, errors
    cid = _undo_ids(web, a)[-1]
    _follow(web, "examiner", web.post("examiner", f"/people/{a}/undo/{cid}"))
