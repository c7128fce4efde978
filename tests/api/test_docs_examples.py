"""The examples of docs/api.md work as written: the curl search (its form fields, its path, a purpose set up as
the text says) is sent as it stands to the service, and the health answer is what the text says it is.

Plumbing: runs on the `synthetic` test pack."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from fastapi.testclient import TestClient
from support.service import PEOPLE, SETUP_ADMIN, SETUP_OPERATOR, gallery_manifest, make_env

from facesearch import __version__
from facesearch.app import purposes
from facesearch.app.ingest import ingest, items_from_manifest

DOCS = Path(__file__).resolve().parents[2] / "docs" / "api.md"


def _curl_search() -> list[str]:
    """The words of the documented curl search command."""
    text = DOCS.read_text()
    block = next(b for b in re.findall(r"```\n(curl .*?)```", text, re.S) if "/api/v1/search" in b)
    return shlex.split(block.replace("\\\n", " "))


def test_documented_curl_search_works_as_written(synthetic_env: Path) -> None:
    env = make_env(synthetic_env, search_rate_per_minute=0, search_daily_quota=0)
    res = ingest(
        env.ctx,
        SETUP_OPERATOR,
        items_from_manifest(gallery_manifest(env, synthetic_env.parent / "g.csv", PEOPLE, 2)),
        "lfw",
    )
    assert res.ingested == len(PEOPLE) * 2
    words = _curl_search()
    fields = dict(words[i + 1].split("=", 1) for i, w in enumerate(words) if w == "-F")
    url = next(w for w in words if w.startswith("http"))
    # The purpose as the text tells an admin to add it: its code, before any ': note'.
    code = fields["purpose"].split(":", 1)[0].strip()
    assert "facesearch purposes add CODE" in DOCS.read_text() and code.isupper()
    purposes.add_purpose(env.ctx, SETUP_ADMIN, code, "documented example")
    assert fields.pop("probe") == "@probe.jpg"
    photo = env.held_out(PEOPLE[0])
    with TestClient(env.app, base_url="https://testserver") as client:
        answer = client.post(
            "/" + url.split("/", 3)[3],
            files={"probe": ("probe.jpg", photo.read_bytes(), "image/jpeg")},
            data=fields,
            headers=env.headers("examiner"),
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["case_ref"] == fields["case_ref"] and answer.json()["faces"][0]["matches"]
        health = client.get("/api/v1/health").json()
    assert health == {"status": "ok", "version": __version__}
    assert '`{"status": "ok", "version": ' in DOCS.read_text()
