"""Small questions about the service itself: who am I, may I read its metrics."""

from __future__ import annotations

from typing import Any

from ..store.accounts import ROLES
from .context import Actor, Context
from .roles import allowed


@allowed(*ROLES)
def whoami(ctx: Context, actor: Actor) -> dict[str, Any]:
    return {"name": actor.name, "role": actor.role, "via": actor.via}


@allowed("admin")
def read_metrics(ctx: Context, actor: Actor) -> None:
    """Prometheus metrics (request counts and latencies, searches by outcome) are for admins."""
