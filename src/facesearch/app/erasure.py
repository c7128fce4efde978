"""Erasure that reaches everything: rows, vector index entries, thumbnails, uploaded copies, kept probes,
and what people clustering made of the faces (a person left with no face goes with its template and name,
the other people's templates are made again without the erased faces, corrections forget the erased faces
and a correction about none left goes).

Order: rows go first (the database is the source of truth), then people, then index entries, then files.
Deleted rows are overwritten in the database file (SQLite `secure_delete`) and the write-ahead log is
checkpointed after, so no earlier copy of a page stays behind. If the process dies between the steps, the
index is reconciled with the rows on its next open and `doctor` (with `--fix`) finds and removes what is
left (stray files, people without faces, corrections naming erased faces, HNSW vectors behind tombstones),
so a crash can delay but never undo an erasure.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from pydantic import BaseModel

from ..config import Settings
from ..index import open_index
from ..services.people_upkeep import tidy
from ..store import Store
from ..store import people as people_rows
from ..store.housekeeping import image_files
from ..vocabulary import Action
from .auditing import record
from .context import Actor, Context
from .errors import NotFound
from .roles import allowed

_CHUNK = 500


class ErasureCounts(BaseModel):
    """What an erasure removed: image and face rows, thumbnails, uploaded copies, kept probes."""

    images: int
    faces: int
    thumbnails: int
    uploads: int
    probes: int


@dataclass
class Erasure:
    """The running count of an erasure (added up over chunks and collections)."""

    images: int
    faces: int
    thumbnails: int
    uploads: int = 0
    probes: int = 0

    def __iadd__(self, other: Erasure) -> Erasure:
        for k in ("images", "faces", "thumbnails", "uploads", "probes"):
            setattr(self, k, getattr(self, k) + getattr(other, k))
        return self

    def as_dict(self) -> dict[str, int]:
        """The counts as an audit entry records them."""
        return asdict(self)

    def counts(self) -> ErasureCounts:
        return ErasureCounts(**self.as_dict())


class ImageErased(BaseModel):
    """One image erased: how many of its rows and files went, and whether the uploaded copy was among them."""

    image_id: int
    images: int
    faces: int
    thumbnails: int
    upload_removed: bool


def _chunks(values: Sequence[int], size: int = _CHUNK) -> Iterable[list[int]]:
    for i in range(0, len(values), size):
        yield [int(v) for v in values[i : i + size]]


def _owned_copy(settings: Settings, path: str | None) -> Path | None:
    """The file if it is a copy this service owns (an API upload); files ingested from a folder belong to
    whoever owns that folder and are never touched."""
    if not path:
        return None
    p = Path(path).resolve()
    root = (settings.home / "uploads").resolve()
    return p if p.is_relative_to(root) else None


def kept_probe_files(settings: Settings) -> list[Path]:
    root = settings.home / "probes"
    return sorted(root.glob("*/*.img")) if root.is_dir() else []


def forget_people_of_erased(store: Store) -> None:
    """What people clustering kept about erased faces: people left with no face go (template and name with
    them), stale templates are made again from the faces left, corrections forget the erased faces (one
    about none left goes); then the database lets go of the old pages."""
    tidy(store)
    people_rows.forget_erased_faces(store)
    store.forget_freed()


def erase_images(settings: Settings, store: Store, image_ids: Sequence[int]) -> Erasure:
    """Delete images and every trace of them: rows, people made of their faces, index entries, thumbnails, the
    uploaded copy of the file (if the API received it) and a kept probe with the same bytes."""
    total = _erase_images(settings, store, image_ids)
    if total.faces or total.images:
        forget_people_of_erased(store)
    return total


def _erase_images(settings: Settings, store: Store, image_ids: Sequence[int]) -> Erasure:
    total = Erasure(0, 0, 0)
    for chunk in _chunks(list(image_ids)):
        files = image_files(store, chunk)
        images, removed = store.delete_images(chunk)
        total += Erasure(images, len(removed), 0)
        total += _drop_index_and_thumbs(settings, store, [(c, f) for c, f, _ in removed], [t for _, _, t in removed])
        shas = {sha for sha, _ in files}
        for _, path in files:
            own = _owned_copy(settings, path)
            if own is not None and own.is_file():
                own.unlink()
                total.uploads += 1
                if own.parent.is_dir() and not any(own.parent.iterdir()):
                    own.parent.rmdir()
        for probe in kept_probe_files(settings):
            if probe.stem in shas:
                probe.unlink(missing_ok=True)
                total.probes += 1
    return total


def _drop_index_and_thumbs(
    settings: Settings, store: Store, faces: list[tuple[int, int]], thumbs: list[str]
) -> Erasure:
    by_collection: dict[int, list[int]] = defaultdict(list)
    for collection_id, face_id in faces:
        by_collection[collection_id].append(face_id)
    cols = store.collections_by_id()
    for collection_id, face_ids in by_collection.items():
        col = cols.get(collection_id)
        if col is None:
            continue
        index = open_index(settings, collection_id, col.dim)
        index.remove(np.asarray(face_ids, np.int64))
        index.save()
    n = 0
    for rel in thumbs:
        path = settings.thumbs_dir / rel
        if path.is_file():
            path.unlink()
            n += 1
    return Erasure(0, 0, n)


def erase_faces(settings: Settings, store: Store, face_ids: Sequence[int]) -> Erasure:
    """Delete single faces (rows, people made of them, index entries, thumbnails). An image left with no face
    at all is erased too: it was a photo of the erased person, and its path and source URL would still point
    to them. Images that keep other people's faces stay, with their face count updated."""
    total = Erasure(0, 0, 0)
    emptied: list[int] = []
    for chunk in _chunks(list(face_ids)):
        rows, left_empty = store.delete_faces(chunk)
        emptied.extend(left_empty)
        total.faces += len(rows)
        total += _drop_index_and_thumbs(settings, store, [(c, f) for c, f, _, _ in rows], [t for _, _, t, _ in rows])
    if emptied:
        total += _erase_images(settings, store, emptied)
    if total.faces or total.images:
        forget_people_of_erased(store)
    return total


@allowed("operator")
def delete_image(ctx: Context, actor: Actor, image_id: int) -> ImageErased:
    """Erase one image and every trace of it; files uploaded through the API are copies this service
    owns and go too, files ingested from a server-side folder belong to that folder's owner and stay."""
    row = ctx.store.image_with_collection(image_id)
    if row is None:
        raise NotFound(f"no image with id {image_id}")
    img, collection = row
    with ctx.engine_lock:
        erased = erase_images(ctx.settings, ctx.store, [image_id])
    upload_removed = erased.uploads > 0
    record(
        ctx,
        actor,
        Action.DELETE,
        collections=[collection],
        results={"image_id": image_id, "faces": erased.faces},
        details={
            "sha256": img.sha256,
            "path": img.path,
            "thumbnails": erased.thumbnails,
            "upload_removed": upload_removed,
        },
    )
    return ImageErased(
        image_id=image_id,
        images=erased.images,
        faces=erased.faces,
        thumbnails=erased.thumbnails,
        upload_removed=upload_removed,
    )
