"""Governance rules on real photos (yunet-reid, LFW): provenance, opt-out (all three effects), erasure that
`doctor` can verify, retention purge with a moved clock, the kill switch."""

from __future__ import annotations

import csv
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from conftest import needs_lfw, needs_yunet
from helpers import create_collection

from facesearch import audit, governance
from facesearch.config import Settings
from facesearch.errors import CollectionError, FacesearchError
from facesearch.ingest import Item, ingest, items_from_manifest
from facesearch.oversight import SearchSuspended, set_suspended
from facesearch.search import Engine, load_probe
from facesearch.store import Store

pytestmark = [needs_lfw, needs_yunet]

from conftest import lfw_person  # noqa: E402

PERSON = "Colin_Powell"  # the person who opts out
OTHERS = ["Tony_Blair", "Donald_Rumsfeld", "Gerhard_Schroeder"]
PER = 3


def _manifest(path: Path, people: list[str], per: int = PER) -> Path:
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["path", "source_url", "person"])
        for name in people:
            for photo in lfw_person(name)[:per]:
                w.writerow([str(photo), f"https://example.org/{name}", name])
    return path


def _settings(home: Path) -> Settings:
    return Settings(workers=1, model="yunet-reid")


def _persons_in(result: dict) -> set[str]:
    return {m["image"]["metadata"].get("person") for f in result["faces"] for m in f["matches"]}


@pytest.fixture
def gallery(home: Path, tmp_path: Path):
    settings = _settings(home)
    store = Store(settings.resolved_database_url)
    create_collection(store, "press")
    res = ingest(items_from_manifest(_manifest(tmp_path / "m.csv", [PERSON, *OTHERS])), "press", settings, store)
    assert res.ingested == PER * 4 and res.failed == 0
    return settings, store, tmp_path / "m.csv"


def test_ingest_refuses_unknown_and_undocumented_collections(home: Path, tmp_path: Path) -> None:
    settings = _settings(home)
    store = Store(settings.resolved_database_url)
    items = [Item(lfw_person(PERSON)[0])]
    with pytest.raises(CollectionError, match="facesearch collections create nope --source"):
        ingest(items, "nope", settings, store)
    assert store.get_collection("nope") is None
    store.create_collection("bare", "yunet-reid", "v", 256)
    with pytest.raises(CollectionError, match="lacks a source description, a legal basis, an owner"):
        ingest(items, "bare", settings, store)
    with pytest.raises(CollectionError, match="legal basis 'whim'"):
        governance.create_collection(settings, store, "x", source="s", legal_basis="whim", owner="o",
                                     retention_days=None, keep=True)
    with pytest.raises(CollectionError, match="exactly one of"):
        governance.create_collection(settings, store, "x", source="s", legal_basis="consent", owner="o",
                                     retention_days=5, keep=True)
    col = governance.create_collection(settings, store, "ok", source="press agency feed", legal_basis="contract",
                                       owner="desk", retention_days=30, keep=False)
    assert governance.collection_problems(col) == []
    res = ingest(items, "ok", settings, store)
    assert res.ingested == 1
    # Every image keeps its origin: path, ingest job, time.
    with store.session() as s:
        from facesearch.store.schema import Image

        img = s.query(Image).one()
    assert img.path == str(items[0].path) and img.job_id == res.job_id and img.ingested_at is not None


def test_optout_erases_blocks_reingest_and_hides_from_search(gallery, monkeypatch: pytest.MonkeyPatch) -> None:
    settings, store, manifest = gallery
    photos = lfw_person(PERSON)
    probe_other = photos[PER + 3]  # a photo of the person that neither the gallery nor the opt-out used
    engine = Engine(settings, store)
    before = engine.search(load_probe(probe_other, settings)[0], top_k=5)
    assert PERSON in _persons_in(before)  # the person is findable before the opt-out
    thumbs_before = {f.name for f in settings.thumbs_dir.rglob("*.jpg")}

    submitted = [(p.name, *load_probe(p, settings)) for p in photos[PER:PER + 2]]
    res = governance.add_optout(settings, store, submitted, "DSR-2026-17", actor="tests")
    # (1) every gallery face of the person is erased, with its image (no other face on it) and thumbnail.
    assert res["erased"]["faces"] == PER and res["erased"]["images"] == PER
    assert res["erased"]["thumbnails"] == PER
    assert len({f.name for f in settings.thumbs_dir.rglob("*.jpg")}) == len(thumbs_before) - PER
    assert store.stats()["images"] == PER * 3
    report = governance.doctor(settings, store)
    assert report["ok"], report
    # A search with another photo of them returns nothing of theirs; others are still found.
    after = Engine(settings, store).search(load_probe(probe_other, settings)[0], top_k=20)
    assert PERSON not in _persons_in(after)
    assert "Tony_Blair" in _persons_in(Engine(settings, store).search(
        load_probe(lfw_person("Tony_Blair")[PER + 1], settings)[0], top_k=3))

    # (2) ingesting the same photos again stores none of the person's faces (checked before the index).
    again = ingest(items_from_manifest(manifest), "press", settings, store)
    assert again.opted_out_images == PER and again.opted_out_faces == PER and again.ingested == 0
    assert again.duplicates == PER * 3
    assert store.stats()["images"] == PER * 3
    assert governance.doctor(settings, store)["ok"]

    # (3) faces stored anyway (an older version without the check) are never returned by a search.
    monkeypatch.setattr("facesearch.ingest.drop_optout_faces", lambda *a, **k: (0, 0))
    old = ingest(items_from_manifest(manifest), "press", settings, store)
    assert old.ingested == PER
    hidden = Engine(settings, store).search(load_probe(probe_other, settings)[0], top_k=20)
    assert PERSON not in _persons_in(hidden)
    # Everyone else is still returned (the person's faces are hidden, the list is not cut short).
    assert len(hidden["faces"][0]["matches"]) == store.stats()["faces"] - PER
    # doctor sees them and --fix erases them.
    report = governance.doctor(settings, store)
    assert not report["ok"] and report["counts"]["faces_matching_optout"] == PER
    governance.doctor(settings, store, fix=True)
    assert governance.doctor(settings, store)["ok"]

    # Each step is in the audit log; the photos themselves are not (only their SHA-256).
    actions = [e["action"] for e in audit.query(store, limit=50)[0]]
    assert {"optout_add", "optout_erase", "optout_block", "optout_hide"} <= set(actions)
    add = audit.query(store, action="optout_add")[0][0]
    assert add["details"]["photo_sha256"] == [sha for _, _, sha in submitted]
    assert governance.list_optouts(store)[0]["templates"] == 2


def test_subject_report_lists_images_and_is_audited(gallery) -> None:
    settings, store, _ = gallery
    image, sha = load_probe(lfw_person(PERSON)[PER + 1], settings)
    rep = governance.subject_report(settings, store, image, sha, actor="operator1")
    assert rep["collections"] == ["press"]
    paths = {Path(m["path"]).parent.name for m in rep["matches"]}
    assert paths == {PERSON} and rep["images"] >= PER - 1
    entry = audit.query(store, action="subject_report")[0][0]
    assert entry["probe_sha256"] == sha and entry["actor"] == "operator1"


def test_erase_images_leaves_no_orphans_and_doctor_finds_planted_ones(gallery) -> None:
    settings, store, _ = gallery
    with store.session() as s:
        from facesearch.store.schema import Image

        ids = [i for (i,) in s.query(Image.id).limit(4)]
    done = governance.erase_images(settings, store, ids)
    assert done.images == 4 and done.faces == done.thumbnails >= 4
    assert governance.doctor(settings, store)["ok"]
    # Plant one orphan of each kind doctor can see without a crash.
    stray = settings.thumbs_dir / "1" / "zz" / "stray_0.jpg"
    stray.parent.mkdir(parents=True, exist_ok=True)
    stray.write_bytes(b"x")
    (settings.index_dir / "collection-99.faiss").write_bytes(b"")
    rep = governance.doctor(settings, store)
    assert rep["counts"]["thumbnails_without_face"] == 1 and rep["counts"]["index_files_without_collection"] == 1
    assert rep["orphans"] == 2
    governance.doctor(settings, store, fix=True)
    assert governance.doctor(settings, store)["ok"]


def test_purge_erases_expired_images_with_a_moved_clock(home: Path) -> None:
    settings = _settings(home)
    store = Store(settings.resolved_database_url)
    governance.create_collection(settings, store, "short", source="s", legal_basis="public_task", owner="o",
                                 retention_days=30, keep=False)
    create_collection(store, "forever")
    photos = lfw_person("Tony_Blair")
    ingest([Item(p) for p in photos[:2]], "short", settings, store)
    ingest([Item(p) for p in photos[2:4]], "forever", settings, store)
    now = datetime.now(timezone.utc)
    nothing = governance.purge(settings, store, now + timedelta(days=29))
    assert nothing["erased"]["images"] == 0 and store.stats()["images"] == 4
    done = governance.purge(settings, store, now + timedelta(days=31))
    assert done["erased"]["images"] == 2 and done["erased"]["thumbnails"] == done["erased"]["faces"] >= 2
    stats = {c["name"]: c["images"] for c in store.stats()["collections"]}
    assert stats == {"short": 0, "forever": 2}
    assert governance.doctor(settings, store)["ok"]
    entries = audit.query(store, action="purge")[0]
    assert len(entries) == 2 and entries[0]["results"]["erased"]["images"] == 2
    # The audit log itself cannot be deleted by the app: the database refuses it.
    with pytest.raises(Exception, match="append-only"), store.engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM audit_log")


def test_kill_switch_stops_search_and_verify(gallery) -> None:
    settings, store, _ = gallery
    log = governance.audit_log(settings, store)
    probe = load_probe(lfw_person("Tony_Blair")[PER + 1], settings)[0]
    set_suspended(store, True, actor="admin", reason="incident 12", audit=log)
    with pytest.raises(SearchSuspended, match="incident 12"):
        Engine(settings, store).search(probe)
    with pytest.raises(FacesearchError, match="suspended"):
        Engine(settings, store).verify(probe, probe, model="yunet-reid")
    set_suspended(store, False, actor="admin", audit=log)
    assert Engine(settings, store).search(probe, top_k=1)["faces"][0]["matches"]
    assert [e["action"] for e in audit.query(store, limit=2)[0]] == ["search_resume", "search_suspend"]
