"""Every entry point enforces the same rules, by construction: each use case is run through the CLI, the API
and (where it has one) the web page, and must give the same refusal (its kind) and write the same audit
entries. Runs on the synthetic test pack, so it needs no model weights."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from support.synthetic import write_gallery, write_photo
from typer.testing import CliRunner

from facesearch.app import accounts, ingest, purposes
from facesearch.app import collection as collections
from facesearch.app.context import Actor, Context
from facesearch.app.errors import KINDS
from facesearch.cli import app as cli_app
from facesearch.config import Settings
from facesearch.server import create_app
from facesearch.store import audit

PASSWORD = "correct horse battery"
TRANSPORTS = ("cli", "api", "web")
TITLE_KIND = {title: kind for kind, (_, title, _) in KINDS.items()}


@dataclass
class World:
    home: Path
    ctx: Context
    probe: Path
    client: TestClient
    tokens: dict[str, str] = field(default_factory=dict)
    sessions: dict[str, tuple[TestClient, str]] = field(default_factory=dict)

    def entries_after(self, seq: int) -> list[tuple[Any, ...]]:
        """The audit entries written since `seq`, without what differs by transport (address, time)."""
        rows, _ = audit.query(self.ctx.store, limit=1000)
        return [
            (
                e["action"],
                e["outcome"],
                e["actor"],
                e["role"],
                e["case_ref"],
                e["purpose"],
                _timeless((e.get("details") or {}).get("reason")),
            )
            for e in reversed(rows)
            if e["seq"] > seq
        ]

    def head(self) -> int:
        rows, _ = audit.query(self.ctx.store, limit=1)
        return int(rows[0]["seq"]) if rows else 0


def _timeless(text: str | None) -> str | None:
    return re.sub(r"\d{4}-\d\d-\d\dT[\d:.+]+", "<time>", text) if text else text


@dataclass(frozen=True)
class Template:
    """A home built once per module (accounts, a purpose, a collection with six faces) and its API tokens;
    every test world is a copy of it, so each transport starts from the same state."""

    home: Path
    probe: Path
    tokens: dict[str, str]


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Template]:
    root_dir = tmp_path_factory.mktemp("template")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FACESEARCH_HOME", str(root_dir / "home"))
        mp.setenv("FACESEARCH_TEST_PACKS", "1")
        mp.setenv("FACESEARCH_MODEL", "synthetic")
        mp.delenv("FACESEARCH_DATABASE_URL", raising=False)
        ctx = Context.open(Settings(workers=1))
        root = Actor("root", "admin")
        for name, role in (
            ("adam", "admin"),
            ("olga", "operator"),
            ("eve", "examiner"),
            ("fred", "examiner"),
            ("aud", "auditor"),
        ):
            accounts.add_user(ctx, root, name, role, PASSWORD)
        purposes.add_purpose(ctx, Actor("adam", "admin"), "TEST", "tests of the rules")
        olga = Actor("olga", "operator")
        collections.create_collection(
            ctx, olga, "c", source="synthetic markers", legal_basis="consent", retention_days=None, keep=True
        )
        gallery = root_dir / "gallery"
        write_gallery(gallery, [1, 2, 3], 2)
        res = ingest.ingest(ctx, olga, ingest.items_from_folder(gallery), "c", workers=1)
        assert res.faces == 6
        tokens = {name: accounts.create_token(ctx, root, name).token for name in ("adam", "olga", "eve", "fred", "aud")}
        ctx.store.close()
    yield Template(root_dir / "home", write_photo(root_dir / "probe.jpg", [1], seed=99), tokens)


def build_world(template: Template, where: Path, monkeypatch: pytest.MonkeyPatch, **env: str) -> World:
    home = where / "home"
    shutil.copytree(template.home, home)
    monkeypatch.setenv("FACESEARCH_HOME", str(home))
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    settings = Settings(workers=1)
    client = TestClient(create_app(settings), base_url="https://testserver")
    world = World(home, client.app.state.ctx, template.probe, client)  # type: ignore[attr-defined]
    world.tokens.update(template.tokens)
    return world


def web_session(world: World, user: str) -> tuple[TestClient, str]:
    """A browser's session: sign in through the form, read the page's CSRF token."""
    if user in world.sessions:
        return world.sessions[user]
    c = TestClient(world.client.app, base_url="https://testserver")
    page = c.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token, page.text
    r = c.post(
        "/login", data={"name": user, "password": PASSWORD, "csrf_token": token.group(1)}, follow_redirects=False
    )
    assert r.status_code == 303, r.text
    home = c.get("/docs")  # any signed-in page carries the CSRF meta tag
    csrf = re.search(r'<meta name="csrf-token" content="([^"]+)"', home.text)
    assert csrf, home.text
    world.sessions[user] = (c, csrf.group(1))
    return world.sessions[user]


def kind_of_problem(status: int, body: dict[str, Any]) -> str | None:
    if status < 400:
        return None
    return TITLE_KIND.get(body.get("title", ""), f"http {status}")


def cli(world: World, user: str, *args: str) -> str | None:
    # The account proves who it is with its token, as on the API (a name alone acts as cli:<os user>).
    r = CliRunner().invoke(cli_app, ["--as", user, *args, "--json"], env={"FACESEARCH_TOKEN": world.tokens[user]})
    if r.exit_code == 0:
        return None
    first = r.stdout.strip().splitlines()[0] if r.stdout.strip() else "{}"
    kind = json.loads(first).get("kind", f"exit {r.exit_code}")
    assert r.exit_code == KINDS[kind][2], (kind, r.exit_code, r.output)
    return str(kind)


# Search ------------------------------------------------------------------------------------------
def search(world: World, transport: str, user: str, case: str | None, purpose: str | None) -> str | None:
    if transport == "cli":
        args = ["search", str(world.probe)]
        args += ["--case", case] if case is not None else []
        args += ["--purpose", purpose] if purpose is not None else []
        return cli(world, user, *args)
    data = {k: v for k, v in (("case_ref", case), ("purpose", purpose)) if v is not None}
    files = {"probe": ("probe.jpg", world.probe.read_bytes(), "image/jpeg")}
    if transport == "api":
        r = world.client.post(
            "/api/v1/search", data=data, files=files, headers={"Authorization": f"Bearer {world.tokens[user]}"}
        )
    else:  # the search page posts the form with the session cookie and its CSRF token
        c, csrf = web_session(world, user)
        r = c.post("/api/v1/search", data=data, files=files, headers={"X-CSRF-Token": csrf})
    return kind_of_problem(r.status_code, r.json())


def suspend(world: World) -> None:
    from facesearch.app.suspension import set_suspended

    set_suspended(world.ctx, Actor("adam", "admin"), True, "drill")


SEARCH_CASES: dict[
    str, tuple[dict[str, str], Callable[[World], None] | None, str, str | None, str | None, str | None]
] = {
    # name: (environment, setup, user, case, purpose, expected kind)
    "allowed": ({}, None, "eve", "CASE-1", "TEST", None),
    "no case reference": ({}, None, "eve", None, "TEST", "case_required"),
    "no purpose": ({}, None, "eve", "CASE-1", None, "case_required"),
    "purpose not on the list": ({}, None, "eve", "CASE-1", "FISHING", "purpose_not_allowed"),
    "purpose with a note": ({}, None, "eve", "CASE-1", "TEST: lead from a witness", None),
    "wrong role": ({}, None, "aud", "CASE-1", "TEST", "forbidden"),
    "searching suspended": ({}, suspend, "eve", "CASE-1", "TEST", "suspended"),
    "over the daily quota": ({"FACESEARCH_SEARCH_DAILY_QUOTA": "1"}, None, "eve", "CASE-1", "TEST", "limit"),
}


@pytest.fixture(params=list(SEARCH_CASES))
def search_case(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_search_rules_are_the_same_everywhere(
    search_case: str, template: Template, synthetic_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env, setup, user, case, purpose, expected = SEARCH_CASES[search_case]
    outcomes: dict[str, tuple[str | None, list[tuple[Any, ...]]]] = {}
    for transport in TRANSPORTS:
        world = build_world(template, tmp_path / transport, monkeypatch, **env)
        if setup is not None:
            setup(world)
        if transport == "web":
            web_session(world, user)  # signed in beforehand: the sign-in is not part of the search
        if expected == "limit":  # one search within the quota first
            assert search(world, transport, user, case, purpose) is None
        before = world.head()
        kind = search(world, transport, user, case, purpose)
        outcomes[transport] = (kind, world.entries_after(before))
    for transport, (kind, _) in outcomes.items():
        assert kind == expected, f"{transport}: {kind} != {expected}"
    entries = {t: e for t, (_, e) in outcomes.items()}
    assert entries["cli"] == entries["api"] == entries["web"], entries
    logged = entries["api"]
    if expected == "forbidden":
        # Refused before anything was looked at, and the refusal for the role is logged.
        assert [e[:4] for e in logged] == [("role_refused", "refused", user, "auditor")] and logged[0][6]
    else:
        assert [e[:4] for e in logged] == [("search", "refused" if expected else "ok", user, "examiner")]
        if expected:
            assert logged[0][6], "a refused search's audit entry says why"


# Other use cases ---------------------------------------------------------------------------------
def add_purpose(world: World, transport: str, user: str) -> str | None:
    if transport == "cli":
        return cli(world, user, "purposes", "add", "NEW", "--description", "new purpose")
    if transport == "api":
        r = world.client.post(
            "/api/v1/purposes",
            json={"code": "NEW", "description": "new purpose"},
            headers={"Authorization": f"Bearer {world.tokens[user]}"},
        )
        return kind_of_problem(r.status_code, r.json())
    c, csrf = web_session(world, user)
    r = c.post(
        "/admin/governance/add-purpose",
        data={"code": "NEW", "description": "new purpose", "csrf_token": csrf},
        follow_redirects=False,
    )
    return None if r.status_code == 303 else ("forbidden" if r.status_code == 403 else f"http {r.status_code}")


def create_collection(world: World, transport: str, user: str) -> str | None:
    fields = {"source": "scans", "legal_basis": "consent"}
    if transport == "cli":
        return cli(world, user, "collections", "create", "d", "--source", "scans", "--legal-basis", "consent", "--keep")
    if transport == "api":
        r = world.client.post(
            "/api/v1/collections",
            json={"name": "d", **fields},
            headers={"Authorization": f"Bearer {world.tokens[user]}"},
        )
        return kind_of_problem(r.status_code, r.json())
    c, csrf = web_session(world, user)
    r = c.post("/collections/new", data={"name": "d", **fields, "csrf_token": csrf}, follow_redirects=False)
    if r.status_code == 403:
        return "forbidden"
    assert r.status_code == 303, r.text
    return None if "Created" in r.headers["location"] else "invalid"


def self_confirm(world: World, transport: str, user: str) -> str | None:
    """Propose a candidate of one's own search, then try to confirm it oneself."""
    from facesearch.app import review, searching
    from facesearch.services.uploads import Photo

    actor = Actor(user, "examiner")
    res = searching.search(
        world.ctx,
        actor,
        Photo(world.probe.read_bytes(), "probe"),
        searching.SearchRequest(case_ref="CASE-2", purpose="TEST"),
    )
    face_id = res.faces[0].matches[0].face_id
    proposal = review.propose(world.ctx, actor, res.search_id, face_id, "same marker")
    pid = proposal.id
    if transport == "cli":
        return cli(world, user, "review", "confirm", str(pid), "--note", "mine")
    if transport == "api":
        r = world.client.post(
            f"/api/v1/proposals/{pid}/confirm",
            json={"note": "mine"},
            headers={"Authorization": f"Bearer {world.tokens[user]}"},
        )
        return kind_of_problem(r.status_code, r.json())
    c, csrf = web_session(world, user)
    r = c.post(f"/review/{pid}/confirm", data={"note": "mine", "csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303
    return "forbidden" if "self-confirmation refused" in r.headers["location"].replace("%20", " ") else None


OTHER_CASES: dict[str, tuple[Callable[[World, str, str], str | None], str, str | None]] = {
    "an examiner adds a purpose": (add_purpose, "eve", "forbidden"),
    "an admin adds a purpose": (add_purpose, "adam", None),
    "an examiner creates a collection": (create_collection, "eve", "forbidden"),
    "an operator creates a collection": (create_collection, "olga", None),
    "an examiner confirms their own lead": (self_confirm, "eve", "forbidden"),
}


@pytest.mark.parametrize("name", list(OTHER_CASES))
def test_other_rules_are_the_same_everywhere(
    name: str, template: Template, synthetic_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    act, user, expected = OTHER_CASES[name]
    entries = {}
    for transport in TRANSPORTS:
        world = build_world(template, tmp_path / transport, monkeypatch)
        before = world.head()
        kind = act(world, transport, user)
        assert kind == expected, f"{transport}: {kind} != {expected}"
        # Entries written by the use case under test, not by the scenario's own set-up.
        entries[transport] = [e for e in world.entries_after(before) if e[0] not in ("search", "lead_propose", "login")]
    assert entries["cli"] == entries["api"] == entries["web"], entries
    if expected is None:
        assert entries["api"], "a change is logged"
