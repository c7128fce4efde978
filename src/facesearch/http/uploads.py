"""Uploaded files, read with a size bound before anything else looks at them."""

from __future__ import annotations

from fastapi import UploadFile

from ..app.jobs import Upload
from ..config import Settings
from ..services.uploads import Photo
from .problems import Problem


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
