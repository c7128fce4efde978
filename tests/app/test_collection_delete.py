"""`collections delete NAME` (admin): every image of the collection erased as retention erases it (rows, index
entries, thumbnails, uploaded copies), then its runs, counters and index; refused while a lead found in it
awaits its second examiner, refused to other roles; every attempt logged. Through the API and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

from fastapi.testclient import TestClient
from support.service import gallery_manifest, make_env, synthetic_packs
from typer.testing import CliRunner

from facesearch.app import review, searching
from facesearch.app.context import Actor
from facesearch.app.ingest import ingest, items_from_manifest
from facesearch.cli import app
from facesearch.services.uploads import Photo
from facesearch.store.audit import entry_dict, iter_entries

OPERATOR = Actor("tests", "operator", via="system")
EXAMINER = Actor("eve", "examiner")
REVIEWER = Actor("rex", "examiner")


def test_api_deletes_a_collection_once_no_lead_needs_it(tmp_path: Path) -> None:
    with synthetic_packs():
        env = make_env(tmp_path / "home", collections=("lfw", "keep"))
        done = ingest(env.ctx, OPERATOR, items_from_manifest(gallery_manifest(env, tmp_path / "g.csv")), "lfw")
        ingest(
            env.ctx, OPERATOR, items_from_manifest(gallery_manifest(env, tmp_path / "k.csv", ["Tony_Blair"], 2)), "keep"
        )
        col = env.store.get_collection("lfw")
        assert col is not None and done.faces == 20
        index_file = env.settings.index_dir / f"collection-{col.id}.faiss"
        thumbs = env.settings.thumbs_dir / str(col.id)
        assert index_file.is_file() and thumbs.is_dir()
        # A lead found in the collection, proposed and not yet decided: an open case needs it.
        probe = Photo(env.held_out("Colin_Powell").read_bytes(), "probe.jpg")
        found = searching.search(env.ctx, EXAMINER, probe, searching.SearchRequest("CASE-DEL", "test", top_k=1))
        face_id = found.faces[0].matches[0].face_id
        proposal = review.propose(env.ctx, EXAMINER, found.search_id, face_id, "the same man")
        with TestClient(env.app, base_url="https://testserver") as client:
            r = client.delete("/api/v1/collections/lfw", headers=env.headers("operator"))
            assert r.status_code == 403
            r = client.delete("/api/v1/collections/lfw", headers=env.headers("admin"))
            assert r.status_code == 409 and "CASE-DEL" in r.json()["detail"] and "second examiner" in r.json()["detail"]
            review.decide(env.ctx, REVIEWER, proposal.id, "rejected", "not him")
            r = client.delete("/api/v1/collections/lfw", headers=env.headers("admin"))
            assert r.status_code == 200, r.text
            body = r.json()
            assert body == {
                "collection": "lfw",
                "model": "synthetic",
                "images": 20,
                "faces": 20,
                "thumbnails": 20,
                "uploads": 0,
                "probes": 0,
            }
            assert client.delete("/api/v1/collections/lfw", headers=env.headers("admin")).status_code == 404
            names = [
                c["name"] for c in client.get("/api/v1/collections", headers=env.headers("admin")).json()["collections"]
            ]
            assert names == ["keep"]
            # Nothing is left of it: no rows, no index file, no thumbnails; the other collection still answers.
            assert env.store.get_collection("lfw") is None and not index_file.exists() and not thumbs.exists()
            assert env.store.stats()["faces"] == 2
            again = searching.search(env.ctx, EXAMINER, probe, searching.SearchRequest("CASE-DEL", "test", top_k=3))
            assert {m.collection for f in again.faces for m in f.matches} == {"keep"}
    logged = [entry_dict(e) for e in iter_entries(env.store) if e.action == "collection_delete"]
    # The operator was turned away before the use case ran (its role); the admin's attempts are all logged.
    assert [(e["outcome"], e["role"]) for e in logged] == [("refused", "admin"), ("ok", "admin"), ("refused", "admin")]
    assert "CASE-DEL" in logged[0]["details"]["reason"]
    assert logged[1]["collections"] == ["lfw"] and logged[1]["results"]["erased"]["images"] == 20
    assert logged[1]["details"]["source"] and logged[1]["model"] == "synthetic"


def test_cli_collections_delete(tmp_path: Path, synthetic_env: Path) -> None:
    runner = CliRunner()
    made = ["collections", "create", "old", "--source", "t", "--legal-basis", "consent", "--keep"]
    assert runner.invoke(app, made).exit_code == 0
    res = runner.invoke(app, ["collections", "delete", "old", "--yes", "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["collection"] == "old" and json.loads(res.stdout)["images"] == 0
    res = runner.invoke(app, ["collections", "delete", "old", "--yes"])
    assert res.exit_code == 2 and "no collection named 'old'" in res.stderr
    res = runner.invoke(app, ["--as", "ops", "--role", "operator", "collections", "delete", "x", "--yes"])
    assert res.exit_code in (2, 4)
