"""Request bodies refused over a per-route limit before they are buffered or spooled to disk.

A route that takes uploads declares what it takes (`http.uploads.takes_uploads`: so many photos, or a batch
for ingest); the limit follows from that and the settings (FACESEARCH_MAX_UPLOAD_BYTES,
FACESEARCH_MAX_INGEST_REQUEST_BYTES). Every other request body is limited to 1 MiB."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..config import Settings
from ..http import problems
from ..http.uploads import Uploads, uploads_of

DEFAULT_LIMIT = 1024 * 1024
MARGIN = 256 * 1024  # form fields and multipart framing


def body_limit(uploads: Uploads, settings: Settings) -> int:
    """The largest body a route that takes these uploads accepts."""
    if uploads.batch:
        return settings.max_ingest_request_bytes
    return uploads.photos * settings.max_upload_bytes + MARGIN


def route_uploads(routes: Iterable[Any], prefix: str = "") -> list[tuple[re.Pattern[str], Uploads]]:
    """(path pattern, uploads) of every route that declares uploads, in routers included under others too."""
    out: list[tuple[re.Pattern[str], Uploads]] = []
    for route in routes:
        included = getattr(route, "original_router", None)  # FastAPI keeps an included router nested
        if included is not None:
            out += route_uploads(included.routes, prefix + route.include_context.prefix)
            continue
        uploads = uploads_of(getattr(route, "endpoint", None))
        if uploads is not None:
            out.append((compile_path(prefix + route.path)[0], uploads))
    return out


class BodyLimit:
    """Refuse request bodies over a per-route limit before they are buffered or spooled to disk. The limit is
    worked out per request from the settings, so it follows them."""

    def __init__(self, app: ASGIApp, routes: list[tuple[re.Pattern[str], Uploads]], settings: Settings) -> None:
        self.app = app
        self.routes = routes
        self.settings = settings

    def limit(self, path: str) -> int:
        for pattern, uploads in self.routes:
            if pattern.match(path):
                return body_limit(uploads, self.settings)
        return DEFAULT_LIMIT

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
