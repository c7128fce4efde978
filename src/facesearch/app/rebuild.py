"""Rebuilding a collection's vector index as another structure (exact, HNSW, IVF) beside the live one, while
searches go on, then swapping it in."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from ..index import VectorIndex
from ..index.kinds import KINDS as INDEX_KINDS
from ..index.kinds import choose_kind
from ..services.indexes import collection_lock, reconcile
from ..store.audit import INDEX_REBUILD
from ..store.schema import Collection
from .context import Actor, Context, system_actor
from .errors import Invalid, NotFound
from .roles import allowed

# (collection, faces done, faces in all) during a rebuild.
RebuildProgress = Callable[[str, int, int], None]


@allowed("admin")
def rebuild(
    ctx: Context,
    actor: Actor,
    collection: str | None = None,
    kind: str | None = None,
    recall: float | None = None,
    progress: RebuildProgress | None = None,
) -> dict[str, Any]:
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
    done: list[dict[str, Any]] = []
    for col in cols:
        done.append(_rebuild_one(ctx, col, kind, target, progress))
        ctx.engine.forget_index(col.id)
    ctx.audit.record(
        INDEX_REBUILD,
        actor=actor.name,
        role=actor.role,
        ip=actor.ip,
        collections=[c["collection"] for c in done],
        results={c["collection"]: {"kind": c["kind"], "faces": c["faces"]} for c in done},
        details={"requested_kind": kind, "recall_target": target},
    )
    return {"collections": done, "recall_target": target}


# An approximate index is built again once its collection has grown this many times past the size it was
# built for (its lists or graph were sized and tuned for that).
REGROW = 4


def grow_if_needed(ctx: Context, col: Collection, index: VectorIndex) -> dict[str, Any] | None:
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
    done = _rebuild_one(ctx, col, wanted, settings.index_recall, None)
    ctx.engine.forget_index(col.id)
    who = system_actor("ingest")
    ctx.audit.record(
        INDEX_REBUILD,
        actor=who.name,
        role=who.role,
        collections=[col.name],
        results={col.name: {"kind": done["kind"], "faces": done["faces"]}},
        details={"requested_kind": "auto", "recall_target": settings.index_recall, "reason": f"grew to {count} faces"},
    )
    return done


def _collection(ctx: Context, name: str) -> Collection:
    col = ctx.store.get_collection(name)
    if col is None:
        known = ", ".join(c.name for c in ctx.store.list_collections()) or "none"
        raise NotFound(f"no collection named {name!r}; known: {known}")
    return col


def _rebuild_one(
    ctx: Context, col: Collection, kind: str, recall: float, progress: RebuildProgress | None
) -> dict[str, Any]:
    from ..index.faiss_build import build_faiss

    settings, store = ctx.settings, ctx.store
    path = settings.index_dir / f"collection-{col.id}.faiss"
    started = time.monotonic()
    with collection_lock(settings, col.id):
        count = store.index_state(col.id)[0]
        chosen = choose_kind(count, settings.index_flat_max, settings.index_hnsw_max) if kind == "auto" else kind

        def step(n: int) -> None:
            if progress is not None:
                progress(col.name, n, count)

        built = build_faiss(
            path, col.dim, chosen, store.iter_embeddings(col.id, col.dim), count=count, recall=recall, progress=step
        )
        built.swap_into(path)
        # An erasure does not wait for this lock: faces erased during the build leave the new index now.
        reconcile(built, store, col.id)
        if built.dirty:
            built.save()
    return {
        "collection": col.name,
        "kind": chosen,
        "faces": len(built),
        "seconds": round(time.monotonic() - started, 2),
        "params": getattr(built, "params", {}),
    }
