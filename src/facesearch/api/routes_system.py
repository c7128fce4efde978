"""The service itself: liveness, who am I, Prometheus metrics, the OpenAPI schema."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from .. import __version__
from ..app import system
from ..app.context import Actor
from ..http.deps import Caller, any_user
from .common import Ctx
from .system_models import Health, Me

router = APIRouter(tags=["system"])


@router.get("/api/v1/health", response_model=Health, summary="Liveness (public: reveals nothing but 'ok')")
def health() -> Health:
    return Health(status="ok", version=__version__)


@router.get("/api/v1/me", response_model=Me, summary="Who am I")
def me(ctx: Ctx, actor: Actor = Depends(Caller(system.whoami))) -> Me:
    return system.whoami(ctx, actor)


@router.get(
    "/metrics",
    response_class=Response,
    summary="Prometheus metrics (admin)",
    responses={
        200: {
            "description": "Prometheus text exposition format.",
            "content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}},
        }
    },
)
def metrics(request: Request, ctx: Ctx, actor: Actor = Depends(Caller(system.read_metrics))) -> Response:
    system.read_metrics(ctx, actor)
    return Response(generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST)


@router.get("/openapi.json", response_class=JSONResponse, include_in_schema=False)
def openapi(request: Request, actor: Actor = Depends(any_user)) -> JSONResponse:
    return JSONResponse(request.app.openapi())
