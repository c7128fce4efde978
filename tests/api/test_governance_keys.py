"""The keys of every governance answer, pinned: the API's JSON (and the command line's `--json`, which carries
the same keys) may not gain, lose or rename a field when the use cases' result types change. Optional fields
appear only where they apply (a refusal's reason, a verify's result, the key a usage row is grouped by).

Plumbing: runs on the `synthetic` test pack."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from support.service import EXTRA, PEOPLE, SETUP_OPERATOR, gallery_manifest, make_env
from typer.testing import CliRunner

from facesearch.app import collection as collections
from facesearch.app.ingest import ingest, items_from_manifest
from facesearch.cli import app as cli_app

ERASED = {"images", "faces", "thumbnails", "uploads", "probes"}
SUSPENSION = {"suspended", "by", "at", "reason"}
PURPOSE = {"code", "description", "active", "created_at", "created_by", "retired_at", "retired_by"}
USAGE = {"searches", "verifies", "refused", "users", "no_candidates", "proposed", "confirmed", "rejected"}
PROPOSAL = {
    *("id", "search_id", "probe_face", "face_id", "case_ref", "status", "proposed_by", "proposed_at", "note"),
    *("decided_by", "decided_at", "decision_note", "candidate"),
}
RECORDED = {"probe_face", "rank", "face_id", "image_id", "collection", "score", "fmr", "above_threshold"}
REVIEWED = {"status", "stamp", "history"}
CASE_SEARCH = {
    *("search_id", "kind", "ts", "actor", "role", "purpose", "outcome", "probe_sha256", "collections", "model"),
    *("threshold", "threshold_fmr", "threshold_reason", "gallery_size", "candidates", "probe_faces"),
}
LIMITATIONS = {
    *("model", "model_version", "calibration_dataset", "method", "genuine_pairs", "impostor_pairs"),
    *("lowest_measurable_fmr", "policy", "at_threshold", "groups", "groups_source", "known_flaws"),
}
AUDIT_ENTRY = {
    *("seq", "ts", "actor", "role", "action", "outcome", "ip", "case_ref", "purpose", "collections", "model"),
    *("threshold", "probe_sha256", "results", "details", "prev_hash", "hash"),
}
CHAIN = {"ok", "entries", "head_seq", "head_hash", "problems"}
DOCTOR = {"ok", "orphans", "counts", "examples", "fixed", "collections", "faces"}
OPTOUT = {"optout_id", "reference", "photos", "packs", "erased", "to_review"}
OPTOUT_PACK = {
    *ERASED,
    *("threshold", "threshold_reason", "review_threshold", "review_threshold_reason", "to_review"),
    *("miss_rate", "miss_text"),
}
OPTOUT_INFO = {"id", "reference", "photos", "templates", "created_at", "created_by"}
SUBJECT = {"reference", "probe_sha256", "thresholds", "matches", "images", "collections"}
SUBJECT_MATCH = {"face_id", "score", "fmr", "model", "collection", "image_id", "path", "source_url", "box"}
PURGE = {"now", "collections", "erased", "expired_probes"}
PURGED = {*ERASED, "collection", "retention_days", "cutoff", "image_ids"}


def _keys(value: dict[str, Any]) -> set[str]:
    return set(value)


def test_governance_answers_keep_their_keys(synthetic_env: Path) -> None:
    env = make_env(synthetic_env, search_rate_per_minute=0, search_daily_quota=0)
    env.add_user("examiner2", "examiner")
    collections.create_collection(
        env.ctx, SETUP_OPERATOR, "short", source="s", legal_basis="consent", retention_days=30, keep=False, owner="o"
    )
    res = ingest(
        env.ctx,
        SETUP_OPERATOR,
        items_from_manifest(gallery_manifest(env, synthetic_env.parent / "g.csv", PEOPLE, 3)),
        "lfw",
        workers=1,
    )
    assert res.ingested == len(PEOPLE) * 3
    h = env.headers
    with TestClient(env.app, base_url="https://testserver") as client:

        def search(person: str, **data: Any) -> Any:
            photo = env.held_out(person)
            files = {"probe": (photo.name, photo.read_bytes(), "image/jpeg")}
            fields = {"case_ref": "CASE-K", "purpose": "test", "top_k": 3, **data}
            return client.post("/api/v1/search", files=files, data=fields, headers=h("examiner")).json()

        # Kill switch and purposes.
        assert (
            _keys(client.post("/api/v1/search/suspend", json={"reason": "r"}, headers=h("admin")).json()) == SUSPENSION
        )
        status = client.get("/api/v1/search/status", headers=h("examiner")).json()
        assert _keys(status) == {"suspended", "suspension"} and _keys(status["suspension"]) == SUSPENSION
        assert _keys(client.post("/api/v1/search/resume", headers=h("admin")).json()) == SUSPENSION
        assert client.get("/api/v1/search/status", headers=h("examiner")).json() == {
            "suspended": False,
            "suspension": None,
        }
        listed = client.get("/api/v1/purposes", headers=h("admin")).json()
        assert _keys(listed) == {"purposes"} and all(_keys(p) == PURPOSE for p in listed["purposes"])
        added = client.post("/api/v1/purposes", json={"code": "K1", "description": "d"}, headers=h("admin")).json()
        assert _keys(added) == PURPOSE
        assert _keys(client.post("/api/v1/purposes/K1/retire", headers=h("admin")).json()) == PURPOSE

        # A search, a review of two of its candidates, a verify and a refused search under one case.
        found = search(PEOPLE[0])
        sid, matches = found["search_id"], found["faces"][0]["matches"]
        made = client.post(
            f"/api/v1/searches/{sid}/proposals",
            json={"face_id": matches[0]["face_id"], "note": "n"},
            headers=h("examiner"),
        ).json()
        assert _keys(made) == PROPOSAL
        decided = client.post(f"/api/v1/proposals/{made['id']}/confirm", json={}, headers=h("examiner2")).json()
        assert _keys(decided) == PROPOSAL
        proposals = client.get("/api/v1/proposals", headers=h("auditor")).json()
        assert _keys(proposals) == {"proposals"} and _keys(proposals["proposals"][0]) == PROPOSAL
        view = client.get(f"/api/v1/searches/{sid}", headers=h("examiner")).json()
        assert _keys(view) == {
            *("search_id", "case_ref", "purpose", "actor", "ts", "model", "threshold", "probe_sha256"),
            *("candidates", "stamp"),
        }
        for c in view["candidates"]:
            assert _keys(c) == RECORDED | REVIEWED | {"thumbnail_url", "fmr_text"}
            assert all(_keys(p) == PROPOSAL for p in c["history"])
        exported = client.get(f"/api/v1/searches/{sid}/export?format=json", headers=h("examiner")).json()
        assert _keys(exported) == _keys(view) and _keys(exported["candidates"][0]) == _keys(view["candidates"][0])
        photo = env.held_out(PEOPLE[1])
        client.post(
            "/api/v1/verify",
            files={
                "a": (photo.name, photo.read_bytes(), "image/jpeg"),
                "b": (photo.name, env.person(PEOPLE[1])[0].read_bytes(), "image/jpeg"),
            },
            data={"case_ref": "CASE-K", "purpose": "compare"},
            headers=h("examiner"),
        )
        search(EXTRA, purpose="nope")

        # The case report: an answer per kind of entry, each with the keys that apply to it.
        report = client.get("/api/v1/cases/CASE-K/report", headers=h("examiner")).json()
        assert _keys(report) == {"case_ref", "generated_at", "stamp", "summary", "searches", "limitations", "notice"}
        assert _keys(report["summary"]) == {
            *("searches", "verifies", "no_candidates", "candidates", "proposed", "confirmed", "rejected", "refused")
        }
        ok, verify, refused = report["searches"]
        assert _keys(ok) == CASE_SEARCH | {"no_candidates"}
        assert _keys(verify) == CASE_SEARCH | {"verify", "quality", "model_version"}
        assert _keys(refused) == CASE_SEARCH | {"refusal", "no_candidates"}
        for c in ok["candidates"]:
            assert _keys(c) == RECORDED | REVIEWED | {"erased", "thumbnail_url", "decision"}
        assert _keys(ok["probe_faces"][0]) == {
            "face",
            "quality",
            "quality_reasons",
            "skipped",
            "model",
            "model_version",
        }
        assert [_keys(m) for m in report["limitations"]] == [LIMITATIONS]

        usage = client.get("/api/v1/reports/usage?by=purpose", headers=h("auditor")).json()
        assert _keys(usage) == {"by", "rows"} and all(_keys(r) == USAGE | {"purpose"} for r in usage["rows"])
        usage = client.get("/api/v1/reports/usage?by=case", headers=h("auditor")).json()
        assert all(_keys(r) == USAGE | {"case"} for r in usage["rows"])

        # Data protection.
        photo = env.held_out(PEOPLE[2])
        subject = client.post(
            "/api/v1/subject-report",
            files={"photo": ("p.jpg", photo.read_bytes(), "image/jpeg")},
            data={"reference": "DSR-K"},
            headers=h("operator"),
        ).json()
        assert _keys(subject) == SUBJECT and _keys(subject["thresholds"]["synthetic"]) == {"score", "reason"}
        assert subject["matches"] and all(_keys(m) == SUBJECT_MATCH for m in subject["matches"])
        assert _keys(client.get("/api/v1/doctor", headers=h("operator")).json()) == DOCTOR
        optout = client.post(
            "/api/v1/optouts",
            data={"reference": "DSR-K"},
            files=[("photos", ("o.jpg", photo.read_bytes(), "image/jpeg"))],
            headers=h("operator"),
        ).json()
        assert _keys(optout) == OPTOUT and _keys(optout["erased"]) == ERASED
        assert _keys(optout["packs"]["synthetic"]) == OPTOUT_PACK
        listed = client.get("/api/v1/optouts", headers=h("operator")).json()
        assert _keys(listed) == {"optouts"} and _keys(listed["optouts"][0]) == OPTOUT_INFO
        purged = client.post("/api/v1/purge", json={}, headers=h("operator")).json()
        assert _keys(purged) == PURGE and _keys(purged["erased"]) == ERASED
        assert [_keys(c) for c in purged["collections"]] == [PURGED]

        # The audit log.
        page = client.get("/api/v1/audit?limit=5", headers=h("auditor")).json()
        assert _keys(page) == {"total", "limit", "offset", "entries"}
        assert all(_keys(e) == AUDIT_ENTRY for e in page["entries"])
        assert _keys(client.get("/api/v1/audit/verify", headers=h("auditor")).json()) == CHAIN
        export = client.get("/api/v1/audit/export?format=json", headers=h("auditor")).json()
        assert _keys(export) == {"exported_at", "since", "until", "count", "entries"}

    # The command line's --json answers carry the same keys.
    runner = CliRunner()

    def cli(*args: str, user: str) -> Any:
        # Each account proves who it is with its token (a name alone acts as cli:<os user>).
        r = runner.invoke(cli_app, ["--as", user, *args, "--json"], env={"FACESEARCH_TOKEN": env.tokens[user]})
        assert r.exit_code in (0, 1), r.output
        return json.loads(r.stdout)

    assert all(_keys(p) == PURPOSE for p in cli("purposes", "list", user="admin"))
    assert all(_keys(r) == USAGE | {"case"} for r in cli("purposes", "report", "--by", "case", user="auditor"))
    assert all(_keys(r) == PROPOSAL for r in cli("review", "list", user="examiner"))
    assert _keys(cli("doctor", user="operator")) == DOCTOR
    assert all(_keys(o) == OPTOUT_INFO for o in cli("optout", "list", user="operator"))
    subject = cli("subject", "report", str(env.held_out(PEOPLE[3])), "--reference", "DSR-C", user="operator")
    assert _keys(subject) == SUBJECT and all(_keys(t) == {"score", "reason"} for t in subject["thresholds"].values())
    purged = cli("purge", "--now", "2099-01-01", user="operator")
    assert _keys(purged) == PURGE and [_keys(c) for c in purged["collections"]] == [PURGED]
    case = runner.invoke(
        cli_app,
        ["--as", "auditor", "case", "report", "CASE-K", "--format", "json"],
        env={"FACESEARCH_TOKEN": env.tokens["auditor"]},
    )
    text = json.loads(case.stdout)
    assert _keys(text) == {*_keys(report), "together"} and _keys(text["summary"]) == {
        *_keys(report["summary"]),
        "together",
    }
    assert [_keys(s) for s in text["searches"]] == [_keys(s) for s in report["searches"]]
