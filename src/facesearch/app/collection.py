"""Collections: a named set of photos with its provenance (source, legal basis, owner, retention) and the
model pack that built it. Nothing is ingested into a collection that lacks any of these. Deleting one (admin)
erases every image as retention does, then the collection, its ingest runs and its index."""

from __future__ import annotations

import re
import shutil

from pydantic import BaseModel, ConfigDict, Field

from ..errors import CollectionError
from ..models import get_entry
from ..services.indexes import IndexBusy, collection_lock, drop_index
from ..store.housekeeping import collection_images, drop_collection
from ..store.proposals import open_in_collection
from ..store.schema import Collection
from ..vocabulary import Action
from .auditing import record, refusal_recorded
from .context import Actor, Context
from .erasure import ErasureCounts, erase_images
from .errors import Conflict, Invalid, NotFound
from .optout import optouts_without_templates
from .roles import allowed

LEGAL_BASES = (
    "consent",
    "contract",
    "legal_obligation",
    "vital_interests",
    "public_task",
    "legitimate_interests",
    "law_enforcement",
)
CREATE_HINT = "facesearch collections create {name} --source TEXT --legal-basis BASIS --retention-days N|--keep"


class CollectionFields(BaseModel):
    """A collection as documented: its model pack, provenance, owner and retention, and what it lacks."""

    model_config = ConfigDict(frozen=True)

    name: str
    model: str
    model_version: str
    created_at: str | None
    source: str | None
    legal_basis: str | None
    legal_basis_note: str | None
    owner: str | None
    retention_days: int | None
    keep_until_deleted: bool
    description: str | None
    problems: list[str] = Field(description="What the collection lacks before it may take photos.")

    @classmethod
    def of(cls, col: Collection) -> CollectionFields:
        return cls(
            name=col.name,
            model=col.model,
            model_version=col.model_version,
            created_at=col.created_at.isoformat() if col.created_at else None,
            source=col.source,
            legal_basis=col.legal_basis,
            legal_basis_note=col.legal_basis_note,
            owner=col.owner,
            retention_days=col.retention_days,
            keep_until_deleted=bool(col.keep_until_deleted and col.retention_days is None),
            description=col.description,
            problems=collection_problems(col),
        )


class CollectionInfo(CollectionFields):
    """A collection as listed: documented, and how many images and faces it holds."""

    images: int
    faces: int


def collection_problems(col: Collection) -> list[str]:
    """What a collection lacks before it may take photos (empty when it is fully documented)."""
    missing = []
    if not (col.source or "").strip():
        missing.append("a source description")
    if col.legal_basis not in LEGAL_BASES:
        missing.append("a legal basis")
    if not (col.owner or "").strip():
        missing.append("an owner")
    if col.retention_days is None and not col.keep_until_deleted:
        missing.append("a retention policy")
    return missing


def require_documented(col: Collection) -> None:
    missing = collection_problems(col)
    if missing:
        raise CollectionError(
            f"collection {col.name!r} lacks {', '.join(missing)}, so nothing may be ingested into it; "
            f"record them with `{CREATE_HINT.format(name=col.name)}` (on a new name) or through the API"
        )


def missing_collection_error(name: str) -> CollectionError:
    return CollectionError(
        f"no collection named {name!r}: create it first, with its source, legal basis and retention: "
        f"`{CREATE_HINT.format(name=name)}`"
    )


@allowed("operator")
def create_collection(
    ctx: Context,
    actor: Actor,
    name: str,
    *,
    source: str,
    legal_basis: str,
    retention_days: int | None,
    keep: bool,
    owner: str | None = None,
    model: str | None = None,
    legal_basis_note: str | None = None,
    description: str | None = None,
) -> CollectionFields:
    """Create a documented collection. Refuses what ingest would refuse later, and a model pack that
    registered opt-outs have no templates for (future ingests could not honour those opt-outs)."""
    store = ctx.store
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}", name):
        raise Invalid("collection names are letters, digits and . _ - (not first), up to 200 characters")
    if store.get_collection(name) is not None:
        raise Conflict(f"collection {name!r} already exists")
    if not source.strip():
        raise Invalid("--source must describe where the photos come from")
    if legal_basis not in LEGAL_BASES:
        raise Invalid(
            f"legal basis {legal_basis!r} is not one of: {', '.join(LEGAL_BASES)} "
            "(add free text with --legal-basis-note)"
        )
    if (retention_days is None) == (not keep):
        raise Invalid("give exactly one of --retention-days N and --keep")
    if retention_days is not None and retention_days < 1:
        raise Invalid("--retention-days must be at least 1")
    try:
        entry = get_entry(model or ctx.settings.model)
    except Exception as exc:
        raise Invalid(f"unknown model pack: {exc}") from exc
    uncovered = optouts_without_templates(store, entry.info.name)
    if uncovered:
        raise Invalid(
            f"{uncovered} registered opt-out(s) have no template for model pack {entry.info.name!r}, so a "
            "collection built with it could not keep their faces out; use a pack that has collections "
            "already, or collect the opt-out photos again for this pack (`facesearch optout add`)"
        )
    col = store.create_collection(
        name,
        entry.info.name,
        entry.info.version,
        entry.info.dim,
        source=source.strip(),
        legal_basis=legal_basis,
        legal_basis_note=legal_basis_note,
        owner=(owner or actor.name),
        description=description,
        retention_days=retention_days,
        keep_until_deleted=retention_days is None,
    )
    info = CollectionFields.of(col)
    record(ctx, actor, Action.COLLECTION_CREATE, collections=[col.name], model=col.model, details=info.model_dump())
    return info


@allowed("examiner", "operator", "admin")
def list_collections(ctx: Context, actor: Actor) -> list[CollectionInfo]:
    """Collections with their provenance, retention and size."""
    sizes = {c["name"]: c for c in ctx.store.stats()["collections"]}
    return [
        CollectionInfo(
            **CollectionFields.of(c).model_dump(),
            images=sizes.get(c.name, {}).get("images", 0),
            faces=sizes.get(c.name, {}).get("faces", 0),
        )
        for c in ctx.store.list_collections()
    ]


class CollectionDeleted(ErasureCounts):
    """A collection deleted: what its erasure removed (as retention counts it), and what it was."""

    collection: str
    model: str


@allowed("admin")
def delete_collection(ctx: Context, actor: Actor, name: str) -> CollectionDeleted:
    """Delete a collection: every image erased as retention erases (rows, index entries, thumbnails, uploaded
    copies, kept probes), then its ingest runs, its counters, its index and the collection itself. Refused
    while a lead found in it awaits its second examiner (an open case still needs it: decide the proposal
    first) and while an ingest or rebuild writes it. Logged, refusals included."""
    with refusal_recorded(ctx, actor, Action.COLLECTION_DELETE, collections=[name]) as attempt:
        col = ctx.store.get_collection(name)
        if col is None:
            raise NotFound(f"no collection named {name!r}")
        attempt.model = col.model
        pending = open_in_collection(ctx.store, col.id)
        if pending:
            cases = sorted({ref or "(no case)" for _, ref in pending})
            raise Conflict(
                f"collection {name!r} holds {len(pending)} lead(s) awaiting a second examiner (case "
                f"{', '.join(cases)}; proposal {', '.join(str(i) for i, _ in pending[:10])}): confirm or reject "
                "them first (Review page, `facesearch review`)"
            )
        info = CollectionFields.of(col)
        try:
            with ctx.engine_lock, collection_lock(ctx.settings, col.id, wait=False):
                erased = erase_images(ctx.settings, ctx.store, collection_images(ctx.store, col.id))
                drop_collection(ctx.store, col.id)
                drop_index(ctx.settings, col.id, col.dim)
                ctx.engine.forget_index(col.id)
                # Its thumbnails went one by one with its faces; the folders they were in go too.
                shutil.rmtree(ctx.settings.thumbs_dir / str(col.id), ignore_errors=True)
        except IndexBusy:
            raise Conflict(
                f"collection {name!r} is being written (an ingest or an index rebuild): try again when it ends"
            ) from None
    result = CollectionDeleted(collection=name, model=col.model, **erased.as_dict())
    record(
        ctx,
        actor,
        Action.COLLECTION_DELETE,
        collections=[name],
        model=col.model,
        results={"erased": erased.as_dict()},
        details=info.model_dump(),
    )
    return result
