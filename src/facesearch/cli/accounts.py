"""CLI commands of the web service and its accounts: serve, users, tokens, and the audit log."""

from __future__ import annotations

import getpass
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from .actor import call, fail, load_settings
from .output import emit

if TYPE_CHECKING:
    from ..config import Settings

users_app = typer.Typer(no_args_is_help=True, help="Accounts: admin, operator, examiner, auditor.")
tokens_app = typer.Typer(no_args_is_help=True, help="API tokens for scripts (Authorization: Bearer TOKEN).")
audit_app = typer.Typer(no_args_is_help=True, help="The hash-chained audit log: verify it, export it.")


def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind (default: loopback only)."),
    port: int = typer.Option(8000, "--port", help="TCP port."),
    log_level: str = typer.Option("info", "--log-level"),
) -> None:
    """Run the web service and browser UI (FastAPI + uvicorn, embedded defaults, nothing else needed)."""
    import uvicorn

    from ..server import create_app

    settings = load_settings()
    app = create_app(settings)
    if host not in ("127.0.0.1", "localhost", "::1"):
        typer.echo(f"warning: listening on {host}: put TLS in front (a reverse proxy) before exposing it", err=True)
    typer.echo(f"facesearch serving on http://{host}:{port}  (home {settings.home})", err=True)
    uvicorn.run(app, host=host, port=port, log_level=log_level, **uvicorn_options(settings))


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """How `serve` runs uvicorn. Forwarded headers (X-Forwarded-For, -Proto) are honoured only from the
    addresses in FACESEARCH_TRUSTED_PROXIES; with none set they are ignored, so no client can choose the
    address that the audit log records and the sign-in throttle counts."""
    options: dict[str, Any] = {"server_header": False, "proxy_headers": bool(settings.trusted_proxies)}
    if settings.trusted_proxies:
        options["forwarded_allow_ips"] = ",".join(settings.trusted_proxies)
    return options


def _password(from_stdin: bool, prompt: str, twice: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    password = getpass.getpass(prompt)
    if twice and getpass.getpass("Again: ") != password:
        fail("the passwords differ")
    return password


@users_app.command("add")
def users_add(
    name: str = typer.Argument(..., help="User name."),
    role: str = typer.Option(..., "--role", help="admin, operator, examiner or auditor."),
    password_stdin: bool = typer.Option(False, "--password-stdin", help="Read the password from stdin."),
) -> None:
    """Create an account; asks for the password (twice) unless --password-stdin. (An admin's work.)"""
    from ..app import accounts

    password = _password(password_stdin, "Password: ", True)
    user = call(accounts.add_user, name, role, password)
    typer.echo(f"User {user.name} ({user.role}) created.")  # as the Users page says it


@dataclass(frozen=True)
class ListedUser:
    """An account as `users list` shows it (and prints it with --json): no dates."""

    name: str
    role: str
    disabled: bool


def _print_users(users: list[ListedUser]) -> None:
    for u in users:
        typer.echo(f"{u.name:<24} {u.role:<10} {'disabled' if u.disabled else 'active'}")


@users_app.command("list")
def users_list(as_json: bool = typer.Option(False, "--json")) -> None:
    """List accounts."""
    from ..app import accounts

    users = [ListedUser(u.name, u.role, u.disabled) for u in call(accounts.list_users)]
    emit(users, as_json, _print_users)


@users_app.command("disable")
def users_disable(name: str = typer.Argument(...)) -> None:
    """Disable an account: ends its sessions and revokes its tokens."""
    from ..app import accounts

    call(accounts.change_user, name, disabled=True)
    typer.echo(f"user {name} disabled")


@users_app.command("enable")
def users_enable(name: str = typer.Argument(...)) -> None:
    """Enable a disabled account again (its old tokens stay revoked)."""
    from ..app import accounts

    call(accounts.change_user, name, disabled=False)
    typer.echo(f"user {name} enabled")


@users_app.command("passwd")
def users_passwd(
    name: str = typer.Argument(...), password_stdin: bool = typer.Option(False, "--password-stdin")
) -> None:
    """Set a new password for an account."""
    from ..app import accounts

    password = _password(password_stdin, "New password: ", False)
    call(accounts.change_user, name, password=password)
    typer.echo(f"password of {name} changed")


@tokens_app.command("create")
def tokens_create(
    name: str = typer.Argument(..., help="The user the token acts as."),
    label: str = typer.Option("", "--label", help="What the token is for."),
) -> None:
    """Create an API token for a user and print it (shown once; only its hash is stored)."""
    from ..app import accounts

    made = call(accounts.create_token, name, label)
    typer.echo(f"token id {made.id} for {name} (revoke with `facesearch tokens revoke {made.id}`):", err=True)
    typer.echo(made.token)


@tokens_app.command("revoke")
def tokens_revoke(key: str = typer.Argument(..., help="Token id, the token itself, or user:NAME for all.")) -> None:
    """Revoke API tokens."""
    from ..app import accounts

    n = call(accounts.revoke_token, key)
    typer.echo(f"{n} token(s) revoked")


@tokens_app.command("list")
def tokens_list() -> None:
    """List tokens (id, user, label, prefix, status), never the tokens themselves."""
    from ..app import accounts

    for t in call(accounts.list_tokens):
        typer.echo(f"{t.id:>5}  {t.user:<20} {t.prefix}…  {'revoked' if t.revoked else 'active':<8} {t.label}")


@audit_app.command("verify")
def audit_verify(as_json: bool = typer.Option(False, "--json")) -> None:
    """Recompute the hash chain; exit 1 if any entry was edited, inserted or deleted."""
    from ..app import audit as audit_uc

    report = call(audit_uc.verify)
    emit(report, as_json, _print_chain)
    if not report.ok:
        raise typer.Exit(1)


def _print_chain(report: Any) -> None:
    if report.ok:
        typer.echo(f"ok: {report.entries} entries, chain intact; head {report.head_seq} {report.head_hash}")
    else:
        typer.echo(f"TAMPERED: {len(report.problems)} problem(s) in {report.entries} entries", err=True)
        for p in report.problems:
            typer.echo(f"  {p}", err=True)


@audit_app.command("reseal")
def audit_reseal(
    reason: str = typer.Option(..., "--reason", help="Why the deployment goes on (kept in the audit log)."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """After a break (entries or the checkpoint deleted), let the log be written again: an `audit_reseal` entry
    records what verify found and a new checkpoint starts there. `audit verify` keeps reporting it (admin)."""
    from ..app import audit as audit_uc

    report = call(audit_uc.reseal, reason, as_json=as_json)
    emit(report, as_json, lambda r: typer.echo(f"resealed at entry {r.head_seq}; verify reports the break from now on"))


@audit_app.command("export")
def audit_export(
    since: str | None = typer.Option(None, "--since", help="Start date (YYYY-MM-DD) or ISO date-time."),
    until: str | None = typer.Option(None, "--until", help="End date (inclusive) or ISO date-time."),
    fmt: str = typer.Option("csv", "--format", help="csv or json."),
    out: Path | None = typer.Option(None, "--out", "-o", help="File to write (default: stdout)."),
    user: str | None = typer.Option(None, "--user"),
    case_ref: str | None = typer.Option(None, "--case"),
) -> None:
    """Write audit entries in a date range as CSV or JSON, with their hashes (the export is logged)."""
    from ..app import audit as audit_uc

    text = call(
        audit_uc.export, fmt, since=since, until=until, user=user, case_ref=case_ref, destination=str(out or "-")
    )
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
