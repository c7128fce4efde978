"""Every route of the app checks authorization: enumerated from the app itself, not from a hand-kept list."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.datastructures import DefaultPlaceholder
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from starlette.routing import Mount
from support.service import PASSWORD, ROLES, make_env, synthetic_packs

from facesearch.api import ROUTERS
from facesearch.http.deps import Caller

# The only routes anyone may call: signing in, the static assets of the sign-in page, and liveness.
PUBLIC = {("GET", "/login"), ("POST", "/login"), ("GET", "/api/v1/health")}
PUBLIC_MOUNTS = {"/static"}
# Routes open to every signed-in role (no wrong role exists for them).
ANY_ROLE = {("POST", "/logout"), ("GET", "/"), ("GET", "/docs"), ("GET", "/api/v1/me"), ("GET", "/openapi.json")}


def iter_routes(routes: list, prefix: str = "") -> Iterator[tuple[str, object]]:
    """Flatten the app's routes, descending into included routers (FastAPI keeps them nested)."""
    for r in routes:
        original = getattr(r, "original_router", None)
        if original is not None:
            yield from iter_routes(original.routes, prefix + r.include_context.prefix)
        else:
            yield prefix + getattr(r, "path", ""), r


def guard_of(route: APIRoute) -> Caller | None:
    guards = [d.call for d in route.dependant.dependencies if isinstance(d.call, Caller)]
    assert len(guards) <= 1, f"{route.path} has several role guards"
    return guards[0] if guards else None


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "1", path)


@pytest.fixture(scope="module")
def env_app(tmp_path_factory: pytest.TempPathFactory):
    with synthetic_packs():
        env = make_env(Path(tmp_path_factory.mktemp("routes")) / "home", photos=False)
        with TestClient(env.app, base_url="https://testserver", raise_server_exceptions=False) as client:
            yield env, env.app, client


def all_endpoints(app) -> list[tuple[str, str, APIRoute]]:
    out = []
    for path, route in iter_routes(app.routes):
        if isinstance(route, APIRoute):
            for method in sorted(route.methods):
                out.append((method, path, route))
    return out


def test_every_route_is_guarded_or_explicitly_public(env_app) -> None:
    _, app, _ = env_app
    endpoints = all_endpoints(app)
    assert len(endpoints) > 30
    for method, path, route in endpoints:
        guard = guard_of(route)
        if (method, path) in PUBLIC:
            assert guard is None, f"{method} {path} is public by design"
            continue
        assert guard is not None, f"{method} {path} has no Caller(...) dependency"
        # "system" is the scheduled purge's role: no account has it, so no request can.
        assert guard.roles <= {*ROLES, "system"}, f"{method} {path}: unknown roles {guard.roles}"
        if not guard.roles or guard.roles >= set(ROLES):
            assert (method, path) in ANY_ROLE, f"{method} {path} is open to every role; list it or restrict it"
        else:
            assert (method, path) not in ANY_ROLE, f"{method} {path} is listed as open to every role but is not"
    mounts = {getattr(r, "path", "") for _, r in iter_routes(app.routes) if isinstance(r, Mount)}
    assert mounts == PUBLIC_MOUNTS
    # Nothing unexpected: every route object is either an API route or a known mount.
    kinds = {type(r).__name__ for _, r in iter_routes(app.routes)}
    assert kinds <= {"APIRoute", "Mount"}, kinds


def test_anonymous_and_wrong_role_requests_are_refused(env_app) -> None:
    env, app, client = env_app
    checked = 0
    for method, path, route in all_endpoints(app):
        if (method, path) in PUBLIC:
            continue
        url = concrete(path)
        anon = client.request(method, url, follow_redirects=False)
        assert anon.status_code == 401, f"anonymous {method} {url} -> {anon.status_code}"
        assert anon.headers["content-type"].startswith("application/problem+json")
        # A browser is sent to the sign-in page instead.
        page = client.request(method, url, headers={"accept": "text/html"}, follow_redirects=False)
        assert page.status_code in (401, 303), f"anonymous page {method} {url} -> {page.status_code}"
        if page.status_code == 303:
            assert page.headers["location"].startswith("/login")
        guard = guard_of(route)
        assert guard is not None
        for role in ROLES:
            if guard.roles and role not in guard.roles:
                r = client.request(method, url, headers=env.headers(role), follow_redirects=False)
                assert r.status_code == 403, f"{role} {method} {url} -> {r.status_code}"
                assert r.json()["title"] == "Forbidden"
                checked += 1
    assert checked > 50
    # A bad token is refused like no token.
    r = client.get("/api/v1/audit", headers={"Authorization": "Bearer fs_not-a-real-token"})
    assert r.status_code == 401
    assert client.get("/api/v1/health").json()["status"] == "ok"
    assert client.get("/static/app.css").status_code == 200


def test_right_role_passes_the_guard(env_app) -> None:
    env, _, client = env_app
    assert client.get("/api/v1/audit", headers=env.headers("auditor")).status_code == 200
    assert client.get("/api/v1/users", headers=env.headers("admin")).status_code == 200
    assert client.get("/api/v1/jobs", headers=env.headers("operator")).status_code == 200
    assert client.get("/api/v1/collections", headers=env.headers("examiner")).status_code == 200
    assert client.get("/metrics", headers=env.headers("admin")).text.count("facesearch_http_requests") > 0
    spec = client.get("/openapi.json", headers=env.headers("examiner")).json()
    assert "/api/v1/search" in spec["paths"]
    assert client.get("/docs", headers=env.headers("auditor")).status_code == 200


def _resolve(spec: dict, schema: dict) -> dict:
    while "$ref" in schema:
        name = schema["$ref"].removeprefix("#/components/schemas/")
        schema = spec["components"]["schemas"][name]
    return schema


def _answers_json(route: APIRoute) -> bool:
    cls = route.response_class
    cls = cls.value if isinstance(cls, DefaultPlaceholder) else cls
    return isinstance(cls, type) and issubclass(cls, JSONResponse)


def test_openapi_describes_every_answer(env_app) -> None:
    """The schema is served to signed-in users only, and describes what each route answers: every JSON route
    names a response model with fields (not `{}`), and every other route says what it sends."""
    env, app, client = env_app
    assert client.get("/openapi.json").status_code == 401
    spec = client.get("/openapi.json", headers=env.headers("auditor")).json()
    json_routes = 0
    for method, path, route in all_endpoints(app):
        if not route.include_in_schema:
            assert not path.startswith("/api/"), f"{method} {path} is left out of /openapi.json"
            continue
        op = spec["paths"].get(path, {}).get(method.lower())
        assert op is not None, f"{method} {path} is missing from /openapi.json"
        ok = {code: r for code, r in op["responses"].items() if code.startswith("2")}
        assert len(ok) == 1, f"{method} {path}: success responses {sorted(ok)}"
        content = next(iter(ok.values())).get("content", {})
        assert content, f"{method} {path} documents no content for its answer"
        for media, body in content.items():
            schema = body.get("schema") or {}
            assert schema, f"{method} {path} answers {media} with an empty schema"
            if media == "application/json":
                resolved = _resolve(spec, schema)
                assert resolved.get("type") == "object" and resolved.get("properties"), (
                    f"{method} {path} answers JSON without a described object: {schema}"
                )
                assert resolved.get("required"), f"{method} {path}: {schema} promises no field at all"
        if _answers_json(route):
            json_routes += 1
            assert route.response_model is not None, f"{method} {path} answers JSON without a response model"
            assert "application/json" in content, f"{method} {path} answers JSON but documents {sorted(content)}"
    assert json_routes >= 35
    # Every route of the JSON API is in the schema (the browser pages and the schema itself are not).
    api_routes = {
        (m, r.path) for router in ROUTERS for r in router.routes if isinstance(r, APIRoute) for m in r.methods
    } - {("GET", "/openapi.json")}
    documented = {(m.upper(), p) for p, ops in spec["paths"].items() for m in ops}
    assert documented == api_routes
    # Answers that are downloads in one format and JSON in another document both.
    export = spec["paths"]["/api/v1/audit/export"]["get"]["responses"]["200"]["content"]
    assert {"text/csv", "application/json"} <= set(export)
    assert (
        _resolve(
            spec, spec["paths"]["/api/v1/search"]["post"]["responses"]["200"]["content"]["application/json"]["schema"]
        )["properties"]["faces"]["type"]
        == "array"
    )


def _session(app, role: str) -> TestClient:
    client = TestClient(app, base_url="https://testserver", raise_server_exceptions=False)
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    r = client.post("/login", data={"name": role, "password": PASSWORD, "csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303, r.text
    return client


def test_every_state_changing_route_needs_the_csrf_token_on_a_session(env_app) -> None:
    _, app, _ = env_app
    sessions = {role: _session(app, role) for role in ROLES}
    checked = 0
    for method, path, route in all_endpoints(app):
        if method in ("GET", "HEAD", "OPTIONS") or (method, path) in PUBLIC:
            continue
        guard = guard_of(route)
        role = sorted(guard.roles)[0] if guard.roles else "examiner"
        r = sessions[role].request(method, concrete(path), follow_redirects=False)
        assert r.status_code == 403, f"{role} session {method} {path} without CSRF -> {r.status_code}"
        assert r.json()["title"] == "CSRF check failed"
        checked += 1
    assert checked >= 12


def test_serve_command_starts_on_loopback(tmp_path: Path) -> None:
    import os
    import socket
    import subprocess
    import sys
    import time

    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ, FACESEARCH_HOME=str(tmp_path / "home"))
    code = "from facesearch.cli import app; app()"
    proc = subprocess.Popen(
        [sys.executable, "-c", code, "serve", "--port", str(port), "--log-level", "warning"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=1)
                break
            except httpx.HTTPError:
                assert proc.poll() is None, proc.stdout.read().decode()
                assert time.monotonic() < deadline, "facesearch serve did not start"
                time.sleep(0.2)
        assert r.json()["status"] == "ok"
        assert httpx.get(f"http://127.0.0.1:{port}/api/v1/collections").status_code == 401
    finally:
        proc.terminate()
        proc.wait(10)
