"""The gallery as users see it: images with their faces, image files and face thumbnails, and the
numbers of `stats`. Every look at a gallery image is logged, unless the search or view that showed it
to this user already was."""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

from ..pipeline.imaging import sniff_media_type
from ..store.audit import VIEW_MATCH, VIEW_THUMBNAIL
from .context import Actor, Context
from .errors import NotFound
from .roles import allowed


@allowed("examiner", "operator")
def view_image(
    ctx: Context, actor: Actor, image_id: int, case_ref: str | None = None, search_id: int | None = None
) -> dict[str, Any]:
    """An image with its faces and provenance (logged as a view of a match)."""
    row = ctx.store.image_with_collection(image_id)
    if row is None:
        raise NotFound(f"no image with id {image_id}")
    img, collection = row
    faces = ctx.store.image_faces(image_id)
    ctx.audit.record(
        VIEW_MATCH,
        actor=actor.name,
        role=actor.role,
        ip=actor.ip,
        case_ref=case_ref,
        collections=[collection],
        results={"image_id": image_id, "face_ids": [f.id for f in faces]},
        details={"search_id": search_id, "sha256": img.sha256},
    )
    ctx.seen.add(actor.name, "image", [image_id])
    ctx.seen.add(actor.name, "face", [f.id for f in faces])
    return {
        "id": img.id,
        "collection": collection,
        "sha256": img.sha256,
        "path": img.path,
        "source_url": img.source_url,
        "metadata": img.meta or {},
        "width": img.width,
        "height": img.height,
        "ingested_at": img.ingested_at.isoformat() if img.ingested_at else None,
        "faces": [
            {
                "face_id": f.id,
                "face": f.face_index,
                "box": [f.x1, f.y1, f.x2, f.y2],
                "quality": f.quality,
                "detection_score": f.det_score,
            }
            for f in faces
        ],
    }


class ImageFile(NamedTuple):
    """An image file to serve: where it is, and its type as decoded from its first bytes (never from its
    name): `media_type` is an image type a browser may show, or application/octet-stream for anything else."""

    path: Path
    media_type: str
    extension: str

    @property
    def is_image(self) -> bool:
        return self.media_type.startswith("image/")


@allowed("examiner", "operator")
def image_file(ctx: Context, actor: Actor, image_id: int) -> ImageFile:
    """The image file and its type. Fetched without a logged search or view that showed it, this is the view."""
    row = ctx.store.image_with_collection(image_id)
    if row is None:
        raise NotFound(f"no image with id {image_id}")
    img, collection = row
    if not ctx.seen.seen(actor.name, "image", image_id):
        ctx.audit.record(
            VIEW_MATCH,
            actor=actor.name,
            role=actor.role,
            ip=actor.ip,
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
    details = ctx.store.face_details([face_id]).get(face_id)
    if details is None:
        raise NotFound(f"no face with id {face_id}")
    if not ctx.seen.seen(actor.name, "face", face_id):
        ctx.audit.record(
            VIEW_THUMBNAIL,
            actor=actor.name,
            role=actor.role,
            ip=actor.ip,
            collections=[details["collection"]],
            results={"face_id": face_id, "image_id": details["image_id"]},
        )
        ctx.seen.add(actor.name, "face", [face_id])
    path = ctx.settings.thumbs_dir / details["thumbnail"]
    if not path.is_file():
        raise NotFound("the thumbnail file is missing")
    return Path(path)


@allowed("operator", "admin", "examiner", "auditor")
def stats(ctx: Context, actor: Actor) -> dict[str, Any]:
    """Images, faces, collections, index size: counts only, nothing about anyone."""
    data = ctx.store.stats()
    index_dir = ctx.settings.index_dir
    index_bytes = sum(p.stat().st_size for p in index_dir.glob("*.faiss")) if index_dir.exists() else 0
    data.update({"home": str(ctx.settings.home), "default_model": ctx.settings.model, "index_bytes": index_bytes})
    return data
