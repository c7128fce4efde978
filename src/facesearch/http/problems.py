"""Errors as RFC 9457 problem details (application/problem+json), one shape for every failure."""

import logging
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..app.errors import LimitExceeded, Refused
from ..errors import FacesearchError

# Renders an error as a page for a browser: (request, status, title, detail) -> response.
HtmlError = Callable[[Request, int, str, str], Response]

PROBLEM_JSON = "application/problem+json"
log = logging.getLogger("facesearch.api")


class Problem(Exception):
    """Raise anywhere in a request to answer with a problem document."""

    def __init__(self, status: int, title: str, detail: str = "", **extra: Any) -> None:
        self.status = status
        self.title = title
        self.detail = detail
        self.extra = extra
        super().__init__(detail or title)


def problem_response(
    status: int, title: str, detail: str = "", headers: dict[str, str] | None = None, **extra: Any
) -> JSONResponse:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail or title, **extra}
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def wants_html(request: Request) -> bool:
    """Browser navigation to a page (not an API call from a script or the page's own fetch)."""
    path = request.url.path
    if path.startswith("/api/") or path == "/metrics" or path == "/openapi.json":
        return False
    return "text/html" in request.headers.get("accept", "")


def refusal(exc: FacesearchError) -> Problem:
    """The problem document of a use case's refusal: the same status for the same kind, everywhere."""
    return Problem(exc.status, exc.title, str(exc), **exc.extra)


def install(app: FastAPI, html_error: HtmlError) -> None:
    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> Response:
        if wants_html(request):
            if exc.status == 401:
                return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
            return html_error(request, exc.status, exc.title, exc.detail)
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return problem_response(exc.status, exc.title, exc.detail, headers=headers, **exc.extra)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        errors = []
        for e in exc.errors():
            loc = [str(x) for x in e.get("loc", ()) if x not in ("body", "query", "path", "form")]
            errors.append({"field": ".".join(loc), "message": str(e.get("msg", "invalid"))})
        missing = [e["field"] for e, raw in zip(errors, exc.errors()) if raw.get("type") == "missing"]
        detail = (
            f"missing required field(s): {', '.join(missing)}"
            if missing
            else "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        )
        return problem_response(422, "Invalid request", detail, errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        titles = {404: "Not found", 405: "Method not allowed", 413: "Request too large"}
        title = titles.get(exc.status_code, "Error")
        detail = exc.detail if isinstance(exc.detail, str) else title
        if wants_html(request):
            return html_error(request, exc.status_code, title, detail)
        return problem_response(exc.status_code, title, detail)

    @app.exception_handler(FacesearchError)
    async def _error(request: Request, exc: FacesearchError) -> Response:
        """Every facesearch error by its kind: status and title from the one table (`errors.KINDS`)."""
        if exc.kind == "storage":
            # A read-only or full home, or an audit entry that could not be written (then the action did not
            # happen). One log line with the cause, never the data; the reply carries neither.
            log.error("storage failure on %s %s: %s", request.method, request.url.path, exc)
            return problem_response(
                exc.status,
                exc.title,
                "the server cannot write to its storage (read-only or full?); the request was not completed",
            )
        if isinstance(exc, Refused) and wants_html(request):
            return html_error(request, exc.status, exc.title, str(exc))
        headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, LimitExceeded) else None
        return problem_response(exc.status, exc.title, str(exc), headers=headers, **exc.extra)

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> Response:
        # The detail stays generic: exception text can carry paths or data that do not belong in a reply.
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem_response(500, "Internal error", "the server failed to handle this request; see its log")
