"""Case access comes from ownership or explicit assignment (issue 18, part B, reproduction 6): an examiner who
sees a case reference in the proposals list and runs a verify of her own photos under it does not open the
case report of the examiner who opened the case."""

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
    # 0.3.0: one verify of her own photos under the reference made her a participant (403 -> 200).
    r = client.post(
        "/api/v1/verify",
        files={"a": _photo(env, 1), "b": _photo(env, 1)},
        data={"case_ref": "CASE-JOIN", "purpose": "test"},
        headers=ex2,
    )
    assert r.status_code == 200, r.text
    assert client.get("/api/v1/cases/CASE-JOIN/report", headers=ex2).status_code == 403
    assert client.get("/api/v1/cases/CASE-JOIN/authorisations", headers=ex2).status_code in (403, 404)
    # The owner and the auditors still read it.
    assert client.get("/api/v1/cases/CASE-JOIN/report", headers=env.headers("examiner")).status_code == 200
    assert client.get("/api/v1/cases/CASE-JOIN/report", headers=env.headers("auditor")).status_code == 200
