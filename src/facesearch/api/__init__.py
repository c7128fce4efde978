"""The JSON API under /api/v1 (and /metrics, /openapi.json): thin routes over the application layer, each
calling one use case and describing its answer with a response model. `facesearch.server` assembles them.

Response models (`*_models.py`, one per router) say what every answer holds, so `/openapi.json` describes it.
Field names are the API's contract. Optional fields without a value in the answer (e.g. `skipped` on a probe
face that was searched) are left out, not sent as null: routes that return such models set
`response_model_exclude_unset=True`. Only answers that carry stored, open-ended data (audit log content)
accept fields not listed."""

from fastapi import APIRouter

from . import (
    routes_admin,
    routes_audit,
    routes_gallery,
    routes_governance,
    routes_ingest,
    routes_people,
    routes_search,
    routes_system,
    routes_watches,
)

ROUTERS: list[APIRouter] = [
    routes_search.router,
    routes_gallery.router,
    routes_ingest.router,
    routes_admin.router,
    routes_audit.router,
    routes_governance.router,
    routes_system.router,
    routes_people.router,
    routes_watches.router,
]

__all__ = ["ROUTERS"]
