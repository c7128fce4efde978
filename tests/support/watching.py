"""Helpers of the watch and authorisation tests: manifests of chosen photos, dates relative to today, a
context clock moved forward, and a webhook receiver on a loopback port that records what it is sent."""

from __future__ import annotations

import csv
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from facesearch.app.context import Context


def manifest(path: Path, photos: Sequence[Path]) -> Path:
    """A CSV manifest listing these photos in place."""
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["path"])
        for p in photos:
            w.writerow([str(p)])
    return path


def day(offset: int) -> str:
    """Today (UTC) plus `offset` days, as YYYY-MM-DD."""
    return (datetime.now(timezone.utc).date() + timedelta(days=offset)).isoformat()


def days_ahead(ctx: Context, days: float) -> None:
    """Move the context's clock `days` ahead of the real one (the audit log keeps real time)."""
    ctx.clock = lambda: datetime.now(timezone.utc) + timedelta(days=days)


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """What a webhook receiver got, and the statuses it answers with in turn (the last one repeats)."""

    url: str
    statuses: list[int] = field(default_factory=lambda: [200])
    received: list[Received] = field(default_factory=list)


@contextmanager
def webhook_receiver(statuses: Sequence[int] = (200,)) -> Iterator[Receiver]:
    box = Receiver(url="", statuses=list(statuses))
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (the standard library's name)
            length = int(self.headers.get("Content-Length") or 0)
            data = self.rfile.read(length)
            with lock:
                box.received.append(Received(self.path, {k.lower(): v for k, v in self.headers.items()}, data))
                status = box.statuses[min(len(box.received), len(box.statuses)) - 1]
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    box.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield box
    finally:
        server.shutdown()
        server.server_close()


def today() -> date:
    return datetime.now(timezone.utc).date()
