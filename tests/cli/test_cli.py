"""The command line as a user runs it: JSON contracts, summaries, reports, clear errors, and the same rules as
the API (a search or verify without a case reference and an allowed purpose is refused, exit 4, and logged).

Runs on the `synthetic` test pack (generated marker photos, no weights); the end-to-end test runs again on
yunet-reid with LFW photos where ../shared is present.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image
from support.helpers import lfw_people, make_gallery
from support.paths import MODELS, needs_lfw, needs_shared, needs_yunet
from support.synthetic import write_gallery, write_photo
from typer.testing import CliRunner

from facesearch.cli import app
from facesearch.config import Settings
from facesearch.store import Store
from facesearch.store.audit import entry_dict, iter_entries
from facesearch.vocabulary import Action

runner = CliRunner()
PACKS = [
    pytest.param("synthetic", id="synthetic"),
    pytest.param("yunet-reid", id="yunet-reid", marks=[needs_lfw, needs_yunet]),
]
COLLECTION = ["collections", "create", "archive", "--source", "test photos", "--legal-basis", "consent", "--keep"]


def _run(*args: str) -> tuple[int, str]:
    res = runner.invoke(app, list(args))
    return res.exit_code, res.stdout


def _entries(action: str) -> list[dict]:
    return [entry_dict(e) for e in iter_entries(Store(Settings().resolved_database_url)) if e.action == action]


def _gallery(pack: str, tmp_path: Path) -> tuple[Path, dict[str, list[Path]]]:
    """A gallery of 4 people x 3 photos, and 2 more photos of each held out."""
    gallery = tmp_path / "g"
    if pack != "synthetic":
        return gallery, make_gallery(gallery, lfw_people(5, 4), 3)
    write_gallery(gallery, [0, 1, 2, 3], 3)
    held = {
        f"person_{i:04d}": [
            write_photo(tmp_path / "held" / f"p{i}_{k}.jpg", [i], seed=500 + 10 * i + k, variant=k + 3)
            for k in range(2)
        ]
        for i in range(4)
    }
    return gallery, held


@pytest.mark.parametrize("pack", PACKS)
def test_ingest_search_verify_stats_json(
    tmp_path: Path, synthetic_env: Path, monkeypatch: pytest.MonkeyPatch, pack: str
) -> None:
    monkeypatch.setenv("FACESEARCH_MODEL", pack)
    gallery, held = _gallery(pack, tmp_path)
    (gallery / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    report = tmp_path / "failures.csv"
    code, out = _run(*COLLECTION)
    assert code == 0, out
    code, out = _run("ingest", str(gallery), "--collection", "archive", "--report", str(report), "--json")
    assert code == 0, out
    summary = json.loads(out)
    assert summary["ingested"] == 12 and summary["failed"] == 1 and summary["faces"] >= 12
    assert summary["model"] == pack
    assert "broken.jpg" in report.read_text()
    name, photos = next(iter(held.items()))

    # Changed contract: the CLI no longer searches without a case reference and a purpose. It refuses as
    # the API does (exit 4, the refusal's kind in the JSON) and logs the refusal.
    code, out = _run("search", str(photos[0]), "--top", "3", "--json")
    assert code == 4 and json.loads(out)["kind"] == "case_required", out
    code, out = _run("search", str(photos[0]), "--top", "3", "--case", "C-0", "--json")
    assert code == 4 and json.loads(out)["kind"] == "case_required", out
    code, out = _run("search", str(photos[0]), "--top", "3", "--case", "C-0", "--purpose", "TEST", "--json")
    assert code == 4 and json.loads(out)["kind"] == "purpose_not_allowed", out  # not on the allowed list yet
    refused = _entries(Action.SEARCH)
    assert [e["outcome"] for e in refused] == ["refused"] * 3
    assert all(e["actor"].startswith("cli:") and e["role"] == "examiner" and not e["results"] for e in refused)
    assert refused[1]["case_ref"] == "C-0" and refused[2]["purpose"] == "TEST"
    code, out = _run("purposes", "add", "TEST", "--description", "tests")
    assert code == 0, out
    code, out = _run("search", str(photos[0]), "--top", "3", "--case", "C-1", "--purpose", "TEST", "--json")
    assert code == 0, out
    res = json.loads(out)
    face = res["faces"][0]
    assert len(face["box"]) == 4 and len(face["matches"]) == 3
    m = face["matches"][0]
    assert {"score", "fmr", "face_id", "collection"} <= set(m)
    assert {"path", "source_url"} <= set(m["image"])
    assert Path(m["image"]["path"]).parent.name == name and m["collection"] == "archive"
    assert res["case_ref"] == "C-1" and res["purpose"] == "TEST"

    code, out = _run("search", str(photos[0]), "--top", "3", "--case", "C-2", "--purpose", "TEST: second look")
    assert code == 0 and "archive" in out and "threshold" in out and "C-2" in out

    # Every search is in the audit log, refusals included, with what it returned.
    entries = _entries(Action.SEARCH)
    assert [e["outcome"] for e in entries] == ["refused"] * 3 + ["ok", "ok"]
    assert [e["case_ref"] for e in entries[3:]] == ["C-1", "C-2"]
    assert all(e["actor"].startswith("cli:") for e in entries)
    assert entries[3]["seq"] == res["search_id"] and entries[3]["probe_sha256"] == res["probe"]["sha256"]
    assert m["face_id"] in [x["face_id"] for x in entries[3]["results"][0]["matches"]]
    assert entries[4]["purpose"] == "TEST: second look"
    # A role the search is not made for is refused, whatever the case and purpose.
    code, out = _run("--role", "operator", "search", str(photos[0]), "--case", "C-3", "--purpose", "TEST", "--json")
    assert code == 4 and json.loads(out)["kind"] == "forbidden", out

    # Verify obeys the same rules.
    code, out = _run("verify", str(photos[0]), str(photos[1]), "--json")
    assert code == 4 and json.loads(out)["kind"] == "case_required", out
    code, out = _run("verify", str(photos[0]), str(photos[1]), "--case", "C-1", "--purpose", "TEST", "--json")
    v = json.loads(out)
    assert code == 0 and {"score", "fmr", "threshold", "same_person"} <= set(v) and v["same_person"] is True
    assert [e["outcome"] for e in _entries(Action.VERIFY)] == ["refused", "ok"]

    code, out = _run("stats", "--json")
    s = json.loads(out)
    assert s["images"] == 12 and s["faces"] >= 12 and s["collections"][0]["name"] == "archive"


def test_search_errors_are_clear(tmp_path: Path, synthetic_env: Path) -> None:
    probe = write_photo(tmp_path / "probe.jpg", [0], seed=1)
    assert _run("purposes", "add", "TEST", "--description", "tests")[0] == 0
    case = ("--case", "C-1", "--purpose", "TEST")
    code, out = _run("search", str(probe), *case, "--json")
    assert code == 2 and "gallery is empty" in json.loads(out)["error"]
    gallery = tmp_path / "g"
    write_gallery(gallery, [0], 1)
    code, out = _run("ingest", str(gallery), "--collection", "c")
    assert (
        code == 2
        and "facesearch collections create c"
        in out + runner.invoke(app, ["ingest", str(gallery), "--collection", "c"]).output
    )
    assert _run("collections", "create", "c", "--source", "test photos", "--legal-basis", "consent", "--keep")[0] == 0
    assert _run("ingest", str(gallery), "--collection", "c")[0] == 0
    blank = tmp_path / "blank.png"
    Image.new("RGB", (300, 300), (30, 120, 40)).save(blank)
    code, out = _run("search", str(blank), *case, "--json")
    assert code == 3 and "no face" in json.loads(out)["error"]
    code, out = _run("search", str(tmp_path / "missing.jpg"), *case, "--json")
    assert code == 2 and json.loads(out)["reason"] == "UNREADABLE_FILE"


def test_models_list_and_missing_weights(tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from facesearch.models import registry

    monkeypatch.setenv("FACESEARCH_MODELS_DIR", str(tmp_path / "nothing"))
    code, out = _run("models", "list", "--json")
    rows = {r["name"]: r for r in json.loads(out)}
    assert code == 0 and {"dlib", "yunet-reid"} <= set(rows) and rows["yunet-reid"]["default"]
    assert rows["yunet-reid"]["installed"] and "synthetic" not in rows  # shipped; test packs stay hidden
    # Without the weights shipped in the package (a stripped install), nothing is found.
    monkeypatch.setattr(registry, "SHIPPED_WEIGHTS", tmp_path / "stripped")
    rows = {r["name"]: r for r in json.loads(_run("models", "list", "--json")[1])}
    assert not rows["yunet-reid"]["installed"]
    monkeypatch.setenv("FACESEARCH_TEST_PACKS", "1")
    rows = {r["name"]: r for r in json.loads(_run("models", "list", "--json")[1])}
    assert rows["synthetic"]["installed"] and not rows["synthetic"]["default"]

    a, b = write_photo(tmp_path / "a.jpg", [0], seed=1), write_photo(tmp_path / "b.jpg", [0], seed=2)
    assert _run("purposes", "add", "TEST", "--description", "tests")[0] == 0
    code, out = _run("verify", str(a), str(b), "--model", "yunet-reid", "--case", "C-1", "--purpose", "TEST", "--json")
    assert code == 2 and "facesearch models pull yunet-reid" in json.loads(out)["error"]


@needs_shared
def test_models_list_with_the_real_weights(home: Path) -> None:
    """FACESEARCH_MODELS_DIR (here ../shared/models) comes before the weights shipped in the package."""
    code, out = _run("models", "list", "--json")
    rows = {r["name"]: r for r in json.loads(out)}
    assert code == 0 and rows["dlib"]["installed"] and rows["yunet-reid"]["installed"]
    assert rows["yunet-reid"]["default"] and rows["yunet-reid"]["weights"] == "models_dir"
    assert Settings().resolved_models_dir == MODELS
