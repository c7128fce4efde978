"""Exceptions users see: each carries a message that says what went wrong and what to do."""


class FacesearchError(Exception):
    """Base class for errors reported to the user without a traceback."""


class ImageError(FacesearchError):
    """An input file could not be decoded as a safe image."""

    def __init__(self, reason: str, detail: str = "") -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}" if detail else reason)


class ModelNotFoundError(FacesearchError):
    """Weights of a model pack are not installed."""


class CollectionError(FacesearchError):
    """A collection is missing or used with the wrong model pack."""


class ProbeError(FacesearchError):
    """A probe photo cannot be searched: no face, or a face too poor to search."""

    def __init__(self, message: str, reasons: list[str] | None = None) -> None:
        self.reasons = reasons or []
        super().__init__(message)
