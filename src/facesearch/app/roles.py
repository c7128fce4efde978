"""Who may run a use case. Use cases declare their roles with `@allowed(...)`; transports read the same
declaration (`roles_of`) to refuse early, so a role is written down once, next to the work it guards."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, Concatenate, ParamSpec, TypeVar

from ..store.accounts import ROLES
from .context import Actor, Context
from .errors import Forbidden

P = ParamSpec("P")
R = TypeVar("R")


def allowed(*roles: str) -> Callable[[Callable[Concatenate[Context, Actor, P], R]],
                                     Callable[Concatenate[Context, Actor, P], R]]:
    """Declare the roles that may run a use case, and refuse every other caller before it runs."""
    for r in roles:
        if r not in ROLES and r != "system":
            raise ValueError(f"unknown role {r!r}")

    def wrap(fn: Callable[Concatenate[Context, Actor, P], R]) -> Callable[Concatenate[Context, Actor, P], R]:
        @functools.wraps(fn)
        def guarded(ctx: Context, actor: Actor, /, *args: P.args, **kwargs: P.kwargs) -> R:
            require_role(actor, roles)
            return fn(ctx, actor, *args, **kwargs)

        guarded.roles = frozenset(roles)  # type: ignore[attr-defined]
        return guarded

    return wrap


def roles_of(use_case: Callable[..., Any]) -> frozenset[str]:
    return frozenset(getattr(use_case, "roles", frozenset()))


def require_role(actor: Actor, roles: frozenset[str] | tuple[str, ...]) -> None:
    if roles and actor.role not in roles:
        raise Forbidden(f"this needs the role {' or '.join(sorted(roles))}; {actor.name} acts as {actor.role}",
                        roles=sorted(roles))
