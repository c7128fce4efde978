"""Rebuilding a collection's vector index as another structure (exact, HNSW, IVF) beside the live one, while
searches go on, then swapping it in. The mechanism only: which structure, for whom and whether it is logged
is the use case's (app/rebuild.py)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..config import Settings
from ..index.kinds import choose_kind
from ..store import Store
from ..store.schema import Collection
from .indexes import collection_lock, reconcile

# (collection, faces done, faces in all) during a rebuild.
RebuildProgress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class RebuiltIndex:
    """A collection's index as built: its structure, size, build time and tuned parameters."""

    collection: str
    kind: str
    faces: int
    seconds: float
    params: dict[str, Any] = field(default_factory=dict)


def rebuild_index(
    settings: Settings, store: Store, col: Collection, kind: str, recall: float, progress: RebuildProgress | None
) -> RebuiltIndex:
    """Build `col`'s index as `kind` ("auto": by its size) from the durable embeddings, beside the live file,
    and swap it in with one rename; every process picks it up at its next search.

    The collection's writer lock keeps ingests waiting meanwhile, so nothing is added that the new index
    would miss. Deleted faces still held as tombstones are reclaimed."""
    from ..index.faiss_build import build_faiss

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
    return RebuiltIndex(
        collection=col.name,
        kind=chosen,
        faces=len(built),
        seconds=round(time.monotonic() - started, 2),
        params=dict(getattr(built, "params", {})),
    )
