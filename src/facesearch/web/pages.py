"""Pages of the browser UI, sign-in and sign-out. The pages' scripts call the same /api/v1 routes."""

import secrets
import threading
import time
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from .. import __version__, audit, auth
from ..api.deps import LOGIN_CSRF_COOKIE, SESSION_COOKIE, Services, any_user, client_ip, require_role, services
from ..api.problems import Problem
from ..auth import Principal
from ..store.accounts import ROLES

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=Path(__file__).resolve().parent / "templates")
templates.env.globals["version"] = __version__

HOME = {"examiner": "/search", "operator": "/ingest", "auditor": "/audit", "admin": "/admin/users"}
NAV = [("/search", "Search", "examiner"), ("/review", "Review", "examiner"), ("/cases", "Case reports", "examiner"),
       ("/ingest", "Ingest", "operator"), ("/privacy", "Data protection", "operator"),
       ("/audit", "Audit log", "auditor"), ("/cases", "Case reports", "auditor"),
       ("/admin/users", "Users", "admin"), ("/admin/governance", "Governance", "admin"), ("/docs", "API", None)]
ACTIONS = (audit.SEARCH, audit.VERIFY, audit.VIEW_MATCH, audit.VIEW_THUMBNAIL, audit.EXPORT, audit.INGEST,
           audit.DELETE, audit.LOGIN, audit.LOGIN_FAILED, audit.LOGOUT, audit.USER_ADD, audit.USER_CHANGE,
           audit.TOKEN_CREATE, audit.TOKEN_REVOKE, audit.COLLECTION_CREATE,
           # Governance (issue 5).
           "optout_add", "optout_erase", "optout_block", "optout_hide", "subject_report", "purge", "doctor",
           "search_suspend", "search_resume", "purpose_add", "purpose_retire", "lead_propose", "lead_confirm",
           "lead_reject", "case_report", "view_search")
PAGE = 50


class LoginThrottle:
    """After 5 failed sign-ins for one name from one address within 15 minutes, refuse for 15 minutes."""

    def __init__(self, limit: int = 5, window: float = 900.0) -> None:
        self.limit, self.window = limit, window
        self._fails: dict[tuple[str, str], list[float]] = {}
        self._lock = threading.Lock()

    def blocked(self, key: tuple[str, str]) -> bool:
        now = time.monotonic()
        with self._lock:
            recent = [t for t in self._fails.get(key, []) if now - t < self.window]
            self._fails[key] = recent
            return len(recent) >= self.limit

    def fail(self, key: tuple[str, str]) -> None:
        with self._lock:
            self._fails.setdefault(key, []).append(time.monotonic())

    def clear(self, key: tuple[str, str]) -> None:
        with self._lock:
            self._fails.pop(key, None)


def _throttle(request: Request) -> LoginThrottle:
    # One per app (not per process), so separate apps, such as those of a test run, do not share counts.
    state = request.app.state
    if not hasattr(state, "login_throttle"):
        state.login_throttle = LoginThrottle()
    return state.login_throttle


def render(request: Request, template: str, status: int = 200, principal: Principal | None = None,
           **context: Any) -> HTMLResponse:
    p = principal or getattr(request.state, "principal", None)
    nav = [(href, label) for href, label, role in NAV if p and (role is None or role == p.role)]
    ctx = {"principal": p, "csrf": p.csrf_token if p else None, "nav": nav, "path": request.url.path, **context}
    return templates.TemplateResponse(request, template, ctx, status_code=status)


def error_page(request: Request, status: int, title: str, detail: str) -> HTMLResponse:
    return render(request, "error.html", status=status, title=title, detail=detail)


def _safe_next(value: str | None) -> str | None:
    # Only same-site paths: an attacker-supplied "next" must not turn sign-in into an open redirect.
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return None


def _set_cookie(response: Response, svc: Services, name: str, value: str, max_age: int) -> None:
    response.set_cookie(name, value, max_age=max_age, httponly=True, secure=svc.settings.cookie_secure,
                        samesite="strict", path="/")


@router.get("/login")
def login_page(request: Request, next: str | None = None, svc: Services = Depends(services)) -> Response:
    token = secrets.token_urlsafe(32)
    resp = render(request, "login.html", login_csrf=token, next=_safe_next(next) or "", error=None, name="")
    _set_cookie(resp, svc, LOGIN_CSRF_COOKIE, token, 3600)
    return resp


@router.post("/login")
def login(
    request: Request,
    name: Annotated[str, Form(max_length=100)] = "",
    password: Annotated[str, Form(max_length=1000)] = "",
    csrf_token: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "",
    svc: Services = Depends(services),
) -> Response:
    ip = client_ip(request) or ""
    name = name.strip()

    def again(message: str, status: int) -> Response:
        token = secrets.token_urlsafe(32)
        resp = render(request, "login.html", status=status, login_csrf=token, next=_safe_next(next) or "",
                      error=message, name=name)
        _set_cookie(resp, svc, LOGIN_CSRF_COOKIE, token, 3600)
        return resp

    if not auth.csrf_ok(request.cookies.get(LOGIN_CSRF_COOKIE), csrf_token):
        return again("Your sign-in form expired. Please try again.", 403)
    key = (ip, name.lower())
    throttle = _throttle(request)
    if throttle.blocked(key):
        svc.audit.record(audit.LOGIN_FAILED, actor=name or None, ip=ip, outcome="throttled")
        return again("Too many failed attempts. Wait 15 minutes, or ask an administrator.", 429)
    user = auth.authenticate(svc.store, name, password) if name and password else None
    if user is None:
        throttle.fail(key)
        # The attempted name is logged as given; it is not confirmed to exist.
        svc.audit.record(audit.LOGIN_FAILED, actor=name or None, ip=ip, outcome="refused")
        return again("Wrong user name or password.", 401)
    throttle.clear(key)
    sid, _csrf = auth.create_session(svc.store, user, svc.settings.session_hours, ip)
    svc.audit.record(audit.LOGIN, actor=user.name, role=user.role, ip=ip, details={"via": "browser"})
    resp = RedirectResponse(_safe_next(next) or HOME.get(user.role, "/"), status_code=303)
    _set_cookie(resp, svc, SESSION_COOKIE, sid, int(svc.settings.session_hours * 3600))
    resp.delete_cookie(LOGIN_CSRF_COOKIE, path="/")
    return resp


@router.post("/logout")
def logout(request: Request, p: Principal = Depends(any_user), svc: Services = Depends(services)) -> Response:
    if p.session_id_hash:
        auth.end_session(svc.store, p.session_id_hash)
    svc.audit.record(audit.LOGOUT, actor=p.name, role=p.role, ip=client_ip(request))
    resp = RedirectResponse("/login", status_code=303)
    resp.delete_cookie(SESSION_COOKIE, path="/")
    return resp


@router.get("/")
def home(p: Principal = Depends(any_user)) -> Response:
    return RedirectResponse(HOME.get(p.role, "/docs"), status_code=303)


@router.get("/search")
def search_page(request: Request, p: Principal = Depends(require_role("examiner")),
                svc: Services = Depends(services)) -> Response:
    from .. import oversight

    cols = svc.store.list_collections()
    return render(request, "search.html", principal=p, collections=cols, top_k=10,
                  purposes=oversight.list_purposes(svc.store, include_retired=False),
                  suspension=oversight.suspension(svc.store))


@router.get("/ingest")
def ingest_page(request: Request, p: Principal = Depends(require_role("operator")),
                svc: Services = Depends(services), msg: str | None = None) -> Response:
    from ..governance import LEGAL_BASES

    return render(request, "ingest.html", principal=p, collections=svc.store.list_collections(),
                  default_model=svc.settings.model, legal_bases=LEGAL_BASES, msg=msg)


@router.get("/audit")
def audit_page(
    request: Request,
    user: Annotated[str | None, Query()] = None,
    case: Annotated[str | None, Query()] = None,
    action: Annotated[str | None, Query()] = None,
    since: Annotated[str | None, Query()] = None,
    until: Annotated[str | None, Query()] = None,
    page: Annotated[int, Query(ge=1)] = 1,
    p: Principal = Depends(require_role("auditor")),
    svc: Services = Depends(services),
) -> Response:
    filters = {"user": (user or "").strip(), "case": (case or "").strip(), "action": action or "",
               "since": since or "", "until": until or ""}
    error = None
    try:
        entries, total = audit.query(svc.store, user=filters["user"] or None, case_ref=filters["case"] or None,
                                     action=filters["action"] or None, since=filters["since"] or None,
                                     until=filters["until"] or None, limit=PAGE, offset=(page - 1) * PAGE)
    except ValueError as exc:
        entries, total, error = [], 0, str(exc)
    chain = audit.verify_chain(svc.store, svc.audit.head_path)
    export_q = "&".join(f"{k}={v}" for k, v in (("user", filters["user"]), ("case_ref", filters["case"]),
                        ("action", filters["action"]), ("since", filters["since"]),
                        ("until", filters["until"])) if v)
    pages = max(1, -(-total // PAGE))
    base_q = "&".join(f"{k}={v}" for k, v in filters.items() if v)
    return render(request, "audit.html", principal=p, entries=entries, total=total, filters=filters,
                  actions=ACTIONS, chain=chain, error=error, page=page, pages=pages, base_q=base_q,
                  export_q=export_q)


@router.get("/admin/users")
def users_page(request: Request, p: Principal = Depends(require_role("admin")),
               svc: Services = Depends(services), created: str | None = None) -> Response:
    return render(request, "users.html", principal=p, users=auth.list_users(svc.store), roles=ROLES,
                  tokens=auth.list_tokens(svc.store), error=None, created=created)


@router.post("/admin/users")
def users_add(
    request: Request,
    name: Annotated[str, Form(max_length=100)],
    role: Annotated[str, Form()],
    password: Annotated[str, Form(max_length=1000)],
    p: Principal = Depends(require_role("admin")),
    svc: Services = Depends(services),
) -> Response:
    try:
        user = auth.add_user(svc.store, name.strip(), role, password)
    except auth.AuthError as exc:
        return render(request, "users.html", status=422, principal=p, users=auth.list_users(svc.store),
                      roles=ROLES, tokens=auth.list_tokens(svc.store), error=str(exc), created=None)
    svc.audit.record(audit.USER_ADD, actor=p.name, role=p.role, ip=client_ip(request),
                     details={"user": user.name, "user_role": user.role})
    return RedirectResponse(f"/admin/users?created={user.name}", status_code=303)


@router.post("/admin/users/{name}/{change}")
def users_change(request: Request, name: str, change: str, p: Principal = Depends(require_role("admin")),
                 svc: Services = Depends(services)) -> Response:
    if change not in ("disable", "enable"):
        raise Problem(404, "Not found", "unknown account action")
    if name == p.name:
        raise Problem(422, "Invalid request", "you cannot disable your own account")
    try:
        auth.set_disabled(svc.store, name, change == "disable")
    except auth.AuthError as exc:
        raise Problem(404, "Not found", str(exc)) from exc
    svc.audit.record(audit.USER_CHANGE, actor=p.name, role=p.role, ip=client_ip(request),
                     details={"user": name, "disabled": change == "disable"})
    return RedirectResponse("/admin/users", status_code=303)


@router.post("/admin/tokens/{token_id}/revoke")
def tokens_revoke(request: Request, token_id: int, p: Principal = Depends(require_role("admin")),
                  svc: Services = Depends(services)) -> Response:
    if auth.revoke_token(svc.store, str(token_id)):
        svc.audit.record(audit.TOKEN_REVOKE, actor=p.name, role=p.role, ip=client_ip(request),
                         details={"token_id": token_id})
    return RedirectResponse("/admin/users", status_code=303)


def _schema_type(schema: dict[str, Any]) -> str:
    if "$ref" in schema:
        return schema["$ref"].rsplit("/", 1)[-1]
    if "anyOf" in schema:
        return " | ".join(_schema_type(s) for s in schema["anyOf"])
    if schema.get("type") == "array":
        return f"list of {_schema_type(schema.get('items', {}))}"
    if schema.get("format") == "binary" or "contentMediaType" in schema:
        return "file"
    return str(schema.get("type", "any"))


@router.get("/docs")
def docs_page(request: Request, p: Principal = Depends(any_user)) -> Response:
    """The API reference, rendered from the OpenAPI schema here (no CDN-hosted Swagger UI)."""
    spec = request.app.openapi()
    schemas = spec.get("components", {}).get("schemas", {})
    ops = []
    for path, methods in spec.get("paths", {}).items():
        for method, op in methods.items():
            params = [{"name": q["name"], "in": q["in"], "required": q.get("required", False),
                       "type": _schema_type(q.get("schema", {})), "description": q.get("description", "")}
                      for q in op.get("parameters", [])]
            body = op.get("requestBody", {}).get("content", {})
            for media, content in body.items():
                ref = content.get("schema", {})
                sch = schemas.get(ref["$ref"].rsplit("/", 1)[-1], {}) if "$ref" in ref else ref
                required = set(sch.get("required", []))
                for fname, fs in sch.get("properties", {}).items():
                    params.append({"name": fname, "in": "form" if "form" in media else "json",
                                   "required": fname in required, "type": _schema_type(fs),
                                   "description": fs.get("description", "")})
            ops.append({"method": method.upper(), "path": path, "summary": op.get("summary", ""),
                        "tag": (op.get("tags") or ["other"])[0], "params": params})
    return render(request, "docs.html", principal=p, ops=ops, title=spec["info"]["title"],
                  version=spec["info"]["version"])


# The governance pages (issue 5) live in their own module and are served under this router.
from . import governance_pages  # noqa: E402

router.include_router(governance_pages.router)
