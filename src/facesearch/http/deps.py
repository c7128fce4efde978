"""Who is asking, and may they. Authentication: `Authorization: Bearer TOKEN` (scripts) or the `fs_session`
cookie (browser). A cookie request that changes anything must also carry the session's CSRF token (header
`X-CSRF-Token` or form field `csrf_token`); a Bearer request needs none, because a browser never attaches
one by itself.

Roles are not decided here: `Caller(use_case)` reads the roles the use case declares and refuses the
others before a request body is even parsed; the use case checks them again when it runs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import Request

from ..app import accounts
from ..app.accounts import Principal
from ..app.context import Actor, Context
from ..app.roles import record_role_refusal, role_refusal_text, roles_of, use_case_name
from .problems import Problem

SESSION_COOKIE = "fs_session"
LOGIN_CSRF_COOKIE = "fs_login_csrf"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def context(request: Request) -> Context:
    ctx: Context = request.app.state.ctx
    return ctx


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


async def authenticate(request: Request) -> Principal | None:
    """The caller, or None. Cached on the request so several dependencies cost one lookup."""
    if hasattr(request.state, "principal"):
        p: Principal | None = request.state.principal
        return p
    ctx = context(request)
    principal: Principal | None = None
    header = request.headers.get("authorization", "")
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Problem(401, "Not authenticated", "use `Authorization: Bearer TOKEN`")
        principal = accounts.token_principal(ctx, token.strip())
        if principal is None:
            raise Problem(401, "Not authenticated", "the API token is unknown or revoked")
    else:
        sid = request.cookies.get(SESSION_COOKIE, "")
        principal = accounts.session_principal(ctx, sid) if sid else None
    request.state.principal = principal
    return principal


async def check_csrf(request: Request, principal: Principal) -> None:
    if principal.via != "session" or request.method in SAFE_METHODS:
        return
    given = request.headers.get("x-csrf-token")
    if not given and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()
        value = form.get("csrf_token")
        given = value if isinstance(value, str) else None
    if not accounts.csrf_ok(principal.csrf_token, given):
        raise Problem(
            403,
            "CSRF check failed",
            "the form or request lacks this session's CSRF token; reload the page and try again",
        )


class Caller:
    """Dependency: the signed-in caller as an `Actor`, refused early unless their role may run the given use
    cases (any signed-in user when none are given). Tests read `roles` off every route to prove each one is
    guarded."""

    def __init__(self, *use_cases: Callable[..., Any]) -> None:
        roles: set[str] = set()
        self.attempted = ", ".join(use_case_name(uc) for uc in use_cases)
        for uc in use_cases:
            declared = roles_of(uc)
            if not declared:
                raise ValueError(f"{uc.__name__} declares no roles")
            roles |= declared
        self.roles = frozenset(roles)

    async def __call__(self, request: Request) -> Actor:
        principal = await authenticate(request)
        if principal is None:
            raise Problem(401, "Not authenticated", "sign in, or send `Authorization: Bearer TOKEN`")
        if self.roles and principal.role not in self.roles:
            # Logged like the use case's own refusal (the same words), so probing what an account may do leaves
            # the same trace whatever the entry point.
            refused = principal.actor(client_ip(request))
            record_role_refusal(
                context(request), refused, self.roles, self.attempted, role_refusal_text(refused, self.roles)
            )
            raise Problem(
                403,
                "Forbidden",
                f"this needs the role {' or '.join(sorted(self.roles))}; you are signed in as {principal.role}",
            )
        await check_csrf(request, principal)
        request.state.actor = principal.actor(client_ip(request))
        actor: Actor = request.state.actor
        return actor

    def __repr__(self) -> str:
        return f"Caller({', '.join(sorted(self.roles)) or 'any signed-in user'})"


any_user = Caller()


async def principal_of(request: Request) -> Principal:
    """The signed-in principal (for pages that need the CSRF token or session), after `Caller` ran."""
    p = await authenticate(request)
    if p is None:
        raise Problem(401, "Not authenticated", "sign in, or send `Authorization: Bearer TOKEN`")
    return p
