"""How a page is drawn: the templates, the navigation of each role, and error pages for browsers."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from .. import __version__
from ..app import watches
from ..app.accounts import Principal
from ..errors import FacesearchError
from ..services.search_results import clock

templates = Jinja2Templates(directory=Path(__file__).resolve().parent / "templates")
templates.env.globals["version"] = __version__
templates.env.globals["clock"] = clock  # a time in a video, as a player shows it

HOME = {"examiner": "/search", "operator": "/ingest", "auditor": "/audit", "admin": "/admin/users"}
NAV = [
    ("/search", "Search", "examiner"),
    ("/verify", "Verify", "examiner"),
    ("/review", "Review", "examiner"),
    ("/cases", "Case reports", "examiner"),
    ("/ingest", "Ingest", "operator"),
    ("/privacy", "Data protection", "operator"),
    ("/people", "People", "examiner"),
    ("/watches", "Watches", "examiner"),
    ("/people", "People", "operator"),
    ("/audit", "Audit log", "auditor"),
    ("/cases", "Case reports", "auditor"),
    ("/admin/users", "Users", "admin"),
    ("/admin/governance", "Governance", "admin"),
    ("/cases", "Cases", "admin"),
    ("/docs", "API", None),
]


def render(
    request: Request, template: str, status: int = 200, principal: Principal | None = None, **context: Any
) -> HTMLResponse:
    """A page for the signed-in principal (the one `Caller` authenticated, kept on the request), with the
    navigation of their role and the session's CSRF token for the page's forms."""
    p: Principal | None = principal or getattr(request.state, "principal", None)
    nav = [(href, label) for href, label, role in NAV if p and (role is None or role == p.role)]
    page = {
        "principal": p,
        "csrf": p.csrf_token if p else None,
        "nav": nav,
        "path": request.url.path,
        "unseen": unseen_hits(request, p),
        **context,
    }
    return templates.TemplateResponse(request, template, page, status_code=status)


def unseen_hits(request: Request, p: Principal | None) -> int | None:
    """The examiner's unseen watch hits, for the header (None for other roles, or when it cannot be read: the
    page itself must not fail for a count)."""
    app_ctx = getattr(request.app.state, "ctx", None)
    if p is None or p.role != "examiner" or app_ctx is None:
        return None
    try:
        return watches.unseen_count(app_ctx, p.actor(None))
    except FacesearchError:
        return None


def error_page(request: Request, status: int, title: str, detail: str) -> HTMLResponse:
    return render(request, "error.html", status=status, title=title, detail=detail)


# Notices after a redirect (`?msg=…&error=…`) are shown only when this process signed them for this user and
# page: a link that puts its own text there ("sign in again at https://evil.example") shows nothing.
_NOTICE_KEY = secrets.token_bytes(32)


def _notice_sig(user: str, path: str, msg: str | None, error: str | None) -> str:
    text = "\0".join((user, path, msg or "", error or ""))
    return hmac.new(_NOTICE_KEY, text.encode(), hashlib.sha256).hexdigest()[:32]


def notice_url(user: str, path: str, msg: str | None = None, error: str | None = None, **extra: Any) -> str:
    """`path` with a signed notice for `user` (and any other query parameters)."""
    query: dict[str, Any] = {k: v for k, v in (("msg", msg), ("error", error)) if v is not None}
    if query:
        query["sig"] = _notice_sig(user, path, msg, error)
    query.update({k: v for k, v in extra.items() if v is not None})
    return f"{path}?{urlencode(query, quote_via=quote)}" if query else path


def signed_notices(
    user: str, path: str, msg: str | None, error: str | None, sig: str | None
) -> tuple[str | None, str | None]:
    """The notices of a redirect if this process signed them for `user` and `path`; else none."""
    if (msg is None and error is None) or not sig:
        return None, None
    if not hmac.compare_digest(sig, _notice_sig(user, path, msg, error)):
        return None, None
    return msg, error
