"""Case access comes from ownership or explicit assignment (issue 18, part B, reproduction 6): an examiner who
sees a case reference in the proposals list and runs a verify of her own photos under it does not open the
case report of the examiner who opened the case. Nor can she squat a reference another examiner will use: once a
case has an owner, only the owner and the examiners an admin added work under it."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from support.service import PEOPLE, SETUP_OPERATOR, gallery_manifest, make_env, synthetic_packs

from facesearch.app.ingest import ingest, items_from_manifest


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory):
    root = Path(tmp_path_factory.mktemp("cases"))
    with synthetic_packs():
        env = make_env(root / "home", search_rate_per_minute=0, search_daily_quota=0)
        env.add_user("examiner2", "examiner")
        ingest(env.ctx, SETUP_OPERATOR, items_from_manifest(gallery_manifest(env, root / "g.csv", PEOPLE, 3)), "lfw")
        with TestClient(env.app, base_url="https://testserver", raise_server_exceptions=False) as client:
            yield env, client


def _photo(env, k: int) -> tuple[str, bytes, str]:
    p = env.held_out(PEOPLE[k])
    return (p.name, p.read_bytes(), "image/jpeg")


def test_a_verify_under_another_examiners_case_does_not_open_its_report(world) -> None:
    env, client = world
    r = client.post(
        "/api/v1/search",
        files={"probe": _photo(env, 0)},
        data={"case_ref": "CASE-JOIN", "purpose": "test", "top_k": 3},
        headers=env.headers("examiner"),
    )
    assert r.status_code == 200, r.text
    ex2 = env.headers("examiner2")
    assert client.get("/api/v1/cases/CASE-JOIN/report", headers=ex2).status_code == 403
    # 0.3.0: one verify of her own photos under the reference made her a participant (403 -> 200). Now the
    # verify itself is refused (and logged as a refusal), and the report stays closed.
    r = client.post(
        "/api/v1/verify",
        files={"a": _photo(env, 1), "b": _photo(env, 1)},
        data={"case_ref": "CASE-JOIN", "purpose": "test"},
        headers=ex2,
    )
    assert r.status_code == 403 and "opened by another examiner" in r.json()["detail"], r.text
    assert client.get("/api/v1/cases/CASE-JOIN/report", headers=ex2).status_code == 403
    assert client.get("/api/v1/cases/CASE-JOIN/authorisations", headers=ex2).status_code in (403, 404)
    # The owner and the auditors still read it.
    assert client.get("/api/v1/cases/CASE-JOIN/report", headers=env.headers("examiner")).status_code == 200
    assert client.get("/api/v1/cases/CASE-JOIN/report", headers=env.headers("auditor")).status_code == 200


def _search(client, env, headers, case: str, k: int = 0):  # type: ignore[no-untyped-def]
    return client.post(
        "/api/v1/search",
        files={"probe": _photo(env, k)},
        data={"case_ref": case, "purpose": "test", "top_k": 3},
        headers=headers,
    )


def test_a_squatted_case_reference_never_reads_its_later_searches(world) -> None:
    """An examiner who uses a reference first (guessing one a colleague will use) owns the case; the colleague's
    later searches under it are refused rather than recorded where the squatter reads them."""
    env, client = world
    ex2 = env.headers("examiner2")
    assert _search(client, env, ex2, "CASE-SQUAT", 1).status_code == 200
    r = _search(client, env, env.headers("examiner"), "CASE-SQUAT")
    assert r.status_code == 403 and "cases assign CASE-SQUAT" in r.json()["detail"], r.text
    report = client.get("/api/v1/cases/CASE-SQUAT/report?format=json", headers=ex2)
    assert report.status_code == 200
    assert {e["actor"] for e in report.json()["searches"] if e["outcome"] != "refused"} == {"examiner2"}


def test_an_admin_adds_an_examiner_to_a_case(world) -> None:
    env, client = world
    ex2 = env.headers("examiner2")
    assert _search(client, env, env.headers("examiner"), "CASE-TEAM").status_code == 200
    assert _search(client, env, ex2, "CASE-TEAM", 1).status_code == 403
    # Only an admin adds members, and only examiners can be added.
    body = {"examiner": "examiner2"}
    assert client.post("/api/v1/cases/CASE-TEAM/members", json=body, headers=env.headers("examiner")).status_code == 403
    assert (
        client.post(
            "/api/v1/cases/CASE-TEAM/members", json={"examiner": "auditor"}, headers=env.headers("admin")
        ).status_code
        == 422
    )
    r = client.post("/api/v1/cases/CASE-TEAM/members", json=body, headers=env.headers("admin"))
    assert r.status_code == 201 and r.json()["examiner"] == "examiner2", r.text
    assert _search(client, env, ex2, "CASE-TEAM", 1).status_code == 200
    assert client.get("/api/v1/cases/CASE-TEAM/report", headers=ex2).status_code == 200


def test_an_admin_takes_an_examiner_off_a_case(world) -> None:
    """Membership ends as it began, by an admin's logged decision: the examiner taken off may no longer search
    under the case nor read its report; the owner's access is untouched; taking off a non-member is refused;
    added again, they work under it again (assign and unassign replayed in order)."""
    env, client = world
    owner, ex2, admin = env.headers("examiner"), env.headers("examiner2"), env.headers("admin")
    assert _search(client, env, owner, "CASE-OFF").status_code == 200
    add = {"json": {"examiner": "examiner2"}, "headers": admin}
    assert client.post("/api/v1/cases/CASE-OFF/members", **add).status_code == 201
    assert _search(client, env, ex2, "CASE-OFF", 1).status_code == 200
    # Only an admin takes members off.
    assert client.delete("/api/v1/cases/CASE-OFF/members/examiner2", headers=owner).status_code == 403
    r = client.delete("/api/v1/cases/CASE-OFF/members/examiner2", headers=admin)
    assert r.status_code == 200, r.text
    assert r.json()["examiner"] == "examiner2" and r.json()["removed_by"] == "admin" and r.json()["seq"] > 0
    r = _search(client, env, ex2, "CASE-OFF", 1)
    assert r.status_code == 403 and "cases assign CASE-OFF" in r.json()["detail"], r.text
    assert client.get("/api/v1/cases/CASE-OFF/report", headers=ex2).status_code == 403
    assert _search(client, env, owner, "CASE-OFF").status_code == 200  # the owner is not a member to remove
    assert client.delete("/api/v1/cases/CASE-OFF/members/examiner2", headers=admin).status_code == 422
    assert client.delete("/api/v1/cases/CASE-OFF/members/examiner", headers=admin).status_code == 422
    # The log holds both decisions; added again, the examiner works under the case again.
    log = client.get("/api/v1/audit?action=case_unassign&case_ref=CASE-OFF", headers=env.headers("auditor"))
    assert log.status_code == 200, log.text
    taken_off = [e for e in log.json()["entries"] if e["outcome"] != "refused"]
    assert len(taken_off) == 1 and taken_off[0]["actor"] == "admin"
    assert client.post("/api/v1/cases/CASE-OFF/members", **add).status_code == 201
    assert _search(client, env, ex2, "CASE-OFF", 1).status_code == 200
