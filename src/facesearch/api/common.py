"""What the API routes share: the application context as a dependency, the URLs the API adds to answers,
parsing of repeated-or-comma-separated form fields, and the type of every id in a path."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path

from ..app.context import Context
from ..http.deps import context

PREFIX = "/api/v1"
ID_MAX = 2**63 - 1  # ids are 64-bit signed integers in the database

# Every `{..._id}` path parameter: a positive 64-bit integer; anything else is a 422, never a database error.
Id = Annotated[int, Path(ge=1, le=ID_MAX, description="A positive 64-bit id.")]

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
