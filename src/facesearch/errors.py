"""Exceptions users see, and one table of what each kind of error means to a client.

Every error a user can meet is a `FacesearchError` with a `kind`; `KINDS` maps the kind to an HTTP status, a
short title and the CLI's exit code, so the same failure reads the same from every entry point (the API's
problem documents, the web pages, the command line). Each message says what went wrong and what to do."""

from __future__ import annotations

import re
from typing import Any

# kind -> (HTTP status, title, CLI exit code). Exit codes: 2 bad input, 3 the probe cannot be searched,
# 4 refused by the rules (role, case reference, purpose, kill switch, limits), 5 storage unavailable.
KINDS: dict[str, tuple[int, str, int]] = {
    "invalid": (422, "Invalid request", 2),
    "forbidden": (403, "Forbidden", 4),
    "not_found": (404, "Not found", 2),
    "conflict": (409, "Conflict", 2),
    "case_required": (422, "Case reference and purpose required", 4),
    "purpose_not_allowed": (422, "Purpose not allowed", 4),
    "suspended": (503, "Searching is suspended", 4),
    "limit": (429, "Too many searches", 4),
    "probe": (422, "The probe cannot be searched", 3),
    "image": (422, "The image cannot be read", 2),
    "image_too_large": (413, "The image cannot be read", 2),
    "collection": (422, "Collection problem", 2),
    "refused": (422, "Request refused", 2),
    "storage": (500, "Storage unavailable", 5),
    "cluster": (503, "Ingest cluster unavailable", 2),
}


# Credentials a message or an audit entry can carry: the user information of a URI (everything between
# `scheme://` and the last `@` before a space or quote, so a password with an unencoded `/`, `#`, `?` or `@` is
# covered too) and the value of a `token=`/`password=`/`secret=` option.
_URI_CREDENTIALS = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)[^\s\"'<>]*@")
_SECRET_OPTIONS = re.compile(r"(?P<key>\b(?:token|password|passwd|secret|api_key)=)[^\s\"'<>&]+", re.IGNORECASE)
REDACTED = "***"


def redact(text: str) -> str:
    """`text` without the credentials a URI or an option in it carries: what every error message and every
    audit entry goes through before anyone sees or stores it (an audit entry can never be deleted)."""
    if "://" not in text and "=" not in text:
        return text
    text = _URI_CREDENTIALS.sub(lambda m: f"{m.group('scheme')}{REDACTED}@", text)
    return _SECRET_OPTIONS.sub(lambda m: f"{m.group('key')}{REDACTED}", text)


def redact_value(value: Any) -> Any:
    """`redact` applied to every string inside a JSON-like value (dicts, lists), keys included."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {redact_value(k): redact_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_value(v) for v in value]
    return value


class FacesearchError(Exception):
    """Base class for errors reported to the user without a traceback. `extra`: structured detail for clients
    (problem documents and `--json` errors carry it). The message and `extra` are redacted (`redact`) when the
    error is made, so no entry point can show or log a credential that reached one."""

    kind = "refused"

    def __init__(self, message: str = "", **extra: Any) -> None:
        self.extra: dict[str, Any] = redact_value(extra)
        super().__init__(redact(message))

    @property
    def status(self) -> int:
        return KINDS[self.kind][0]

    @property
    def title(self) -> str:
        return KINDS[self.kind][1]

    @property
    def exit_code(self) -> int:
        return KINDS[self.kind][2]


TOO_LARGE_REASONS = ("FILE_TOO_LARGE", "TOO_MANY_PIXELS", "TOO_MUCH_MEMORY")


class ImageError(FacesearchError):
    """An input file could not be decoded as a safe image."""

    def __init__(self, reason: str, detail: str = "") -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}" if detail else reason, reason=reason)
        self.kind = "image_too_large" if reason in TOO_LARGE_REASONS else "image"


class ModelNotFoundError(FacesearchError):
    """Weights of a model pack are not installed."""


class CollectionError(FacesearchError):
    """A collection is missing or used with the wrong model pack."""

    kind = "collection"


class ProbeError(FacesearchError):
    """A probe photo cannot be searched: no face, or a face too poor to search."""

    kind = "probe"

    def __init__(self, message: str, reasons: list[str] | None = None) -> None:
        self.reasons = reasons or []
        super().__init__(message, reasons=self.reasons)


class StorageError(FacesearchError):
    """The home's storage cannot be used (read-only or full disk, a database that refuses writes, an audit
    entry that cannot be written): the action did not happen. The message names the cause, never the data."""

    kind = "storage"


class ClusterError(FacesearchError):
    """Ingest cannot use the cluster it was asked to (Ray not installed, the cluster unreachable, no worker
    could start, a node with another model pack): nothing was analysed there. Images committed before the
    cluster failed stay committed; the same ingest run again resumes."""

    kind = "cluster"
