"""Gallery routes: collections, images, face thumbnails, erasure."""

import mimetypes
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy import select

from .. import audit, governance
from ..auth import Principal
from ..errors import CollectionError
from ..governance import erase_images
from ..models import get_entry
from ..store.schema import Collection, Face, Image
from .deps import Services, client_ip, require_role, services
from .problems import Problem

router = APIRouter(prefix="/api/v1", tags=["gallery"])
viewer = require_role("examiner", "operator")
operator = require_role("operator")

LEGAL_BASES = ("consent", "contract", "legal_obligation", "vital_interests", "public_task",
               "legitimate_interests", "law_enforcement")


def _image_row(svc: Services, image_id: int) -> tuple[Image, str]:
    with svc.store.session() as s:
        row = s.execute(select(Image, Collection.name).join(Collection, Collection.id == Image.collection_id)
                        .where(Image.id == image_id)).first()
    if row is None:
        raise Problem(404, "Not found", f"no image with id {image_id}")
    return row[0], row[1]


@router.get("/collections", summary="Collections with their model pack and size")
def list_collections(p: Principal = Depends(require_role("examiner", "operator", "admin")),
                     svc: Services = Depends(services)) -> dict[str, Any]:
    counts = {c["name"]: c for c in svc.store.stats()["collections"]}
    out = []
    for c in svc.store.list_collections():
        n = counts.get(c.name, {})
        out.append({"name": c.name, "model": c.model, "model_version": c.model_version,
                    "created_at": c.created_at.isoformat() if c.created_at else None,
                    "images": n.get("images", 0), "faces": n.get("faces", 0), "description": c.description,
                    "source": c.source, "legal_basis": c.legal_basis, "owner": c.owner,
                    "retention_days": c.retention_days, "keep_until_deleted": c.keep_until_deleted})
    return {"collections": out}


class NewCollection(BaseModel):
    name: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    model: str | None = Field(default=None, description="Model pack (default FACESEARCH_MODEL).")
    description: str | None = None
    source: str = Field(min_length=1, description="Where the photos come from (required).")
    legal_basis: str = Field(description=f"One of: {', '.join(LEGAL_BASES)} (required).")
    legal_basis_note: str | None = None
    owner: str | None = Field(default=None, description="Who is responsible (default: the caller).")
    retention_days: int | None = Field(default=None, ge=1, description="Erase images this many days after "
                                       "ingest; omit to keep them until deleted.")


@router.post("/collections", status_code=201, summary="Create a collection")
def create_collection(body: NewCollection, request: Request, p: Principal = Depends(operator),
                      svc: Services = Depends(services)) -> dict[str, Any]:
    if svc.store.get_collection(body.name) is not None:
        raise Problem(409, "Conflict", f"collection {body.name!r} already exists")
    if body.legal_basis not in LEGAL_BASES:
        raise Problem(422, "Invalid request", f"legal_basis must be one of: {', '.join(LEGAL_BASES)}")
    try:
        get_entry(body.model or svc.settings.model)
    except Exception as exc:
        raise Problem(422, "Invalid request", f"unknown model pack: {exc}") from exc
    fields = body.model_dump(exclude={"name", "model"})
    fields["owner"] = body.owner or p.name
    try:
        col = governance.create_collection(
            svc.settings, svc.store, body.name, source=body.source, legal_basis=body.legal_basis,
            owner=fields["owner"], retention_days=body.retention_days, keep=body.retention_days is None,
            model=body.model, legal_basis_note=body.legal_basis_note, description=body.description)
    except CollectionError as exc:
        raise Problem(422, "Invalid request", str(exc)) from exc
    svc.audit.record(audit.COLLECTION_CREATE, actor=p.name, role=p.role, ip=client_ip(request),
                     collections=[col.name], model=col.model, details=fields)
    return {"name": col.name, "model": col.model, "model_version": col.model_version, "dim": col.dim}


@router.get("/images/{image_id}", summary="An image with its faces (audited as a view of a match)")
def get_image(image_id: int, request: Request,
              case_ref: Annotated[str | None, Query(max_length=200)] = None,
              search_id: Annotated[int | None, Query()] = None,
              p: Principal = Depends(viewer), svc: Services = Depends(services)) -> dict[str, Any]:
    img, collection = _image_row(svc, image_id)
    with svc.store.session() as s:
        faces = list(s.scalars(select(Face).where(Face.image_id == image_id).order_by(Face.face_index)))
    svc.audit.record(audit.VIEW_MATCH, actor=p.name, role=p.role, ip=client_ip(request), case_ref=case_ref,
                     collections=[collection], results={"image_id": image_id, "face_ids": [f.id for f in faces]},
                     details={"search_id": search_id, "sha256": img.sha256})
    svc.seen.add(p.user_id, "image", [image_id])
    svc.seen.add(p.user_id, "face", [f.id for f in faces])
    return {
        "id": img.id, "collection": collection, "sha256": img.sha256, "path": img.path,
        "source_url": img.source_url, "metadata": img.meta or {}, "width": img.width, "height": img.height,
        "ingested_at": img.ingested_at.isoformat() if img.ingested_at else None,
        "file_url": f"/api/v1/images/{img.id}/file",
        "faces": [{"face_id": f.id, "face": f.face_index, "box": [f.x1, f.y1, f.x2, f.y2],
                   "quality": f.quality, "detection_score": f.det_score,
                   "thumbnail_url": f"/api/v1/faces/{f.id}/thumbnail"} for f in faces],
    }


@router.get("/images/{image_id}/file", summary="The image file itself")
def get_image_file(image_id: int, request: Request, p: Principal = Depends(viewer),
                   svc: Services = Depends(services)) -> Response:
    img, collection = _image_row(svc, image_id)
    if not svc.seen.seen(p.user_id, "image", image_id):
        # Fetched without a logged search or view that showed it: this fetch is the view.
        svc.audit.record(audit.VIEW_MATCH, actor=p.name, role=p.role, ip=client_ip(request),
                         collections=[collection], results={"image_id": image_id}, details={"via": "file"})
        svc.seen.add(p.user_id, "image", [image_id])
    path = Path(img.path) if img.path else None
    if path is None or not path.is_file():
        raise Problem(404, "Not found", "the image file is no longer at its recorded path")
    media = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return FileResponse(path, media_type=media, headers={"Cache-Control": "private, no-store"})


@router.get("/faces/{face_id}/thumbnail", summary="A face's thumbnail (JPEG)")
def face_thumbnail(face_id: int, request: Request, p: Principal = Depends(viewer),
                   svc: Services = Depends(services)) -> Response:
    details = svc.store.face_details([face_id]).get(face_id)
    if details is None:
        raise Problem(404, "Not found", f"no face with id {face_id}")
    if not svc.seen.seen(p.user_id, "face", face_id):
        svc.audit.record(audit.VIEW_THUMBNAIL, actor=p.name, role=p.role, ip=client_ip(request),
                         collections=[details["collection"]],
                         results={"face_id": face_id, "image_id": details["image_id"]})
        svc.seen.add(p.user_id, "face", [face_id])
    path = svc.settings.thumbs_dir / details["thumbnail"]
    if not path.is_file():
        raise Problem(404, "Not found", "the thumbnail file is missing")
    return FileResponse(path, media_type="image/jpeg", headers={"Cache-Control": "private, no-store"})


@router.delete("/images/{image_id}", summary="Erase an image: rows, index entries, thumbnails")
def delete_image(image_id: int, request: Request, p: Principal = Depends(operator),
                 svc: Services = Depends(services)) -> dict[str, Any]:
    img, collection = _image_row(svc, image_id)
    with svc.engine_lock:
        erased = erase_images(svc.settings, svc.store, [image_id])
    # Files uploaded through the API are copies this service owns: they go too. Files ingested from a
    # server-side folder belong to whoever owns that folder and are left alone.
    upload_removed = erased.uploads > 0
    svc.audit.record(audit.DELETE, actor=p.name, role=p.role, ip=client_ip(request), collections=[collection],
                     results={"image_id": image_id, "faces": erased.faces},
                     details={"sha256": img.sha256, "path": img.path, "thumbnails": erased.thumbnails,
                              "upload_removed": upload_removed})
    return {"image_id": image_id, "images": erased.images, "faces": erased.faces,
            "thumbnails": erased.thumbnails, "upload_removed": upload_removed}
