"""Uploaded files: what a route takes (so the service can bound its request body before reading it), and the
files read with a size bound before anything else looks at them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from fastapi import UploadFile

from ..app.jobs import Upload
from ..config import Settings
from ..services.uploads import Photo
from .problems import Problem

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Uploads:
    """What a route's request body carries: `photos` photos of at most FACESEARCH_MAX_UPLOAD_BYTES each, or a
    `batch` of files for ingest (at most FACESEARCH_MAX_INGEST_REQUEST_BYTES in all)."""

    photos: int = 0
    batch: bool = False


def takes_uploads(photos: int = 0, *, batch: bool = False) -> Callable[[F], F]:
    """Declare on a route's function what uploads it takes; the web service bounds its request body by that
    (`server.limits`). A route that declares none takes at most 1 MiB."""

    def mark(endpoint: F) -> F:
        endpoint.uploads = Uploads(photos, batch)  # type: ignore[attr-defined]
        return endpoint

    return mark


def uploads_of(endpoint: Any) -> Uploads | None:
    found = getattr(endpoint, "uploads", None)
    return found if isinstance(found, Uploads) else None


def read_photo(upload: UploadFile, settings: Settings, label: str) -> Photo:
    """The upload's bytes, refused here only when over the size bound. An empty file is handed on: the use case
    refuses it (and logs the refusal, as for any other unusable photo)."""
    limit = settings.max_upload_bytes
    data = upload.file.read(limit + 1)
    if len(data) > limit:
        raise Problem(
            413,
            "Upload too large",
            f"the {label} is larger than the limit of {limit} bytes (FACESEARCH_MAX_UPLOAD_BYTES)",
        )
    return Photo(data, label)


def upload_of(f: UploadFile) -> Upload:
    return Upload(f.filename or "", f.file.read)
