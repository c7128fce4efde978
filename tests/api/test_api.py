"""The REST API against the real app, on generated photos ingested with the `synthetic` test pack (plumbing:
routes, rules, audit entries, counts; no model weights needed). The last test runs the same calls on real LFW
photos with the yunet-reid pack, where ../shared has them."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from support.paths import needs_lfw, needs_yunet
from support.service import (
    EXTRA,
    PEOPLE,
    SETUP_OPERATOR,
    Env,
    gallery_manifest,
    make_env,
    sha256_file,
    synthetic_packs,
    wait_job,
)
from support.synthetic import write_photo

from facesearch.app.ingest import ingest, items_from_manifest
from facesearch.store import audit


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory):
    """A service with 5 people x 4 photos, ingested through POST /api/v1/ingest."""
    root = Path(tmp_path_factory.mktemp("api"))
    with synthetic_packs():
        env = make_env(root / "home")
        with TestClient(env.app, base_url="https://testserver", raise_server_exceptions=False) as client:
            manifest = gallery_manifest(env, root / "gallery.csv")
            r = client.post(
                "/api/v1/ingest", data={"collection": "lfw", "manifest": str(manifest)}, headers=env.headers("operator")
            )
            assert r.status_code == 202, r.text
            job = wait_job(client, r.json()["job_id"], env.headers("operator"))
            assert job["status"] == "done", job
            assert job["counts"]["ingested"] == 20 and job["counts"]["failed"] == 0
            yield env, client


def _probe(path: Path) -> dict:
    return {"probe": (path.name, path.read_bytes(), "image/jpeg")}


def _search(env: Env, client: TestClient, path: Path, **data) -> object:
    form = {"case_ref": "CASE-7", "purpose": "test: identify a suspect", **data}
    return client.post("/api/v1/search", files=_probe(path), data=form, headers=env.headers("examiner"))


def test_search_ranks_the_right_person_first_and_is_audited(api) -> None:
    env, client = api
    for name in PEOPLE:
        probe = env.held_out(name)
        r = _search(env, client, probe, top_k="5")
        assert r.status_code == 200, r.text
        body = r.json()
        matches = body["faces"][0]["matches"]
        assert matches, name
        top = matches[0]
        assert name in top["image"]["path"], (name, top["image"]["path"])
        for key in ("face_id", "score", "fmr", "image_id", "collection", "source_url", "box", "thumbnail_url"):
            assert key in top
        assert top["collection"] == "lfw"
        assert top["source_url"].endswith(f"{name}.html")
        assert body["case_ref"] == "CASE-7" and body["probe_sha256"] == sha256_file(probe)
        # The audit entry for this search holds who, why, what and what came back.
        entries, _ = audit.query(env.store, action="search", limit=1)
        e = entries[0]
        assert e["seq"] == body["search_id"]
        assert (e["actor"], e["role"], e["case_ref"], e["outcome"]) == ("examiner", "examiner", "CASE-7", "ok")
        assert e["purpose"] == "test: identify a suspect" and e["ip"]
        assert e["probe_sha256"] == sha256_file(probe)
        assert e["collections"] == ["lfw"] and e["model"] == "synthetic" and e["threshold"] is not None
        logged = e["results"][0]["matches"]
        assert [(m["face_id"], m["score"]) for m in logged] == [(m["face_id"], m["score"]) for m in matches]
    # The thumbnail of a returned face is served without another audit entry.
    before = audit.query(env.store)[1]
    t = client.get(top["thumbnail_url"], headers=env.headers("examiner"))
    assert t.status_code == 200 and t.headers["content-type"] == "image/jpeg" and t.content[:2] == b"\xff\xd8"
    assert audit.query(env.store)[1] == before


def test_search_needs_case_reference_and_purpose(api) -> None:
    env, client = api
    probe = env.held_out(PEOPLE[0])
    for data in ({"purpose": "x"}, {"case_ref": "C"}, {}, {"case_ref": "   ", "purpose": "x"}):
        r = client.post("/api/v1/search", files=_probe(probe), data=data, headers=env.headers("examiner"))
        assert r.status_code == 422, data
        assert r.headers["content-type"].startswith("application/problem+json")
        body = r.json()
        assert body["status"] == 422 and body["title"] and body["detail"]
        # The refusal's kind: the same title (and CLI exit code 4) from every entry point.
        assert body["title"] == "Case reference and purpose required"
    # The detail names what is missing (in words: the same message as the CLI's, no longer the form field).
    body = client.post(
        "/api/v1/search", files=_probe(probe), data={"purpose": "x"}, headers=env.headers("examiner")
    ).json()
    assert "case reference" in body["detail"] and body["field"] == "case reference"


def test_bad_probes_are_problems_and_refusals_are_logged(api) -> None:
    env, client = api
    h = env.headers("examiner")
    form = {"case_ref": "CASE-9", "purpose": "p"}
    r = client.post(
        "/api/v1/search", files={"probe": ("x.jpg", b"not an image at all", "image/jpeg")}, data=form, headers=h
    )
    assert r.status_code == 422 and r.json()["reason"] == "NOT_AN_IMAGE"
    blank = io.BytesIO()
    Image.new("RGB", (200, 200), (120, 130, 140)).save(blank, "PNG")
    r = client.post(
        "/api/v1/search", files={"probe": ("blank.png", blank.getvalue(), "image/png")}, data=form, headers=h
    )
    assert r.status_code == 422 and "no face" in r.json()["detail"]
    e = audit.query(env.store, case_ref="CASE-9", limit=1)[0][0]
    assert e["action"] == "search" and e["outcome"] == "refused" and "no face" in e["details"]["reason"]
    # Uploads are bounded: over the limit is refused before the engine sees it.
    old = env.settings.max_upload_bytes
    env.settings.max_upload_bytes = 5000
    try:
        r = client.post("/api/v1/search", files=_probe(env.held_out(PEOPLE[0])), data=form, headers=h)
        assert r.status_code == 413 and r.headers["content-type"].startswith("application/problem+json")
    finally:
        env.settings.max_upload_bytes = old
    # Unknown collection: a clear problem, not an empty list.
    r = client.post(
        "/api/v1/search", files=_probe(env.held_out(PEOPLE[0])), data={**form, "collections": "nope"}, headers=h
    )
    assert r.status_code == 422 and "nope" in r.json()["detail"]


def test_verify_same_and_different(api) -> None:
    env, client = api
    a, b = env.person("Colin_Powell")[5:7]
    c = env.person("Tony_Blair")[6]
    form = {"case_ref": "CASE-V", "purpose": "compare"}

    def run(x: Path, y: Path) -> dict:
        r = client.post(
            "/api/v1/verify",
            files={"a": (x.name, x.read_bytes()), "b": (y.name, y.read_bytes())},
            data=form,
            headers=env.headers("examiner"),
        )
        assert r.status_code == 200, r.text
        return r.json()

    same, diff = run(a, b), run(a, c)
    assert same["same_person"] and not diff["same_person"] and same["score"] > diff["score"]
    e = audit.query(env.store, action="verify", limit=1)[0][0]
    assert e["case_ref"] == "CASE-V" and e["results"]["same_person"] is False
    assert e["probe_sha256"] == sha256_file(a) and e["details"]["second_sha256"] == sha256_file(c)
    r = client.post(
        "/api/v1/verify",
        files={"a": (a.name, a.read_bytes()), "b": (c.name, c.read_bytes())},
        headers=env.headers("examiner"),
    )
    assert r.status_code == 422


def test_view_image_is_audited_and_detect_finds_faces(api) -> None:
    env, client = api
    body = _search(env, client, env.held_out("Hugo_Chavez")).json()
    m = body["faces"][0]["matches"][0]
    r = client.get(
        f"/api/v1/images/{m['image_id']}",
        params={"case_ref": "CASE-7", "search_id": body["search_id"]},
        headers=env.headers("examiner"),
    )
    assert r.status_code == 200
    img = r.json()
    assert img["id"] == m["image_id"] and img["faces"] and "Hugo_Chavez" in img["path"]
    e = audit.query(env.store, action="view_match", limit=1)[0][0]
    assert e["case_ref"] == "CASE-7" and e["results"]["image_id"] == m["image_id"]
    assert e["details"]["search_id"] == body["search_id"]
    f = client.get(img["file_url"], headers=env.headers("examiner"))
    assert f.status_code == 200 and f.content == Path(img["path"]).read_bytes()
    # A thumbnail fetched without having been shown by a search is itself logged.
    other = env.store.face_details(list(range(1, 30)))
    unseen = next(fid for fid, d in other.items() if "Gerhard" in (d["path"] or ""))
    before = audit.query(env.store, action="view_thumbnail")[1]
    assert client.get(f"/api/v1/faces/{unseen}/thumbnail", headers=env.headers("operator")).status_code == 200
    assert audit.query(env.store, action="view_thumbnail")[1] == before + 1
    p = env.held_out("Tony_Blair")
    d = client.post("/api/v1/detect", files=_probe(p), headers=env.headers("examiner")).json()
    assert len(d["faces"]) >= 1 and d["faces"][0]["searchable"] and d["width"] == 480  # generated at 480x360


# The keys of each answer, as clients rely on them (a face's `skipped` only when it was not searched).
SEARCH_KEYS = {"case_ref", "collections", "faces", "gallery_size", "probe", "probe_sha256", "purpose", "search_id"}
SEARCH_KEYS |= {"seconds", "stamp"}
PROBE_FACE_KEYS = {
    "box",
    "detection_score",
    "face",
    "landmarks",
    "model",
    "model_version",
    "quality",
    "quality_reasons",
}
SEARCHED_FACE_KEYS = PROBE_FACE_KEYS | {"collections", "gallery_size", "matches", "threshold"}
THRESHOLD_KEYS = {"fmr", "fmr_text", "reason", "score"}
MATCH_KEYS = {"above_threshold", "box", "collection", "decision", "expected_false_matches", "face_id", "fmr"}
MATCH_KEYS |= {"fmr_text", "image", "quality", "rank", "score", "stamp", "status"}
IMAGE_KEYS = {"id", "metadata", "path", "sha256", "source_url"}
VERIFY_KEYS = {"case_ref", "decision", "faces", "fmr", "fmr_text", "model", "model_version", "probe_sha256"}
VERIFY_KEYS |= {"purpose", "same_person", "score", "threshold", "threshold_fmr", "threshold_fmr_text"}
VERIFY_KEYS |= {"threshold_reason", "verify_id"}


def test_search_verify_and_detect_answers_keep_their_keys(api, tmp_path: Path) -> None:
    """The JSON answers' keys, pinned: the API's match adds links and copies (`image_id`, `source_url`,
    `thumbnail_url`, `image_url`) and never shows the server's thumbnail path or the probe's file."""
    env, client = api
    # Two faces, the second of quality 0.80: below a bar of 0.9, so it is listed as skipped.
    two = write_photo(tmp_path / "two.jpg", [1, 2], seed=75, size=(640, 360), variant=3)
    old = env.settings.probe_min_quality
    env.settings.probe_min_quality = 0.9
    try:
        r = _search(env, client, two, top_k="2", all_faces="true")
    finally:
        env.settings.probe_min_quality = old
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == SEARCH_KEYS and set(body["probe"]) == {"height", "label", "sha256", "width"}
    searched, skipped = body["faces"]
    assert set(searched) == SEARCHED_FACE_KEYS and set(skipped) == SEARCHED_FACE_KEYS | {"skipped"}
    assert skipped["matches"] == [] and skipped["skipped"].startswith("quality 0.80 below 0.9")
    assert set(searched["threshold"]) == set(skipped["threshold"]) == THRESHOLD_KEYS
    m = searched["matches"][0]
    assert set(m) == MATCH_KEYS | {"image_id", "source_url", "thumbnail_url", "image_url"}
    assert set(m["image"]) == IMAGE_KEYS
    assert (m["image_id"], m["source_url"]) == (m["image"]["id"], m["image"]["source_url"])
    assert m["thumbnail_url"] == f"/api/v1/faces/{m['face_id']}/thumbnail"
    assert m["image_url"] == f"/api/v1/images/{m['image_id']}"
    a, b = env.person("Colin_Powell")[5:7]
    r = client.post(
        "/api/v1/verify",
        files={"a": (a.name, a.read_bytes()), "b": (b.name, b.read_bytes())},
        data={"case_ref": "CASE-V", "purpose": "compare"},
        headers=env.headers("examiner"),
    )
    assert set(r.json()) == VERIFY_KEYS and all(set(f) == PROBE_FACE_KEYS for f in r.json()["faces"])
    d = client.post("/api/v1/detect", files=_probe(two), headers=env.headers("examiner")).json()
    assert set(d) == {"faces", "height", "model", "width"}
    assert set(d["faces"][0]) == {"box", "face", "quality", "quality_reasons", "searchable"}


def test_collections_ingest_upload_and_delete(api) -> None:
    env, client = api
    op = env.headers("operator")
    cols = client.get("/api/v1/collections", headers=env.headers("examiner")).json()["collections"]
    assert cols[0]["name"] == "lfw" and cols[0]["images"] == 20
    r = client.post(
        "/api/v1/collections",
        json={"name": "uploads", "model": "synthetic", "source": "tests", "legal_basis": "consent"},
        headers=op,
    )
    assert r.status_code == 201, r.text
    assert (
        client.post(
            "/api/v1/collections", json={"name": "uploads", "source": "tests", "legal_basis": "consent"}, headers=op
        ).status_code
        == 409
    )
    # Source and legal basis are required (issue 5): ingest would refuse a collection without them.
    assert client.post("/api/v1/collections", json={"name": "bare"}, headers=op).status_code == 422
    assert (
        client.post(
            "/api/v1/collections", json={"name": "x", "source": "s", "legal_basis": "whim"}, headers=op
        ).status_code
        == 422
    )
    photos = env.person(EXTRA)[:2]
    files = [("files", (p.name, p.read_bytes(), "image/jpeg")) for p in photos]
    files.append(("files", ("broken.jpg", b"\xff\xd8 truncated", "image/jpeg")))
    r = client.post("/api/v1/ingest", data={"collection": "uploads"}, files=files, headers=op)
    assert r.status_code == 202, r.text
    job = wait_job(client, r.json()["job_id"], op)
    assert job["status"] == "done" and job["counts"]["ingested"] == 2 and job["counts"]["failed"] == 1
    assert job["failures"][0]["reason"] and job["processed"] == 3 and job["progress"] == 1.0
    # Only the uploads that became images are kept.
    staged = sorted(p.name for p in (env.settings.home / "uploads").glob("*/*"))
    assert len(staged) == 2 and not any("broken" in n for n in staged)
    assert [e["outcome"] for e in audit.query(env.store, action="ingest", limit=2)[0]] == ["done", "started"]
    # Search the upload, then erase it: it is gone from results, its copy and thumbnails too.
    probe = env.person(EXTRA)[4]
    body = _search(env, client, probe, collections="uploads").json()
    hit = body["faces"][0]["matches"][0]
    img = client.get(f"/api/v1/images/{hit['image_id']}", headers=op).json()
    assert Path(img["path"]).is_file() and (env.settings.home / "uploads") in Path(img["path"]).parents
    r = client.delete(f"/api/v1/images/{hit['image_id']}", headers=op)
    assert r.status_code == 200 and r.json()["faces"] >= 1 and r.json()["upload_removed"]
    assert not Path(img["path"]).exists()
    assert client.get(f"/api/v1/images/{hit['image_id']}", headers=op).status_code == 404
    after = _search(env, client, probe, collections="uploads").json()
    assert hit["image_id"] not in [m["image_id"] for m in after["faces"][0]["matches"]]
    e = audit.query(env.store, action="delete", limit=1)[0][0]
    assert e["actor"] == "operator" and e["results"]["image_id"] == hit["image_id"]
    # Ingest input errors are problems.
    r = client.post("/api/v1/ingest", data={"collection": "c", "path": "/no/such/dir"}, headers=op)
    assert r.status_code == 422
    assert client.post("/api/v1/ingest", data={"collection": "c"}, headers=op).status_code == 422


def test_audit_api_reads_exports_and_verifies(api) -> None:
    env, client = api
    h = env.headers("auditor")
    r = client.get("/api/v1/audit", params={"user": "examiner", "action": "search", "limit": 3}, headers=h)
    body = r.json()
    assert r.status_code == 200 and body["total"] >= 5 and len(body["entries"]) == 3
    assert all(e["actor"] == "examiner" for e in body["entries"])
    assert client.get("/api/v1/audit", params={"case_ref": "CASE-V"}, headers=h).json()["total"] >= 2
    csv_text = client.get("/api/v1/audit/export", params={"format": "csv", "since": "2000-01-01"}, headers=h).text
    assert csv_text.splitlines()[0].startswith("seq,ts,actor")
    j = client.get("/api/v1/audit/export", params={"format": "json", "until": "2000-01-01"}, headers=h).json()
    assert j["count"] == 0
    assert audit.query(env.store, action="export", limit=1)[0][0]["actor"] == "auditor"
    assert client.get("/api/v1/audit", params={"since": "yesterday"}, headers=h).status_code == 422
    v = client.get("/api/v1/audit/verify", headers=h).json()
    assert v["ok"] and v["entries"] > 10
    # The exported JSON and the deployment's audit key are enough to re-check each entry's hash; without
    # the key nobody can forge one.
    key = audit.read_key(env.settings.home / audit.KEY_FILE)
    assert key is not None
    full = client.get("/api/v1/audit/export", params={"format": "json"}, headers=h).json()["entries"]
    for entry in full[:20]:
        fields = {k: entry[k] for k in audit.FIELDS}
        for k in audit.JSON_FIELDS:
            if fields[k] is not None:
                fields[k] = json.dumps(fields[k], sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        assert audit.entry_hash(fields, key.secret) == entry["hash"] != audit.entry_hash(fields)


def test_probes_are_not_kept_unless_configured_and_then_expire(api) -> None:
    from datetime import datetime, timedelta, timezone

    from facesearch.app.retention import purge_kept_probes

    env, client = api
    probes = env.settings.home / "probes"
    probe = env.held_out("Colin_Powell")
    assert _search(env, client, probe).status_code == 200
    assert not probes.exists()
    env.settings.keep_probes = True
    try:
        assert _search(env, client, probe).status_code == 200
    finally:
        env.settings.keep_probes = False
    kept = list(probes.glob("*/*.img"))
    assert [p.name for p in kept] == [f"{sha256_file(probe)}.img"]
    later = datetime.now(timezone.utc) + timedelta(days=env.settings.probe_retention_days + 1)
    assert purge_kept_probes(env.settings, now=later) == 1 and not list(probes.glob("*/*"))


def test_decode_time_is_bounded(api, monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    from facesearch.pipeline import imaging

    env, client = api
    real = imaging.decode_image

    def slow(data: bytes, max_pixels: int, *bounds: int):  # stands in for a pathological file
        time.sleep(1.0)
        return real(data, max_pixels, *bounds)

    monkeypatch.setattr(imaging, "decode_image", slow)
    old = env.settings.upload_decode_seconds
    env.settings.upload_decode_seconds = 0.2
    try:
        r = _search(env, client, env.held_out("Colin_Powell"))
    finally:
        env.settings.upload_decode_seconds = old
    assert r.status_code == 422 and r.json()["reason"] == "DECODE_TIMEOUT"


def test_metrics_count_requests_and_searches(api) -> None:
    env, client = api
    text = client.get("/metrics", headers=env.headers("admin")).text
    assert 'facesearch_searches_total{outcome="ok"}' in text
    assert 'route="/api/v1/search"' in text and "facesearch_ingest_jobs_running" in text


def test_oversized_upload_to_ingest_is_a_reported_failure(api) -> None:
    env, client = api
    op = env.headers("operator")
    photo = env.person(EXTRA)[3]
    r = client.post(
        "/api/v1/collections", json={"name": "uploads-small", "source": "tests", "legal_basis": "consent"}, headers=op
    )
    assert r.status_code == 201 and r.json()["model"] == "synthetic"  # the deployment's default pack
    old = env.settings.max_upload_bytes
    env.settings.max_upload_bytes = 5000
    try:
        r = client.post(
            "/api/v1/ingest",
            data={"collection": "uploads-small"},
            files=[("files", (photo.name, photo.read_bytes(), "image/jpeg"))],
            headers=op,
        )
        job = wait_job(client, r.json()["job_id"], op)
    finally:
        env.settings.max_upload_bytes = old
    assert job["status"] == "done" and job["counts"]["failed"] == 1
    assert job["failures"][0]["reason"] == "FILE_TOO_LARGE"


@needs_lfw
@needs_yunet
def test_real_pack_search_verify_and_detect(tmp_path: Path) -> None:
    """The same routes on real faces: LFW photos ingested with the yunet-reid pack find the right person, tell
    two people apart and are audited under the real pack's name."""
    env = make_env(tmp_path / "home", model="yunet-reid")
    people = PEOPLE[:3]
    res = ingest(
        env.ctx,
        SETUP_OPERATOR,
        items_from_manifest(gallery_manifest(env, tmp_path / "g.csv", people, 3)),
        "lfw",
        workers=1,
    )
    assert res.ingested == 9
    with TestClient(env.app, base_url="https://testserver", raise_server_exceptions=False) as client:
        for name in people:
            r = _search(env, client, env.held_out(name), top_k="3")
            assert r.status_code == 200, r.text
            top = r.json()["faces"][0]["matches"][0]
            assert name in top["image"]["path"] and top["source_url"].endswith(f"{name}.html")
        assert audit.query(env.store, action="search", limit=1)[0][0]["model"] == "yunet-reid"
        a, b = env.person("Colin_Powell")[5:7]
        c = env.person("Tony_Blair")[6]
        verdicts = []
        for x, y in ((a, b), (a, c)):
            r = client.post(
                "/api/v1/verify",
                files={"a": (x.name, x.read_bytes()), "b": (y.name, y.read_bytes())},
                data={"case_ref": "CASE-V", "purpose": "compare"},
                headers=env.headers("examiner"),
            )
            assert r.status_code == 200, r.text
            verdicts.append(r.json())
        assert verdicts[0]["same_person"] and not verdicts[1]["same_person"]
        assert verdicts[0]["score"] > verdicts[1]["score"] and verdicts[0]["model"] == "yunet-reid"
        d = client.post(
            "/api/v1/detect", files=_probe(env.held_out("Tony_Blair")), headers=env.headers("examiner")
        ).json()
        assert d["faces"] and d["faces"][0]["searchable"] and d["width"] == 250
