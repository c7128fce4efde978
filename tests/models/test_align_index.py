"""Alignment geometry, the FAISS index protocol, and index/database reconciliation."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from facesearch.index import FaissIndex
from facesearch.models.align import align_faces, similarity_transform, template
from facesearch.services.indexes import reconcile
from facesearch.store import NewFace, NewImage, Store


def test_similarity_transform_recovers_rotation_scale_translation() -> None:
    src = template(112).astype(np.float64)
    angle, scale, shift = np.deg2rad(25), 1.7, np.array([13.0, -4.0])
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    dst = scale * src @ rot.T + shift
    m = similarity_transform(src, dst)
    assert np.allclose(src @ m[:, :2].T + m[:, 2], dst, atol=1e-6)


def test_align_puts_landmarks_on_template() -> None:
    image = np.zeros((300, 300, 3), np.uint8)
    points = template(112) * 1.5 + 60
    for x, y in points:
        image[int(y) - 2 : int(y) + 3, int(x) - 2 : int(x) + 3] = 255
    crop = align_faces(image, points[None].astype(np.float32), 128)[0]
    for x, y in template(128):
        assert crop[int(round(y)), int(round(x))].max() > 100


def _unit(n: int, d: int, seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_faiss_index_add_search_remove_persist(tmp_path: Path) -> None:
    path = tmp_path / "i.faiss"
    index = FaissIndex(path, 16)
    vecs = _unit(100, 16, 0)
    ids = np.arange(1000, 1100, dtype=np.int64)
    index.add(ids, vecs)
    scores, found = index.search(vecs[[3, 50]], 5)
    assert found[:, 0].tolist() == [1003, 1050] and np.allclose(scores[:, 0], 1.0, atol=1e-5)
    assert index.remove(np.array([1003, 99999])) == 1
    _, found = index.search(vecs[[3]], 100)
    assert 1003 not in found[0]
    index.save()
    again = FaissIndex(path, 16)
    assert len(again) == 99 and set(again.ids().tolist()) == set(ids.tolist()) - {1003}


def test_reconcile_makes_index_match_the_database(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    col = store.create_collection("c", "fake", "v", 16)
    vecs = _unit(6, 16, 1)
    images = [
        NewImage(
            f"{i:064x}",
            f"/p/{i}.jpg",
            None,
            None,
            10,
            10,
            None,
            [NewFace(0, [0, 0, 5, 5], [[0, 0]] * 5, 0.9, 0.8, [], vecs[i], f"t{i}.jpg")],
        )
        for i in range(6)
    ]
    inserted = store.add_images(col.id, None, images)
    face_ids = np.array([f[0] for _, f in inserted], np.int64)
    index = FaissIndex(tmp_path / "i.faiss", 16)
    index.add(face_ids[:3], vecs[:3])  # crash before the rest reached the index
    index.add(np.array([777777]), vecs[:1])  # an id whose row is gone
    assert reconcile(index, store, col.id) == (3, 1)
    assert sorted(index.ids().tolist()) == sorted(face_ids.tolist())
    _, found = index.search(vecs[5:6], 1)
    assert found[0, 0] == face_ids[5]
    assert reconcile(index, store, col.id) == (0, 0)
    # The same bytes twice are stored once.
    again = store.add_images(col.id, None, images[:1])
    assert again == [(None, [])]
