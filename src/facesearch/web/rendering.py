"""How a page is drawn: the templates, the navigation of each role, and error pages for browsers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from .. import __version__
from ..app.accounts import Principal
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
    ("/people", "People", "operator"),
    ("/audit", "Audit log", "auditor"),
    ("/cases", "Case reports", "auditor"),
    ("/admin/users", "Users", "admin"),
    ("/admin/governance", "Governance", "admin"),
    ("/docs", "API", None),
]


def render(
    request: Request, template: str, status: int = 200, principal: Principal | None = None, **context: Any
) -> HTMLResponse:
    """A page for the signed-in principal (the one `Caller` authenticated, kept on the request), with the
    navigation of their role and the session's CSRF token for the page's forms."""
    p: Principal | None = principal or getattr(request.state, "principal", None)
    nav = [(href, label) for href, label, role in NAV if p and (role is None or role == p.role)]
    ctx = {"principal": p, "csrf": p.csrf_token if p else None, "nav": nav, "path": request.url.path, **context}
    return templates.TemplateResponse(request, template, ctx, status_code=status)


def error_page(request: Request, status: int, title: str, detail: str) -> HTMLResponse:
    return render(request, "error.html", status=status, title=title, detail=detail)
