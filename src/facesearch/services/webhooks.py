"""Webhook delivery as a mechanism: a JSON body signed with HMAC-SHA256, POSTed with a timeout, retried with
exponential backoff, redirects refused (a redirect could carry the body somewhere the deployment never
allowed). What is sent, to whom and whether it may be are the use case's business; this only delivers.

The signature covers the timestamp and the body (`X-Facesearch-Signature: sha256=HEX` of `TIMESTAMP.BODY`,
`X-Facesearch-Timestamp: TIMESTAMP`), so a receiver that checks both and refuses old timestamps also refuses a
replayed body."""

from __future__ import annotations

import hashlib
import hmac
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

TIMEOUT_SECONDS = 10.0


def signature(secret: bytes, timestamp: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Delivery:
    """How a delivery ended: delivered or not, after how many tries, the last HTTP status and error (in words
    that never include the URL)."""

    ok: bool
    attempts: int
    status: int | None
    error: str | None
    delivery_id: str


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # a 3xx is an answer, not an instruction: reported as a failed try


_opener = urllib.request.build_opener(_NoRedirect)


def deliver(
    url: str,
    body: bytes,
    secret: bytes,
    *,
    attempts: int,
    backoff: float,
    sleep: Callable[[float], None] = time.sleep,
) -> Delivery:
    """POST `body` to `url` until a 2xx answer, at most `attempts` times, waiting `backoff` seconds before the
    second try and twice as long before each next one. Never raises for a network or HTTP failure."""
    delivery_id = uuid.uuid4().hex
    status: int | None = None
    error: str | None = None
    tries = max(1, attempts)
    for n in range(1, tries + 1):
        if n > 1:
            sleep(backoff * 2 ** (n - 2))
        stamp = str(int(time.time()))
        request = urllib.request.Request(
            url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "User-Agent": "facesearch-webhook",
                "X-Facesearch-Delivery": delivery_id,
                "X-Facesearch-Timestamp": stamp,
                "X-Facesearch-Signature": signature(secret, stamp, body),
            },
        )
        try:
            with _opener.open(request, timeout=TIMEOUT_SECONDS) as response:
                status = int(response.status)
            if 200 <= status < 300:
                return Delivery(True, n, status, None, delivery_id)
            error = f"HTTP {status}"
        except urllib.error.HTTPError as exc:
            status, error = int(exc.code), f"HTTP {exc.code}"
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            status, error = None, type(reason).__name__ if not isinstance(reason, str) else "unreachable"
    return Delivery(False, tries, status, error, delivery_id)
