"""Governance rules: provenance, opt-out (all three effects), erasure that `doctor` can verify, retention purge
with a moved clock, the kill switch.

The rules are plumbing and run on the `synthetic` test pack (generated marker "photos", no weights). The
opt-out and the data-subject report also run on real photos (yunet-reid, LFW) where ../shared has them:
there they prove that the strict opt-out threshold catches other photos of the same real person."""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from support.helpers import create_collection
from support.paths import lfw_person, needs_lfw, needs_yunet
from support.synthetic import write_gallery, write_photo

from facesearch.app import collection as collections
from facesearch.app import optout, purposes, searching
from facesearch.app.context import Actor, Context
from facesearch.app.doctor import doctor
from facesearch.app.erasure import erase_images
from facesearch.app.errors import Forbidden, Invalid, Suspended
from facesearch.app.ingest import Item, ingest, items_from_manifest
from facesearch.app.retention import purge
from facesearch.app.subjects import subject_report
from facesearch.app.suspension import set_suspended
from facesearch.config import Settings
from facesearch.errors import CollectionError
from facesearch.models import get_entry
from facesearch.pipeline.imaging import sha256_bytes
from facesearch.services.uploads import Photo
from facesearch.store import audit
from facesearch.store.schema import Image

PER = 3  # gallery photos per person; the rest of each person's photos are held out
HELD_OUT = 4  # photos per person the gallery never sees (probes, opt-out photos)
ADMIN = Actor("root", "admin")
OPERATOR = Actor("tests", "operator")
EXAMINER = Actor("eve", "examiner")


@dataclass
class Kit:
    """A model pack and photos of people: `photos(name)` is that person's photos, the first PER for the
    gallery, the rest never ingested. `person` is the one who opts out."""

    model: str
    person: str
    others: list[str]
    photos: Callable[[str], list[Path]]
    settings: Settings

    @property
    def people(self) -> list[str]:
        return [self.person, *self.others]

    def context(self, **kwargs: Any) -> Context:
        return Context.open(self.settings, **kwargs)


def _synthetic_kit(request: pytest.FixtureRequest, tmp_path: Path) -> Kit:
    request.getfixturevalue("synthetic_env")
    # One marker identity per person, in PER + HELD_OUT photos each (own seed and variant: other bytes,
    # other positions, the same identity), so a person appears in several gallery photos.
    made = write_gallery(tmp_path / "people", [7, 11, 13, 17], PER + HELD_OUT)
    by_name = {f"person_{i:04d}": paths for i, paths in made.items()}  # = each photo's folder name
    names = list(by_name)
    return Kit("synthetic", names[0], names[1:], by_name.__getitem__, Settings(workers=1, model="synthetic"))


def _lfw_kit(request: pytest.FixtureRequest, tmp_path: Path) -> Kit:
    return Kit(
        "yunet-reid",
        "Colin_Powell",
        ["Tony_Blair", "Donald_Rumsfeld", "Gerhard_Schroeder"],
        lfw_person,
        Settings(workers=1, model="yunet-reid"),
    )


@pytest.fixture(params=[pytest.param("synthetic"), pytest.param("lfw", marks=[needs_lfw, needs_yunet])])
def kit(request: pytest.FixtureRequest, home: Path, tmp_path: Path) -> Kit:
    """Plumbing tests take only the synthetic kit (`@pytest.mark.parametrize("kit", ["synthetic"], ...)`)."""
    return {"synthetic": _synthetic_kit, "lfw": _lfw_kit}[request.param](request, tmp_path)


synthetic_only = pytest.mark.parametrize("kit", ["synthetic"], indirect=True)


def _manifest(path: Path, kit: Kit, per: int = PER) -> Path:
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["path", "source_url", "person"])
        for name in kit.people:
            for photo in kit.photos(name)[:per]:
                w.writerow([str(photo), f"https://example.org/{name}", name])
    return path


def _persons_in(result: dict) -> set[str]:
    return {m["image"]["metadata"].get("person") for f in result["faces"] for m in f["matches"]}


def _search(ctx: Context, path: Path, top_k: int) -> dict:
    """A search as an examiner runs it: through the use case (the gate, the opt-out filter, the audit log)."""
    req = searching.SearchRequest(case_ref="CASE-1", purpose="TEST", top_k=top_k)
    return searching.search(ctx, EXAMINER, Photo.from_path(path, ctx.settings), req).model_dump()


@dataclass
class Gallery:
    kit: Kit
    ctx: Context
    manifest: Path


@pytest.fixture
def gallery(kit: Kit, tmp_path: Path) -> Gallery:
    ctx = kit.context()
    purposes.add_purpose(ctx, ADMIN, "TEST", "tests")
    create_collection(ctx.store, "press", model=kit.model)
    manifest = _manifest(tmp_path / "m.csv", kit)
    res = ingest(ctx, OPERATOR, items_from_manifest(manifest), "press")
    assert res.ingested == PER * 4 and res.failed == 0
    return Gallery(kit, ctx, manifest)


@synthetic_only
def test_ingest_refuses_unknown_and_undocumented_collections(kit: Kit) -> None:
    ctx = kit.context()
    store = ctx.store
    items = [Item(kit.photos(kit.person)[0])]
    with pytest.raises(CollectionError, match="facesearch collections create nope --source"):
        ingest(ctx, OPERATOR, items, "nope")
    assert store.get_collection("nope") is None
    info = get_entry(kit.model).info
    store.create_collection("bare", info.name, info.version, info.dim)
    with pytest.raises(CollectionError, match="lacks a source description, a legal basis, an owner"):
        ingest(ctx, OPERATOR, items, "bare")
    # Creating a collection is the operator's; its refusals are kind "invalid" (exit 2, HTTP 422) now.
    with pytest.raises(Forbidden):
        collections.create_collection(
            ctx, EXAMINER, "x", source="s", legal_basis="consent", owner="o", retention_days=None, keep=True
        )
    with pytest.raises(Invalid, match="legal basis 'whim'"):
        collections.create_collection(
            ctx, OPERATOR, "x", source="s", legal_basis="whim", owner="o", retention_days=None, keep=True
        )
    with pytest.raises(Invalid, match="exactly one of"):
        collections.create_collection(
            ctx, OPERATOR, "x", source="s", legal_basis="consent", owner="o", retention_days=5, keep=True
        )
    assert store.get_collection("x") is None
    col = collections.create_collection(
        ctx,
        OPERATOR,
        "ok",
        source="press agency feed",
        legal_basis="contract",
        owner="desk",
        retention_days=30,
        keep=False,
    )
    assert col.problems == [] and col.owner == "desk" and col.retention_days == 30
    assert collections.collection_problems(store.get_collection("ok")) == []
    res = ingest(ctx, OPERATOR, items, "ok")
    assert res.ingested == 1
    # Every image keeps its origin: path, ingest job, time.
    with store.session() as s:
        img = s.query(Image).one()
    assert img.path == str(items[0].path) and img.job_id == res.job_id and img.ingested_at is not None
    # The refused ingests and the creation are in the audit log.
    ingests = audit.query(store, action="ingest")[0]
    assert [e["outcome"] for e in ingests] == ["ok", "refused", "refused"]
    assert audit.query(store, action="collection_create")[0][0]["collections"] == ["ok"]


def test_optout_erases_blocks_reingest_and_hides_from_search(gallery: Gallery, monkeypatch: pytest.MonkeyPatch) -> None:
    kit, ctx, manifest = gallery.kit, gallery.ctx, gallery.manifest
    settings, store = ctx.settings, ctx.store
    photos = kit.photos(kit.person)
    probe_other = photos[PER + 3]  # a photo of the person that neither the gallery nor the opt-out used
    before = _search(ctx, probe_other, top_k=5)
    assert kit.person in _persons_in(before)  # the person is findable before the opt-out
    thumbs_before = {f.name for f in settings.thumbs_dir.rglob("*.jpg")}

    submitted = [Photo.from_path(p, settings) for p in photos[PER : PER + 2]]
    res = optout.add_optout(ctx, OPERATOR, submitted, "DSR-2026-17")
    # (1) every gallery face of the person is erased, with its image (no other face on it) and thumbnail.
    assert res.erased.faces == PER and res.erased.images == PER
    assert res.erased.thumbnails == PER
    assert len({f.name for f in settings.thumbs_dir.rglob("*.jpg")}) == len(thumbs_before) - PER
    assert store.stats()["images"] == PER * 3
    report = doctor(ctx, OPERATOR)
    assert report.ok, report
    # A search with another photo of them returns nothing of theirs; others are still found.
    after = _search(ctx, probe_other, top_k=20)
    assert kit.person not in _persons_in(after)
    assert kit.others[0] in _persons_in(_search(ctx, kit.photos(kit.others[0])[PER + 1], top_k=3))

    # (2) ingesting the same photos again stores none of the person's faces (checked before the index).
    again = ingest(ctx, OPERATOR, items_from_manifest(manifest), "press")
    assert again.opted_out_images == PER and again.opted_out_faces == PER and again.ingested == 0
    assert again.duplicates == PER * 3
    assert store.stats()["images"] == PER * 3
    assert doctor(ctx, OPERATOR).ok

    # (3) faces stored anyway (an older version without the check) are never returned by a search.
    monkeypatch.setattr("facesearch.app.ingest.drop_optout_faces", lambda *a, **k: (0, 0))
    old = ingest(ctx, OPERATOR, items_from_manifest(manifest), "press")
    assert old.ingested == PER
    hidden = _search(ctx, probe_other, top_k=20)
    assert kit.person not in _persons_in(hidden)
    # Everyone else is still returned (the person's faces are hidden, the list is not cut short).
    assert len(hidden["faces"][0]["matches"]) == store.stats()["faces"] - PER
    # doctor sees them and --fix erases them.
    report = doctor(ctx, OPERATOR)
    assert not report.ok and report.counts["faces_matching_optout"] == PER
    doctor(ctx, OPERATOR, fix=True)
    assert doctor(ctx, OPERATOR).ok

    # Each step is in the audit log; the photos themselves are not (only their SHA-256).
    actions = [e["action"] for e in audit.query(store, limit=50)[0]]
    assert {"optout_add", "optout_erase", "optout_block", "optout_hide"} <= set(actions)
    add = audit.query(store, action="optout_add")[0][0]
    assert add["details"]["photo_sha256"] == [sha256_bytes(p.read(settings)) for p in submitted]
    assert add["actor"] == OPERATOR.name and add["role"] == "operator"
    # What the searcher saw never said that someone was hidden; the hiding is logged as the system's.
    hide = audit.query(store, action="optout_hide")[0][0]
    assert hide["actor"] == "system:search" and hide["results"]["faces_hidden"] == PER
    assert optout.list_optouts(ctx, OPERATOR)[0].templates == 2


@synthetic_only
def test_optout_keeps_other_peoples_faces_on_a_shared_photo(kit: Kit, tmp_path: Path) -> None:
    """A photo of the person with someone else: only the person's face goes, the image stays with one face."""
    ctx = kit.context()
    create_collection(ctx.store, "press", model=kit.model)
    together = write_photo(tmp_path / "together.jpg", [7, 11], seed=500, size=(640, 360))
    alone = write_photo(tmp_path / "alone.jpg", [7], seed=501)
    res = ingest(ctx, OPERATOR, [Item(together), Item(alone)], "press")
    assert res.ingested == 2 and res.faces == 3
    out = optout.add_optout(ctx, OPERATOR, [Photo.from_path(kit.photos(kit.person)[PER], ctx.settings)], "DSR-2")
    assert out.erased.faces == 2 and out.erased.images == 1
    with ctx.store.session() as s:
        left = s.query(Image).one()
    assert left.path == str(together) and left.face_count == 1
    assert doctor(ctx, OPERATOR).ok


def test_subject_report_lists_images_and_is_audited(gallery: Gallery) -> None:
    kit, ctx = gallery.kit, gallery.ctx
    photo = Photo.from_path(kit.photos(kit.person)[PER + 1], ctx.settings)
    rep = subject_report(ctx, Actor("operator1", "operator"), photo, "DSR-1")
    assert rep.collections == ["press"]
    paths = {Path(m.path).parent.name for m in rep.matches}
    assert paths == {kit.person} and rep.images >= PER - 1
    entry = audit.query(ctx.store, action="subject_report")[0][0]
    assert entry["probe_sha256"] == sha256_bytes(photo.read(ctx.settings)) and entry["actor"] == "operator1"
    assert entry["case_ref"] == "DSR-1" and entry["outcome"] == "ok"
    with pytest.raises(Forbidden):
        subject_report(ctx, EXAMINER, photo, "DSR-1")


@synthetic_only
def test_erase_images_leaves_no_orphans_and_doctor_finds_planted_ones(gallery: Gallery) -> None:
    ctx = gallery.ctx
    settings, store = ctx.settings, ctx.store
    with store.session() as s:
        ids = [i for (i,) in s.query(Image.id).limit(4)]
    done = erase_images(settings, store, ids)
    assert done.images == 4 and done.faces == done.thumbnails >= 4
    assert doctor(ctx, OPERATOR).ok
    # Plant one orphan of each kind doctor can see without a crash.
    stray = settings.thumbs_dir / "1" / "zz" / "stray_0.jpg"
    stray.parent.mkdir(parents=True, exist_ok=True)
    stray.write_bytes(b"x")
    (settings.index_dir / "collection-99.faiss").write_bytes(b"")
    rep = doctor(ctx, OPERATOR)
    assert rep.counts["thumbnails_without_face"] == 1 and rep.counts["index_files_without_collection"] == 1
    assert rep.orphans == 2
    doctor(ctx, OPERATOR, fix=True)
    assert doctor(ctx, OPERATOR).ok
    assert audit.query(store, action="doctor")[0][0]["results"]["thumbnails_without_face"] == 1


@synthetic_only
def test_purge_erases_expired_images_with_a_moved_clock(kit: Kit) -> None:
    ctx = kit.context()
    store = ctx.store
    collections.create_collection(
        ctx, OPERATOR, "short", source="s", legal_basis="public_task", owner="o", retention_days=30, keep=False
    )
    create_collection(store, "forever", model=kit.model)
    photos = kit.photos(kit.others[0])
    ingest(ctx, OPERATOR, [Item(p) for p in photos[:2]], "short")
    ingest(ctx, OPERATOR, [Item(p) for p in photos[2:4]], "forever")
    now = datetime.now(timezone.utc)
    nothing = purge(ctx, OPERATOR, now + timedelta(days=29))
    assert nothing.erased.images == 0 and store.stats()["images"] == 4
    # Without `now`, the purge goes by the context's clock (what the scheduled purge uses).
    later = kit.context(store=store, clock=lambda: now + timedelta(days=31))
    done = purge(later, OPERATOR)
    assert done.erased.images == 2 and done.erased.thumbnails == done.erased.faces >= 2
    stats = {c["name"]: c["images"] for c in store.stats()["collections"]}
    assert stats == {"short": 0, "forever": 2}
    assert doctor(ctx, OPERATOR).ok
    entries = audit.query(store, action="purge")[0]
    assert len(entries) == 2 and entries[0]["results"]["erased"]["images"] == 2
    # The audit log itself cannot be deleted by the app: the database refuses it.
    with pytest.raises(Exception, match="append-only"), store.database.begin() as conn:
        conn.exec_driver_sql("DELETE FROM audit_log")


@synthetic_only
def test_kill_switch_stops_search_and_verify(gallery: Gallery) -> None:
    kit, ctx = gallery.kit, gallery.ctx
    path = kit.photos(kit.others[0])[PER + 1]
    probe = Photo.from_path(path, ctx.settings)
    with pytest.raises(Forbidden):  # only an admin pulls the switch
        set_suspended(ctx, EXAMINER, True, "no")
    set_suspended(ctx, Actor("admin", "admin"), True, "incident 12")
    with pytest.raises(Suspended, match="incident 12"):
        _search(ctx, path, top_k=10)
    with pytest.raises(Suspended, match="suspended"):
        searching.verify(ctx, EXAMINER, probe, probe, case_ref="CASE-1", purpose="TEST")
    set_suspended(ctx, Actor("admin", "admin"), False)
    assert _search(ctx, path, top_k=1)["faces"][0]["matches"]
    # The switch and both refusals are logged (the gate is in the use case, so refused attempts are audited).
    recent = [(e["action"], e["outcome"], e["actor"]) for e in audit.query(ctx.store, limit=5)[0]]
    assert recent == [
        ("search", "ok", "eve"),
        ("search_resume", "ok", "admin"),
        ("verify", "refused", "eve"),
        ("search", "refused", "eve"),
        ("search_suspend", "ok", "admin"),
    ]
