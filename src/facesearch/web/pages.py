"""Pages of the browser UI, sign-in and sign-out. Each page names the use case(s) its forms call (the
roles come from there), calls the application layer and renders the answer; the pages' scripts call the
same use cases through /api/v1."""

from __future__ import annotations

import contextlib
import secrets
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Path, Query, Request
from fastapi.responses import RedirectResponse, Response

from ..app import accounts, audit, jobs, purposes, searching, suspension
from ..app import collection as collections
from ..app.accounts import Principal
from ..app.context import Actor, Context
from ..app.errors import Invalid, NotFound, Refused
from ..config import Settings
from ..http.deps import LOGIN_CSRF_COOKIE, SESSION_COOKIE, Caller, any_user, client_ip, context, principal_of
from ..http.problems import Problem
from ..vocabulary import ACTIONS, ROLES
from . import governance_pages, watch_pages
from .rendering import HOME, NAV, error_page, render, signed_notices, templates

__all__ = ["HOME", "NAV", "error_page", "render", "router", "templates"]

router = APIRouter(include_in_schema=False)
PAGE = 50


def _safe_next(value: str | None) -> str | None:
    # Only same-site paths: an attacker-supplied "next" must not turn sign-in into an open redirect.
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return None


def _set_cookie(response: Response, settings: Settings, name: str, value: str, max_age: int) -> None:
    response.set_cookie(
        name, value, max_age=max_age, httponly=True, secure=settings.cookie_secure, samesite="strict", path="/"
    )


# Signing in and out -----------------------------------------------------------------------------
@router.get("/login")
def login_page(request: Request, next: str | None = None, ctx: Context = Depends(context)) -> Response:
    token = secrets.token_urlsafe(32)
    resp = render(request, "login.html", login_csrf=token, next=_safe_next(next) or "", error=None, name="")
    _set_cookie(resp, ctx.settings, LOGIN_CSRF_COOKIE, token, 3600)
    return resp


@router.post("/login")
def login(
    request: Request,
    name: Annotated[str, Form(max_length=100)] = "",
    password: Annotated[str, Form(max_length=1000)] = "",
    csrf_token: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "",
    ctx: Context = Depends(context),
) -> Response:
    name = name.strip()

    def again(message: str, status: int) -> Response:
        token = secrets.token_urlsafe(32)
        resp = render(
            request,
            "login.html",
            status=status,
            login_csrf=token,
            next=_safe_next(next) or "",
            error=message,
            name=name,
        )
        _set_cookie(resp, ctx.settings, LOGIN_CSRF_COOKIE, token, 3600)
        return resp

    if not accounts.csrf_ok(request.cookies.get(LOGIN_CSRF_COOKIE), csrf_token):
        return again("Your sign-in form expired. Please try again.", 403)
    res = accounts.sign_in(ctx, name, password, client_ip(request))
    if res.user is None or res.session_id is None:
        return again(res.refusal or "Wrong user name or password.", 429 if res.throttled else 401)
    resp = RedirectResponse(_safe_next(next) or HOME.get(res.user.role, "/"), status_code=303)
    _set_cookie(resp, ctx.settings, SESSION_COOKIE, res.session_id, int(ctx.settings.session_hours * 3600))
    resp.delete_cookie(LOGIN_CSRF_COOKIE, path="/")
    return resp


@router.post("/logout")
def logout(
    actor: Actor = Depends(any_user), p: Principal = Depends(principal_of), ctx: Context = Depends(context)
) -> Response:
    accounts.sign_out(ctx, actor, p.session_id_hash)
    resp = RedirectResponse("/login", status_code=303)
    resp.delete_cookie(SESSION_COOKIE, path="/")
    return resp


@router.get("/")
def home(actor: Actor = Depends(any_user)) -> Response:
    return RedirectResponse(HOME.get(actor.role, "/docs"), status_code=303)


# Work pages -------------------------------------------------------------------------------------
@router.get("/search")
def search_page(
    request: Request, actor: Actor = Depends(Caller(searching.search)), ctx: Context = Depends(context)
) -> Response:
    return render(
        request,
        "search.html",
        collections=collections.list_collections(ctx, actor),
        top_k=10,
        purposes=purposes.active_purposes(ctx, actor),
        suspension=suspension.current_suspension(ctx, actor),
    )


@router.get("/verify")
def verify_page(
    request: Request, actor: Actor = Depends(Caller(searching.verify)), ctx: Context = Depends(context)
) -> Response:
    cols = collections.list_collections(ctx, actor)
    models = sorted({ctx.settings.model, *(c.model for c in cols)}, key=lambda m: (m != ctx.settings.model, m))
    return render(
        request,
        "verify.html",
        models=models,
        default_model=ctx.settings.model,
        purposes=purposes.active_purposes(ctx, actor),
        suspension=suspension.current_suspension(ctx, actor),
    )


@router.get("/ingest")
def ingest_page(
    request: Request,
    msg: str | None = None,
    sig: Annotated[str | None, Query(max_length=64)] = None,
    actor: Actor = Depends(Caller(collections.create_collection, jobs.start_job)),
    ctx: Context = Depends(context),
) -> Response:
    msg, _ = signed_notices(actor.name, "/ingest", msg, None, sig)
    return render(
        request,
        "ingest.html",
        collections=collections.list_collections(ctx, actor),
        default_model=ctx.settings.model,
        models=jobs.installed_packs(ctx.settings),
        runs=jobs.list_runs(ctx, actor),
        legal_bases=collections.LEGAL_BASES,
        msg=msg,
    )


@router.get("/audit")
def audit_page(
    request: Request,
    user: Annotated[str | None, Query()] = None,
    case: Annotated[str | None, Query()] = None,
    action: Annotated[str | None, Query()] = None,
    since: Annotated[str | None, Query()] = None,
    until: Annotated[str | None, Query()] = None,
    page: Annotated[int, Query(ge=1)] = 1,
    actor: Actor = Depends(Caller(audit.query)),
    ctx: Context = Depends(context),
) -> Response:
    filters = {
        "user": (user or "").strip(),
        "case": (case or "").strip(),
        "action": action or "",
        "since": since or "",
        "until": until or "",
    }
    error = None
    entries: list[audit.AuditRecord] = []
    total = 0
    try:
        found = audit.query(
            ctx,
            actor,
            user=filters["user"] or None,
            case_ref=filters["case"] or None,
            action=filters["action"] or None,
            since=filters["since"] or None,
            until=filters["until"] or None,
            limit=PAGE,
            offset=(page - 1) * PAGE,
        )
        entries, total = found.entries, found.total
    except Invalid as exc:
        error = str(exc)
    chain = audit.verify(ctx, actor)
    export_q = "&".join(
        f"{k}={v}"
        for k, v in (
            ("user", filters["user"]),
            ("case_ref", filters["case"]),
            ("action", filters["action"]),
            ("since", filters["since"]),
            ("until", filters["until"]),
        )
        if v
    )
    pages = max(1, -(-total // PAGE))
    base_q = "&".join(f"{k}={v}" for k, v in filters.items() if v)
    return render(
        request,
        "audit.html",
        entries=entries,
        total=total,
        filters=filters,
        actions=ACTIONS,
        chain=chain,
        error=error,
        page=page,
        pages=pages,
        base_q=base_q,
        export_q=export_q,
    )


# Accounts ---------------------------------------------------------------------------------------
def _users(
    request: Request,
    ctx: Context,
    actor: Actor,
    status: int = 200,
    error: str | None = None,
    created: str | None = None,
) -> Response:
    users = accounts.list_users(ctx, actor)
    return render(
        request,
        "users.html",
        status=status,
        users=users,
        roles=ROLES,
        tokens=accounts.list_tokens(ctx, actor),
        error=error,
        # Only the name of an account that exists: a link cannot put text of its own on the page.
        created=created if created in {u.name for u in users} else None,
    )


@router.get("/admin/users")
def users_page(
    request: Request,
    created: str | None = None,
    actor: Actor = Depends(Caller(accounts.list_users)),
    ctx: Context = Depends(context),
) -> Response:
    return _users(request, ctx, actor, created=created)


@router.post("/admin/users")
def users_add(
    request: Request,
    name: Annotated[str, Form(max_length=100)],
    role: Annotated[str, Form()],
    password: Annotated[str, Form(max_length=1000)],
    actor: Actor = Depends(Caller(accounts.add_user)),
    ctx: Context = Depends(context),
) -> Response:
    try:
        user = accounts.add_user(ctx, actor, name, role, password)
    except Refused as exc:
        return _users(request, ctx, actor, status=422, error=str(exc))
    return RedirectResponse(f"/admin/users?created={user.name}", status_code=303)


@router.post("/admin/users/{name}/{change}")
def users_change(
    name: str, change: str, actor: Actor = Depends(Caller(accounts.change_user)), ctx: Context = Depends(context)
) -> Response:
    if change not in ("disable", "enable"):
        raise Problem(404, "Not found", "unknown account action")
    accounts.change_user(ctx, actor, name, disabled=change == "disable")
    return RedirectResponse("/admin/users", status_code=303)


@router.post("/admin/tokens/{token_id}/revoke")
def tokens_revoke(
    token_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
    actor: Actor = Depends(Caller(accounts.revoke_token)),
    ctx: Context = Depends(context),
) -> Response:
    with contextlib.suppress(NotFound):  # already revoked, or never existed: the list shows which
        accounts.revoke_token(ctx, actor, str(token_id))
    return RedirectResponse("/admin/users", status_code=303)


# The API reference ------------------------------------------------------------------------------
def _schema_type(schema: dict[str, Any]) -> str:
    if "$ref" in schema:
        return str(schema["$ref"]).rsplit("/", 1)[-1]
    if "anyOf" in schema:
        return " | ".join(_schema_type(s) for s in schema["anyOf"])
    if schema.get("type") == "array":
        return f"list of {_schema_type(schema.get('items', {}))}"
    if schema.get("format") == "binary" or "contentMediaType" in schema:
        return "file"
    return str(schema.get("type", "any"))


@router.get("/docs")
def docs_page(request: Request, actor: Actor = Depends(any_user)) -> Response:
    """The API reference, rendered from the OpenAPI schema here (no CDN-hosted Swagger UI)."""
    spec = request.app.openapi()
    schemas = spec.get("components", {}).get("schemas", {})
    ops = []
    for path, methods in spec.get("paths", {}).items():
        for method, op in methods.items():
            params = [
                {
                    "name": q["name"],
                    "in": q["in"],
                    "required": q.get("required", False),
                    "type": _schema_type(q.get("schema", {})),
                    "description": q.get("description", ""),
                }
                for q in op.get("parameters", [])
            ]
            body = op.get("requestBody", {}).get("content", {})
            for media, content in body.items():
                ref = content.get("schema", {})
                sch = schemas.get(ref["$ref"].rsplit("/", 1)[-1], {}) if "$ref" in ref else ref
                required = set(sch.get("required", []))
                for fname, fs in sch.get("properties", {}).items():
                    params.append(
                        {
                            "name": fname,
                            "in": "form" if "form" in media else "json",
                            "required": fname in required,
                            "type": _schema_type(fs),
                            "description": fs.get("description", ""),
                        }
                    )
            ops.append(
                {
                    "method": method.upper(),
                    "path": path,
                    "summary": op.get("summary", ""),
                    "tag": (op.get("tags") or ["other"])[0],
                    "params": params,
                }
            )
    return render(request, "docs.html", ops=ops, title=spec["info"]["title"], version=spec["info"]["version"])


# The governance pages live in their own module and are served under this router.
router.include_router(governance_pages.router)
router.include_router(watch_pages.router)
