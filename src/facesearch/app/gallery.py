"""The gallery as users see it: images with their faces, image files and face thumbnails, and the
numbers of `stats`. Every look at a gallery image is logged, unless the search or view that showed it
to this user already was."""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

from pydantic import BaseModel, ConfigDict

from ..pipeline.imaging import sniff_media_type
from ..vocabulary import Action
from .auditing import record
from .context import Actor, Context
from .errors import NotFound
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
    """An image file to serve: where it is, and its type as decoded from its first bytes (never from its
    name): `media_type` is an image type a browser may show, or application/octet-stream for anything else."""

    path: Path
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
@allowed("examiner", "operator")
def view_image(
    ctx: Context, actor: Actor, image_id: int, case_ref: str | None = None, search_id: int | None = None
) -> ImageView:
    """An image with its faces and provenance (logged as a view of a match)."""
    row = ctx.store.image_with_collection(image_id)
    if row is None:
        raise NotFound(f"no image with id {image_id}")
    img, collection = row
    faces = ctx.store.image_faces(image_id)
    record(
        ctx,
        actor,
        Action.VIEW_MATCH,
        case_ref=case_ref,
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
def image_file(ctx: Context, actor: Actor, image_id: int) -> ImageFile:
    """The image file and its type. Fetched without a logged search or view that showed it, this is the view."""
    row = ctx.store.image_with_collection(image_id)
    if row is None:
        raise NotFound(f"no image with id {image_id}")
    img, collection = row
    if not ctx.seen.seen(actor.name, "image", image_id):
        record(
            ctx,
            actor,
            Action.VIEW_MATCH,
            collections=[collection],
            results={"image_id": image_id},
            details={"via": "file"},
        )
        ctx.seen.add(actor.name, "image", [image_id])
    path = Path(img.path) if img.path else None
    if path is None or not path.is_file():
        raise NotFound("the image file is no longer at its recorded path")
    try:
        with path.open("rb") as fh:
            head = fh.read(16)
    except OSError as exc:
        raise NotFound("the image file cannot be read at its recorded path") from exc
    media_type, extension = sniff_media_type(head)
    return ImageFile(path, media_type, extension)


@allowed("examiner", "operator")
def face_thumbnail(ctx: Context, actor: Actor, face_id: int) -> Path:
    """The face's thumbnail file. Fetched without a logged search or view that showed the face, this is the view."""
    details = ctx.store.face_details([face_id]).get(face_id)
    if details is None:
        raise NotFound(f"no face with id {face_id}")
    if not ctx.seen.seen(actor.name, "face", face_id):
        record(
            ctx,
            actor,
            Action.VIEW_THUMBNAIL,
            collections=[details["collection"]],
            results={"face_id": face_id, "image_id": details["image_id"]},
        )
        ctx.seen.add(actor.name, "face", [face_id])
    path = ctx.settings.thumbs_dir / details["thumbnail"]
    if not path.is_file():
        raise NotFound("the thumbnail file is missing")
    return Path(path)


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
