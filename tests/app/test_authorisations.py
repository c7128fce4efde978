"""Case authorisations through the use cases: a purpose that requires one refuses searches, verifies,
co-appearance searches and watches without one in force (kind `forbidden`), works with one, lets urgent uses
through for its window (flagged in the case report until an authorisation covers them), stops a watch when the
authorisation lapses, and the yearly report counts every use with and without one.

Plumbing: runs on the `synthetic` test pack."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from support.service import PEOPLE, SETUP_ADMIN, SETUP_OPERATOR, Env, gallery_manifest, make_env
from support.watching import day, days_ahead, manifest

from facesearch.app import authorisations, cases, purposes, searching, watches
from facesearch.app.context import Actor
from facesearch.app.errors import Forbidden, Invalid
from facesearch.app.ingest import ingest, items_from_manifest
from facesearch.app.people import cluster, together
from facesearch.app.searching import SearchRequest
from facesearch.services.uploads import Photo
from facesearch.store import audit
from facesearch.store import people as people_rows

EXAMINER = Actor("examiner", "examiner")
AUDITOR = Actor("auditor", "auditor")
SUBJECT = "Tony_Blair"


@pytest.fixture
def env(synthetic_env: Path) -> Iterator[Env]:
    e = make_env(synthetic_env, search_rate_per_minute=0, search_daily_quota=0)
    ingest(
        e.ctx,
        SETUP_OPERATOR,
        items_from_manifest(gallery_manifest(e, synthetic_env.parent / "g.csv", PEOPLE, 2)),
        "lfw",
    )
    purposes.add_purpose(
        e.ctx, SETUP_ADMIN, "LE-AUTH", "Art. 26(10): needs an authorisation", requires_authorisation=True
    )
    purposes.add_purpose(
        e.ctx, SETUP_ADMIN, "LE-URGENT", "Art. 26(10), urgent", requires_authorisation=True, urgent_hours=48
    )
    yield e


def _search(env: Env, case: str, purpose: str) -> searching.LeadSearch:
    return searching.search(
        env.ctx, EXAMINER, Photo.from_path(env.person(SUBJECT)[7]), SearchRequest(case, purpose, top_k=3)
    )


def _authorise(env: Env, case: str, granted: str, expires: str) -> authorisations.AuthorisationInfo:
    return authorisations.authorise(
        env.ctx, SETUP_ADMIN, case, authority="District Court", reference="RK-1/26", granted=granted, expires=expires
    )


def test_a_purpose_that_requires_an_authorisation_refuses_without_one(env: Env, tmp_path: Path) -> None:
    listed = {p.code: p for p in purposes.list_purposes(env.ctx, SETUP_ADMIN)}
    assert listed["LE-AUTH"].requires_authorisation is True and listed["LE-AUTH"].urgent_hours is None
    assert listed["LE-URGENT"].urgent_hours == 48 and listed["test"].requires_authorisation is None
    assert "requires_authorisation" not in listed["test"].model_dump(mode="json")  # only where it applies
    photo = Photo.from_path(env.person(SUBJECT)[7])
    with pytest.raises(Forbidden, match="requires an authorisation") as refused:
        _search(env, "C-A", "LE-AUTH: robbery")
    assert refused.value.kind == "forbidden" and refused.value.status == 403 and refused.value.exit_code == 4
    with pytest.raises(Forbidden):
        searching.verify(env.ctx, EXAMINER, photo, photo, case_ref="C-A", purpose="LE-AUTH")
    with pytest.raises(Forbidden):
        watches.add_watch(env.ctx, EXAMINER, photo, watches.WatchRequest("C-A", "LE-AUTH", day(5)))
    cluster(env.ctx, SETUP_OPERATOR)
    pid = next(iter(people_rows.members(env.store)))  # anyone: people browsing passes the same gate
    with pytest.raises(Forbidden):
        together(env.ctx, EXAMINER, pid, case_ref="C-A", purpose="LE-AUTH")
    refusals = [e for e in audit.query(env.store, case_ref="C-A", limit=50)[0] if e["outcome"] == "refused"]
    assert {e["action"] for e in refusals} == {"search", "verify", "watch_add", "people_together"}
    assert all("requires an authorisation" in e["details"]["reason"] for e in refusals)

    # An authorisation that has not started, or has ended, does not count; one in force does.
    _authorise(env, "C-A", day(3), day(10))
    _authorise(env, "C-A", day(-10), day(-1))
    with pytest.raises(Forbidden):
        _search(env, "C-A", "LE-AUTH")
    live = _authorise(env, "C-A", day(0), day(30))
    assert live.live and [a.live for a in authorisations.case_authorisations(env.ctx, AUDITOR, "C-A")] == [
        False,
        False,
        True,
    ]
    assert _search(env, "C-A", "LE-AUTH").search_id
    assert searching.verify(env.ctx, EXAMINER, photo, photo, case_ref="C-A", purpose="LE-AUTH").same_person
    # Another case has no authorisation: still refused.
    with pytest.raises(Forbidden):
        _search(env, "C-B", "LE-AUTH")
    report = cases.case_report(env.ctx, AUDITOR, "C-A").report
    assert report.authorisations is not None and [a.id for a in report.authorisations][-1] == live.id
    ok = [s for s in report.searches if s.outcome != "refused"]
    assert ok and all((s.authorisation or "").startswith(f"authorisation #{live.id}") for s in ok)
    logged = audit.query(env.store, action="case_authorise", limit=10)[0]
    assert len(logged) == 3 and logged[0]["details"]["authority"] == "District Court"


def test_urgent_use_is_flagged_until_an_authorisation_covers_it(env: Env) -> None:
    first = _search(env, "C-U", "LE-URGENT")
    report = cases.case_report(env.ctx, AUDITOR, "C-U").report
    assert (report.searches[0].authorisation or "").startswith("URGENT USE")
    # 47 hours later still within the window; 49 hours later refused.
    days_ahead(env.ctx, 47 / 24)
    _search(env, "C-U", "LE-URGENT")
    days_ahead(env.ctx, 49 / 24)
    with pytest.raises(Forbidden, match="48 hours of urgent use"):
        _search(env, "C-U", "LE-URGENT")
    # An authorisation granted after the first use, within the window, covers it: no longer flagged.
    env.ctx.clock = lambda: datetime.now(timezone.utc)
    _authorise(env, "C-U", (datetime.now(timezone.utc) + timedelta(hours=1)).isoformat(), day(20))
    report = cases.case_report(env.ctx, AUDITOR, "C-U").report
    grounds = [s.authorisation for s in report.searches if s.search_id == first.search_id]
    assert grounds and (grounds[0] or "").startswith("urgent use, then authorisation")


def test_a_watch_stops_when_its_case_authorisation_lapses(env: Env, tmp_path: Path) -> None:
    _authorise(env, "C-W", day(0), day(3))
    photo = Photo.from_path(env.person(SUBJECT)[7])
    w = watches.add_watch(env.ctx, EXAMINER, photo, watches.WatchRequest("C-W", "LE-AUTH", day(20)))
    new = manifest(tmp_path / "n.csv", env.person(SUBJECT)[2:4])
    ingest(env.ctx, SETUP_OPERATOR, items_from_manifest(new), "lfw")
    assert watches.show_watch(env.ctx, EXAMINER, w.id).hits == 2
    days_ahead(env.ctx, 5)  # the authorisation expired (end of day 3)
    ingest(env.ctx, SETUP_OPERATOR, items_from_manifest(manifest(tmp_path / "m.csv", env.person(SUBJECT)[4:6])), "lfw")
    shown = watches.show_watch(env.ctx, EXAMINER, w.id)
    assert shown.status == "stopped" and shown.hits == 2 and "authorisation" in (shown.end_reason or "")
    (stop,) = audit.query(env.store, action="watch_stop", limit=5)[0]
    assert stop["role"] == "system" and stop["results"] == {"watch": w.id, "status": "stopped"}
    # Renewing needs the gate again: refused without an authorisation in force.
    with pytest.raises(Invalid):
        watches.renew_watch(env.ctx, EXAMINER, w.id, day(10))


def test_authorise_checks_its_input_and_role(env: Env, tmp_path: Path) -> None:
    with pytest.raises(Forbidden):
        authorisations.authorise(env.ctx, EXAMINER, "C-X", authority="a", reference="r", granted=day(0), expires=day(1))
    for bad in ({"authority": " "}, {"expires": day(-2)}, {"granted": "yesterday"}):
        fields = {"authority": "a", "reference": "r", "granted": day(0), "expires": day(1), **bad}
        with pytest.raises(Invalid):
            authorisations.authorise(env.ctx, SETUP_ADMIN, "C-X", **fields)  # type: ignore[arg-type]
    doc = authorisations.Document("../../etc/decision.pdf", b"%PDF-1.4 decision")
    a = authorisations.authorise(
        env.ctx, SETUP_ADMIN, "C-X", authority="a", reference="r", granted=day(0), expires=day(1), document=doc
    )
    assert a.document is not None and a.document.name == "decision.pdf"
    assert (env.settings.home / "authorisations" / a.document.sha256).read_bytes() == b"%PDF-1.4 decision"
    # Examiners read the authorisations of cases they took part in only.
    with pytest.raises(Forbidden):
        authorisations.case_authorisations(env.ctx, EXAMINER, "C-X")


def test_yearly_report_counts_uses_with_and_without_authorisation(env: Env) -> None:
    _search(env, "C-Y", "test")
    _search(env, "C-Y", "LE-URGENT")
    with pytest.raises(Forbidden):
        _search(env, "C-Z", "LE-AUTH")
    _authorise(env, "C-Z", day(0), day(5))
    _search(env, "C-Z", "LE-AUTH")
    year = datetime.now(timezone.utc).year
    report = authorisations.purpose_year_report(env.ctx, AUDITOR, year)
    rows = {r.purpose: r for r in report.purposes}
    assert rows["test"].uses == 1 and rows["test"].requires_authorisation is False
    assert rows["LE-URGENT"].without_authorisation == 1 and rows["LE-URGENT"].urgent_pending == 1
    assert rows["LE-AUTH"].with_authorisation == 1 and rows["LE-AUTH"].refused == 1 and rows["LE-AUTH"].searches == 1
    assert authorisations.purpose_year_report(env.ctx, AUDITOR, year - 1).purposes == []
    with pytest.raises(Forbidden):
        authorisations.purpose_year_report(env.ctx, EXAMINER, year)
