"""Standing searches through the use cases: what a watch reports after an ingest (exactly the new photos of its
subject, nothing from before it), what it never reports (stopped, expired, opted out, while searching is
suspended), that every hit is logged and reaches the case report and the two-person review (with reviewer
assignment and blind review), that each check reads only the faces stored since the last one, and webhooks.

Plumbing: runs on the `synthetic` test pack (tests/app/test_watches_lfw.py proves the same on real faces)."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr
from support.service import EXTRA, PEOPLE, SETUP_ADMIN, SETUP_OPERATOR, Env, gallery_manifest, make_env
from support.watching import day, days_ahead, manifest, webhook_receiver

from facesearch.app import cases, optout, purposes, review, watches
from facesearch.app.context import Actor, utc_now
from facesearch.app.errors import Forbidden, Invalid, NotFound
from facesearch.app.ingest import ingest, items_from_manifest
from facesearch.app.suspension import set_suspended
from facesearch.services.batching import ingest_batches
from facesearch.services.uploads import Photo
from facesearch.store import audit
from facesearch.store import watches as watch_rows

SUBJECT = "Tony_Blair"
EXAMINER = Actor("examiner", "examiner")
EXAMINER2 = Actor("examiner2", "examiner")
AUDITOR = Actor("auditor", "auditor")
CASE = "CASE-W1"


@pytest.fixture
def env(synthetic_env: Path) -> Iterator[Env]:
    """A service with the first two photos of each person in the gallery."""
    e = make_env(synthetic_env, search_rate_per_minute=0, search_daily_quota=0)
    e.add_user("examiner2", "examiner")
    _ingest(e, gallery_manifest(e, synthetic_env.parent / "g.csv", PEOPLE, 2))
    yield e


def _ingest(env: Env, path: Path) -> None:
    ingest(env.ctx, SETUP_OPERATOR, items_from_manifest(path), "lfw", workers=1)


def _new_photos(env: Env, folder: Path, first: int = 2, last: int = 5) -> Path:
    """Photos first..last of everyone (the gallery's people and one more): the subject's among others'."""
    photos = [p for name in [*PEOPLE, EXTRA] for p in env.person(name)[first : last + 1]]
    return manifest(folder / f"new-{first}-{last}.csv", photos)


def _watch(env: Env, who: Actor = EXAMINER, **fields: object) -> watches.WatchInfo:
    req = watches.WatchRequest(**{"case_ref": CASE, "purpose": "test", "until": day(10), **fields})  # type: ignore[arg-type]
    return watches.add_watch(env.ctx, who, Photo.from_path(env.person(SUBJECT)[7]), req)


def _hit_paths(env: Env, who: Actor = EXAMINER) -> list[str]:
    return sorted(Path(h.image.path or "").name for h in watches.list_hits(env.ctx, who))


def _entries(env: Env, action: str) -> list[dict]:
    return audit.query(env.store, action=action, limit=1000)[0]


def test_a_watch_reports_exactly_the_new_photos_of_its_subject(env: Env, tmp_path: Path) -> None:
    w = _watch(env)
    assert w.status == "active" and w.models == ["synthetic"] and w.hits == 0
    # The subject's photos already in the gallery (0 and 1) are not hits: a watch reports what comes after it.
    assert _hit_paths(env) == []
    _ingest(env, _new_photos(env, tmp_path))
    expected = sorted(p.name for p in env.person(SUBJECT)[2:6])
    assert _hit_paths(env) == expected
    hits = watches.list_hits(env.ctx, EXAMINER)
    h = hits[0]
    assert set(h.model_dump(mode="json")) == {
        *("watch", "case", "face_id", "image", "score", "decision", "fmr", "ingest_job", "at"),
    }
    assert set(h.image.model_dump()) == {"id", "path", "source_url"}
    assert h.watch == w.id and h.case == CASE and h.decision == "above threshold" and 0 <= h.fmr < 1e-2
    # Each hit is a `watch_hit` entry: face, image, score and false-match rate, under the watch's case.
    logged = _entries(env, "watch_hit")
    assert len(logged) == len(expected)
    assert {e["results"]["face_id"] for e in logged} == {x.face_id for x in hits}
    for e in logged:
        assert e["case_ref"] == CASE and e["purpose"] == "test" and e["role"] == "system"
        assert {"face_id", "image_id", "score", "fmr", "watch"} <= set(e["results"])
        assert e["details"]["owner"] == "examiner" and e["details"]["ingest_job"] == h.ingest_job
    # The same photos again are duplicates: nothing new is compared, nothing reported twice.
    _ingest(env, _new_photos(env, tmp_path))
    assert len(watches.list_hits(env.ctx, EXAMINER)) == len(expected)
    # The hits are in the case report, with the watch.
    report = cases.case_report(env.ctx, EXAMINER, CASE).report
    assert report.watches is not None and [x.watch for x in report.watches] == [w.id]
    assert sorted(x.face_id for x in report.watches[0].hits) == sorted(x.face_id for x in hits)
    assert all(x.status == "lead" and x.stamp for x in report.watches[0].hits)
    assert watches.show_watch(env.ctx, EXAMINER, w.id).hits == len(expected)


def test_each_check_reads_only_the_faces_stored_since_the_last(env: Env, tmp_path: Path) -> None:
    w = _watch(env)
    col = env.store.get_collection("lfw")
    assert col is not None
    first = watches.check_new_faces(env.ctx, col)
    assert first.faces == 0 and first.watches == 1  # nothing stored since the watch was added
    # Faces committed by a run that never reached its check (killed, or another path): the next check has them.
    ingest_batches(env.store, env.settings, col, items_from_manifest(_new_photos(env, tmp_path, 2, 3)))
    done = watches.check_new_faces(env.ctx, col)
    assert done.faces == 2 * (len(PEOPLE) + 1) and len(done.hits) == 2
    again = watches.check_new_faces(env.ctx, col)
    assert again.faces == 0 and again.hits == []
    assert watch_rows.mark(env.store, col.id) == watch_rows.max_face_id(env.store)
    assert watches.show_watch(env.ctx, EXAMINER, w.id).hits == 2


def test_stopped_expired_and_suspended_watches_never_run(env: Env, tmp_path: Path) -> None:
    stopped, expiring = _watch(env), _watch(env, until=day(2))
    out = watches.stop_watch(env.ctx, EXAMINER, stopped.id, "suspect arrested")
    assert out.status == "stopped" and out.end_reason == "suspect arrested"
    assert watch_rows.templates(env.store, "synthetic", [stopped.id], 64).vectors.shape[0] == 0  # erased
    with pytest.raises(Invalid):
        watches.stop_watch(env.ctx, EXAMINER, stopped.id)
    days_ahead(env.ctx, 5)
    _ingest(env, _new_photos(env, tmp_path, 2, 3))
    assert watches.list_hits(env.ctx, EXAMINER) == []
    assert watches.show_watch(env.ctx, EXAMINER, expiring.id).status == "expired"
    assert [e["results"]["watch"] for e in _entries(env, "watch_expire")] == [expiring.id]
    assert [e["results"]["watch"] for e in _entries(env, "watch_stop") if e["outcome"] == "ok"] == [stopped.id]
    assert [e["outcome"] for e in _entries(env, "watch_stop")] == ["refused", "ok"]  # the second stop, newest first

    # While searching is suspended nothing is compared; the faces wait for the next check after it resumes.
    env.ctx.clock = utc_now
    live = _watch(env)
    set_suspended(env.ctx, SETUP_ADMIN, True, "drill")
    _ingest(env, _new_photos(env, tmp_path, 4, 4))
    assert watches.show_watch(env.ctx, EXAMINER, live.id).hits == 0
    assert _entries(env, "watch_check")[0]["outcome"] == "suspended"
    set_suspended(env.ctx, SETUP_ADMIN, False)
    _ingest(env, _new_photos(env, tmp_path, 5, 5))
    assert _hit_paths(env) == sorted(p.name for p in env.person(SUBJECT)[4:6])


def test_an_opted_out_subject_never_hits(env: Env, tmp_path: Path) -> None:
    _watch(env)
    optout.add_optout(env.ctx, SETUP_OPERATOR, [Photo.from_path(env.person(SUBJECT)[6])], "DSR-9")
    _ingest(env, _new_photos(env, tmp_path))
    assert watches.list_hits(env.ctx, EXAMINER) == []
    assert _entries(env, "watch_hit") == []


def test_watch_limits_gate_and_visibility(env: Env) -> None:
    with pytest.raises(Invalid, match="FACESEARCH_WATCH_MAX_DAYS"):
        _watch(env, until=day(91))
    with pytest.raises(Invalid):
        _watch(env, until=day(-1))
    with pytest.raises(Exception, match="purpose"):
        _watch(env, purpose="curiosity")
    refused = [e for e in _entries(env, "watch_add") if e["outcome"] == "refused"]
    assert len(refused) == 3 and all(e["probe_sha256"] for e in refused)
    with pytest.raises(Forbidden):
        watches.add_watch(
            env.ctx, AUDITOR, Photo.from_path(env.person(SUBJECT)[7]), watches.WatchRequest(CASE, "test", day(3))
        )
    w = _watch(env)
    ok = [e for e in _entries(env, "watch_add") if e["outcome"] == "ok"]
    assert ok[0]["results"] == {"watch": w.id} and ok[0]["case_ref"] == CASE
    # Another examiner neither sees nor stops nor renews it; an auditor sees it; an admin may stop it.
    assert watches.list_watches(env.ctx, EXAMINER2) == []
    for call in (watches.show_watch, watches.stop_watch):
        with pytest.raises(NotFound):
            call(env.ctx, EXAMINER2, w.id)
    with pytest.raises(NotFound):
        watches.renew_watch(env.ctx, EXAMINER2, w.id, day(20))
    assert [x.id for x in watches.list_watches(env.ctx, AUDITOR)] == [w.id]
    renewed = watches.renew_watch(env.ctx, EXAMINER, w.id, day(30))
    assert (renewed.until or "").startswith(day(31))
    assert _entries(env, "watch_renew")[0]["details"]["until"].startswith(day(31))
    with pytest.raises(Invalid):
        watches.renew_watch(env.ctx, EXAMINER, w.id, day(120))
    assert watches.stop_watch(env.ctx, SETUP_ADMIN, w.id, "policy").ended_by == "tests"


def test_a_hit_is_reviewed_by_two_examiners(env: Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    w = _watch(env)
    _ingest(env, _new_photos(env, tmp_path, 2, 3))
    a, b = watches.list_hits(env.ctx, EXAMINER)
    # The owner's count of unseen hits went to 0 when they read them above.
    assert watches.unseen_count(env.ctx, EXAMINER) == 0
    with pytest.raises(NotFound):
        watches.propose_hit(env.ctx, EXAMINER2, w.id, a.face_id, "mine")
    first = watches.propose_hit(env.ctx, EXAMINER, w.id, a.face_id, "same marker")
    with pytest.raises(Forbidden):
        review.decide(env.ctx, EXAMINER, first.id, "confirmed")
    assert review.decide(env.ctx, EXAMINER2, first.id, "confirmed").status == "confirmed"

    # Assigned to a named reviewer: only they may decide; blind review hides who proposed it and why.
    env.add_user("examiner3", "examiner")
    monkeypatch.setattr(env.settings, "blind_review", True)
    second = watches.propose_hit(env.ctx, EXAMINER, w.id, b.face_id, "also the marker", reviewer="examiner3")
    assert second.assigned_to == "examiner3"
    seen_by_reviewer = {p.id: p for p in review.list_proposals(env.ctx, EXAMINER2)}[second.id]
    assert seen_by_reviewer.blind and seen_by_reviewer.note == "" and seen_by_reviewer.proposed_by != "examiner"
    assert {p.id: p for p in review.list_proposals(env.ctx, EXAMINER)}[second.id].note == "also the marker"
    with pytest.raises(Forbidden, match="assigned to examiner3"):
        review.decide(env.ctx, EXAMINER2, second.id, "confirmed")
    assert review.decide(env.ctx, Actor("examiner3", "examiner"), second.id, "rejected").status == "rejected"
    actions = [e["action"] for e in audit.query(env.store, limit=100)[0]]
    assert "lead_propose" in actions and "lead_confirm" in actions and "lead_reject" in actions

    report = cases.case_report(env.ctx, AUDITOR, CASE).report
    assert report.watches is not None
    status = {h.face_id: h.status for h in report.watches[0].hits}
    assert status == {a.face_id: "confirmed", b.face_id: "rejected"}
    assert {h.face_id: h.stamp for h in report.watches[0].hits}[a.face_id] is None


def test_reviewer_assignment_rules(env: Env, tmp_path: Path) -> None:
    w = _watch(env)
    _ingest(env, _new_photos(env, tmp_path, 2, 2))
    (h,) = watches.list_hits(env.ctx, EXAMINER)
    for bad in ("examiner", "auditor", "nobody"):
        with pytest.raises(Invalid):
            watches.propose_hit(env.ctx, EXAMINER, w.id, h.face_id, "n", reviewer=bad)
    p = watches.propose_hit(env.ctx, EXAMINER, w.id, h.face_id, "n")
    with pytest.raises(NotFound):
        review.assign_reviewer(env.ctx, EXAMINER2, p.id, "examiner2")  # not the proposer's
    assert review.assign_reviewer(env.ctx, EXAMINER, p.id, "examiner2").assigned_to == "examiner2"
    assert _entries(env, "lead_assign")[0]["details"] == {"reviewer": "examiner2"}


def test_webhooks_carry_ids_only_signed_and_retried(env: Env, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    secret = "s3cret-key-for-tests"
    with webhook_receiver([500, 200]) as box:
        url = f"{box.url}/hooks/facesearch?token=abc"
        env.settings.watch_webhook_secret = SecretStr(secret)
        env.settings.watch_webhook_backoff_seconds = 0.05
        with pytest.raises(Forbidden):  # no allowed prefix yet
            _watch(env, webhook=url)
        env.settings.watch_webhook_hosts = [f"{box.url}/hooks/"]
        with pytest.raises(Forbidden):
            _watch(env, webhook=f"{box.url}/elsewhere")
        with pytest.raises(Forbidden):  # compared by host, not as text
            _watch(env, webhook=box.url.replace("127.0.0.1", "127.0.0.1.example.test") + "/hooks/x")
        with pytest.raises(Invalid):
            _watch(env, webhook=f"http://user:pw@{box.url[7:]}/hooks/x")
        w = _watch(env, webhook=url)
        assert w.webhook is True
        caplog.set_level(logging.INFO, logger="facesearch.watch")
        _ingest(env, _new_photos(env, tmp_path, 2, 3))
        deadline = time.monotonic() + 20
        while len(box.received) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(box.received) == 2  # a 500, then delivered
        got = box.received[-1]
        body = json.loads(got.body)
        assert set(body) == {"event", "watch", "hits", "sent_at"} and body["watch"] == w.id
        assert (
            all(set(h) == {"lead", "face_id", "image_id", "ingest_job"} for h in body["hits"])
            and len(body["hits"]) == 2
        )
        mac = hmac.new(
            secret.encode(), got.headers["x-facesearch-timestamp"].encode() + b"." + got.body, hashlib.sha256
        )
        assert got.headers["x-facesearch-signature"] == "sha256=" + mac.hexdigest()
        for name in (SUBJECT, CASE, "Tony"):
            assert name.encode() not in got.body
        deadline = time.monotonic() + 5
        while not _entries(env, "watch_notify") and time.monotonic() < deadline:
            time.sleep(0.05)
    (entry,) = _entries(env, "watch_notify")
    assert entry["outcome"] == "ok" and entry["results"]["attempts"] == 2
    # The URL (and its token) reaches no audit entry and no log line: only its fingerprint does.
    exported = audit.export(env.store, "json")
    assert "token=abc" not in exported and box.url not in exported
    assert "token=abc" not in caplog.text and entry["details"]["target"].startswith("sha256:")
    assert watches.show_watch(env.ctx, EXAMINER, w.id).model_dump_json().find("hooks") == -1


def test_a_watch_stops_when_its_purpose_is_retired(env: Env, tmp_path: Path) -> None:
    w = _watch(env, purpose="p")
    purposes.retire_purpose(env.ctx, SETUP_ADMIN, "p")
    _ingest(env, _new_photos(env, tmp_path, 2, 2))
    shown = watches.show_watch(env.ctx, EXAMINER, w.id)
    assert shown.status == "stopped" and shown.end_reason == "its purpose p was retired" and shown.hits == 0
