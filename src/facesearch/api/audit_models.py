"""Response models of the JSON API for the audit log: the use cases' own result types (`app.audit`), and the
shape of a JSON export (documentation of the download).

Field names are the API's contract; see the `api` package for the rules all response models follow."""

from __future__ import annotations

from pydantic import BaseModel

from ..app.audit import AuditPage, AuditRecord, ChainCheck

__all__ = ["AuditExport", "AuditPage", "AuditRecord", "ChainCheck"]


class AuditExport(BaseModel):
    """An export with `format=json`: the entries, oldest first, with their hashes."""

    exported_at: str
    since: str | None
    until: str | None
    count: int
    entries: list[AuditRecord]
