"""Governance through the web service: purposes, kill switch, limits, two-person confirmation with the
self-confirmation refusal, case disclosure report, opt-out, doctor, scheduled purge.

All of it is plumbing, so it runs on generated photos and the `synthetic` test pack (no ../shared needed);
the case report's model limitations are therefore the synthetic pack's."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from support.service import EXTRA, PEOPLE, SETUP_OPERATOR, Env, gallery_manifest, make_env, synthetic_packs

from facesearch.app.ingest import ingest, items_from_manifest
from facesearch.server import create_app
from facesearch.store import audit

STAMP = "investigative lead — not an identification"


def _gallery(env: Env, folder: Path, people: list[str], per_person: int) -> None:
    res = ingest(
        env.ctx,
        SETUP_OPERATOR,
        items_from_manifest(gallery_manifest(env, folder / "g.csv", people, per_person)),
        "lfw",
        workers=1,
    )
    assert res.ingested == len(people) * per_person


@pytest.fixture(scope="module")
def gov(tmp_path_factory: pytest.TempPathFactory):
    root = Path(tmp_path_factory.mktemp("gov"))
    with synthetic_packs():
        env = make_env(root / "home", search_rate_per_minute=0, search_daily_quota=0)
        env.add_user("examiner2", "examiner")
        _gallery(env, root, PEOPLE, 3)
        with TestClient(env.app, base_url="https://testserver", raise_server_exceptions=False) as client:
            yield env, client


def _search(
    env: Env, client: TestClient, person: str, role: str = "examiner", case: str = "CASE-G1", purpose: str = "test"
):
    photo = env.held_out(person)
    return client.post(
        "/api/v1/search",
        files={"probe": (photo.name, photo.read_bytes(), "image/jpeg")},
        data={"case_ref": case, "purpose": purpose, "top_k": 5},
        headers=env.headers(role),
    )


def test_purposes_list_refusal_and_retirement(gov) -> None:
    env, client = gov
    r = _search(env, client, PEOPLE[0], purpose="curiosity")
    assert r.status_code == 422
    body = r.json()
    assert (
        body["title"] == "Purpose not allowed"
        and {"code": "test", "description": "tests: identify a suspect"} in body["allowed"]
    )
    admin = env.headers("admin")
    r = client.post(
        "/api/v1/purposes", json={"code": "LE-ART10", "description": "Art. 10 LED: serious crime"}, headers=admin
    )
    assert r.status_code == 201
    assert (
        client.post(
            "/api/v1/purposes", json={"code": "X2", "description": "d"}, headers=env.headers("examiner")
        ).status_code
        == 403
    )
    assert _search(env, client, PEOPLE[0], purpose="LE-ART10: robbery 12").status_code == 200
    assert client.post("/api/v1/purposes/LE-ART10/retire", headers=admin).status_code == 200
    r = _search(env, client, PEOPLE[0], purpose="LE-ART10")
    assert r.status_code == 422 and all(a["code"] != "LE-ART10" for a in r.json()["allowed"])
    codes = {p["code"]: p["active"] for p in client.get("/api/v1/purposes", headers=admin).json()["purposes"]}
    assert codes["LE-ART10"] is False
    rows = client.get("/api/v1/reports/usage?by=purpose", headers=env.headers("auditor")).json()["rows"]
    le = next(r for r in rows if r["purpose"] == "LE-ART10")
    assert le["searches"] == 1 and le["refused"] == 1 and le["users"] == {"examiner": 1}
    refused = audit.query(env.store, action="search", limit=1)[0][0]
    assert refused["outcome"] == "refused" and "not on the list" in refused["details"]["reason"]


def test_kill_switch_is_admin_only_logged_and_immediate(gov) -> None:
    env, client = gov
    assert (
        client.post("/api/v1/search/suspend", json={"reason": "x"}, headers=env.headers("examiner")).status_code == 403
    )
    r = client.post("/api/v1/search/suspend", json={"reason": "court order 7"}, headers=env.headers("admin"))
    assert r.status_code == 200
    r = _search(env, client, PEOPLE[1])
    assert r.status_code == 503 and "court order 7" in r.json()["detail"]
    status = client.get("/api/v1/search/status", headers=env.headers("examiner")).json()
    assert status["suspended"] is True
    assert client.post("/api/v1/search/resume", headers=env.headers("admin")).status_code == 200
    assert _search(env, client, PEOPLE[1]).status_code == 200
    actions = [e["action"] for e in audit.query(env.store, limit=10)[0]]
    assert "search_suspend" in actions and "search_resume" in actions


def test_two_person_confirmation_and_case_report(gov) -> None:
    env, client = gov
    r = _search(env, client, PEOPLE[2], case="CASE-2P")
    assert r.status_code == 200
    res = r.json()
    assert res["stamp"] == STAMP
    matches = res["faces"][0]["matches"]
    assert matches and all(m["status"] == "lead" and m["stamp"] == STAMP for m in matches)
    top = matches[0]
    sid = res["search_id"]
    ex1, ex2 = env.headers("examiner"), env.headers("examiner2")
    r = client.post(
        f"/api/v1/searches/{sid}/proposals", json={"face_id": top["face_id"], "note": "same ear shape"}, headers=ex1
    )
    assert r.status_code == 201, r.text
    pid = r.json()["id"]
    # Self-confirmation is refused, and the refusal is logged.
    r = client.post(f"/api/v1/proposals/{pid}/confirm", json={"note": "me too"}, headers=ex1)
    assert r.status_code == 403 and "self-confirmation" in r.json()["detail"]
    assert audit.query(env.store, action="lead_confirm", limit=1)[0][0]["outcome"] == "refused"
    # A second proposal of the same candidate while one is open is refused.
    assert (
        client.post(
            f"/api/v1/searches/{sid}/proposals", json={"face_id": top["face_id"], "note": "again"}, headers=ex2
        ).status_code
        == 409
    )
    view = client.get(f"/api/v1/searches/{sid}", headers=ex2).json()
    assert view["candidates"][0]["status"] == "proposed"
    r = client.post(f"/api/v1/proposals/{pid}/confirm", json={"note": "independent check: agree"}, headers=ex2)
    assert r.status_code == 200 and r.json()["status"] == "confirmed"
    assert client.post(f"/api/v1/proposals/{pid}/reject", json={}, headers=ex2).status_code == 409
    # Reject another candidate.
    other = matches[1]
    pid2 = client.post(
        f"/api/v1/searches/{sid}/proposals", json={"face_id": other["face_id"], "note": "maybe"}, headers=ex2
    ).json()["id"]
    assert (
        client.post(f"/api/v1/proposals/{pid2}/reject", json={"note": "no"}, headers=ex1).json()["status"] == "rejected"
    )
    exported = client.get(f"/api/v1/searches/{sid}/export?format=csv", headers=ex1).text
    lines = exported.splitlines()
    assert ",confirmed," in lines[1] and lines[1].endswith(",") and lines[2].endswith(STAMP)
    # A search of the same case that finds nobody, then the case report.
    r = _search(env, client, EXTRA, case="CASE-2P")
    assert r.status_code == 200
    client.post(
        "/api/v1/search",
        files={"probe": ("p.jpg", env.held_out(PEOPLE[3]).read_bytes(), "image/jpeg")},
        data={"case_ref": "CASE-2P", "purpose": "test", "threshold": 0.99},
        headers=ex1,
    )
    rep = client.get("/api/v1/cases/CASE-2P/report", headers=ex1).json()
    assert [s["search_id"] for s in rep["searches"]] == sorted(s["search_id"] for s in rep["searches"])
    assert len(rep["searches"]) == 3
    first = rep["searches"][0]
    assert first["model"] == "synthetic" and first["threshold"] is not None and first["threshold_reason"]
    assert len(first["candidates"]) == len(matches)  # every candidate, not only the proposed ones
    assert all("score" in c and "fmr" in c for c in first["candidates"])
    statuses = {c["face_id"]: c["status"] for c in first["candidates"]}
    assert statuses[top["face_id"]] == "confirmed" and statuses[other["face_id"]] == "rejected"
    hist = next(c for c in first["candidates"] if c["face_id"] == top["face_id"])["history"]
    assert hist[0]["proposed_by"] == "examiner" and hist[0]["decided_by"] == "examiner2"
    # The limitations are the pack's own calibration (LFW for the real packs; generated markers here).
    assert rep["summary"]["confirmed"] == 1 and rep["limitations"][0]["model"] == "synthetic"
    assert rep["limitations"][0]["calibration_dataset"].startswith("synthetic markers")
    assert first["probe_faces"][0]["quality"] is not None
    # The report's HTML is stamped; auditors read any case, an examiner only cases they searched in.
    html = client.get("/api/v1/cases/CASE-2P/report?format=html", headers=env.headers("auditor")).text
    assert html.count(STAMP) >= len(matches) and "page-stamp" in html
    assert client.get("/api/v1/cases/CASE-2P/report", headers=env.headers("examiner2")).status_code == 403
    assert client.get("/api/v1/cases/CASE-2P/report", headers=env.headers("operator")).status_code == 403
    actions = {e["action"] for e in audit.query(env.store, case_ref="CASE-2P", limit=100)[0]}
    assert {"search", "lead_propose", "lead_confirm", "lead_reject", "case_report"} <= actions


def test_rate_limit(synthetic_env: Path) -> None:
    env = make_env(synthetic_env, search_rate_per_minute=2, search_daily_quota=3)
    _gallery(env, synthetic_env.parent, PEOPLE[:2], 2)
    with TestClient(env.app, base_url="https://testserver") as client:
        codes = [_search(env, client, PEOPLE[0]).status_code for _ in range(3)]
        assert codes == [200, 200, 429]
        r = _search(env, client, PEOPLE[0])
        assert r.status_code == 429 and r.json()["title"] == "Too many searches" and r.headers["Retry-After"]
    # The limits are counted in the audit log (changed contract: no longer in the process's memory), so a
    # restarted service, or a second one on the same home, sees the same count.
    again = create_app(env.settings)
    with TestClient(again, base_url="https://testserver") as client:
        assert _search(env, client, PEOPLE[0]).status_code == 429
    outcomes = [e["outcome"] for e in audit.query(env.store, action="search")[0]]
    assert outcomes == ["refused", "refused", "refused", "ok", "ok"]


def test_optout_and_doctor_through_the_api(gov) -> None:
    env, client = gov
    person = PEOPLE[4]
    photos = env.person(person)[3:5]
    files = [("photos", (p.name, p.read_bytes(), "image/jpeg")) for p in photos]
    assert (
        client.post(
            "/api/v1/optouts", data={"reference": "DSR-9"}, files=files, headers=env.headers("examiner")
        ).status_code
        == 403
    )
    r = client.post("/api/v1/optouts", data={"reference": "DSR-9"}, files=files, headers=env.headers("operator"))
    assert r.status_code == 201, r.text
    assert r.json()["erased"]["faces"] >= 3
    res = _search(env, client, person, case="CASE-OPT").json()
    assert all(person not in (m["source_url"] or "") for f in res["faces"] for m in f["matches"])
    assert client.get("/api/v1/doctor", headers=env.headers("operator")).json()["ok"] is True
    listed = client.get("/api/v1/optouts", headers=env.headers("admin")).json()["optouts"]
    assert listed[0]["reference"] == "DSR-9" and "embedding" not in str(listed)


def test_scheduled_purge_runs_inside_the_service(synthetic_env: Path) -> None:
    env = make_env(synthetic_env, photos=False, purge_first_delay_seconds=0.05)
    with TestClient(env.app, base_url="https://testserver"):
        deadline = time.monotonic() + 10
        while not audit.query(env.store, action="purge")[0]:
            assert time.monotonic() < deadline, "the scheduled purge did not run"
            time.sleep(0.05)
    entry = audit.query(env.store, action="purge")[0][0]
    assert entry["actor"] == "system:scheduled-purge"
