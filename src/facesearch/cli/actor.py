"""Who the command line acts as, and how a use case's refusal is shown.

The CLI is an entry point like the API: every command calls a use case as an `Actor` and the use case
applies the same rules. Who that is must be proven, as on the API:
- with an account's credential, the command acts as that account, with its role (`--role` may only repeat
  it): an API token in `FACESEARCH_TOKEN` or in the file `--token-file` / `FACESEARCH_TOKEN_FILE`, or, for
  `--as NAME` at a terminal, NAME's password, asked for (failed passwords count toward the sign-in lockout);
- otherwise it acts as `cli:<user>`, the operating-system account running it (its effective uid, never an
  environment variable), whatever `--as` / `FACESEARCH_ACTOR` says: a name given without proof is kept in
  every audit entry as `claimed_as`, and never keys the two-person rule or the per-user limits.
The role of `cli:<user>` is `--role` / `FACESEARCH_ROLE`, or else the role the command is made for (search
and verify: examiner; ingest and data protection: operator; purposes, kill switch, limits and accounts:
admin; the audit log and case reports: auditor).
"""

from __future__ import annotations

import errno
import getpass
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import typer

from ..errors import FacesearchError, ImageError
from ..vocabulary import ROLES
from . import startup

if TYPE_CHECKING:
    from ..app import accounts
    from ..app.context import Actor, Context
    from ..config import Settings

T = TypeVar("T")

TOKEN_ENV = "FACESEARCH_TOKEN"


@dataclass
class Who:
    """The global options `--as`, `--role` and `--token-file`, set by the root callback, and the account
    proven for this command (proved once, however many use cases the command calls)."""

    name: str | None = None
    role: str | None = None
    token_file: Path | None = None
    proven: accounts.Principal | None = None
    checked: bool = False

    def reset(self, name: str | None, role: str | None, token_file: Path | None) -> None:
        self.name, self.role, self.token_file = name, role, token_file
        self.proven, self.checked = None, False


WHO = Who()


def os_user() -> str:
    """The operating-system account running this process, from its effective uid: USER and LOGNAME are the
    caller's to set, so they name no one."""
    try:
        import pwd

        return pwd.getpwuid(os.geteuid()).pw_name
    except (ImportError, KeyError, OSError):
        try:
            return getpass.getuser()
        except (KeyError, OSError):
            return "unknown"


def cli_actor_name() -> str:
    return f"cli:{os_user()}"


# Exit code of a home that cannot be read or written (read-only, full, not ours): nothing was done.
STORAGE_EXIT = 5
_STORAGE_ERRNOS = {errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EPERM, errno.EDQUOT, errno.EIO}


def storage_message(exc: BaseException) -> str | None:
    """One line for a failure of the home's storage, naming the cause and never the data being written."""
    if isinstance(exc, FacesearchError) and exc.kind == "storage":
        text = str(exc)
        return text if text.endswith("nothing was done") else f"{text}; nothing was done"
    if isinstance(exc, OSError) and exc.errno in _STORAGE_ERRNOS:
        where = f" {exc.filename}" if exc.filename else " the home"
        return f"cannot use{where}: {exc.strerror}"
    return None


def load_settings() -> Settings:
    """This command's settings (FACESEARCH_* and .env); a value that does not parse is one line per setting,
    naming its variable, and exit code 2, not a traceback. The value is shown (credentials in it redacted),
    except for a setting whose name says it holds a secret."""
    from pydantic import ValidationError

    from ..config import Settings
    from ..errors import redact

    startup.settle()  # a command that runs no use case (serve) gets the usual collector back here
    try:
        return Settings()
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            name = "FACESEARCH_" + "_".join(str(part) for part in err["loc"]).upper()
            secret = any(word in name for word in ("PASSWORD", "SECRET", "TOKEN", "KEY"))
            shown = "" if secret else "=" + redact(repr(err.get("input")))
            problems.append(f"{name}{shown}: {err['msg']}")
        fail("bad setting: " + "; ".join(problems))


def open_context() -> Context:
    from ..app.context import Context

    try:
        return Context.open(load_settings())
    except (FacesearchError, OSError) as exc:
        message = storage_message(exc)
        if message is None:
            raise
        fail(message, STORAGE_EXIT)


def given_token() -> str | None:
    """The API token this command was given: `--token-file` / FACESEARCH_TOKEN_FILE, else FACESEARCH_TOKEN."""
    if WHO.token_file is not None:
        try:
            return WHO.token_file.read_text().strip() or None
        except OSError as exc:
            fail(f"cannot read the token file {WHO.token_file}: {exc.strerror}")
    return os.environ.get(TOKEN_ENV, "").strip() or None


def ask_password(name: str) -> str | None:
    """NAME's password, asked for at the terminal; None when no one can be asked (no terminal)."""
    if not sys.stdin.isatty():
        return None
    try:
        return getpass.getpass(f"password for {name}: ")
    except (EOFError, KeyboardInterrupt):
        return None


def _prove(ctx: Context) -> accounts.Principal | None:
    """The account this command has proven it acts for, or None (it acts as `cli:<user>`)."""
    from ..app import accounts

    token = given_token()
    if token is not None:
        principal = accounts.token_principal(ctx, token)
        if principal is None:
            accounts.token_refused(ctx, WHO.name)
            fail(
                "the API token given (FACESEARCH_TOKEN or --token-file) is unknown, revoked or its account disabled", 4
            )
        if WHO.name and WHO.name != principal.name:
            fail(f"the API token given is {principal.name}'s, not {WHO.name}'s", 4)
        return principal
    if not WHO.name:
        return None
    account = accounts.find_account(ctx, WHO.name)
    if account is None:
        return None
    password = ask_password(account.name)
    if password is None:
        typer.echo(
            f"note: {account.name} is an account; without its credential ({TOKEN_ENV}, --token-file, or its "
            f"password at a terminal) this command acts as {cli_actor_name()}",
            err=True,
        )
        return None
    checked = accounts.sign_in_command_line(ctx, account.name, password)
    if checked.user is None:
        fail(checked.refusal or "wrong password", 4)
    user = checked.user
    return accounts.Principal(user.id, user.name, user.role, "cli")


def actor_for(ctx: Context, default_role: str) -> Actor:
    """The acting user of this command (see the module's docstring)."""
    from ..app.context import Actor
    from ..app.roles import record_role_refusal

    if WHO.role is not None and WHO.role not in ROLES:
        fail(f"unknown role {WHO.role!r}; roles are: {', '.join(ROLES)}")
    if not WHO.checked:
        WHO.proven, WHO.checked = _prove(ctx), True
    principal = WHO.proven
    if principal is not None:
        actor = principal.actor(None, via="cli")
        if WHO.role is not None and WHO.role != principal.role:
            message = f"account {principal.name!r} has the role {principal.role}, not {WHO.role}"
            record_role_refusal(ctx, actor, (WHO.role,), "--role", message)
            fail(message, 4)
        return actor
    claimed = WHO.name if WHO.name and WHO.name != cli_actor_name() else None
    return Actor(cli_actor_name(), WHO.role or default_role, via="cli", claimed=claimed)


def fail(message: str, code: int = 2, as_json: bool = False, **extra: Any) -> NoReturn:
    """Print a one-line error (no traceback), as JSON too when asked, and exit with `code`."""
    if as_json:
        print(json.dumps({"error": message, **extra}))
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


# The option that gives a field a refusal names, so that the command line's message says what to type.
FLAGS = {"case reference": "--case REF", "purpose": "--purpose CODE"}


def run(fn: Callable[[], T], as_json: bool = False) -> T:
    """Call a use case; show a failure the way every command does, with the exit code of its kind
    (`facesearch.errors.KINDS`): 2 bad input, 3 the probe cannot be searched, 4 refused by the rules (role,
    case reference, purpose, kill switch, limits), 5 the home cannot be read or written (read-only, full)."""
    startup.settle()
    try:
        return fn()
    except FacesearchError as exc:
        message = storage_message(exc) or (f"cannot read the image: {exc}" if isinstance(exc, ImageError) else str(exc))
        if exc.kind == "case_required" and (flag := FLAGS.get(str(exc.extra.get("field")))):
            message += f" (give it with {flag})"
        fail(message, exc.exit_code, as_json, kind=exc.kind, **exc.extra)
    except OSError as exc:
        # A read-only or full home: one line, no traceback (a traceback can show what was being written).
        storage = storage_message(exc)
        if storage is None:
            raise
        fail(storage, STORAGE_EXIT, as_json, kind="storage")


def call(use_case: Callable[..., T], *args: Any, as_json: bool = False, ctx: Context | None = None, **kwargs: Any) -> T:
    """Run a use case as this command's actor, whose default role is the first the use case declares."""
    from ..app.roles import default_role

    ctx = ctx or open_context()
    return run(lambda: use_case(ctx, actor_for(ctx, default_role(use_case)), *args, **kwargs), as_json)
