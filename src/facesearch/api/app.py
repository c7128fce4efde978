"""The FastAPI application: services, middleware, routers, and the few system routes."""

import logging
import time
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .. import __version__
from ..audit import open_log
from ..auth import Principal
from ..config import Settings
from ..search import Engine
from ..store import Store
from . import problems, routes_admin, routes_gallery, routes_governance, routes_ingest, routes_search
from .deps import Services, any_user, require_role, services
from .jobs import JobManager

log = logging.getLogger("facesearch.api")
WEB_DIR = Path(__file__).resolve().parent.parent / "web"


class Metrics:
    """Prometheus metrics on a registry of their own, so several apps in one process do not collide."""

    def __init__(self, jobs: JobManager) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("facesearch_http_requests", "HTTP requests", ["method", "route", "status"],
                                registry=self.registry)
        self.latency = Histogram("facesearch_http_request_seconds", "HTTP request latency", ["route"],
                                 registry=self.registry,
                                 buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
        self.searches = Counter("facesearch_searches", "Searches by outcome", ["outcome"], registry=self.registry)
        self.search_seconds = Histogram("facesearch_search_engine_seconds", "Time in the engine per search",
                                        registry=self.registry)
        jobs_running = Gauge("facesearch_ingest_jobs_running", "Ingest jobs queued or running",
                             registry=self.registry)
        jobs_running.set_function(jobs.running)


class BodyLimit:
    """Refuse request bodies over a per-route limit before they are buffered or spooled to disk."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    def limit(self, path: str) -> int:
        margin = 256 * 1024  # form fields and multipart framing
        if path == "/api/v1/ingest":
            return self.settings.max_ingest_request_bytes
        if path == "/api/v1/verify":
            return 2 * self.settings.max_upload_bytes + margin
        if path in ("/api/v1/search", "/api/v1/detect"):
            return self.settings.max_upload_bytes + margin
        return 1024 * 1024

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit(scope["path"])
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            await self._refuse(scope, receive, send, limit)
            return
        received = 0
        started = False

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _TooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited, tracking_send)
        except _TooLarge:
            if not started:
                await self._refuse(scope, receive, send, limit)

    @staticmethod
    async def _refuse(scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        resp = problems.problem_response(413, "Request too large", f"the request body exceeds {limit} bytes "
                                         "(FACESEARCH_MAX_UPLOAD_BYTES)")
        await resp(scope, receive, send)


class _TooLarge(Exception):
    pass


CSP = ("default-src 'self'; img-src 'self' blob: data:; style-src 'self'; script-src 'self'; "
       "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")


def create_app(settings: Settings | None = None, store: Store | None = None) -> FastAPI:
    settings = settings or Settings()
    settings.home.mkdir(parents=True, exist_ok=True)
    store = store or Store(settings.resolved_database_url)
    jobs = JobManager(settings, store)
    svc = Services(settings=settings, store=store, audit=open_log(store, settings.home),
                   engine=Engine(settings, store), jobs=jobs, metrics=Metrics(jobs))

    app = FastAPI(
        title="facesearch", version=__version__,
        description="Self-hosted face search. Every route needs a signed-in user or `Authorization: Bearer TOKEN`; "
                    "every search, verify, view and export is written to a hash-chained audit log.",
        # The stock /docs page loads Swagger UI from a CDN; ours is rendered here (see web/pages.py), and the
        # schema itself is served only to signed-in users.
        docs_url=None, redoc_url=None, openapi_url=None,
        lifespan=routes_governance.lifespan,  # the scheduled retention purge
    )
    app.state.services = svc
    problems.install(app)

    @app.middleware("http")
    async def observe(request: Request, call_next: Any) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        name = getattr(route, "path", "unmatched")
        svc.metrics.requests.labels(request.method, name, str(response.status_code)).inc()
        svc.metrics.latency.labels(name).observe(time.perf_counter() - started)
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        response.headers.setdefault("X-Frame-Options", "DENY")
        if not name.startswith("/static"):
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    app.add_middleware(BodyLimit, settings=settings)

    for module in (routes_search, routes_gallery, routes_ingest, routes_admin, routes_governance):
        app.include_router(module.router)

    @app.get("/api/v1/health", tags=["system"], summary="Liveness (public: reveals nothing but 'ok')")
    def health() -> dict[str, Any]:
        return {"status": "ok", "version": __version__}

    @app.get("/api/v1/me", tags=["system"], summary="Who am I")
    def me(p: Principal = Depends(any_user)) -> dict[str, Any]:
        return {"name": p.name, "role": p.role, "via": p.via}

    @app.get("/metrics", tags=["system"], summary="Prometheus metrics (admin)")
    def metrics(p: Principal = Depends(require_role("admin")), s: Services = Depends(services)) -> Response:
        return Response(generate_latest(s.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/openapi.json", tags=["system"], include_in_schema=False)
    def openapi(p: Principal = Depends(any_user)) -> JSONResponse:
        return JSONResponse(app.openapi())

    from ..web import pages

    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=WEB_DIR / "static"), name="static")
    return app
