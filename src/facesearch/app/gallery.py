"""The gallery as users see it: images with their faces, image files and face thumbnails, and the
numbers of `stats`. Every look at a gallery image is logged, unless the search or view that showed it
to this user already was.

An examiner looking up an image or a face by id that no search or view showed them is searching by other
means: the lookup passes the search gate (case reference, allowed purpose, kill switch, limits) and is
logged under its case. The candidate face of a proposal is the evidence of a two-person review that every
examiner may decide: its thumbnail is served without a gate, logged under the proposal's case. Operators
manage the gallery (ingest, erasure, opt-out review) and look at what they manage without a case; each look
is logged. Nobody is shown a face a search hides (an opt-out): it is not
listed on its image, its thumbnail is not found, and an image with only such faces is not found."""

from __future__ import annotations

from typing import Any, NamedTuple

from pydantic import BaseModel, ConfigDict

from ..pipeline.imaging import sniff_media_type
from ..services.served_files import read_checked, read_thumbnail
from ..store.proposals import proposed_case
from ..vocabulary import Action
from .auditing import record, refusal_recorded
from .context import Actor, Context
from .errors import NotFound
from .optout import opted_out_faces
from .policy import search_gate
from .roles import allowed


# Results ----------------------------------------------------------------------------------------
class ImageFace(BaseModel):
    """A face of an image: its number in the image, box, quality and detection score."""

    model_config = ConfigDict(frozen=True)

    face_id: int
    face: int
    box: list[float]
    quality: float
    detection_score: float


class ImageView(BaseModel):
    """An image with its provenance and faces."""

    model_config = ConfigDict(frozen=True)

    id: int
    collection: str
    sha256: str
    path: str | None
    source_url: str | None
    metadata: dict[str, Any]
    width: int
    height: int
    ingested_at: str | None
    faces: list[ImageFace]


class ImageFile(NamedTuple):
    """An image file to serve: its bytes (read once from where they were checked, with the SHA-256 stored at
    ingest), and its type as decoded from its first bytes (never from its name): `media_type` is an image type
    a browser may show, or application/octet-stream for anything else."""

    data: bytes
    media_type: str
    extension: str

    @property
    def is_image(self) -> bool:
        return self.media_type.startswith("image/")


class CollectionStats(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    model: str
    created_at: str | None
    images: int
    faces: int


class GalleryStats(BaseModel):
    """Counts only, nothing about anyone: images, faces, collections, the size of the index files."""

    model_config = ConfigDict(frozen=True)

    images: int
    faces: int
    images_without_faces: int
    collections: list[CollectionStats]
    home: str
    default_model: str
    index_bytes: int


# Use cases --------------------------------------------------------------------------------------
def _lookup_gate(
    ctx: Context, actor: Actor, kind: str, ident: int, case_ref: str | None, purpose: str | None
) -> tuple[str | None, str | None]:
    """An examiner's lookup by id of what no gated search or view showed them: the search gate, a refusal
    logged. Returns the (case, purpose) to log the lookup under (None, None when no gate was needed)."""
    if actor.role != "examiner" or ctx.seen.seen(actor.name, kind, ident):
        return case_ref, purpose
    if kind == "face" and (proposed := proposed_case(ctx.store, ident)) is not None:
        return proposed or None, None  # a proposal's candidate: evidence every reviewer looks at, logged
    with refusal_recorded(
        ctx, actor, Action.VIEW_MATCH, case_ref=case_ref, purpose=purpose, details={f"{kind}_id": ident}
    ):
        return search_gate(ctx, actor, case_ref, purpose)


def _hidden_image(ctx: Context, image_id: int, face_ids: list[int], view: str) -> set[int]:
    """The faces of an image a search hides; NotFound when every face of it is hidden."""
    hidden = opted_out_faces(ctx, face_ids, view)
    if face_ids and hidden >= set(face_ids):
        raise NotFound(f"no image with id {image_id}")
    return hidden


@allowed("examiner", "operator")
def view_image(
    ctx: Context,
    actor: Actor,
    image_id: int,
    case_ref: str | None = None,
    search_id: int | None = None,
    purpose: str | None = None,
) -> ImageView:
    """An image with its faces and provenance (logged as a view of a match)."""
    case_ref, purpose = _lookup_gate(ctx, actor, "image", image_id, case_ref, purpose)
    row = ctx.store.image_with_collection(image_id)
    if row is None:
        raise NotFound(f"no image with id {image_id}")
    img, collection = row
    faces = ctx.store.image_faces(image_id)
    hidden = _hidden_image(ctx, image_id, [f.id for f in faces], "image")
    faces = [f for f in faces if f.id not in hidden]
    record(
        ctx,
        actor,
        Action.VIEW_MATCH,
        case_ref=case_ref,
        purpose=purpose,
        collections=[collection],
        results={"image_id": image_id, "face_ids": [f.id for f in faces]},
        details={"search_id": search_id, "sha256": img.sha256},
    )
    ctx.seen.add(actor.name, "image", [image_id])
    ctx.seen.add(actor.name, "face", [f.id for f in faces])
    return ImageView(
        id=img.id,
        collection=collection,
        sha256=img.sha256,
        path=img.path,
        source_url=img.source_url,
        metadata=img.meta or {},
        width=img.width,
        height=img.height,
        ingested_at=img.ingested_at.isoformat() if img.ingested_at else None,
        faces=[
            ImageFace(
                face_id=f.id,
                face=f.face_index,
                box=[f.x1, f.y1, f.x2, f.y2],
                quality=f.quality,
                detection_score=f.det_score,
            )
            for f in faces
        ],
    )


@allowed("examiner", "operator")
def image_file(
    ctx: Context, actor: Actor, image_id: int, *, case_ref: str | None = None, purpose: str | None = None
) -> ImageFile:
    """The image file's bytes and type, served only from where they were checked. Fetched without a logged
    search or view that showed it, this is the view."""
    gated = _lookup_gate(ctx, actor, "image", image_id, case_ref, purpose)
    row = ctx.store.image_with_collection(image_id)
    if row is None:
        raise NotFound(f"no image with id {image_id}")
    img, collection = row
    _hidden_image(ctx, image_id, [f.id for f in ctx.store.image_faces(image_id)], "image file")
    if not ctx.seen.seen(actor.name, "image", image_id):
        record(
            ctx,
            actor,
            Action.VIEW_MATCH,
            case_ref=gated[0],
            purpose=gated[1],
            collections=[collection],
            results={"image_id": image_id},
            details={"via": "file"},
        )
        ctx.seen.add(actor.name, "image", [image_id])
    data = read_checked(ctx.settings, img.path, img.sha256, ctx.settings.max_file_bytes)
    if data is None:  # one answer whatever the reason: nothing about what is at the path leaks
        raise NotFound("the image file is no longer at its recorded path, or is not the file that was ingested")
    media_type, extension = sniff_media_type(data[:16])
    return ImageFile(data, media_type, extension)


@allowed("examiner", "operator")
def face_thumbnail(
    ctx: Context, actor: Actor, face_id: int, *, case_ref: str | None = None, purpose: str | None = None
) -> bytes:
    """The face's thumbnail (JPEG bytes, from `thumbs/` only). Fetched without a logged search or view that
    showed the face, this is the view."""
    gated = _lookup_gate(ctx, actor, "face", face_id, case_ref, purpose)
    details = ctx.store.face_details([face_id]).get(face_id)
    if details is None or opted_out_faces(ctx, [face_id], "thumbnail"):
        raise NotFound(f"no face with id {face_id}")
    if not ctx.seen.seen(actor.name, "face", face_id):
        record(
            ctx,
            actor,
            Action.VIEW_THUMBNAIL,
            case_ref=gated[0],
            purpose=gated[1],
            collections=[details["collection"]],
            results={"face_id": face_id, "image_id": details["image_id"]},
        )
        ctx.seen.add(actor.name, "face", [face_id])
    data = read_thumbnail(ctx.settings, details["thumbnail"])
    if data is None:  # missing, a link, or a name pointing out of thumbs/
        raise NotFound("the thumbnail file is missing")
    return data


@allowed("operator", "admin", "examiner", "auditor")
def stats(ctx: Context, actor: Actor) -> GalleryStats:
    """Images, faces, collections, index size: counts only, nothing about anyone."""
    counts = ctx.store.stats()
    index_dir = ctx.settings.index_dir
    index_bytes = sum(p.stat().st_size for p in index_dir.glob("*.faiss")) if index_dir.exists() else 0
    return GalleryStats(
        images=counts["images"],
        faces=counts["faces"],
        images_without_faces=counts["images_without_faces"],
        collections=[CollectionStats(**c) for c in counts["collections"]],
        home=str(ctx.settings.home),
        default_model=ctx.settings.model,
        index_bytes=index_bytes,
    )
