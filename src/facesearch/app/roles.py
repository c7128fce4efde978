"""Who may run a use case. Use cases declare their roles with `@allowed(...)`; transports read the same
declaration (`roles_of`) to refuse early, so a role is written down once, next to the work it guards.

Every refusal for a role is an audit entry (`role_refused`: who, in which role, what they tried, which roles it
needs), whether the use case refuses it (the command line) or a transport before it (`record_role_refusal`):
someone probing what their account may do leaves a trace."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, Concatenate, ParamSpec, TypeVar

from ..errors import StorageError
from ..store.guard import storage_errors
from ..vocabulary import ROLES, SYSTEM_ROLE, Action
from .auditing import record
from .context import Actor, Context
from .errors import Forbidden

log = logging.getLogger("facesearch")
P = ParamSpec("P")
R = TypeVar("R")


def allowed(
    *roles: str,
) -> Callable[[Callable[Concatenate[Context, Actor, P], R]], Callable[Concatenate[Context, Actor, P], R]]:
    """Declare the roles that may run a use case (none named: anyone signed in), and refuse every other caller
    before it runs. Every use case a transport calls is declared so: the declaration is also where the CLI
    takes the role a command acts with, and the wrapper turns storage failures into `StorageError`."""
    for r in roles:
        if r not in ROLES and r != SYSTEM_ROLE:
            raise ValueError(f"unknown role {r!r}")

    def wrap(fn: Callable[Concatenate[Context, Actor, P], R]) -> Callable[Concatenate[Context, Actor, P], R]:
        @functools.wraps(fn)
        def guarded(ctx: Context, actor: Actor, /, *args: P.args, **kwargs: P.kwargs) -> R:
            try:
                require_role(actor, roles)
            except Forbidden as exc:
                record_role_refusal(ctx, actor, roles, use_case_name(fn), str(exc))
                raise
            with storage_errors():  # a database failure reaches the transports as a StorageError
                return fn(ctx, actor, *args, **kwargs)

        guarded.roles = frozenset(roles)  # type: ignore[attr-defined]
        guarded.declared_roles = tuple(roles)  # type: ignore[attr-defined]
        return guarded

    return wrap


def roles_of(use_case: Callable[..., Any]) -> frozenset[str]:
    return frozenset(getattr(use_case, "roles", frozenset()))


def default_role(use_case: Callable[..., Any], fallback: str = "examiner") -> str:
    """The role a caller without an account of its own acts with for this use case: the first it declares."""
    declared: tuple[str, ...] = getattr(use_case, "declared_roles", ())
    return declared[0] if declared else fallback


def role_refusal_text(actor: Actor, roles: frozenset[str] | tuple[str, ...]) -> str:
    """Why `actor` is refused, in the words every entry point logs (so the entries compare across them)."""
    return f"this needs the role {' or '.join(sorted(roles))}; {actor.name} acts as {actor.role}"


def require_role(actor: Actor, roles: frozenset[str] | tuple[str, ...]) -> None:
    if roles and actor.role not in roles:
        raise Forbidden(role_refusal_text(actor, roles), roles=sorted(roles))


def use_case_name(fn: Callable[..., Any]) -> str:
    """`module.function` of a use case, as the audit entry of a refusal names it (`searching.search`)."""
    return f"{fn.__module__.rsplit('.', 1)[-1]}.{fn.__name__}"


def record_role_refusal(
    ctx: Context, actor: Actor, roles: frozenset[str] | tuple[str, ...], what: str, reason: str
) -> None:
    """The audit entry of a caller refused for their role: what they tried (the use cases) and which roles it
    needs. The refusal stands even when the entry cannot be written (a full home, a log that no longer matches
    its checkpoint): refusing is always safe, and the failure is in the process log."""
    try:
        with storage_errors():
            record(
                ctx,
                actor,
                Action.ROLE_REFUSED,
                outcome="refused",
                details={"attempted": what, "needs": sorted(roles), "reason": reason},
            )
    except StorageError as exc:
        log.warning("a refusal for a role could not be logged: %s", exc)
