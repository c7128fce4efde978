"""Watches on real faces (yunet-reid, LFW): two watches added before an ingest of mixed new photos (their
subjects', other gallery people's, and people new to the gallery) report exactly the new photos of their own
subject, at the default threshold (the search's own 1:N decision for the gallery size), and nothing of the
photos ingested before them."""

from __future__ import annotations

from pathlib import Path

from support.helpers import lfw_people
from support.paths import lfw_person, needs_lfw, needs_yunet
from support.service import SETUP_OPERATOR, make_env
from support.watching import day, manifest

from facesearch.app import watches
from facesearch.app.context import Actor
from facesearch.app.ingest import ingest, items_from_manifest
from facesearch.services.uploads import Photo
from facesearch.store import audit

pytestmark = [needs_lfw, needs_yunet]
SUBJECTS = ("Tony_Blair", "Colin_Powell")
EXAMINER = Actor("examiner", "examiner")


def test_watches_report_exactly_their_subjects_new_photos(tmp_path: Path) -> None:
    env = make_env(tmp_path / "home", model="yunet-reid")
    others = [p for p in lfw_people(20, 12) if p not in SUBJECTS][:10]
    strangers = lfw_people(20, 5, skip=12)  # never in the gallery before
    gallery = [p for n in [*SUBJECTS, *others] for p in lfw_person(n)[:3]]
    ingest(env.ctx, SETUP_OPERATOR, items_from_manifest(manifest(tmp_path / "g.csv", gallery)), "lfw")
    added = {
        s: watches.add_watch(
            env.ctx, EXAMINER, Photo.from_path(lfw_person(s)[10]), watches.WatchRequest(f"C-{s}", "test", day(10))
        )
        for s in SUBJECTS
    }
    new = [p for n in [*SUBJECTS, *others] for p in lfw_person(n)[3:7]] + [
        p for n in strangers for p in lfw_person(n)[:4]
    ]
    ingest(env.ctx, SETUP_OPERATOR, items_from_manifest(manifest(tmp_path / "n.csv", new)), "lfw")
    for subject, w in added.items():
        found = watches.list_hits(env.ctx, EXAMINER, w.id)
        assert sorted(Path(h.image.path or "").name for h in found) == [p.name for p in lfw_person(subject)[3:7]]
        assert all(h.case == f"C-{subject}" and h.fmr < 0.1 / 60 for h in found)  # at least the 1:N decision
    logged = audit.query(env.store, action="watch_hit", limit=100)[0]
    col = env.store.get_collection("lfw")
    assert col is not None
    faces = env.store.gallery_size([col.id])  # the threshold was set for every face there after the ingest
    assert len(logged) == 8 and all(e["details"]["gallery_size"] == faces for e in logged)
