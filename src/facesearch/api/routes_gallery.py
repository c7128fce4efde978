"""Gallery routes: collections, images and videos (files served with byte ranges), face thumbnails, the video
frame a face was seen on, erasure."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, Response
from pydantic import BaseModel, Field

from ..app import collection as collections_uc
from ..app import erasure, gallery
from ..app.collection import LEGAL_BASES, CollectionFields
from ..app.context import Actor
from ..http.deps import Caller
from ..http.files import OpenedFile
from .common import ID_MAX, Ctx, Id
from .gallery_models import CollectionDeleted, CollectionList, CreatedCollection, ImageErased, ImageView

router = APIRouter(prefix="/api/v1", tags=["gallery"])

# An examiner's lookup by id of what no search showed them is a search: it names its case and purpose.
CaseRef = Annotated[str | None, Query(max_length=200, description="Case reference (an examiner's lookup by id).")]
Purpose = Annotated[str | None, Query(max_length=1000, description="Allowed purpose (an examiner's lookup by id).")]
PRIVATE = {"Cache-Control": "private, no-store"}


class NewCollection(BaseModel):
    name: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    model: str | None = Field(default=None, description="Model pack (default FACESEARCH_MODEL).")
    description: str | None = None
    source: str = Field(min_length=1, description="Where the photos come from (required).")
    legal_basis: str = Field(description=f"One of: {', '.join(LEGAL_BASES)} (required).")
    legal_basis_note: str | None = None
    owner: str | None = Field(default=None, description="Who is responsible (default: the caller).")
    retention_days: int | None = Field(
        default=None, ge=1, description="Erase images this many days after ingest; omit to keep them until deleted."
    )


@router.get("/collections", response_model=CollectionList, summary="Collections with their model pack and size")
def list_collections(ctx: Ctx, actor: Actor = Depends(Caller(collections_uc.list_collections))) -> CollectionList:
    return CollectionList(collections=collections_uc.list_collections(ctx, actor))


@router.post("/collections", status_code=201, response_model=CreatedCollection, summary="Create a collection")
def create_collection(
    body: NewCollection, ctx: Ctx, actor: Actor = Depends(Caller(collections_uc.create_collection))
) -> CollectionFields:
    return collections_uc.create_collection(
        ctx,
        actor,
        body.name,
        source=body.source,
        legal_basis=body.legal_basis,
        retention_days=body.retention_days,
        keep=body.retention_days is None,
        owner=body.owner,
        model=body.model,
        legal_basis_note=body.legal_basis_note,
        description=body.description,
    )


@router.delete(
    "/collections/{name}",
    response_model=CollectionDeleted,
    summary="Delete a collection: every image erased as retention erases it, then the collection (admin, logged)",
    responses={409: {"description": "A lead found in it awaits its second examiner, or an ingest writes it."}},
)
def delete_collection(
    name: Annotated[str, PathParam(max_length=200)],
    ctx: Ctx,
    actor: Actor = Depends(Caller(collections_uc.delete_collection)),
) -> CollectionDeleted:
    return collections_uc.delete_collection(ctx, actor, name)


@router.get(
    "/images/{image_id}", response_model=ImageView, summary="An image with its faces (audited as a view of a match)"
)
def get_image(
    image_id: Id,
    ctx: Ctx,
    case_ref: Annotated[str | None, Query(max_length=200)] = None,
    search_id: Annotated[int | None, Query(ge=1, le=ID_MAX)] = None,
    purpose: Purpose = None,
    actor: Actor = Depends(Caller(gallery.view_image)),
) -> gallery.ImageView:
    return gallery.view_image(ctx, actor, image_id, case_ref=case_ref, search_id=search_id, purpose=purpose)


@router.get(
    "/images/{image_id}/file",
    response_class=FileResponse,
    summary="The image (or video) file itself; byte ranges for videos",
    responses={
        200: {
            "description": "The image or video file, as stored, with the type of its decoded format "
            "(never its name's): an image or video type shown inline, or "
            "application/octet-stream as a download for anything else. `Range: bytes=...` is answered with "
            "206 Partial Content and the part asked for (how a browser plays a video from a time), 416 for a "
            "range past the end.",
            "content": {
                "image/*": {"schema": {"type": "string", "format": "binary"}},
                "video/*": {"schema": {"type": "string", "format": "binary"}},
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
            },
        },
    },
)
def get_image_file(
    image_id: Id,
    ctx: Ctx,
    case_ref: CaseRef = None,
    purpose: Purpose = None,
    actor: Actor = Depends(Caller(gallery.image_file)),
) -> FileResponse:
    found = gallery.image_file(ctx, actor, image_id, case_ref=case_ref, purpose=purpose)
    disposition = "inline" if found.is_image else "attachment"
    headers = {
        **PRIVATE,
        "X-Content-Type-Options": "nosniff",
        "Content-Disposition": f'{disposition}; filename="image-{image_id}.{found.extension}"',
    }
    # Served from the file the use case opened and checked, not from its path again.
    return OpenedFile(found.opened, media_type=found.media_type, headers=headers, name=f"image-{image_id}")


@router.get(
    "/faces/{face_id}/frame",
    response_class=Response,
    summary="The video frame a face was seen on (JPEG; faces from videos only)",
    responses={
        200: {
            "description": "The whole frame at the face's time, at most 1280 px (its box is in the video's "
            "display pixels: scale by the frame's width over the video's).",
            "content": {"image/jpeg": {"schema": {"type": "string", "format": "binary"}}},
        }
    },
)
def face_frame(
    face_id: Id,
    ctx: Ctx,
    case_ref: CaseRef = None,
    purpose: Purpose = None,
    actor: Actor = Depends(Caller(gallery.face_frame)),
) -> Response:
    headers = {**PRIVATE, "X-Content-Type-Options": "nosniff"}
    frame = gallery.face_frame(ctx, actor, face_id, case_ref=case_ref, purpose=purpose)
    return Response(frame, media_type="image/jpeg", headers=headers)


@router.get(
    "/faces/{face_id}/thumbnail",
    response_class=FileResponse,
    summary="A face's thumbnail (JPEG)",
    responses={
        200: {
            "description": "A 112 px JPEG of the face.",
            "content": {"image/jpeg": {"schema": {"type": "string", "format": "binary"}}},
        }
    },
)
def face_thumbnail(
    face_id: Id,
    ctx: Ctx,
    case_ref: CaseRef = None,
    purpose: Purpose = None,
    actor: Actor = Depends(Caller(gallery.face_thumbnail)),
) -> Response:
    data = gallery.face_thumbnail(ctx, actor, face_id, case_ref=case_ref, purpose=purpose)
    return Response(data, media_type="image/jpeg", headers=PRIVATE)


@router.delete(
    "/images/{image_id}", response_model=ImageErased, summary="Erase an image: rows, index entries, thumbnails"
)
def delete_image(image_id: Id, ctx: Ctx, actor: Actor = Depends(Caller(erasure.delete_image))) -> erasure.ImageErased:
    return erasure.delete_image(ctx, actor, image_id)
