"""Ingest on real photos: faces stored with provenance, bad files reported, duplicates stored once."""

from __future__ import annotations

import csv
import io
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import FR_IMAGES, lfw_person, needs_lfw, needs_yunet
from helpers import create_collection, lfw_people, make_gallery
from PIL import Image

from facesearch.config import Settings
from facesearch.errors import CollectionError
from facesearch.index import open_index
from facesearch.ingest import ingest, items_from_folder, items_from_manifest, write_report
from facesearch.store import Store
from facesearch.store.schema import Face
from facesearch.store.schema import Image as ImageRow

pytestmark = [needs_lfw, needs_yunet]


def _bad_files(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "notes.jpg").write_text("not an image at all")
    good = (FR_IMAGES / "obama.jpg").read_bytes()
    (folder / "truncated.jpg").write_bytes(good[: len(good) // 3])
    (folder / "jpeg_named.png").write_bytes(good)
    bomb = io.BytesIO()
    Image.new("1", (20000, 20000)).save(bomb, "PNG")
    (folder / "bomb.png").write_bytes(bomb.getvalue())
    Image.new("RGB", (200, 150), (90, 140, 200)).save(folder / "sky.png")  # no face


def test_ingest_folder_with_bad_files_and_duplicates(tmp_path: Path, home: Path) -> None:
    settings = Settings(workers=2, batch_images=8)
    gallery = tmp_path / "g"
    make_gallery(gallery, lfw_people(4, 5), 3)
    _bad_files(gallery / "odd")
    shutil.copy(gallery / lfw_people(4, 1)[0] / sorted(p.name for p in (gallery / lfw_people(4, 1)[0]).iterdir())[0],
                gallery / "copy_of_first.jpg")
    store = Store(settings.resolved_database_url)
    create_collection(store, "c")
    res = ingest(items_from_folder(gallery), "c", settings, store, model="yunet-reid")
    # 15 LFW + jpeg_named.png + sky.png are images; copy is a duplicate; 4 are bad.
    assert res.ingested == 17, res.failures
    assert res.duplicates == 1
    assert res.no_face == 1
    assert res.failed == 4
    reasons = {Path(p).name: r for p, r, _ in res.failures}
    assert reasons == {"empty.jpg": "EMPTY_FILE", "notes.jpg": "NOT_AN_IMAGE",
                       "truncated.jpg": "CORRUPT_IMAGE", "bomb.png": "TOO_MANY_PIXELS"}
    assert res.faces >= 16
    report = tmp_path / "failures.csv"
    write_report(report, res.failures)
    rows = list(csv.DictReader(report.open()))
    assert {r["reason"] for r in rows} == set(reasons.values())

    with store.session() as s:
        faces = s.query(Face).all()
        assert all(len(f.landmarks) == 5 and 0 <= f.quality <= 1 and f.det_score > 0.5 for f in faces)
        assert all((settings.thumbs_dir / f.thumbnail).is_file() for f in faces)
        emb = np.frombuffer(faces[0].embedding, np.float32)
        assert emb.shape == (256,) and abs(float(np.linalg.norm(emb)) - 1) < 1e-4
    col = store.require_collection("c")
    index = open_index(settings.index_dir, col.id, col.dim)
    assert sorted(index.ids().tolist()) == sorted(f.id for f in faces)

    # Running again stores nothing new.
    again = ingest(items_from_folder(gallery), "c", settings, store)
    assert again.ingested == 0 and again.duplicates == 18 and again.failed == 4


def test_manifest_keeps_source_url_and_metadata(tmp_path: Path, home: Path) -> None:
    settings = Settings(workers=1)
    gallery = tmp_path / "g"
    make_gallery(gallery, lfw_people(4, 2), 2)
    manifest = tmp_path / "batch.csv"
    files = sorted(gallery.rglob("*.jpg"))
    with manifest.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["path", "source_url", "photographer", "event"])
        for i, f in enumerate(files):
            w.writerow([f.relative_to(tmp_path), f"https://example.org/photo/{i}", f"ph{i}", "summit"])
        w.writerow(["g/missing.jpg", "https://example.org/missing", "", ""])
    store = Store(settings.resolved_database_url)
    create_collection(store, "press")
    res = ingest(items_from_manifest(manifest), "press", settings, store, model="yunet-reid")
    assert res.ingested == len(files) and res.failed == 1
    assert res.failures[0][1] == "FILE_NOT_FOUND"
    with store.session() as s:
        rows = s.query(ImageRow).order_by(ImageRow.manifest_row).all()
    assert [r.source_url for r in rows] == [f"https://example.org/photo/{i}" for i in range(len(files))]
    assert rows[0].meta == {"photographer": "ph0", "event": "summit"} and rows[0].manifest_row == 2


def test_collection_is_pinned_to_its_model_pack(tmp_path: Path, home: Path) -> None:
    settings = Settings(workers=1)
    gallery = tmp_path / "g"
    make_gallery(gallery, lfw_people(4, 1), 1)
    store = Store(settings.resolved_database_url)
    create_collection(store, "c")
    ingest(items_from_folder(gallery), "c", settings, store, model="yunet-reid")
    with pytest.raises(CollectionError, match="built with model pack 'yunet-reid'"):
        ingest(items_from_folder(gallery), "c", settings, store, model="dlib")


def test_hundreds_of_faces_in_one_image(tmp_path: Path, home: Path) -> None:
    """A mosaic of 120 LFW faces: every face is found and stored, nothing is lost."""
    settings = Settings(workers=1)
    tiles = [np.asarray(Image.open(lfw_person(name)[0]).convert("RGB").crop((50, 50, 200, 200)))
             for name in lfw_people(2, 120)]
    rows = [np.concatenate(tiles[i:i + 12], axis=1) for i in range(0, 120, 12)]
    mosaic = np.concatenate(rows, axis=0)
    (tmp_path / "m").mkdir()
    Image.fromarray(mosaic).save(tmp_path / "m" / "crowd.jpg", quality=95)
    store = Store(settings.resolved_database_url)
    create_collection(store, "crowd")
    res = ingest(items_from_folder(tmp_path / "m"), "crowd", settings, store, model="yunet-reid")
    assert res.ingested == 1 and res.faces >= 110
