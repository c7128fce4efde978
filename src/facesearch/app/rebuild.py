"""Rebuilding collections' vector indexes (an admin's work, logged), and the automatic rebuild after an
ingest that made a collection outgrow its index. The building and swapping is `services/rebuild.py`."""

from __future__ import annotations

from dataclasses import dataclass

from ..index import VectorIndex
from ..index.kinds import KINDS as INDEX_KINDS
from ..index.kinds import choose_kind
from ..services.rebuild import RebuildProgress, RebuiltIndex, rebuild_index
from ..store.schema import Collection
from ..vocabulary import Action
from .auditing import record
from .context import Actor, Context, system_actor
from .errors import Invalid, NotFound
from .roles import allowed

__all__ = ["RebuildProgress", "RebuildResult", "RebuiltIndex", "grow_if_needed", "rebuild"]

# An approximate index is built again once its collection has grown this many times past the size it was
# built for (its lists or graph were sized and tuned for that).
REGROW = 4


@dataclass(frozen=True)
class RebuildResult:
    """The indexes rebuilt, and the recall@10 their approximate structures were tuned to."""

    collections: list[RebuiltIndex]
    recall_target: float


@allowed("admin")
def rebuild(
    ctx: Context,
    actor: Actor,
    collection: str | None = None,
    kind: str | None = None,
    recall: float | None = None,
    progress: RebuildProgress | None = None,
) -> RebuildResult:
    """Rebuild each collection's index (or one) as `kind` (auto: by its size) from the durable embeddings.

    The new index is built beside the live one while searches go on using the old; the collection's writer
    lock keeps ingests waiting meanwhile, so nothing is added that the new index would miss; then the new
    file replaces the old in one rename and every process picks it up at its next search. Deleted faces
    still held as tombstones are reclaimed.
    """
    settings = ctx.settings
    kind = kind or settings.index_kind
    if kind not in ("auto", *INDEX_KINDS):
        raise Invalid(f"unknown index kind {kind!r}: choose auto, {', '.join(INDEX_KINDS)}")
    target = settings.index_recall if recall is None else recall
    if not 0.5 <= target <= 1.0:
        raise Invalid(f"--recall {target:g} must lie between 0.5 and 1")
    if settings.index_uri:
        raise Invalid(
            "rebuild builds FAISS index files; a Milvus index is built by the Milvus server (see docs/scaling.md)"
        )
    cols = [_collection(ctx, collection)] if collection else ctx.store.list_collections()
    done: list[RebuiltIndex] = []
    for col in cols:
        done.append(rebuild_index(settings, ctx.store, col, kind, target, progress))
        ctx.engine.forget_index(col.id)
    record(
        ctx,
        actor,
        Action.INDEX_REBUILD,
        collections=[c.collection for c in done],
        results={c.collection: {"kind": c.kind, "faces": c.faces} for c in done},
        details={"requested_kind": kind, "recall_target": target},
    )
    return RebuildResult(collections=done, recall_target=target)


def grow_if_needed(ctx: Context, col: Collection, index: VectorIndex) -> RebuiltIndex | None:
    """After an ingest: with FACESEARCH_INDEX_KIND=auto, build the collection's index again when its size now
    calls for another structure (exact -> IVF past FACESEARCH_INDEX_FLAT_MAX) or has outgrown the one it has.
    Logged as the system's rebuild. Returns what was built, or None."""
    settings = ctx.settings
    if settings.index_kind != "auto" or settings.index_uri or not hasattr(index, "swap_into"):
        return None
    count = ctx.store.index_state(col.id)[0]
    wanted = choose_kind(count, settings.index_flat_max, settings.index_hnsw_max)
    built_for = int(getattr(index, "params", {}).get("built_faces") or 0)
    if wanted == index.kind and (wanted == "flat" or count < REGROW * max(built_for, 1)):
        return None
    done = rebuild_index(settings, ctx.store, col, wanted, settings.index_recall, None)
    ctx.engine.forget_index(col.id)
    record(
        ctx,
        system_actor("ingest"),
        Action.INDEX_REBUILD,
        collections=[col.name],
        results={col.name: {"kind": done.kind, "faces": done.faces}},
        details={"requested_kind": "auto", "recall_target": settings.index_recall, "reason": f"grew to {count} faces"},
    )
    return done


def _collection(ctx: Context, name: str) -> Collection:
    col = ctx.store.get_collection(name)
    if col is None:
        known = ", ".join(c.name for c in ctx.store.list_collections()) or "none"
        raise NotFound(f"no collection named {name!r}; known: {known}")
    return col
