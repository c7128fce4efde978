"""Response models of the JSON API: collections and images.

Field names are the API's contract; see the `api` package for the rules all response models follow."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


# Gallery ----------------------------------------------------------------------------------------
class CollectionFields(BaseModel):
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


class CollectionInfo(CollectionFields):
    images: int
    faces: int


class CollectionList(BaseModel):
    collections: list[CollectionInfo]


class CreatedCollection(CollectionFields):
    dim: int = Field(description="Embedding dimension of the collection's model pack.")


class ImageFace(BaseModel):
    face_id: int
    face: int
    box: list[float]
    quality: float
    detection_score: float
    thumbnail_url: str


class ImageView(BaseModel):
    id: int
    collection: str
    sha256: str
    path: str | None
    source_url: str | None
    metadata: dict[str, Any]
    width: int
    height: int
    ingested_at: str | None
    file_url: str
    faces: list[ImageFace]


class ImageErased(BaseModel):
    image_id: int
    images: int
    faces: int
    thumbnails: int
    upload_removed: bool
