"""Refusals of the application layer. Each has a `kind` of the one error table (`facesearch.errors.KINDS`):
transports map it to an HTTP status or an exit code, so the same refusal reads the same everywhere."""

from __future__ import annotations

from ..errors import KINDS, FacesearchError

__all__ = [
    "KINDS",
    "CaseRequired",
    "Conflict",
    "Forbidden",
    "Invalid",
    "LimitExceeded",
    "NotFound",
    "PurposeNotAllowed",
    "Refused",
    "Suspended",
]


class Refused(FacesearchError):
    """A use case declined to act. `kind` names why; `extra` carries structured detail for clients."""

    kind = "invalid"


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
