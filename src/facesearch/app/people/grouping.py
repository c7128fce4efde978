"""Grouping faces into people: `cluster` on demand (operators), and `cluster_new`, the ingest hook.

The passes themselves are a mechanism (`services.people_passes`); here are who may run them, which packs
and collections a pass covers, the engine lock, and the audit entry."""

from __future__ import annotations

from ...errors import FacesearchError
from ...services.people_passes import ClusterPass, full_pass, groups_by_pack, incremental_pass
from ...vocabulary import Action
from ..auditing import record
from ..context import Actor, Context, system_actor
from ..roles import allowed
from .lookup import collections
from .results import ClusterResult


def _audit(ctx: Context, actor: Actor, passes: list[ClusterPass], full: bool) -> None:
    record(
        ctx,
        actor,
        Action.PEOPLE_CLUSTER,
        collections=[c for p in passes for c in p.collections],
        results=[
            {"model": p.model, "faces": p.faces, "people": p.people, "assigned": p.assigned, "started": p.started}
            for p in passes
        ],
        details={"full": full, "thresholds": {p.model: p.threshold for p in passes}},
    )


@allowed("operator", "admin")
def cluster(ctx: Context, actor: Actor, *, collection: str | None = None, full: bool = False) -> ClusterResult:
    """Group faces into people. Incremental by default (faces in no person yet join or start people); `full`
    re-clusters every face of the pack (of `collection`, or of every pack in use), applying every active
    correction. The threshold comes from the pack's calibration table."""
    passes: list[ClusterPass] = []
    with ctx.engine_lock:
        for model, cols in groups_by_pack(collections(ctx.store, [collection] if collection else None)):
            if full:
                pack = [c for c in ctx.store.list_collections() if c.model == model]
                passes.append(full_pass(ctx.store, ctx.settings, model, pack, ctx.now()))
            else:
                passes.append(incremental_pass(ctx.store, ctx.settings, model, cols, ctx.now()))
    _audit(ctx, actor, passes, full)
    return ClusterResult(passes=passes)


def cluster_new(ctx: Context, collection: str) -> ClusterResult:
    """The ingest hook: the collection's new faces join or start people (incremental, as the system).

    A pack without a calibration table cannot link faces; its faces wait for `people cluster`."""
    col = ctx.store.get_collection(collection)
    if col is None:
        return ClusterResult(passes=[])
    try:
        one = incremental_pass(ctx.store, ctx.settings, col.model, [col], ctx.now())
    except FacesearchError:
        return ClusterResult(passes=[])
    if one.faces:
        _audit(ctx, system_actor("ingest"), [one], False)
    return ClusterResult(passes=[one])
