"""Who the command line acts as, and how a use case's refusal is shown.

The CLI is an entry point like the API: every command calls a use case as an `Actor` and the use case
applies the same rules. The actor is
- `--as NAME` / `FACESEARCH_ACTOR`: a registered account acts with its own role (`--role` may only repeat
  it); any other name acts as `cli:NAME`;
- by default the operating-system account, as `cli:<user>`;
and the role of a name that is not an account is `--role` / `FACESEARCH_ROLE`, or else the role the
command is made for (search and verify: examiner; ingest and data protection: operator; purposes, kill
switch and accounts: admin; the audit log and case reports: auditor). Set FACESEARCH_ROLE to pin one role
for every command.
"""

from __future__ import annotations

import errno
import getpass
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NoReturn, TypeVar

import typer

from ..app import accounts
from ..app.context import Actor, Context
from ..app.roles import default_role
from ..config import Settings
from ..errors import FacesearchError, ImageError
from ..vocabulary import ROLES

T = TypeVar("T")


@dataclass
class Who:
    """The global options `--as` and `--role`, set by the root callback."""

    name: str | None = None
    role: str | None = None


WHO = Who()


def os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


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


def open_context() -> Context:
    try:
        return Context.open(Settings())
    except (FacesearchError, OSError) as exc:
        message = storage_message(exc)
        if message is None:
            raise
        fail(message, STORAGE_EXIT)


def actor_for(ctx: Context, default_role: str) -> Actor:
    """The acting user of this command (see the module's docstring)."""
    if WHO.role is not None and WHO.role not in ROLES:
        fail(f"unknown role {WHO.role!r}; roles are: {', '.join(ROLES)}")
    if WHO.name:
        user = accounts.find_account(ctx, WHO.name)
        if user is not None:
            if user.disabled:
                fail(f"account {user.name!r} is disabled", 4)
            if WHO.role is not None and WHO.role != user.role:
                fail(f"account {user.name!r} has the role {user.role}, not {WHO.role}", 4)
            return Actor(user.name, user.role, via="cli", user_id=user.id)
        return Actor(f"cli:{WHO.name}", WHO.role or default_role, via="cli")
    return Actor(f"cli:{os_user()}", WHO.role or default_role, via="cli")


def fail(message: str, code: int = 2, as_json: bool = False, **extra: Any) -> NoReturn:
    """Print a one-line error (no traceback), as JSON too when asked, and exit with `code`."""
    if as_json:
        print(json.dumps({"error": message, **extra}))
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def run(fn: Callable[[], T], as_json: bool = False) -> T:
    """Call a use case; show a failure the way every command does, with the exit code of its kind
    (`facesearch.errors.KINDS`): 2 bad input, 3 the probe cannot be searched, 4 refused by the rules (role,
    case reference, purpose, kill switch, limits), 5 the home cannot be read or written (read-only, full)."""
    try:
        return fn()
    except FacesearchError as exc:
        message = storage_message(exc) or (f"cannot read the image: {exc}" if isinstance(exc, ImageError) else str(exc))
        fail(message, exc.exit_code, as_json, kind=exc.kind, **exc.extra)
    except OSError as exc:
        # A read-only or full home: one line, no traceback (a traceback can show what was being written).
        storage = storage_message(exc)
        if storage is None:
            raise
        fail(storage, STORAGE_EXIT, as_json, kind="storage")


def call(use_case: Callable[..., T], *args: Any, as_json: bool = False, ctx: Context | None = None, **kwargs: Any) -> T:
    """Run a use case as this command's actor, whose default role is the first the use case declares."""
    ctx = ctx or open_context()
    return run(lambda: use_case(ctx, actor_for(ctx, default_role(use_case)), *args, **kwargs), as_json)
