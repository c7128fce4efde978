"""Ingest: files or a manifest (photos and videos) into a documented collection, logged.

The rules live here: a collection is created on purpose, with its provenance, never by an ingest; it takes
faces of the model pack it was built with only; faces that match an opt-out are never stored; every run is
written to the audit log with its counts (or its refusal). The work itself, crash-safe and batched, is
`services/batching.py`; the files come from `pipeline/sources.py`. After a run that stored faces, the
collection's index grows into another structure if its size calls for it, the new faces join people, and
they are compared with the active watches (during a long run too, between batches: `watches.DuringIngest`).
"""

from __future__ import annotations

from ..config import Settings
from ..errors import CollectionError
from ..index import open_index
from ..pipeline.sources import Item, items_from_folder, items_from_manifest
from ..records import NewImage
from ..services.batching import IngestResult, IngestSummary, ProgressFn, ingest_batches
from ..store import Store
from ..store.schema import Collection
from ..vocabulary import Action
from .auditing import record, refusal_recorded
from .collection import missing_collection_error, require_documented
from .context import Actor, Context
from .errors import Invalid
from .optout import drop_optout_faces
from .roles import allowed
from .watches import DuringIngest

# The sources a use case takes, and the result it gives, for callers of this module.
__all__ = [
    "IngestResult",
    "IngestSummary",
    "Item",
    "check_video_fps",
    "ProgressFn",
    "ingest",
    "items_from_folder",
    "items_from_manifest",
    "resolve_collection",
    "run",
]


def resolve_collection(store: Store, name: str, model: str | None) -> Collection:
    """The documented collection `name`, which must have been built with `model` when one is given."""
    col = store.get_collection(name)
    if col is not None:
        if model and model != col.model:
            raise CollectionError(
                f"collection {name!r} was built with model pack {col.model!r}; it cannot take faces from "
                f"{model!r} (embeddings of different packs are not comparable). Ingest with --model {col.model} "
                "or into another collection."
            )
        require_documented(col)
        return col
    # Collections are created on purpose, with their provenance, never as a side effect.
    raise missing_collection_error(name)


@allowed("operator")
def ingest(
    ctx: Context,
    actor: Actor,
    items: list[Item],
    collection: str,
    *,
    model: str | None = None,
    workers: int | None = None,
    progress: ProgressFn | None = None,
    source: str = "",
    settings: Settings | None = None,
    cluster: str | None = None,
    cluster_workers: int | None = None,
    video_fps: float | None = None,
) -> IngestResult:
    """Ingest files into a documented collection; returns the counts (and logs them). Never raises for a
    bad file. `settings` narrows the deployment's (uploads are read with the upload size limit). `cluster`:
    where the photos are analysed (None: the deployment's FACESEARCH_CLUSTER; "local": this machine). Video
    files (by content) are sampled at `video_fps` frames per second (default FACESEARCH_VIDEO_FPS)."""
    with refusal_recorded(ctx, actor, Action.INGEST, collections=[collection], model=model) as attempt:
        attempt.details["source"] = source
        check_video_fps(video_fps)
        result = run(
            ctx,
            items,
            collection,
            model=model,
            workers=workers,
            progress=progress,
            source=source,
            settings=settings,
            cluster=cluster,
            cluster_workers=cluster_workers,
            video_fps=video_fps,
        )
    record(
        ctx,
        actor,
        Action.INGEST,
        collections=[result.collection],
        model=result.model,
        results={"counts": result.counts(), "failures": len(result.failures)},
        details={
            "ingest_job_id": result.job_id,
            "source": source,
            **({"video_fps": video_fps or ctx.settings.video_fps} if result.video.found else {}),
            **where_analysed(result),
        },
    )
    return result


def where_analysed(result: IngestResult) -> dict[str, str]:
    """For the audit entry of a run whose photos left this machine: the cluster that analysed them (a local
    run's entry stays as it always was)."""
    return {} if result.executor == "local" else {"cluster": result.executor}


def check_video_fps(value: float | None) -> None:
    """Frames sampled per second of video: a positive number up to 60 (more than most videos have)."""
    if value is not None and not (isinstance(value, (int, float)) and 0 < value <= 60):
        raise Invalid(f"the video sampling rate must be above 0 and at most 60 frames per second (got {value!r})")


def run(
    ctx: Context,
    items: list[Item],
    collection: str,
    *,
    model: str | None = None,
    workers: int | None = None,
    progress: ProgressFn | None = None,
    source: str = "",
    settings: Settings | None = None,
    cluster: str | None = None,
    cluster_workers: int | None = None,
    video_fps: float | None = None,
) -> IngestResult:
    """The ingest itself, for a use case that has already decided it may run (and logs it)."""
    settings = settings or ctx.settings
    col = resolve_collection(ctx.store, collection, model)

    def screen(images: list[NewImage], job_id: int) -> tuple[int, int]:
        return drop_optout_faces(ctx, col, images, None, job_id)

    watching = DuringIngest(ctx, col)
    result = ingest_batches(
        ctx.store,
        settings,
        col,
        items,
        workers=workers,
        progress=watching.progress(progress),
        source=source,
        screen=screen,
        cluster=cluster,
        cluster_workers=cluster_workers,
        video_fps=video_fps,
    )
    if result.faces:
        from .rebuild import grow_if_needed  # past FACESEARCH_INDEX_FLAT_MAX faces: IVF instead of exact

        grow_if_needed(ctx, col, open_index(settings, col.id, col.dim))
        from .people import cluster_new  # new faces join or start people (incremental, cheap)

        cluster_new(ctx, col.name)
    # After every run, even one that stored nothing: an earlier run killed before its check left faces behind.
    watching.run()
    return result
