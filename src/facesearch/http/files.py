"""Serving a file that a use case opened and checked: its bytes come from that open file, never from its path
again (a file swapped for a link or another file between the check and the transfer is not what is sent).

`OpenedFile` is Starlette's `FileResponse` (single and multiple byte ranges, `If-Range`, HEAD, 416 for a
range past the end; overlapping ranges merged, so a request cannot multiply a file) reading from the open
file: each transfer reads through a duplicate of its descriptor, the response owns the file and closes it
once sent (or when it is dropped unsent). Videos are played from a time by such ranges."""

from __future__ import annotations

import os
import weakref
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import BinaryIO

import anyio
from starlette.responses import FileResponse
from starlette.types import Receive, Scope, Send


class OpenedFile(FileResponse):
    def __init__(
        self, opened: BinaryIO, *, media_type: str, headers: Mapping[str, str] | None = None, name: str = "file"
    ) -> None:
        self._opened = opened
        weakref.finalize(self, opened.close)
        super().__init__(name, media_type=media_type, headers=headers, stat_result=os.fstat(opened.fileno()))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._opened.close()

    @asynccontextmanager
    async def _open_file(self) -> AsyncIterator[anyio.AsyncFile[bytes]]:
        file = anyio.wrap_file(os.fdopen(os.dup(self._opened.fileno()), "rb"))
        try:
            yield file
        finally:
            with anyio.CancelScope(shield=True):
                await file.aclose()

    async def _handle_simple(self, send: Send, send_header_only: bool, send_pathsend: bool) -> None:
        # Never hand the server a path to send by itself (the pathsend extension): it would open it again.
        await super()._handle_simple(send, send_header_only, False)
