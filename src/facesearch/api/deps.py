"""Shared state of a running service and the dependencies every route uses: who is asking, may they.

Authentication: `Authorization: Bearer TOKEN` (scripts) or the `fs_session` cookie (browser). A cookie
request that changes anything must also carry the session's CSRF token (header `X-CSRF-Token` or form
field `csrf_token`); a Bearer request needs none, because a browser never attaches one by itself.
"""

import threading
import time
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request

from .. import auth
from ..audit import AuditLog
from ..config import Settings
from ..search import Engine
from ..store import Store
from .problems import Problem

SESSION_COOKIE = "fs_session"
LOGIN_CSRF_COOKIE = "fs_login_csrf"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# How long a face or image returned to a user counts as "already seen" (its thumbnail or file can be
# fetched without a separate audit entry: the search or view that showed it is already logged).
SEEN_SECONDS = 3600.0


class SeenCache:
    """Per user, the face and image ids recently shown to them by an audited search or view."""

    def __init__(self, capacity: int = 20000) -> None:
        self._items: OrderedDict[tuple[int, str, int], float] = OrderedDict()
        self._lock = threading.Lock()
        self.capacity = capacity

    def add(self, user_id: int, kind: str, ids: Iterable[int]) -> None:
        now = time.monotonic()
        with self._lock:
            for i in ids:
                key = (user_id, kind, int(i))
                self._items[key] = now
                self._items.move_to_end(key)
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)

    def seen(self, user_id: int, kind: str, ident: int) -> bool:
        with self._lock:
            t = self._items.get((user_id, kind, int(ident)))
        return t is not None and time.monotonic() - t < SEEN_SECONDS


@dataclass
class Services:
    settings: Settings
    store: Store
    audit: AuditLog
    engine: Engine
    # The model packs hold native detector and inference objects that are not safe to share between
    # threads, so engine calls take turns; requests still overlap in upload, decode and I/O.
    engine_lock: threading.Lock = field(default_factory=threading.Lock)
    seen: SeenCache = field(default_factory=SeenCache)
    jobs: Any = None
    metrics: Any = None


def services(request: Request) -> Services:
    return request.app.state.services


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


async def authenticate(request: Request) -> auth.Principal | None:
    """The caller, or None. Cached on the request so several dependencies cost one lookup."""
    if hasattr(request.state, "principal"):
        return request.state.principal
    svc = services(request)
    principal: auth.Principal | None = None
    header = request.headers.get("authorization", "")
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Problem(401, "Not authenticated", "use `Authorization: Bearer TOKEN`")
        principal = auth.token_principal(svc.store, token.strip())
        if principal is None:
            raise Problem(401, "Not authenticated", "the API token is unknown or revoked")
    else:
        sid = request.cookies.get(SESSION_COOKIE, "")
        principal = auth.session_principal(svc.store, sid) if sid else None
    request.state.principal = principal
    return principal


async def check_csrf(request: Request, principal: auth.Principal) -> None:
    if principal.via != "session" or request.method in SAFE_METHODS:
        return
    given = request.headers.get("x-csrf-token")
    if not given and request.headers.get("content-type", "").startswith(
            ("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()
        value = form.get("csrf_token")
        given = value if isinstance(value, str) else None
    if not auth.csrf_ok(principal.csrf_token, given):
        raise Problem(403, "CSRF check failed", "the form or request lacks this session's CSRF token; "
                      "reload the page and try again")


class RoleGuard:
    """Dependency: the caller must be signed in and hold one of `roles` (any role when empty).

    Kept as a class so tests can read `roles` off every route and prove each one is guarded.
    """

    def __init__(self, *roles: str) -> None:
        for r in roles:
            auth.check_role(r)
        self.roles = frozenset(roles)

    async def __call__(self, request: Request) -> auth.Principal:
        principal = await authenticate(request)
        if principal is None:
            raise Problem(401, "Not authenticated", "sign in, or send `Authorization: Bearer TOKEN`")
        if self.roles and principal.role not in self.roles:
            raise Problem(403, "Forbidden", f"this needs the role {' or '.join(sorted(self.roles))}; "
                          f"you are signed in as {principal.role}")
        await check_csrf(request, principal)
        return principal

    def __repr__(self) -> str:
        return f"require_role({', '.join(sorted(self.roles))})"


def require_role(*roles: str) -> RoleGuard:
    return RoleGuard(*roles)


any_user = RoleGuard()
