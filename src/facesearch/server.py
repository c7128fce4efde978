"""The web service assembled: one application context, the API's routers and the browser pages, the
middleware (metrics, security headers, request size limits) and the scheduled retention purge."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import __version__
from .api import ROUTERS
from .app import recovery, retention
from .app.context import Context, system_actor
from .config import Settings
from .http import problems
from .services.jobqueue import JobManager
from .store import Store
from .web import pages, people_pages

log = logging.getLogger("facesearch.server")
WEB_DIR = Path(__file__).resolve().parent / "web"


class Metrics:
    """Prometheus metrics on a registry of their own, so several apps in one process do not collide."""

    def __init__(self, jobs: JobManager) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "facesearch_http_requests", "HTTP requests", ["method", "route", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "facesearch_http_request_seconds",
            "HTTP request latency",
            ["route"],
            registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
        )
        self.searches = Counter("facesearch_searches", "Searches by outcome", ["outcome"], registry=self.registry)
        self.search_seconds = Histogram(
            "facesearch_search_engine_seconds", "Time in the engine per search", registry=self.registry
        )
        jobs_running = Gauge("facesearch_ingest_jobs_running", "Ingest jobs queued or running", registry=self.registry)
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
        resp = problems.problem_response(
            413, "Request too large", f"the request body exceeds {limit} bytes (FACESEARCH_MAX_UPLOAD_BYTES)"
        )
        await resp(scope, receive, send)


class _TooLarge(Exception):
    pass


CSP = (
    "default-src 'self'; img-src 'self' blob: data:; style-src 'self'; script-src 'self'; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)


def _purge_loop(ctx: Context, stop: threading.Event) -> None:
    if stop.wait(max(0.0, ctx.settings.purge_first_delay_seconds)):
        return
    while True:
        try:
            retention.purge(ctx, system_actor("scheduled-purge"))
        except Exception:  # a failed run is logged and retried next time; it must not end the loop
            log.exception("scheduled purge failed")
        if stop.wait(ctx.settings.purge_interval_hours * 3600):
            return


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    stop = threading.Event()
    ctx: Context = app.state.ctx
    try:
        done = recovery.recover(ctx)
        if done.interrupted_runs or done.uploads_removed:
            log.warning(
                "recovered after an unclean stop: %s ingest run(s) closed as interrupted, %s abandoned "
                "upload(s) removed",
                len(done.interrupted_runs),
                done.uploads_removed,
            )
    except Exception:  # recovery must not keep the service from starting; doctor reports what is left
        log.exception("recovery at start failed")
    # Open every collection's index now: a damaged or missing file is found and rebuilt from the database
    # before the first search needs it (app/indexes.py logs what it did).
    for col in ctx.store.list_collections():
        try:
            with ctx.engine_lock:
                ctx.engine.index(col)
        except Exception:
            log.exception("the index of collection %s could not be opened or rebuilt", col.name)
    thread = None
    if ctx.settings.purge_interval_hours > 0:
        thread = threading.Thread(target=_purge_loop, args=(ctx, stop), name="purge", daemon=True)
        thread.start()
    try:
        yield
    finally:
        stop.set()
        if thread is not None:
            thread.join(timeout=5)


def create_app(settings: Settings | None = None, store: Store | None = None) -> FastAPI:
    ctx = Context.open(settings, store)
    settings = ctx.settings
    metrics = Metrics(ctx.jobs)

    app = FastAPI(
        title="facesearch",
        version=__version__,
        description="Self-hosted face search. Every route needs a signed-in user or `Authorization: Bearer TOKEN`; "
        "every search, verify, view and export is written to a hash-chained audit log.",
        # The stock /docs page loads Swagger UI from a CDN; ours is rendered here (see web/pages.py), and the
        # schema itself is served only to signed-in users.
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        lifespan=lifespan,  # the scheduled retention purge
    )
    app.state.ctx = ctx
    app.state.metrics = metrics
    problems.install(app, pages.error_page)

    @app.middleware("http")
    async def observe(request: Request, call_next: Any) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        name = getattr(route, "path", "unmatched")
        metrics.requests.labels(request.method, name, str(response.status_code)).inc()
        metrics.latency.labels(name).observe(time.perf_counter() - started)
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        response.headers.setdefault("X-Frame-Options", "DENY")
        if not name.startswith("/static"):
            response.headers.setdefault("Cache-Control", "no-store")
        out: Response = response
        return out

    app.add_middleware(BodyLimit, settings=settings)

    for router in ROUTERS:
        app.include_router(router)
    app.include_router(pages.router)
    app.include_router(people_pages.router)
    app.mount("/static", StaticFiles(directory=WEB_DIR / "static"), name="static")
    return app
