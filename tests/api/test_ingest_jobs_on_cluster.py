"""The API's ingest jobs on a configured cluster (FACESEARCH_CLUSTER): a folder job runs on the real test
cluster's nodes (tests/support/ray_cluster.py), within the ingest roots, and its audit entry names the
cluster; uploaded files, staged in the home that nodes never see, are analysed by the server itself."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from support.ray_cluster import RayCluster
from support.service import make_env, synthetic_packs
from support.service import wait_job as _wait_job
from support.synthetic import write_gallery, write_photo

from facesearch.store.audit import entry_dict, iter_entries
from facesearch.vocabulary import Action


def test_folder_jobs_run_on_the_cluster_and_uploads_here(ray_cluster: RayCluster, tmp_path: Path) -> None:
    ray_cluster.ensure_second()
    allowed = tmp_path / "allowed"
    write_gallery(allowed / "g", list(range(4)), 3)
    outside = write_photo(tmp_path / "outside" / "secret.jpg", [9], seed=9)
    (allowed / "g" / "link.jpg").symlink_to(outside)  # refused by the server before any node sees it
    with synthetic_packs():
        env = make_env(tmp_path / "home", photos=False, ingest_roots=[allowed], cluster=ray_cluster.address)
        with TestClient(env.app, base_url="https://testserver") as client:
            h = env.headers("operator")
            r = client.post("/api/v1/ingest", data={"collection": "lfw", "path": str(allowed / "g")}, headers=h)
            assert r.status_code == 202, r.text
            job = _wait_job(client, r.json()["id"], h, timeout=300)
            assert job["status"] == "done", job
            assert job["counts"]["ingested"] == 12 and job["counts"]["faces"] == 12
            assert [f["reason"] for f in job["failures"]] == ["OUTSIDE_ROOTS"]
            files = [("files", ("one.jpg", outside.read_bytes(), "image/jpeg"))]
            r = client.post("/api/v1/ingest", data={"collection": "lfw"}, files=files, headers=h)
            assert r.status_code == 202, r.text
            assert _wait_job(client, r.json()["id"], h, timeout=300)["status"] == "done"
        entries = [entry_dict(e) for e in iter_entries(env.store) if e.action == Action.INGEST]
    finished = [e for e in entries if e["outcome"] == "done"]
    assert [e["details"].get("cluster") for e in finished] == [ray_cluster.address, None]
