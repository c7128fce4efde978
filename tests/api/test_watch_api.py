"""Standing searches and case authorisations through the web service: a watch added over the API, photos
uploaded as an ingest job (the API's own path), the hits with the same keys as `watch hits --json`, the
unseen count, a hit proposed and confirmed by two examiners, reviewer assignment, authorisations recorded by
an admin (refused to others), a purpose that requires one refusing with 403, the case report and the yearly
report. Plumbing: runs on the `synthetic` test pack."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from support.service import EXTRA, PEOPLE, SETUP_OPERATOR, Env, gallery_manifest, make_env, synthetic_packs, wait_job
from support.watching import day

from facesearch.app.ingest import ingest, items_from_manifest
from facesearch.store import audit

SUBJECT = "Tony_Blair"
HIT = {"watch", "case", "face_id", "image", "score", "decision", "fmr", "ingest_job", "at"}


@pytest.fixture(scope="module")
def svc(tmp_path_factory: pytest.TempPathFactory):
    root = Path(tmp_path_factory.mktemp("watch-api"))
    with synthetic_packs():
        env = make_env(root / "home", search_rate_per_minute=0, search_daily_quota=0)
        env.add_user("examiner2", "examiner")
        ingest(env.ctx, SETUP_OPERATOR, items_from_manifest(gallery_manifest(env, root / "g.csv", PEOPLE, 2)), "lfw")
        with TestClient(env.app, base_url="https://testserver", raise_server_exceptions=False) as client:
            yield env, client


def _add(env: Env, client: TestClient, role: str = "examiner", **data: Any) -> Any:
    probe = env.person(SUBJECT)[7]
    fields = {"case_ref": "C-API", "purpose": "test", "until": day(20), **data}
    return client.post(
        "/api/v1/watches",
        files={"probe": (probe.name, probe.read_bytes(), "image/jpeg")},
        data=fields,
        headers=env.headers(role),
    )


def test_watch_over_the_api_with_an_ingest_job(svc) -> None:
    env, client = svc
    h = env.headers
    assert _add(env, client, role="operator").status_code == 403
    r = _add(env, client)
    assert r.status_code == 201, r.text
    watch = r.json()
    assert watch["status"] == "active" and watch["case"] == "C-API" and watch["owner"] == "examiner"
    assert client.get(f"/api/v1/watches/{watch['id']}", headers=h("examiner2")).status_code == 404
    assert client.get("/api/v1/watches", headers=h("examiner2")).json() == {"watches": []}
    assert [w["id"] for w in client.get("/api/v1/watches", headers=h("auditor")).json()["watches"]] == [watch["id"]]

    # New photos arrive as an upload job: the job's run checks them against the watch.
    photos = [p for n in [*PEOPLE, EXTRA] for p in env.person(n)[2:4]]
    files = [("files", (p.name, p.read_bytes(), "image/jpeg")) for p in photos]
    job = client.post("/api/v1/ingest", data={"collection": "lfw"}, files=files, headers=h("operator"))
    assert job.status_code == 202, job.text
    assert wait_job(client, job.json()["job_id"], h("operator"))["status"] == "done"
    assert client.get("/api/v1/watches/hits/unseen", headers=h("examiner")).json() == {"unseen": 2}
    hits = client.get("/api/v1/watches/hits", headers=h("examiner")).json()["hits"]
    assert [set(x) for x in hits] == [HIT] * 2 and {x["watch"] for x in hits} == {watch["id"]}
    assert client.get("/api/v1/watches/hits/unseen", headers=h("examiner")).json() == {"unseen": 0}
    assert client.get("/api/v1/watches/hits", headers=h("examiner2")).json() == {"hits": []}
    assert client.get(f"/api/v1/watches/hits?watch={watch['id']}", headers=h("examiner2")).status_code == 404
    # The thumbnail of a hit is shown to its owner (the view was logged).
    assert client.get(f"/api/v1/faces/{hits[0]['face_id']}/thumbnail", headers=h("examiner")).status_code == 200

    # Proposed by the owner, assigned, confirmed by the reviewer.
    url = f"/api/v1/watches/{watch['id']}/hits/{hits[0]['face_id']}/proposals"
    assert client.post(url, json={"note": "n"}, headers=h("examiner2")).status_code == 404
    made = client.post(url, json={"note": "same marker"}, headers=h("examiner"))
    assert made.status_code == 201 and "assigned_to" not in made.json()
    pid = made.json()["id"]
    assert (
        client.post(f"/api/v1/proposals/{pid}/assign", json={"reviewer": "admin"}, headers=h("examiner")).status_code
        == 422
    )
    assigned = client.post(f"/api/v1/proposals/{pid}/assign", json={"reviewer": "examiner2"}, headers=h("examiner"))
    assert assigned.status_code == 200 and assigned.json()["assigned_to"] == "examiner2"
    confirmed = client.post(f"/api/v1/proposals/{pid}/confirm", json={"note": "agree"}, headers=h("examiner2"))
    assert confirmed.status_code == 200 and confirmed.json()["status"] == "confirmed"

    # Renew, stop; the case report lists the watch, its hits and their review.
    renewed = client.post(f"/api/v1/watches/{watch['id']}/renew", json={"until": day(40)}, headers=h("examiner"))
    assert renewed.status_code == 200 and renewed.json()["until"].startswith(day(41))
    too_far = client.post(f"/api/v1/watches/{watch['id']}/renew", json={"until": day(400)}, headers=h("examiner"))
    assert too_far.status_code == 422
    assert client.post(f"/api/v1/watches/{watch['id']}/stop", json={}, headers=h("examiner2")).status_code == 404
    stopped = client.post(f"/api/v1/watches/{watch['id']}/stop", json={"reason": "done"}, headers=h("admin"))
    assert stopped.status_code == 200 and stopped.json()["status"] == "stopped"
    report = client.get("/api/v1/cases/C-API/report", headers=h("examiner")).json()
    (w,) = report["watches"]
    assert w["watch"] == watch["id"] and sorted(x["status"] for x in w["hits"]) == ["confirmed", "lead"]
    assert [e["action"] for e in w["events"]] == ["watch_renew", "watch_renew", "watch_stop"]
    page = client.get("/api/v1/cases/C-API/report?format=html", headers=h("auditor")).text
    assert "Watch #" in page and "confirmed" in page


def test_authorisations_over_the_api(svc, tmp_path: Path) -> None:
    env, client = svc
    h = env.headers
    r = client.post(
        "/api/v1/purposes",
        json={"code": "LE-API", "description": "Art. 26(10)", "requires_authorisation": True, "urgent_hours": 48},
        headers=h("admin"),
    )
    assert r.status_code == 201 and r.json()["requires_authorisation"] is True and r.json()["urgent_hours"] == 48
    assert client.post(
        "/api/v1/purposes", json={"code": "LE-NO", "description": "d"}, headers=h("admin")
    ).json().keys() == {*("code", "description", "active", "created_at", "created_by", "retired_at", "retired_by")}
    client.post(
        "/api/v1/purposes",
        json={"code": "LE-STRICT", "description": "d", "requires_authorisation": True},
        headers=h("admin"),
    )
    probe = env.held_out(SUBJECT)

    def search(case: str, purpose: str) -> Any:
        return client.post(
            "/api/v1/search",
            files={"probe": (probe.name, probe.read_bytes(), "image/jpeg")},
            data={"case_ref": case, "purpose": purpose},
            headers=h("examiner"),
        )

    refused = search("C-STRICT", "LE-STRICT")
    assert refused.status_code == 403 and refused.json()["title"] == "Forbidden"
    assert "requires an authorisation" in refused.json()["detail"]
    assert _add(env, client, case_ref="C-STRICT", purpose="LE-STRICT").status_code == 403
    urgent = search("C-URG", "LE-API")
    assert urgent.status_code == 200  # within the urgent window

    form = {"authority": "Court", "reference": "RK-7", "granted": day(0), "expires": day(10)}
    doc = {"document": ("decision.pdf", b"%PDF-1.4 decision", "application/pdf")}
    assert client.post("/api/v1/cases/C-STRICT/authorisations", data=form, headers=h("examiner")).status_code == 403
    bad = client.post("/api/v1/cases/C-STRICT/authorisations", data={**form, "expires": day(-3)}, headers=h("admin"))
    assert bad.status_code == 422
    made = client.post("/api/v1/cases/C-STRICT/authorisations", data=form, files=doc, headers=h("admin"))
    assert made.status_code == 201, made.text
    a = made.json()
    assert a["live"] is True and a["document"]["name"] == "decision.pdf" and len(a["document"]["sha256"]) == 64
    assert search("C-STRICT", "LE-STRICT").status_code == 200
    listed = client.get("/api/v1/cases/C-STRICT/authorisations", headers=h("examiner")).json()
    assert [x["id"] for x in listed["authorisations"]] == [a["id"]]
    assert client.get("/api/v1/cases/C-OTHER/authorisations", headers=h("examiner")).status_code == 403

    report = client.get("/api/v1/cases/C-STRICT/report", headers=h("auditor")).json()
    assert [x["id"] for x in report["authorisations"]] == [a["id"]]
    ok = [s for s in report["searches"] if s["outcome"] != "refused"]
    assert ok[0]["authorisation"].startswith(f"authorisation #{a['id']}")
    flagged = client.get("/api/v1/cases/C-URG/report?format=html", headers=h("auditor")).text
    assert "URGENT USE" in flagged
    # A report of a case without watches or authorisations keeps exactly its old keys.
    plain = client.get("/api/v1/cases/NO-SUCH/report", headers=h("auditor")).json()
    assert set(plain) == {"case_ref", "generated_at", "stamp", "summary", "searches", "limitations", "notice"}

    year = datetime.now(timezone.utc).year
    assert client.get(f"/api/v1/reports/purposes?year={year}", headers=h("examiner")).status_code == 403
    yearly = client.get(f"/api/v1/reports/purposes?year={year}", headers=h("auditor")).json()
    rows = {r["purpose"]: r for r in yearly["purposes"]}
    assert rows["LE-STRICT"]["with_authorisation"] == 1 and rows["LE-STRICT"]["refused"] == 2
    assert rows["LE-API"]["urgent_pending"] == 1
    entries = audit.query(env.store, action="case_authorise", limit=5)[0]
    assert entries[0]["details"]["document_sha256"] == a["document"]["sha256"]
