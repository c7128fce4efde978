"""Erasure that reaches everything: database rows, vector index entries and thumbnails."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .config import Settings
from .index import open_index
from .store import Store


@dataclass
class Erasure:
    images: int
    faces: int
    thumbnails: int


def erase_images(settings: Settings, store: Store, image_ids: Sequence[int]) -> Erasure:
    """Delete images and every trace of their faces.

    Rows go first (the source of truth), then index entries, then files. If the process dies after the
    rows are gone, the index is reconciled on its next open and `doctor` finds the stray thumbnails.
    """
    images, removed = store.delete_images(image_ids)
    by_collection: dict[int, list[int]] = defaultdict(list)
    for collection_id, face_id, _ in removed:
        by_collection[collection_id].append(face_id)
    cols = store.collections_by_id()
    for collection_id, face_ids in by_collection.items():
        col = cols.get(collection_id)
        if col is None:
            continue
        index = open_index(settings.index_dir, collection_id, col.dim)
        index.remove(np.asarray(face_ids, np.int64))
        index.save()
    thumbs = 0
    for _, _, rel in removed:
        path = settings.thumbs_dir / rel
        if path.is_file():
            path.unlink()
            thumbs += 1
    return Erasure(images=images, faces=len(removed), thumbnails=thumbs)
