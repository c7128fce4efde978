"""The keys of the accounts, gallery, ingest and system answers, pinned: the use cases return typed results
and the API's response models derive from them, so a field renamed or dropped on either side shows here."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from support.service import make_env, synthetic_packs, wait_job

COLLECTION = {
    "name",
    "model",
    "model_version",
    "created_at",
    "source",
    "legal_basis",
    "legal_basis_note",
    "owner",
    "retention_days",
    "keep_until_deleted",
    "description",
    "problems",
}
JOB = {
    "id",
    "status",
    "collection",
    "source",
    "user",
    "total",
    "processed",
    "progress",
    "counts",
    "failures_total",
    "error",
    "ingest_job_id",
    "created",
    "started",
    "finished",
    "seconds",
    "images_per_second",
}
COUNTS = {
    "ingested",
    "duplicates",
    "no_face",
    "failed",
    "faces",
    "faces_below_quality",
    "opted_out_faces",
    "opted_out_images",
}


@pytest.fixture(scope="module")
def env_client(tmp_path_factory: pytest.TempPathFactory):
    with synthetic_packs():
        env = make_env(Path(tmp_path_factory.mktemp("keys")) / "home")
        with TestClient(env.app, base_url="https://testserver") as client:
            yield env, client


def test_account_answers(env_client) -> None:
    env, client = env_client
    admin = env.headers("admin")
    users = client.get("/api/v1/users", headers=admin).json()
    assert set(users) == {"users", "roles"} and users["roles"] == ["admin", "operator", "examiner", "auditor"]
    assert all(set(u) == {"name", "role", "disabled", "created_at"} for u in users["users"])
    made = client.post(
        "/api/v1/users", headers=admin, json={"name": "keys", "role": "auditor", "password": "a long passphrase"}
    )
    assert made.status_code == 201 and made.json()["name"] == "keys" and made.json()["disabled"] is False
    changed = client.patch("/api/v1/users/keys", headers=admin, json={"disabled": True}).json()
    assert set(changed) == {"name", "role", "disabled", "created_at"} and changed["disabled"] is True
    client.patch("/api/v1/users/keys", headers=admin, json={"disabled": False})
    token = client.post("/api/v1/users/keys/tokens", headers=admin, json={"label": "k"}).json()
    assert set(token) == {"id", "user", "token"} and token["user"] == "keys" and token["token"].startswith("fs_")
    listed = client.get("/api/v1/tokens", headers=admin).json()
    assert set(listed) == {"tokens"}
    assert all(set(t) == {"id", "user", "label", "prefix", "created_at", "revoked"} for t in listed["tokens"])
    assert client.delete(f"/api/v1/tokens/{token['id']}", headers=admin).json() == {"revoked": 1}
    assert client.get("/api/v1/me", headers=env.headers("auditor")).json() == {
        "name": "auditor",
        "role": "auditor",
        "via": "token",
    }
    assert set(client.get("/api/v1/health").json()) == {"status", "version"}


def test_collection_image_and_ingest_answers(env_client) -> None:
    env, client = env_client
    operator = env.headers("operator")
    made = client.post(
        "/api/v1/collections",
        headers=operator,
        json={"name": "keys", "source": "generated", "legal_basis": "consent", "retention_days": 9},
    )
    assert made.status_code == 201 and set(made.json()) == COLLECTION | {"dim"} and made.json()["dim"] == 64
    listed = client.get("/api/v1/collections", headers=env.headers("examiner")).json()
    assert set(listed) == {"collections"}
    assert all(set(c) == COLLECTION | {"images", "faces"} for c in listed["collections"])

    photo = next(iter(env.photos.values()))[0]
    files = [("files", ("a.jpg", photo.read_bytes(), "image/jpeg")), ("files", ("b.jpg", b"junk", "image/jpeg"))]
    started = client.post("/api/v1/ingest", headers=operator, data={"collection": "keys"}, files=files)
    assert started.status_code == 202
    body = started.json()
    assert set(body) == JOB | {"failures", "job_id", "status_url"}
    assert body["job_id"] == body["id"] and body["status_url"] == f"/api/v1/jobs/{body['id']}"
    job = wait_job(client, body["id"], operator)
    assert set(job) == JOB | {"failures"} and set(job["counts"]) == COUNTS
    assert [(f["reason"], set(f)) for f in job["failures"]] == [("NOT_AN_IMAGE", {"path", "reason", "detail"})]
    jobs = client.get("/api/v1/jobs", headers=operator).json()
    assert set(jobs) == {"jobs"} and all(set(j) == JOB for j in jobs["jobs"])  # no failures in the list
    runs = client.get("/api/v1/ingest/runs", headers=operator).json()
    assert set(runs) == {"runs"}
    run = next(r for r in runs["runs"] if r["id"] == job["ingest_job_id"])
    assert set(run) == {"id", "collection", "source", "model", "status", "counts", "started", "finished"}
    assert run["collection"] == "keys" and run["source"] == "upload:2 files" and run["counts"] == job["counts"]

    col = env.store.require_collection("keys")
    face_id = int(env.store.face_ids(col.id)[0])  # the one image's one face
    image_id = env.store.face_details([face_id])[face_id]["image_id"]
    lookup = {"case_ref": "CASE-KEYS", "purpose": "test"}  # an examiner's lookup by id is a search
    view = client.get(f"/api/v1/images/{image_id}", params=lookup, headers=env.headers("examiner")).json()
    assert set(view) == {
        "id",
        "collection",
        "sha256",
        "path",
        "source_url",
        "metadata",
        "width",
        "height",
        "ingested_at",
        "file_url",
        "faces",
    }
    assert view["file_url"] == f"/api/v1/images/{image_id}/file" and view["metadata"] == {"uploaded_name": "a.jpg"}
    (face,) = view["faces"]
    assert set(face) == {"face_id", "face", "box", "quality", "detection_score", "thumbnail_url"}
    assert face["thumbnail_url"] == f"/api/v1/faces/{face['face_id']}/thumbnail"
