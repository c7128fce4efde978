"""What the API routes share: the application context as a dependency, the URLs the API adds to answers,
and parsing of repeated-or-comma-separated form fields."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from ..app.context import Context
from ..http.deps import context

PREFIX = "/api/v1"

# The deployment's context, for the use case a route calls.
Ctx = Annotated[Context, Depends(context)]


def thumbnail_url(face_id: int) -> str:
    return f"{PREFIX}/faces/{face_id}/thumbnail"


def image_url(image_id: int) -> str:
    return f"{PREFIX}/images/{image_id}"


def file_url(image_id: int) -> str:
    return f"{PREFIX}/images/{image_id}/file"


def status_url(job_id: str) -> str:
    return f"{PREFIX}/jobs/{job_id}"


def names(values: list[str] | None) -> list[str] | None:
    """Collection names given as repeated fields, comma-separated, or both; None for none."""
    out = [n.strip() for v in values or [] for n in v.split(",") if n.strip()]
    return out or None
