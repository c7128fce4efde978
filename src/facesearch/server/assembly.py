"""The web service put together: the context it serves, recovery and index checks at start, the scheduled
retention purge, security headers, metrics, request size limits, the routers and the static files."""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from fastapi import FastAPI, Request
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles

from .. import __version__
from ..api import ROUTERS
from ..app import recovery, retention, system
from ..app.context import Context, system_actor
from ..config import Settings
from ..http import problems
from ..web import pages, people_pages
from .limits import BodyLimit, route_uploads
from .metrics import CallNext, Metrics

if TYPE_CHECKING:
    from ..store import Store

log = logging.getLogger("facesearch.server")
WEB_DIR = Path(__file__).resolve().parents[1] / "web"

CSP = (
    "default-src 'self'; img-src 'self' blob: data:; media-src 'self' blob:; style-src 'self'; script-src 'self'; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


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
    system.open_indexes(ctx)
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
    """The web service of one deployment (`store`: an already open one, for tests and tools)."""
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
    async def observe(request: Request, call_next: CallNext) -> Response:
        response, route = await metrics.observe(request, call_next)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if not route.startswith("/static"):
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    for router in ROUTERS:
        app.include_router(router)
    app.include_router(pages.router)
    app.include_router(people_pages.router)
    app.mount("/static", StaticFiles(directory=WEB_DIR / "static"), name="static")
    # Bodies are bounded by what each route declares it takes (the routes are all in place now).
    app.add_middleware(BodyLimit, routes=route_uploads(app.routes), settings=settings)
    return app
