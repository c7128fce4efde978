"""CLI commands of the web area, registered on the main app by cli.py: serve, users, tokens, audit."""

from __future__ import annotations

import getpass
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from .audit import cli_actor
from .cli_support import fail as _fail
from .cli_support import open_store as _store
from .config import Settings

if TYPE_CHECKING:
    from .audit import AuditLog
    from .store import Store

users_app = typer.Typer(no_args_is_help=True, help="Accounts: admin, operator, examiner, auditor.")
tokens_app = typer.Typer(no_args_is_help=True, help="API tokens for scripts (Authorization: Bearer TOKEN).")
audit_app = typer.Typer(no_args_is_help=True, help="The hash-chained audit log: verify it, export it.")


def _audit_log(settings: Settings, store: Store) -> AuditLog:
    from .audit import open_log

    return open_log(store, settings.home)


def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind (default: loopback only)."),
    port: int = typer.Option(8000, "--port", help="TCP port."),
    log_level: str = typer.Option("info", "--log-level"),
) -> None:
    """Run the web service and browser UI (FastAPI + uvicorn, embedded defaults, nothing else needed)."""
    import uvicorn

    from .api import create_app

    settings = Settings()
    app = create_app(settings)
    if host not in ("127.0.0.1", "localhost", "::1"):
        typer.echo(f"warning: listening on {host}: put TLS in front (a reverse proxy) before exposing it", err=True)
    typer.echo(f"facesearch serving on http://{host}:{port}  (home {settings.home})", err=True)
    uvicorn.run(app, host=host, port=port, log_level=log_level, proxy_headers=True, server_header=False)


@users_app.command("add")
def users_add(
    name: str = typer.Argument(..., help="User name."),
    role: str = typer.Option(..., "--role", help="admin, operator, examiner or auditor."),
    password_stdin: bool = typer.Option(False, "--password-stdin", help="Read the password from stdin."),
) -> None:
    """Create an account; asks for the password (twice) unless --password-stdin."""
    from . import audit, auth

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != password:
            _fail("the passwords differ")
    settings = Settings()
    store = _store(settings)
    try:
        user = auth.add_user(store, name, role, password)
    except auth.AuthError as exc:
        _fail(str(exc))
    _audit_log(settings, store).record(audit.USER_ADD, actor=cli_actor(), details={"user": name, "user_role": role})
    typer.echo(f"user {user.name} ({user.role}) created")


@users_app.command("list")
def users_list(as_json: bool = typer.Option(False, "--json")) -> None:
    """List accounts."""
    from . import auth

    rows = [{"name": u.name, "role": u.role, "disabled": u.disabled} for u in auth.list_users(_store(Settings()))]
    if as_json:
        typer.echo(json.dumps(rows))
        return
    for r in rows:
        typer.echo(f"{r['name']:<24} {r['role']:<10} {'disabled' if r['disabled'] else 'active'}")


@users_app.command("disable")
def users_disable(name: str = typer.Argument(...)) -> None:
    """Disable an account: ends its sessions and revokes its tokens."""
    from . import audit, auth

    settings = Settings()
    store = _store(settings)
    try:
        auth.set_disabled(store, name, True)
    except auth.AuthError as exc:
        _fail(str(exc))
    _audit_log(settings, store).record(audit.USER_CHANGE, actor=cli_actor(), details={"user": name, "disabled": True})
    typer.echo(f"user {name} disabled")


@users_app.command("passwd")
def users_passwd(name: str = typer.Argument(...),
                 password_stdin: bool = typer.Option(False, "--password-stdin")) -> None:
    """Set a new password for an account."""
    from . import audit, auth

    password = sys.stdin.readline().rstrip("\r\n") if password_stdin else getpass.getpass("New password: ")
    settings = Settings()
    store = _store(settings)
    try:
        auth.set_password(store, name, password)
    except auth.AuthError as exc:
        _fail(str(exc))
    _audit_log(settings, store).record(audit.USER_CHANGE, actor=cli_actor(),
                                       details={"user": name, "password_reset": True})
    typer.echo(f"password of {name} changed")


@tokens_app.command("create")
def tokens_create(name: str = typer.Argument(..., help="The user the token acts as."),
                  label: str = typer.Option("", "--label", help="What the token is for.")) -> None:
    """Create an API token for a user and print it (shown once; only its hash is stored)."""
    from . import audit, auth

    settings = Settings()
    store = _store(settings)
    try:
        token_id, token = auth.create_token(store, name, label)
    except auth.AuthError as exc:
        _fail(str(exc))
    _audit_log(settings, store).record(audit.TOKEN_CREATE, actor=cli_actor(),
                                       details={"user": name, "token_id": token_id, "label": label})
    typer.echo(f"token id {token_id} for {name} (revoke with `facesearch tokens revoke {token_id}`):", err=True)
    typer.echo(token)


@tokens_app.command("revoke")
def tokens_revoke(key: str = typer.Argument(..., help="Token id, the token itself, or user:NAME for all.")) -> None:
    """Revoke API tokens."""
    from . import audit, auth

    settings = Settings()
    store = _store(settings)
    try:
        n = auth.revoke_token(store, key)
    except auth.AuthError as exc:
        _fail(str(exc))
    if not n:
        _fail(f"no active token matches {key if not key.startswith(auth.TOKEN_PREFIX) else 'that token'}")
    ref = key if not key.startswith(auth.TOKEN_PREFIX) else "token"
    _audit_log(settings, store).record(audit.TOKEN_REVOKE, actor=cli_actor(), details={"key": ref, "revoked": n})
    typer.echo(f"{n} token(s) revoked")


@tokens_app.command("list")
def tokens_list() -> None:
    """List tokens (id, user, label, prefix, status), never the tokens themselves."""
    from . import auth

    for t, user in auth.list_tokens(_store(Settings())):
        typer.echo(f"{t.id:>5}  {user:<20} {t.prefix}…  {'revoked' if t.revoked_at else 'active':<8} {t.label}")


@audit_app.command("verify")
def audit_verify(as_json: bool = typer.Option(False, "--json")) -> None:
    """Recompute the hash chain; exit 1 if any entry was edited, inserted or deleted."""
    from .audit import verify_chain

    settings = Settings()
    report = verify_chain(_store(settings), settings.home / "audit-head.json")
    if as_json:
        typer.echo(json.dumps(report.as_dict()))
    elif report.ok:
        typer.echo(f"ok: {report.entries} entries, chain intact; head {report.head_seq} {report.head_hash}")
    else:
        typer.echo(f"TAMPERED: {len(report.problems)} problem(s) in {report.entries} entries", err=True)
        for p in report.problems:
            typer.echo(f"  {p}", err=True)
    if not report.ok:
        raise typer.Exit(1)


@audit_app.command("export")
def audit_export(
    since: str | None = typer.Option(None, "--since", help="Start date (YYYY-MM-DD) or ISO date-time."),
    until: str | None = typer.Option(None, "--until", help="End date (inclusive) or ISO date-time."),
    fmt: str = typer.Option("csv", "--format", help="csv or json."),
    out: Path | None = typer.Option(None, "--out", "-o", help="File to write (default: stdout)."),
    user: str | None = typer.Option(None, "--user"),
    case_ref: str | None = typer.Option(None, "--case"),
) -> None:
    """Write audit entries in a date range as CSV or JSON, with their hashes."""
    from . import audit

    if fmt not in ("csv", "json"):
        _fail("--format must be csv or json")
    settings = Settings()
    store = _store(settings)
    try:
        text = audit.export(store, fmt, since=since, until=until, user=user, case_ref=case_ref)
    except ValueError as exc:
        _fail(str(exc))
    _audit_log(settings, store).record(audit.EXPORT, actor=cli_actor(), case_ref=case_ref, details={
        "what": "audit", "format": fmt, "since": since, "until": until, "user": user, "out": str(out or "-")})
    if out:
        out.write_text(text, encoding="utf-8")
        typer.echo(f"wrote {out}", err=True)
    else:
        sys.stdout.write(text)


def register(app: typer.Typer) -> None:
    """Add this area's commands to the main `facesearch` app."""
    app.command("serve")(serve)
    app.add_typer(users_app, name="users")
    app.add_typer(tokens_app, name="tokens")
    app.add_typer(audit_app, name="audit")
