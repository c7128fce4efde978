"""Request bodies are bounded per route by what the route declares it takes (one photo, two, a batch), with
the sizes from the settings; every other body by 1 MiB."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from support.service import make_env

from facesearch.server.limits import DEFAULT_LIMIT, MARGIN, BodyLimit, route_uploads


def test_each_route_is_bounded_by_what_it_takes(synthetic_env: Path) -> None:
    env = make_env(synthetic_env, photos=False)
    settings = env.settings
    limits = BodyLimit(env.app, route_uploads(env.app.routes), settings)
    photo = settings.max_upload_bytes
    assert limits.limit("/api/v1/ingest") == settings.max_ingest_request_bytes
    assert limits.limit("/api/v1/verify") == 2 * photo + MARGIN
    assert limits.limit("/api/v1/search") == limits.limit("/api/v1/detect") == photo + MARGIN
    for other in ("/api/v1/collections", "/api/v1/search/", "/login", "/api/v1/users/x/tokens"):
        assert limits.limit(other) == DEFAULT_LIMIT
    settings.max_upload_bytes = 5000  # the bound follows the settings
    assert limits.limit("/api/v1/search") == 5000 + MARGIN

    with TestClient(env.app, base_url="https://testserver") as client:
        headers = {**env.headers("examiner"), "content-length": str(2 * 5000 + MARGIN + 1)}
        r = client.post("/api/v1/verify", headers=headers, content=b"x")
        assert r.status_code == 413 and r.json()["title"] == "Request too large"
        headers = {**env.headers("operator"), "content-length": str(DEFAULT_LIMIT + 1)}
        assert client.post("/api/v1/collections", headers=headers, content=b"x").status_code == 413
