"""The command line as a user runs it: JSON contracts, summaries, reports and clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import FR_IMAGES, needs_lfw, needs_yunet
from helpers import lfw_people, make_gallery
from typer.testing import CliRunner

from facesearch.cli import app

pytestmark = [needs_lfw, needs_yunet]
runner = CliRunner()


def _run(*args: str) -> tuple[int, str]:
    res = runner.invoke(app, list(args))
    return res.exit_code, res.stdout


def test_ingest_search_verify_stats_json(tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FACESEARCH_MODEL", "yunet-reid")
    gallery = tmp_path / "g"
    held = make_gallery(gallery, lfw_people(5, 4), 3)
    (gallery / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    report = tmp_path / "failures.csv"
    code, out = _run("collections", "create", "archive", "--source", "LFW test photos", "--legal-basis", "consent",
                     "--keep")
    assert code == 0, out
    code, out = _run("ingest", str(gallery), "--collection", "archive", "--report", str(report), "--json")
    assert code == 0, out
    summary = json.loads(out)
    assert summary["ingested"] == 12 and summary["failed"] == 1 and summary["faces"] >= 12
    assert "broken.jpg" in report.read_text()

    name, photos = next(iter(held.items()))
    code, out = _run("search", str(photos[0]), "--top", "3", "--json")
    assert code == 0, out
    res = json.loads(out)
    face = res["faces"][0]
    assert len(face["box"]) == 4 and len(face["matches"]) == 3
    m = face["matches"][0]
    assert {"score", "fmr", "face_id", "collection"} <= set(m)
    assert {"path", "source_url"} <= set(m["image"])
    assert Path(m["image"]["path"]).parent.name == name and m["collection"] == "archive"

    code, out = _run("search", str(photos[0]), "--top", "3", "--case", "C-1", "--purpose", "test")
    assert code == 0 and "archive" in out and "threshold" in out

    # Both searches are in the audit log, with what they returned.
    from facesearch.audit import iter_entries
    from facesearch.config import Settings
    from facesearch.store import Store

    entries = [e for e in iter_entries(Store(Settings().resolved_database_url)) if e.action == "search"]
    assert len(entries) == 2 and entries[1].case_ref == "C-1" and entries[1].actor.startswith("cli")
    assert str(m["face_id"]) in entries[0].results and entries[0].probe_sha256 == res["probe"]["sha256"]

    code, out = _run("verify", str(photos[0]), str(photos[1]), "--json")
    v = json.loads(out)
    assert code == 0 and {"score", "fmr", "threshold", "same_person"} <= set(v) and v["same_person"] is True

    code, out = _run("stats", "--json")
    s = json.loads(out)
    assert s["images"] == 12 and s["faces"] >= 12 and s["collections"][0]["name"] == "archive"


def test_search_errors_are_clear(tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FACESEARCH_MODEL", "yunet-reid")
    code, out = _run("search", str(FR_IMAGES / "obama.jpg"), "--json")
    assert code == 2 and "gallery is empty" in json.loads(out)["error"]
    gallery = tmp_path / "g"
    make_gallery(gallery, lfw_people(4, 1), 1)
    code, out = _run("ingest", str(gallery), "--collection", "c")
    assert code == 2 and "facesearch collections create c" in out + runner.invoke(app, ["ingest", str(gallery),
                                                                                      "--collection", "c"]).output
    assert _run("collections", "create", "c", "--source", "LFW", "--legal-basis", "consent", "--keep")[0] == 0
    assert _run("ingest", str(gallery), "--collection", "c")[0] == 0
    blank = tmp_path / "blank.png"
    from PIL import Image

    Image.new("RGB", (300, 300), (30, 120, 40)).save(blank)
    code, out = _run("search", str(blank), "--json")
    assert code == 3 and "no face" in json.loads(out)["error"]
    code, out = _run("search", str(tmp_path / "missing.jpg"), "--json")
    assert code == 2 and json.loads(out)["reason"] == "UNREADABLE_FILE"


def test_models_list_and_missing_weights(tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    code, out = _run("models", "list", "--json")
    rows = {r["name"]: r for r in json.loads(out)}
    assert code == 0 and rows["dlib"]["installed"] and rows["yunet-reid"]["installed"] and rows["dlib"]["default"]
    monkeypatch.setenv("FACESEARCH_MODELS_DIR", str(tmp_path / "nothing"))
    code, out = _run("verify", str(FR_IMAGES / "obama.jpg"), str(FR_IMAGES / "biden.jpg"), "--model", "yunet-reid",
                     "--json")
    assert code == 2 and "facesearch models pull yunet-reid" in json.loads(out)["error"]
