"""The cases a user may open, listed (the web Cases page): an examiner their own (cases they searched in, not
those where they were only refused), auditors and admins every case, the most recently used first.

Plumbing: runs on the `synthetic` test pack."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from support.service import PEOPLE, SETUP_OPERATOR, gallery_manifest, make_env

from facesearch.app.case_access import list_cases
from facesearch.app.context import Actor
from facesearch.app.ingest import ingest, items_from_manifest


def test_cases_listed_for_who_may_open_them(synthetic_env: Path) -> None:
    env = make_env(synthetic_env, search_rate_per_minute=0, search_daily_quota=0)
    env.add_user("examiner2", "examiner")
    manifest = gallery_manifest(env, synthetic_env.parent / "g.csv", PEOPLE, 2)
    assert ingest(env.ctx, SETUP_OPERATOR, items_from_manifest(manifest), "lfw").ingested == len(PEOPLE) * 2
    photo = env.held_out(PEOPLE[0])
    with TestClient(env.app, base_url="https://testserver") as client:

        def search(who: str, case: str, purpose: str = "test") -> int:
            files = {"probe": (photo.name, photo.read_bytes(), "image/jpeg")}
            data = {"case_ref": case, "purpose": purpose}
            return client.post("/api/v1/search", files=files, data=data, headers=env.headers(who)).status_code

        assert search("examiner", "CASE-MINE") == 200
        assert search("examiner2", "CASE-THEIRS") == 200
        assert search("examiner", "CASE-REFUSED", purpose="not-a-purpose") == 422
        assert search("examiner", "CASE-MINE") == 200

        mine = list_cases(env.ctx, Actor("examiner", "examiner", via="token"))
        assert [(c.case_ref, c.uses) for c in mine] == [("CASE-MINE", 2)] and mine[0].last_used.endswith("+00:00")
        every = list_cases(env.ctx, Actor("auditor", "auditor", via="token"))
        assert {c.case_ref for c in every} == {"CASE-MINE", "CASE-THEIRS"}

        page = client.get("/cases", headers=env.headers("examiner"))
        assert page.status_code == 200 and "/cases?ref=CASE-MINE" in page.text
        assert "CASE-THEIRS" not in page.text and "CASE-REFUSED" not in page.text and " UTC" in page.text
        page = client.get("/cases", headers=env.headers("auditor")).text
        assert "/cases?ref=CASE-MINE" in page and "/cases?ref=CASE-THEIRS" in page
