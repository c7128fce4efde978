"""Accounts: argon2 hashes, sessions with secure cookies and CSRF, API tokens stored hashed, the CLI."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from support.service import PASSWORD, make_env
from typer.testing import CliRunner

from facesearch.app import accounts
from facesearch.app.context import Actor, Context
from facesearch.app.errors import Forbidden, NotFound
from facesearch.cli import app as cli_app
from facesearch.config import Settings
from facesearch.store import Store, audit
from facesearch.store import accounts as account_rows

ADMIN = Actor("root", "admin")


@pytest.fixture
def ctx(settings: Settings) -> Context:
    return Context.open(settings)


@pytest.fixture
def env_client(synthetic_env: Path):
    env = make_env(synthetic_env, photos=False)
    with TestClient(env.app, base_url="https://testserver") as client:
        yield env, client


def _login(client: TestClient, name: str, password: str):
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    return client.post("/login", data={"name": name, "password": password, "csrf_token": token}, follow_redirects=False)


def test_passwords_are_argon2_and_checked(ctx: Context) -> None:
    store = ctx.store
    assert accounts.add_user(ctx, ADMIN, "ann", "examiner", "a long passphrase").role == "examiner"
    user = account_rows.get_user(store, "ann")
    assert user.password_hash.startswith("$argon2id$") and "a long passphrase" not in user.password_hash
    assert accounts.authenticate(ctx, "ann", "a long passphrase").name == "ann"
    assert accounts.authenticate(ctx, "ann", "wrong password!") is None
    assert accounts.authenticate(ctx, "nobody", "a long passphrase") is None
    with pytest.raises(accounts.AuthError, match="at least"):
        accounts.add_user(ctx, ADMIN, "bob", "examiner", "short")
    with pytest.raises(accounts.AuthError, match="unknown role"):
        accounts.add_user(ctx, ADMIN, "bob", "superuser", "a long passphrase")
    with pytest.raises(accounts.AuthError, match="exists"):
        accounts.add_user(ctx, ADMIN, "ann", "auditor", "a long passphrase")
    # Accounts are an admin's business (the use case refuses other roles itself, whatever the entry point).
    with pytest.raises(Forbidden):
        accounts.add_user(ctx, Actor("ann", "examiner"), "eve", "admin", "a long passphrase")
    accounts.change_user(ctx, ADMIN, "ann", disabled=True)
    assert accounts.authenticate(ctx, "ann", "a long passphrase") is None


def test_tokens_are_stored_hashed_and_revocable(ctx: Context) -> None:
    store = ctx.store
    accounts.add_user(ctx, ADMIN, "ann", "examiner", "a long passphrase")
    made = accounts.create_token(ctx, ADMIN, "ann", "script")
    tid, token = made.id, made.token
    assert token.startswith("fs_") and len(token) > 40
    with store.database.connect() as conn:
        stored = conn.execute(text("SELECT token_hash, prefix FROM api_tokens")).one()
    assert token not in stored[0] and stored[0] == accounts.sha256_hex(token)
    assert accounts.token_principal(ctx, token).name == "ann"
    assert accounts.revoke_token(ctx, ADMIN, str(tid)) == 1
    assert accounts.token_principal(ctx, token) is None
    # Revoking what is already revoked is refused (not found), not a silent 0.
    with pytest.raises(NotFound):
        accounts.revoke_token(ctx, ADMIN, str(tid))
    t2 = accounts.create_token(ctx, ADMIN, "ann").token
    assert accounts.revoke_token(ctx, ADMIN, "user:ann") == 1 and accounts.token_principal(ctx, t2) is None
    # Neither the token nor its hash is written to the audit log.
    for e in audit.query(store, limit=100)[0]:
        assert token not in str(e) and accounts.sha256_hex(token) not in str(e)


def test_browser_login_session_csrf_and_logout(env_client) -> None:
    env, client = env_client
    r = _login(client, "examiner", "wrong password")
    assert r.status_code == 401 and "Wrong user name or password" in r.text
    failed = audit.query(env.store, action="login_failed")[0][0]
    assert failed["actor"] == "examiner" and failed["ip"]
    r = _login(client, "examiner", PASSWORD)
    assert r.status_code == 303 and r.headers["location"] == "/search"
    cookie = [h for k, h in r.headers.multi_items() if k == "set-cookie" and h.startswith("fs_session=")][0]
    assert "HttpOnly" in cookie and "Secure" in cookie and "samesite=strict" in cookie.lower()
    assert audit.query(env.store, action="login")[0][0]["actor"] == "examiner"
    page = client.get("/search")
    assert page.status_code == 200 and "Search by face" in page.text
    csrf = re.search(r'name="csrf-token" content="([^"]+)"', page.text).group(1)
    assert client.get("/api/v1/me").json() == {"name": "examiner", "role": "examiner", "via": "session"}
    # A state-changing request on the session cookie needs the session's CSRF token.
    r = client.post("/api/v1/detect", files={"probe": ("x.jpg", b"xx")})
    assert r.status_code == 403 and r.json()["title"] == "CSRF check failed"
    r = client.post("/api/v1/detect", files={"probe": ("x.jpg", b"xx")}, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 422  # past the CSRF check; the "image" is refused for what it is
    # The examiner's session does not open the auditor's page.
    assert client.get("/audit", headers={"accept": "text/html"}).status_code == 403
    r = client.post("/logout", data={"csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login"
    assert client.get("/api/v1/me").status_code == 401


def test_login_form_needs_its_csrf_token_and_is_throttled(env_client) -> None:
    env, client = env_client
    client.get("/login")
    r = client.post(
        "/login", data={"name": "examiner", "password": PASSWORD, "csrf_token": "forged"}, follow_redirects=False
    )
    assert r.status_code == 403
    for _ in range(5):
        assert _login(client, "auditor", "not the password").status_code == 401
    r = _login(client, "auditor", PASSWORD)
    assert r.status_code == 429 and "Too many" in r.text
    assert audit.query(env.store, action="login_failed", user="auditor")[0][0]["outcome"] == "throttled"


def test_open_redirects_are_refused(env_client) -> None:
    _, client = env_client
    page = client.get("/login", params={"next": "//evil.example/x"})
    assert 'name="next" value=""' in page.text


def test_cli_users_and_tokens(tmp_path: Path) -> None:
    runner = CliRunner()
    env = {"FACESEARCH_HOME": str(tmp_path / "home")}
    r = runner.invoke(
        cli_app, ["users", "add", "ann", "--role", "examiner", "--password-stdin"], input="a long passphrase\n", env=env
    )
    assert r.exit_code == 0, r.output
    r = runner.invoke(
        cli_app, ["users", "add", "bob", "--role", "king", "--password-stdin"], input="a long passphrase\n", env=env
    )
    assert r.exit_code == 2 and "unknown role" in r.output
    r = runner.invoke(cli_app, ["tokens", "create", "ann"], env=env)
    assert r.exit_code == 0
    token = r.stdout.strip().splitlines()[-1]
    assert token.startswith("fs_")
    store = Store(f"sqlite:///{tmp_path / 'home' / 'facesearch.db'}")
    ctx = Context.open(Settings(home=tmp_path / "home"), store)
    assert accounts.token_principal(ctx, token).name == "ann"
    assert runner.invoke(cli_app, ["tokens", "revoke", token], env=env).exit_code == 0
    assert accounts.token_principal(ctx, token) is None
    assert runner.invoke(cli_app, ["tokens", "revoke", "999"], env=env).exit_code == 2
    entries = audit.query(store)[0]
    assert [e["action"] for e in entries] == ["token_revoke", "token_create", "user_add"]
    # The CLI acts as the operating-system user, with the role the command is made for.
    assert all(e["actor"].startswith("cli:") and e["role"] == "admin" for e in entries)
    assert audit.verify_chain(store).ok
    # A role pinned for the CLI that may not manage accounts is refused by the rules (exit 4).
    r = runner.invoke(
        cli_app,
        ["users", "add", "eve", "--role", "admin", "--password-stdin"],
        input="a long passphrase\n",
        env={**env, "FACESEARCH_ROLE": "examiner"},
    )
    assert r.exit_code == 4 and account_rows.get_user(store, "eve") is None
