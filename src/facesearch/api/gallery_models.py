"""Response models of the JSON API: collections and images.

The collection and image models are the use cases' results (app/collection.py, app/gallery.py); the API
adds the links a client follows (`file_url`, `thumbnail_url`) and a new collection's embedding dimension.
Field names are the API's contract; see the `api` package for the rules all response models follow."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, computed_field

from ..app import gallery
from ..app.collection import CollectionDeleted, CollectionFields, CollectionInfo
from ..models import get_entry
from .common import file_url, thumbnail_url

__all__ = [
    "CollectionDeleted",
    "CollectionFields",
    "CollectionInfo",
    "CollectionList",
    "CreatedCollection",
    "ImageErased",
    "ImageView",
]


# Gallery ----------------------------------------------------------------------------------------
class CollectionList(BaseModel):
    collections: list[CollectionInfo]


class CreatedCollection(CollectionFields):
    model_config = ConfigDict(from_attributes=True)

    @computed_field(description="Embedding dimension of the collection's model pack.")  # type: ignore[prop-decorator]
    @property
    def dim(self) -> int:
        # The pack's: the collection was just created with it.
        return get_entry(self.model).info.dim


class ImageFace(gallery.ImageFace):
    model_config = ConfigDict(from_attributes=True)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def thumbnail_url(self) -> str:
        return thumbnail_url(self.face_id)


class ImageView(gallery.ImageView):
    model_config = ConfigDict(from_attributes=True)

    faces: list[ImageFace]  # type: ignore[assignment]

    @computed_field  # type: ignore[prop-decorator]
    @property
    def file_url(self) -> str:
        return file_url(self.id)


class ImageErased(BaseModel):
    image_id: int
    images: int
    faces: int
    thumbnails: int
    upload_removed: bool
