"""Ingest: faces stored with provenance, bad files reported, duplicates stored once, every run audited.

The plumbing runs on the `synthetic` test pack (generated marker photos, no weights), so it runs anywhere.
The folder test runs again on yunet-reid with LFW photos, and a crowd of 120 real faces checks the real
detector, where ../shared is present.
"""

from __future__ import annotations

import csv
import io
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from support.helpers import lfw_people, make_gallery
from support.paths import FR_IMAGES, lfw_person, needs_lfw, needs_yunet
from support.synthetic import photo, write_gallery, write_photo

from facesearch.app import collection as collections
from facesearch.app.context import Actor, Context
from facesearch.app.ingest import ingest, items_from_folder, items_from_manifest
from facesearch.cli.ingest import write_report
from facesearch.config import Settings
from facesearch.errors import CollectionError
from facesearch.index import open_index
from facesearch.models import get_entry
from facesearch.store.audit import entry_dict, iter_entries
from facesearch.store.schema import Face
from facesearch.store.schema import Image as ImageRow
from facesearch.vocabulary import Action

OPERATOR = Actor("ops", "operator")
REAL = [needs_lfw, needs_yunet]
PACKS = [pytest.param("synthetic", id="synthetic"), pytest.param("yunet-reid", id="yunet-reid", marks=REAL)]


def _context(**settings: object) -> Context:
    return Context.open(Settings(**settings))  # type: ignore[arg-type]


def _collection(ctx: Context, name: str, model: str) -> None:
    """A documented collection (source, legal basis, retention): ingest refuses any other kind."""
    collections.create_collection(
        ctx, OPERATOR, name, source="test photos", legal_basis="consent", retention_days=None, keep=True, model=model
    )


def _gallery(pack: str, dest: Path, people: int, per_person: int) -> None:
    """dest/<person>/<photo>.jpg: generated marker photos for the synthetic pack, LFW photos for a real one."""
    if pack == "synthetic":
        write_gallery(dest, list(range(people)), per_person)
    else:
        make_gallery(dest, lfw_people(4, people), per_person)


def _one_photo(pack: str, tmp_path: Path) -> bytes:
    """The bytes of a good JPEG with one face (one marker for the synthetic pack)."""
    if pack == "synthetic":
        return write_photo(tmp_path / "one.jpg", [99], seed=99).read_bytes()
    return (FR_IMAGES / "obama.jpg").read_bytes()


def _bad_files(folder: Path, good: bytes) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "notes.jpg").write_text("not an image at all")
    (folder / "truncated.jpg").write_bytes(good[: len(good) // 3])
    (folder / "jpeg_named.png").write_bytes(good)
    bomb = io.BytesIO()
    Image.new("1", (20000, 20000)).save(bomb, "PNG")
    (folder / "bomb.png").write_bytes(bomb.getvalue())
    Image.new("RGB", (200, 150), (90, 140, 200)).save(folder / "sky.png")  # no face


def _ingest_entries(ctx: Context) -> list[dict]:
    return [entry_dict(e) for e in iter_entries(ctx.store) if e.action == Action.INGEST]


@pytest.mark.parametrize("pack", PACKS)
def test_ingest_folder_with_bad_files_and_duplicates(tmp_path: Path, synthetic_env: Path, pack: str) -> None:
    ctx = _context(workers=2, batch_images=8)
    settings = ctx.settings
    gallery = tmp_path / "g"
    _gallery(pack, gallery, 5, 3)
    first = sorted(gallery.rglob("*.jpg"))[0]
    _bad_files(gallery / "odd", _one_photo(pack, tmp_path))
    shutil.copy(first, gallery / "copy_of_first.jpg")
    _collection(ctx, "c", pack)
    res = ingest(ctx, OPERATOR, items_from_folder(gallery), "c", model=pack, source=str(gallery))
    assert res.workers == 2  # worker processes ran the pipeline
    # 15 gallery photos + jpeg_named.png + sky.png are images; copy is a duplicate; 4 are bad.
    assert res.ingested == 17, res.failures
    assert res.duplicates == 1
    assert res.no_face == 1
    assert res.failed == 4
    reasons = {Path(p).name: r for p, r, _ in res.failures}
    assert reasons == {
        "empty.jpg": "EMPTY_FILE",
        "notes.jpg": "NOT_AN_IMAGE",
        "truncated.jpg": "CORRUPT_IMAGE",
        "bomb.png": "TOO_MANY_PIXELS",
    }
    assert res.faces >= 16
    if pack == "synthetic":
        assert res.faces == 16  # one marker in each of the 16 photos, none in the sky
    report = tmp_path / "failures.csv"
    write_report(report, res.failures)
    rows = list(csv.DictReader(report.open()))
    assert {r["reason"] for r in rows} == set(reasons.values())

    dim = get_entry(pack).info.dim
    with ctx.store.session() as s:
        faces = s.query(Face).all()
        assert len(faces) == res.faces
        assert all(len(f.landmarks) == 5 and 0 <= f.quality <= 1 and f.det_score > 0.5 for f in faces)
        assert all((settings.thumbs_dir / f.thumbnail).is_file() for f in faces)
        emb = ctx.store.embeddings([faces[0].id], dim)[0]
        assert emb.shape == (dim,) and abs(float(np.linalg.norm(emb)) - 1) < 1e-4
    col = ctx.store.require_collection("c")
    assert col.model == pack and col.dim == dim
    index = open_index(settings, col.id, col.dim)
    assert sorted(index.ids().tolist()) == sorted(f.id for f in faces)

    # Running again stores nothing new.
    again = ingest(ctx, OPERATOR, items_from_folder(gallery), "c", source=str(gallery))
    assert again.ingested == 0 and again.duplicates == 18 and again.failed == 4

    # Both runs are in the audit log, by the operator, with their counts.
    entries = _ingest_entries(ctx)
    assert [e["outcome"] for e in entries] == ["ok", "ok"]
    assert all(e["actor"] == "ops" and e["role"] == "operator" and e["collections"] == ["c"] for e in entries)
    assert entries[0]["model"] == pack and entries[0]["details"]["source"] == str(gallery)
    assert entries[0]["results"]["counts"]["ingested"] == 17 and entries[0]["results"]["failures"] == 4
    assert entries[1]["results"]["counts"]["duplicates"] == 18


def test_manifest_keeps_source_url_and_metadata(tmp_path: Path, synthetic_env: Path) -> None:
    ctx = _context(workers=1)
    gallery = tmp_path / "g"
    _gallery("synthetic", gallery, 2, 2)
    manifest = tmp_path / "batch.csv"
    files = sorted(gallery.rglob("*.jpg"))
    with manifest.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["path", "source_url", "photographer", "event"])
        for i, f in enumerate(files):
            w.writerow([f.relative_to(tmp_path), f"https://example.org/photo/{i}", f"ph{i}", "summit"])
        w.writerow(["g/missing.jpg", "https://example.org/missing", "", ""])
    _collection(ctx, "press", "synthetic")
    res = ingest(ctx, OPERATOR, items_from_manifest(manifest), "press", model="synthetic")
    assert res.ingested == len(files) and res.failed == 1
    assert res.failures[0][1] == "FILE_NOT_FOUND"
    with ctx.store.session() as s:
        rows = s.query(ImageRow).order_by(ImageRow.manifest_row).all()
    assert [r.source_url for r in rows] == [f"https://example.org/photo/{i}" for i in range(len(files))]
    assert rows[0].meta == {"photographer": "ph0", "event": "summit"} and rows[0].manifest_row == 2


def test_collection_is_pinned_to_its_model_pack(tmp_path: Path, synthetic_env: Path) -> None:
    ctx = _context(workers=1)
    gallery = tmp_path / "g"
    _gallery("synthetic", gallery, 1, 1)
    _collection(ctx, "c", "synthetic")
    ingest(ctx, OPERATOR, items_from_folder(gallery), "c", model="synthetic")
    # Refused before any pack is loaded: no weights needed for the other pack.
    with pytest.raises(CollectionError, match="built with model pack 'synthetic'"):
        ingest(ctx, OPERATOR, items_from_folder(gallery), "c", model="dlib")
    # The refusal is audited too.
    assert [e["outcome"] for e in _ingest_entries(ctx)] == ["ok", "refused"]
    assert ctx.store.stats()["images"] == 1


def test_ingest_needs_a_documented_collection_and_an_operator(tmp_path: Path, synthetic_env: Path) -> None:
    from facesearch.app.errors import Forbidden

    ctx = _context(workers=1)
    gallery = tmp_path / "g"
    _gallery("synthetic", gallery, 1, 1)
    with pytest.raises(CollectionError, match="collections create c"):
        ingest(ctx, OPERATOR, items_from_folder(gallery), "c")
    _collection(ctx, "c", "synthetic")
    with pytest.raises(Forbidden):
        ingest(ctx, Actor("eve", "examiner"), items_from_folder(gallery), "c")
    assert ctx.store.stats()["images"] == 0


def test_many_faces_in_one_image(tmp_path: Path, synthetic_env: Path) -> None:
    """A mosaic of 120 markers: every one is found and stored, nothing is lost."""
    ctx = _context(workers=1)
    tiles = [photo([i], seed=100 + i, size=(100, 100), marker_px=60) for i in range(120)]
    rows = [np.concatenate(tiles[i : i + 12], axis=1) for i in range(0, 120, 12)]
    mosaic = np.concatenate(rows, axis=0)
    (tmp_path / "m").mkdir()
    Image.fromarray(mosaic[:, :, ::-1]).save(tmp_path / "m" / "crowd.jpg", quality=95)
    _collection(ctx, "crowd", "synthetic")
    res = ingest(ctx, OPERATOR, items_from_folder(tmp_path / "m"), "crowd", model="synthetic")
    assert res.ingested == 1 and res.faces == 120
    with ctx.store.session() as s:
        assert len({f.thumbnail for f in s.query(Face).all()}) == 120


@needs_lfw
@needs_yunet
def test_hundreds_of_faces_in_one_image(tmp_path: Path, home: Path) -> None:
    """A mosaic of 120 LFW faces: the real detector finds (almost) every face, and each is stored."""
    ctx = _context(workers=1)
    tiles = [
        np.asarray(Image.open(lfw_person(name)[0]).convert("RGB").crop((50, 50, 200, 200)))
        for name in lfw_people(2, 120)
    ]
    rows = [np.concatenate(tiles[i : i + 12], axis=1) for i in range(0, 120, 12)]
    mosaic = np.concatenate(rows, axis=0)
    (tmp_path / "m").mkdir()
    Image.fromarray(mosaic).save(tmp_path / "m" / "crowd.jpg", quality=95)
    _collection(ctx, "crowd", "yunet-reid")
    res = ingest(ctx, OPERATOR, items_from_folder(tmp_path / "m"), "crowd", model="yunet-reid")
    assert res.ingested == 1 and res.faces >= 110
