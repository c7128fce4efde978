"""Who the command line acts as is proven, not claimed (docs/security.md): a registered account only with its
credential (a token, or its password at a terminal); otherwise `cli:<operating-system user>`, whatever `--as`
says, with the claimed name kept in the entry. The two-person rule and the per-user limits key on who was
proven, and the limits live in the home, so the caller's environment cannot lift them.

Each test reproduces an attack that succeeded against 0.3.0 (synthetic pack: plumbing, not accuracy)."""

from __future__ import annotations

import itertools
import json
import os
import pwd
from pathlib import Path

import pytest
from support.helpers import create_collection
from support.synthetic import write_gallery, write_photo
from typer.testing import CliRunner

from facesearch.app import accounts, limits, purposes
from facesearch.app.context import Actor, Context
from facesearch.app.ingest import ingest, items_from_folder
from facesearch.cli import actor as cli_actor
from facesearch.cli import app as cli_app
from facesearch.config import Settings
from facesearch.store import audit

ADMIN = Actor("root", "admin")
OPERATOR = Actor("op", "operator")
PASSWORD = "a long passphrase"
ME = f"cli:{pwd.getpwuid(os.geteuid()).pw_name}"
runner = CliRunner()


@pytest.fixture
def world(synthetic_env: Path, tmp_path: Path) -> tuple[Context, Path, dict[str, str]]:
    """A home with a gallery, the TEST purpose, two examiner accounts (with tokens) and a probe."""
    ctx = Context.open(Settings(workers=1))
    purposes.add_purpose(ctx, ADMIN, "TEST", "tests")
    create_collection(ctx.store, "press", model="synthetic")
    write_gallery(tmp_path / "g", [1, 2, 3], 3)
    assert ingest(ctx, OPERATOR, items_from_folder(tmp_path / "g"), "press").ingested == 9
    tokens = {}
    for name in ("alice", "bob"):
        accounts.add_user(ctx, ADMIN, name, "examiner", PASSWORD)
        tokens[name] = accounts.create_token(ctx, ADMIN, name, "cli").token
    probe = write_photo(tmp_path / "probe.jpg", [2], seed=999, variant=5)
    return ctx, probe, tokens


_CASES = itertools.count(1)


def _cli(*args: str, **env: str) -> tuple[int, str]:
    r = runner.invoke(cli_app, list(args), env=env or None)
    return r.exit_code, r.output


def _search(probe: Path, *who: str, **env: str) -> tuple[int, dict]:
    # A case of its own per search: a case belongs to its first examiner, and these tests are about who acts.
    case = f"CASE-{next(_CASES)}"
    r = runner.invoke(
        cli_app, [*who, "search", str(probe), "--case", case, "--purpose", "TEST", "--json"], env=env or None
    )
    return r.exit_code, json.loads(r.stdout) if r.stdout.strip() else {}


def _last(ctx: Context, action: str) -> dict:
    return audit.query(ctx.store, action=action, limit=1)[0][0]


def test_a_name_without_its_credential_acts_as_the_os_user(world, monkeypatch: pytest.MonkeyPatch) -> None:
    ctx, probe, tokens = world
    # USER and LOGNAME are the caller's to set: they name no one.
    monkeypatch.setenv("USER", "alice")
    monkeypatch.setenv("LOGNAME", "alice")
    code, _ = _search(probe, "--as", "alice")
    assert code == 0
    entry = _last(ctx, "search")
    assert entry["actor"] == ME and entry["details"]["claimed_as"] == "alice"
    # With alice's token the command is alice's.
    code, _ = _search(probe, "--as", "alice", FACESEARCH_TOKEN=tokens["alice"])
    assert code == 0
    entry = _last(ctx, "search")
    assert entry["actor"] == "alice" and "claimed_as" not in (entry["details"] or {})
    # A token file does the same; a token of another account, or one revoked, is refused (exit 4, logged).
    token_file = Path(ctx.settings.home).parent / "bob.token"
    token_file.write_text(tokens["bob"] + "\n")
    assert _search(probe, "--token-file", str(token_file))[0] == 0 and _last(ctx, "search")["actor"] == "bob"
    code, out = _cli("--as", "alice", "--token-file", str(token_file), "stats")
    assert code == 4 and "bob's, not alice's" in out
    accounts.revoke_token(ctx, ADMIN, "user:bob")
    code, out = _cli("--token-file", str(token_file), "stats")
    assert code == 4 and "unknown, revoked" in out
    assert _last(ctx, "login_failed")["outcome"] == "refused"


def test_one_os_user_cannot_satisfy_the_two_person_rule(world) -> None:
    ctx, probe, tokens = world
    code, found = _search(probe, "--as", "alice")
    assert code == 0
    match = found["faces"][0]["matches"][0]
    code, out = _cli(
        "--as", "alice", "review", "propose", str(found["search_id"]), str(match["face_id"]), "--note", "x"
    )
    assert code == 0, out
    proposal = _last(ctx, "lead_propose")
    assert proposal["actor"] == ME
    # 0.3.0: `--as bob` confirmed it. Now both commands are the same OS user: a self-confirmation.
    code, out = _cli("--as", "bob", "review", "confirm", "1", "--note", "y", "--json")
    assert code == 4 and "self-confirmation" in out
    # bob, proven by his token, is a second examiner.
    code, out = _cli("--as", "bob", "review", "confirm", "1", "--note", "y", FACESEARCH_TOKEN=tokens["bob"])
    assert code == 0, out
    assert _last(ctx, "lead_confirm")["actor"] == "bob"


def test_limits_key_on_the_proven_user_and_live_in_the_home(world) -> None:
    ctx, probe, tokens = world
    limits.set_limits(ctx, ADMIN, per_minute=2)
    entry = _last(ctx, "limits_set")
    assert entry["actor"] == "root" and entry["details"]["per_minute"] == 2
    # Rotating names does not reset the count: every one of them is the same OS user.
    assert _search(probe, "--as", "n1")[0] == 0
    assert _search(probe, "--as", "n2")[0] == 0
    code, out = _search(probe, "--as", "n3")
    assert code == 4 and out["kind"] == "limit"
    # The caller's environment cannot lift the limits (0 = "no limit" there is ignored) ...
    code, out = _search(probe, "--as", "n4", FACESEARCH_SEARCH_RATE_PER_MINUTE="0")
    assert code == 4 and out["kind"] == "limit"
    code, out = _search(probe, FACESEARCH_SEARCH_RATE_PER_MINUTE="1000")
    assert code == 4 and out["kind"] == "limit"
    # ... but may make them stricter; alice, a different proven user, has her own count.
    code, out = _search(probe, FACESEARCH_TOKEN=tokens["alice"], FACESEARCH_SEARCH_DAILY_QUOTA="1")
    assert code == 0
    code, out = _search(probe, FACESEARCH_TOKEN=tokens["alice"], FACESEARCH_SEARCH_DAILY_QUOTA="1")
    assert code == 4 and out["kind"] == "limit" and "daily quota" in out["error"]
    # Only an admin changes them (an examiner is refused, exit 4, and the refusal is logged).
    code, _ = _cli("limits", "set", "--per-minute", "0", FACESEARCH_TOKEN=tokens["alice"])
    assert code == 4
    assert _last(ctx, "role_refused")["actor"] == "alice"
    code, out = _cli("limits", "set", "--per-minute", "0", "--json")  # cli:<user> as admin: the command's role
    assert code == 0 and json.loads(out)["per_minute"] == 0 and json.loads(out)["source"] == "home"
    assert _search(probe, "--as", "n5")[0] == 0


def test_a_password_at_a_terminal_proves_the_account(world, monkeypatch: pytest.MonkeyPatch) -> None:
    ctx, probe, _ = world
    typed: list[str] = []
    monkeypatch.setattr(cli_actor, "ask_password", lambda name: typed.pop(0) if typed else None)
    typed.append(PASSWORD)
    assert _search(probe, "--as", "alice")[0] == 0
    assert _last(ctx, "search")["actor"] == "alice" and _last(ctx, "login")["details"] == {"via": "cli"}
    # Wrong passwords count toward the same lockout as the sign-in page, and it outlives the process.
    for _ in range(5):
        typed.append("not the password")
        code, out = _cli("--as", "alice", "stats")
        assert code == 4 and "Wrong user name or password" in out
    typed.append(PASSWORD)
    code, out = _cli("--as", "alice", "stats")
    assert code == 4 and "Too many failed attempts" in out
    fresh = Context.open(Settings(workers=1))  # a new process: nothing in memory
    assert accounts.sign_in_command_line(fresh, "alice", PASSWORD).throttled


def test_restore_acts_as_the_os_user(world, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ctx, _, _ = world
    code, out = _cli("backup", str(tmp_path / "b"))
    assert code == 0, out
    monkeypatch.setenv("FACESEARCH_HOME", str(tmp_path / "new"))
    code, out = _cli("--as", "alice", "restore", str(tmp_path / "b"), "--key", str(ctx.settings.home / "audit.key"))
    assert code == 0, out
    restored = Context.open(Settings(home=tmp_path / "new", workers=1))
    entry = _last(restored, "restore")
    assert entry["actor"] == ME and entry["details"]["claimed_as"] == "alice"
