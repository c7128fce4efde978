"""Refusals of the application layer. Each has a `kind`; transports map kinds to an HTTP status or an exit
code, so the same refusal reads the same everywhere."""

from __future__ import annotations

from typing import Any

from ..errors import FacesearchError


class Refused(FacesearchError):
    """A use case declined to act. `kind` names why; `extra` carries structured detail for clients."""

    kind = "invalid"

    def __init__(self, message: str, **extra: Any) -> None:
        self.extra = extra
        super().__init__(message)


class Invalid(Refused):
    """The request itself is malformed or incomplete."""

    kind = "invalid"


class Forbidden(Refused):
    """The acting user's role may not do this."""

    kind = "forbidden"


class NotFound(Refused):
    kind = "not_found"


class Conflict(Refused):
    """The state does not allow it (already exists, already decided)."""

    kind = "conflict"


class CaseRequired(Refused):
    """A search or verify without a case reference or purpose."""

    kind = "case_required"


class PurposeNotAllowed(Refused):
    kind = "purpose_not_allowed"

    def __init__(self, message: str, allowed: list[dict[str, str]]) -> None:
        self.allowed = allowed
        super().__init__(message, allowed=allowed)


class Suspended(Refused):
    """An admin has suspended all searching."""

    kind = "suspended"


class LimitExceeded(Refused):
    kind = "limit"

    def __init__(self, message: str, retry_after: int) -> None:
        self.retry_after = retry_after
        super().__init__(message, retry_after=retry_after)


# What each kind means to a client: HTTP status, a short title, and the CLI's exit code.
KINDS: dict[str, tuple[int, str, int]] = {
    "invalid": (422, "Invalid request", 2),
    "forbidden": (403, "Forbidden", 4),
    "not_found": (404, "Not found", 2),
    "conflict": (409, "Conflict", 2),
    "case_required": (422, "Case reference and purpose required", 4),
    "purpose_not_allowed": (422, "Purpose not allowed", 4),
    "suspended": (503, "Searching is suspended", 4),
    "limit": (429, "Too many searches", 4),
}
