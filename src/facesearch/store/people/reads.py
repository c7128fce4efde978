"""Reading people: the people rows and their templates, who holds which face, the faces' images, packs and
qualities, and the queries of the searches by person (who else is in a person's photos)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence

import numpy as np
from sqlalchemy import select

from ..db import Store
from ..people_tables import Person, PersonFace
from ..schema import Collection, Face, Image
from ..video_tables import Video

# Ids per IN (...) list of person and image ids; face rows are read 900 at a time, as `Store` reads them.
IN_CHUNK = 10_000
FACE_CHUNK = 900


# People -----------------------------------------------------------------------------------------------


def get_person(store: Store, person_id: int) -> Person | None:
    """One person's row (detached), or None."""
    with store.session() as s:
        return s.get(Person, int(person_id))


def people_by_id(store: Store, person_ids: Iterable[int] | None = None) -> dict[int, Person]:
    """Person id -> row, of every person or of these."""
    query = select(Person)
    if person_ids is not None:
        query = query.where(Person.id.in_([int(p) for p in person_ids]))
    with store.session() as s:
        return {int(p.id): p for p in s.scalars(query)}


def names_of(store: Store, person_ids: Iterable[int]) -> dict[int, str | None]:
    """Person id -> name, of those of these people that exist."""
    ids = [int(p) for p in person_ids]
    if not ids:
        return {}
    with store.database.connect() as conn:
        return {int(i): n for i, n in conn.execute(select(Person.id, Person.name).where(Person.id.in_(ids)))}


def ids_named(store: Store, name: str) -> list[int]:
    """The ids of the people with exactly this name."""
    with store.database.connect() as conn:
        return [int(i) for i in conn.scalars(select(Person.id).where(Person.name == name))]


def pack_dim(store: Store, model: str) -> int | None:
    """The embedding size of a model pack, from any of its collections (None: no collection uses it)."""
    for c in store.list_collections():
        if c.model == model:
            return c.dim
    return None


def templates(store: Store, model: str) -> tuple[np.ndarray, np.ndarray]:
    """(person ids, templates) of a pack's people that have a template, by person id."""
    with store.database.connect() as conn:
        rows = conn.execute(
            select(Person.id, Person.template)
            .where(Person.model == model, Person.template.is_not(None))
            .order_by(Person.id)
        ).all()
    if not rows:
        return np.zeros(0, np.int64), np.zeros((0, pack_dim(store, model) or 0), np.float32)
    return (np.array([r[0] for r in rows], np.int64), np.stack([np.frombuffer(r[1] or b"", np.float32) for r in rows]))


# Who holds which face ----------------------------------------------------------------------------------


def members(store: Store, model: str | None = None) -> dict[int, list[int]]:
    """Person id -> face ids (ascending), for one pack or all."""
    query = select(PersonFace.person_id, PersonFace.face_id).join(Person, Person.id == PersonFace.person_id)
    if model is not None:
        query = query.where(Person.model == model)
    out: dict[int, list[int]] = defaultdict(list)
    with store.database.connect() as conn:
        for pid, fid in conn.execute(query.order_by(PersonFace.face_id)):
            out[int(pid)].append(int(fid))
    return dict(out)


def faces_of(store: Store, person_id: int) -> list[int]:
    """One person's face ids, ascending."""
    with store.database.connect() as conn:
        return [
            int(f)
            for f in conn.scalars(
                select(PersonFace.face_id).where(PersonFace.person_id == int(person_id)).order_by(PersonFace.face_id)
            )
        ]


def persons_of(store: Store, face_ids: Iterable[int]) -> dict[int, int]:
    """Face id -> person id, for those of the faces that belong to a person."""
    ids = sorted({int(f) for f in face_ids})
    out: dict[int, int] = {}
    with store.database.connect() as conn:
        for i in range(0, len(ids), IN_CHUNK):
            out.update(
                {
                    int(f): int(p)
                    for f, p in conn.execute(
                        select(PersonFace.face_id, PersonFace.person_id).where(
                            PersonFace.face_id.in_(ids[i : i + IN_CHUNK])
                        )
                    )
                }
            )
    return out


def person_of_face(store: Store, face_id: int) -> int | None:
    with store.database.connect() as conn:
        pid = conn.scalar(select(PersonFace.person_id).where(PersonFace.face_id == int(face_id)))
    return int(pid) if pid is not None else None


def people_in_images(store: Store, image_ids: Iterable[int]) -> dict[int, set[int]]:
    """Person id -> those of the images in which the person has a face."""
    ids = sorted({int(i) for i in image_ids})
    out: dict[int, set[int]] = defaultdict(set)
    with store.database.connect() as conn:
        for i in range(0, len(ids), IN_CHUNK):
            for pid, img in conn.execute(
                select(PersonFace.person_id, Face.image_id)
                .join(Face, Face.id == PersonFace.face_id)
                .where(Face.image_id.in_(ids[i : i + IN_CHUNK]))
            ):
                out[int(pid)].add(int(img))
    return out


def unassigned_faces(store: Store, collection_ids: Sequence[int]) -> np.ndarray:
    """Ids of the faces of these collections that belong to no person, ascending."""
    with store.database.connect() as conn:
        return np.array(
            list(
                conn.scalars(
                    select(Face.id)
                    .where(
                        Face.collection_id.in_([int(c) for c in collection_ids]),
                        ~select(PersonFace.face_id).where(PersonFace.face_id == Face.id).exists(),
                    )
                    .order_by(Face.id)
                )
            ),
            np.int64,
        )


# Faces -----------------------------------------------------------------------------------------------


def images_of(store: Store, face_ids: Iterable[int]) -> dict[int, int]:
    """Face id -> image id, for those of the faces that exist."""
    ids = [int(f) for f in face_ids]
    out: dict[int, int] = {}
    with store.database.connect() as conn:
        for i in range(0, len(ids), FACE_CHUNK):
            out.update(
                {
                    int(f): int(im)
                    for f, im in conn.execute(
                        select(Face.id, Face.image_id).where(Face.id.in_(ids[i : i + FACE_CHUNK]))
                    )
                }
            )
    return out


def face_rows(store: Store, face_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Image id and quality of each face, in the order given (KeyError for a face that does not exist)."""
    found: dict[int, tuple[int, float]] = {}
    with store.database.connect() as conn:
        for i in range(0, len(face_ids), FACE_CHUNK):
            chunk = [int(x) for x in face_ids[i : i + FACE_CHUNK]]
            found.update(
                {
                    int(f): (int(im), float(q))
                    for f, im, q in conn.execute(select(Face.id, Face.image_id, Face.quality).where(Face.id.in_(chunk)))
                }
            )
    img = np.fromiter((found[int(f)][0] for f in face_ids), np.int64, len(face_ids))
    qual = np.fromiter((found[int(f)][1] for f in face_ids), np.float32, len(face_ids))
    return img, qual


def face_pack(store: Store, face_id: int) -> tuple[str, int] | None:
    """(model pack, embedding size) of a face's collection, or None for a face that does not exist."""
    with store.database.connect() as conn:
        row = conn.execute(
            select(Collection.model, Collection.dim)
            .join(Face, Face.collection_id == Collection.id)
            .where(Face.id == int(face_id))
        ).first()
    return (str(row[0]), int(row[1])) if row is not None else None


def pack_faces(
    store: Store, collections: Sequence[Collection]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(face ids, embeddings, image ids, quality) of every face of these collections (one pack), id order."""
    ids_l, vec_l = [], []
    for col in collections:
        for ids, vecs in store.iter_embeddings(col.id, col.dim):
            ids_l.append(ids)
            vec_l.append(vecs)
    if not ids_l:
        dim = collections[0].dim if collections else 0
        return np.zeros(0, np.int64), np.zeros((0, dim), np.float32), np.zeros(0, np.int64), np.zeros(0, np.float32)
    ids = np.concatenate(ids_l)
    vecs = np.concatenate(vec_l)
    order = np.argsort(ids, kind="stable")
    ids, vecs = ids[order], vecs[order]
    img, qual = face_rows(store, ids)
    return ids, vecs, img, qual


def image_paths(store: Store, image_ids: Iterable[int]) -> dict[int, str | None]:
    """Image id -> path, for those of the images that exist."""
    ids = sorted({int(i) for i in image_ids})
    if not ids:
        return {}
    with store.database.connect() as conn:
        return {int(i): p for i, p in conn.execute(select(Image.id, Image.path).where(Image.id.in_(ids)))}


# Searches by person ----------------------------------------------------------------------------------


def photos_of(store: Store, face_ids: Sequence[int], collection_ids: Sequence[int]) -> list[int]:
    """The photos (ascending) of these faces that are in these collections: images, not videos (being in one
    video is not being in one photo; videos count co-appearance frame by frame)."""
    if not face_ids or not collection_ids:
        return []
    with store.database.connect() as conn:
        return sorted(
            {
                int(i)
                for i in conn.scalars(
                    select(Face.image_id).where(
                        Face.id.in_([int(f) for f in face_ids]),
                        Face.collection_id.in_([int(c) for c in collection_ids]),
                        ~select(Video.image_id).where(Video.image_id == Face.image_id).exists(),
                    )
                )
            }
        )


def video_faces_of(store: Store, face_ids: Sequence[int], collection_ids: Sequence[int]) -> list[int]:
    """Those of these faces that are in these collections and come from a video."""
    if not face_ids or not collection_ids:
        return []
    out: list[int] = []
    ids = [int(f) for f in face_ids]
    with store.database.connect() as conn:
        for i in range(0, len(ids), FACE_CHUNK):
            out.extend(
                int(f)
                for f in conn.scalars(
                    select(Face.id).where(
                        Face.id.in_(ids[i : i + FACE_CHUNK]),
                        Face.collection_id.in_([int(c) for c in collection_ids]),
                        select(Video.image_id).where(Video.image_id == Face.image_id).exists(),
                    )
                )
            )
    return sorted(out)


def others_in_photos(store: Store, image_ids: Sequence[int], person_id: int) -> dict[int, set[int]]:
    """Person id -> the images of these in which they have a face, for every person but this one."""
    shared: dict[int, set[int]] = defaultdict(set)
    if not image_ids:
        return shared
    with store.database.connect() as conn:
        for pid, im in conn.execute(
            select(PersonFace.person_id, Face.image_id)
            .join(Face, Face.id == PersonFace.face_id)
            .where(Face.image_id.in_([int(i) for i in image_ids]), PersonFace.person_id != int(person_id))
        ):
            shared[int(pid)].add(int(im))
    return shared


def people_without_faces(store: Store) -> list[int]:
    """People whose every face was erased or moved: their template and name outlive what they were made of
    until the next upkeep (`doctor` reports them)."""
    with store.session() as s:
        empty = select(Person.id).where(~select(PersonFace.face_id).where(PersonFace.person_id == Person.id).exists())
        return [int(i) for i in s.scalars(empty.order_by(Person.id))]
