"""Small questions about the service itself: who am I, may I read its metrics, which schema version does a
home have (and bringing it to this version's)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

from ..config import Settings
from ..store import migrate
from ..store.db import schema_engine
from ..store.guard import storage_errors
from ..vocabulary import ROLES
from .context import Actor, Context
from .roles import allowed

log = logging.getLogger("facesearch.server")


class Me(BaseModel):
    """Who is asking, and how they signed in."""

    model_config = ConfigDict(frozen=True)

    name: str
    role: str
    via: str = Field(description="How the caller signed in: `session` or `token`.")


@dataclass(frozen=True)
class SchemaStatus:
    """The schema revision a home's database has, the one this version needs, and where it stands."""

    current: str | None
    head: str
    state: str


@dataclass(frozen=True)
class SchemaUpgrade:
    before: str | None
    after: str


@allowed(*ROLES)
def whoami(ctx: Context, actor: Actor) -> Me:
    return Me(name=actor.name, role=actor.role, via=actor.via)


@allowed("admin")
def read_metrics(ctx: Context, actor: Actor) -> None:
    """Prometheus metrics (request counts and latencies, searches by outcome) are for admins."""


def open_indexes(ctx: Context) -> None:
    """Open every collection's index now (the web service at start): a damaged or missing file is found and
    rebuilt from the database before the first search needs it (services/indexes.py logs what it did). A
    collection whose index cannot be opened is logged and left for its first search to report."""
    for col in ctx.store.list_collections():
        try:
            with ctx.engine_lock:
                ctx.engine.index(col)
        except Exception:
            log.exception("the index of collection %s could not be opened or rebuilt", col.name)


# The schema is read and upgraded without opening the home as a `Context` (which would upgrade it first), so
# these take the settings, act for no one and write no audit entry: they change no data, only its layout.
def schema_status(settings: Settings) -> SchemaStatus:
    settings.home.mkdir(parents=True, exist_ok=True)
    with storage_errors(), schema_engine(settings.resolved_database_url) as engine:
        return SchemaStatus(current=migrate.current(engine), head=migrate.head(), state=migrate.state(engine))


def upgrade_schema(settings: Settings) -> SchemaUpgrade:
    """Bring the home's schema to this version's (a home made by an older facesearch)."""
    settings.home.mkdir(parents=True, exist_ok=True)
    with storage_errors(), schema_engine(settings.resolved_database_url) as engine:
        before, after = migrate.upgrade(engine)
    return SchemaUpgrade(before=before, after=after)
