"""What the command line prints and how it exits, as a script or a reader sees it: the search table's
provenance (image path, source URL, the collection's declared source) and its wording (no bare "match rate";
above/below threshold in words, not colour alone), `--version`, verify's exit status (0 same person, 1
different people), an ingest that finds nothing, `--report` without failures, and the progress bar.

Runs on the `synthetic` test pack (generated marker photos, no weights).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from support.synthetic import write_gallery, write_photo
from typer.testing import CliRunner

from facesearch import __version__
from facesearch.cli import app
from facesearch.cli.search import short_path
from facesearch.config import Settings
from facesearch.store import Store
from facesearch.store.audit import iter_entries
from facesearch.vocabulary import Action

runner = CliRunner()
SOURCE = "Our press archive, scanned prints"
CASE = ("--case", "C-1", "--purpose", "TEST")


def _run(*args: str) -> tuple[int, str, str]:
    res = runner.invoke(app, list(args))
    return res.exit_code, res.stdout, res.stderr


def _home(tmp_path: Path) -> tuple[Path, dict[int, list[Path]]]:
    """A documented collection `archive` of 3 people x 3 photos from a manifest with source URLs, and the
    purpose TEST."""
    gallery = write_gallery(tmp_path / "g", [0, 1, 2], 3)
    manifest = tmp_path / "batch.csv"
    with manifest.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["path", "source_url"])
        for paths in gallery.values():
            w.writerows([p, f"https://example.org/photos/{p.stem}"] for p in paths)
    assert _run("collections", "create", "archive", "--source", SOURCE, "--legal-basis", "consent", "--keep")[0] == 0
    code, out, err = _run("ingest", "--manifest", str(manifest), "--collection", "archive", "--json")
    assert code == 0 and json.loads(out)["ingested"] == 9, out + err
    assert _run("purposes", "add", "TEST", "--description", "tests")[0] == 0
    return manifest, gallery


def test_search_table_shows_provenance_and_words(
    tmp_path: Path, synthetic_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, gallery = _home(tmp_path)
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.chdir(tmp_path)
    probe = write_photo(tmp_path / "probe.jpg", [1], seed=900, variant=4)
    code, out, err = _run("search", str(probe), "--top", "4", *CASE)
    assert code == 0, out + err
    assert "\x1b[" not in out  # plain text: nothing rests on colour
    for col in ("score", "decision", "how rare is this score", "collection source", "image", "source URL"):
        assert col in out
    # Provenance: the image path (relative to the current directory, shorter), its URL, the collection's source.
    for photo in gallery[1]:
        assert str(photo.relative_to(tmp_path)) in out and str(photo) not in out
        assert f"https://example.org/photos/{photo.stem}" in out
    assert SOURCE in out
    # Wording: who scores this high, and the decision in words (3 photos of person 1, then another person).
    assert "match rate" not in out.lower() and "FMR)" not in out
    assert "different people score this high" in out
    assert out.count("above threshold") >= 3 and "below threshold" in out
    # Every candidate sits on one line of its own when the output is not a terminal.
    rows = [line for line in out.splitlines() if "example.org" in line]
    assert len(rows) == 4 and all(SOURCE in r and "threshold" in r for r in rows)

    code, out, _ = _run("search", str(probe), "--top", "4", *CASE, "--json")  # unchanged
    m = json.loads(out)["faces"][0]["matches"][0]
    top = Path(m["image"]["path"])
    assert top in gallery[1] and m["image"]["source_url"] == f"https://example.org/photos/{top.stem}"
    assert {"fmr", "above_threshold", "expected_false_matches"} <= set(m) and "collection_source" not in m


def test_search_and_verify_json_keep_their_keys(
    tmp_path: Path, synthetic_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--json` keys, pinned: the use case's answer as it is (a match's `thumbnail` path, the probe's `path`, a
    face's `skipped` only when it was not searched), `people` with `--people`."""
    _home(tmp_path)
    # Two faces, the second of quality 0.80: below a bar of 0.9, so it is listed as skipped.
    two = write_photo(tmp_path / "two.jpg", [1, 2], seed=75, size=(640, 360), variant=3)
    monkeypatch.setenv("FACESEARCH_PROBE_MIN_QUALITY", "0.9")
    code, out, err = _run("search", str(two), "--top", "2", "--all-faces", *CASE, "--json")
    assert code == 0, out + err
    res = json.loads(out)
    top = {"case_ref", "collections", "faces", "gallery_size", "probe", "probe_sha256", "purpose", "search_id"}
    assert set(res) == top | {"seconds", "stamp"}
    assert res["probe"] == {**res["probe"], "path": str(two), "label": "two.jpg"}
    assert set(res["probe"]) == {"height", "label", "path", "sha256", "width"}
    face = {"box", "detection_score", "face", "landmarks", "model", "model_version", "quality", "quality_reasons"}
    searched, skipped = res["faces"]
    assert set(searched) == face | {"collections", "gallery_size", "matches", "threshold"}
    assert set(skipped) == set(searched) | {"skipped"} and skipped["matches"] == []
    assert set(searched["threshold"]) == {"fmr", "fmr_text", "reason", "score"}
    match = {"above_threshold", "box", "collection", "decision", "expected_false_matches", "face_id", "fmr"}
    match |= {"fmr_text", "image", "quality", "rank", "score", "stamp", "status", "thumbnail"}
    assert set(searched["matches"][0]) == match
    assert set(searched["matches"][0]["image"]) == {"id", "metadata", "path", "sha256", "source_url"}
    monkeypatch.delenv("FACESEARCH_PROBE_MIN_QUALITY")

    probe = write_photo(tmp_path / "probe.jpg", [1], seed=900, variant=4)
    code, out, err = _run("search", str(probe), "--top", "2", *CASE, "--json", "--people")
    assert code == 0, out + err
    res = json.loads(out)
    assert set(res) == top | {"seconds", "stamp", "people"} and res["people"]
    person = res["people"][0]
    assert set(person) == {"best_face", "fmr", "images", "name", "person", "score"}
    assert set(person["best_face"]) == match and set(person["images"][0]) == {"id", "path"}

    a, b = (write_photo(tmp_path / f"a{k}.jpg", [0], seed=10 + k, variant=k) for k in range(2))
    code, out, err = _run("verify", str(a), str(b), *CASE, "--json")
    assert code == 0, out + err
    res = json.loads(out)
    verify = {"case_ref", "decision", "faces", "fmr", "fmr_text", "model", "model_version", "probe_sha256"}
    verify |= {"purpose", "same_person", "score", "threshold", "threshold_fmr", "threshold_fmr_text"}
    assert set(res) == verify | {"threshold_reason", "verify_id"}
    assert all(set(f) == face for f in res["faces"]) and len(res["probe_sha256"]) == 2


def test_short_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert short_path(str(tmp_path / "a" / "b.jpg")) == str(Path("a", "b.jpg"))
    deep = "/" + "/".join(["very-long-folder-name"] * 5) + "/person/photo.jpg"
    assert short_path(deep) == str(Path("…", "person", "photo.jpg"))
    assert short_path("/x/y.jpg") == "/x/y.jpg"  # short already
    assert short_path(None) == "" and short_path("") == ""


def test_version() -> None:
    code, out, _ = _run("--version")
    assert code == 0 and out.strip() == f"facesearch {__version__}" == "facesearch 0.4.1"


def test_verify_exit_status_and_words(tmp_path: Path, synthetic_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert _run("purposes", "add", "TEST", "--description", "tests")[0] == 0
    monkeypatch.setenv("NO_COLOR", "1")
    a, b = (write_photo(tmp_path / f"a{k}.jpg", [0], seed=10 + k, variant=k) for k in range(2))
    other = write_photo(tmp_path / "other.jpg", [1], seed=20)

    code, out, err = _run("verify", str(a), str(b), *CASE)
    assert code == 0, out + err
    assert out.startswith("same person") and "above threshold" in out and "different people score this high" in out
    assert "match rate" not in out and "\x1b[" not in out
    code, out, err = _run("verify", str(a), str(other), *CASE)
    assert code == 1, out + err
    assert out.startswith("different people") and "below threshold" in out
    code, out, _ = _run("verify", str(a), str(other), *CASE, "--json")
    assert code == 1 and json.loads(out)["same_person"] is False
    code, out, _ = _run("verify", str(a), str(b), *CASE, "--json")
    assert code == 0 and json.loads(out)["same_person"] is True
    # Errors keep their codes: 2 bad input, 4 refused by the rules.
    assert _run("verify", str(a), str(tmp_path / "missing.jpg"), *CASE)[0] == 2
    assert _run("verify", str(a), str(b), "--case", "C-1")[0] == 4


def test_ingest_of_nothing_says_so(tmp_path: Path, synthetic_env: Path) -> None:
    assert _run("collections", "create", "c", "--source", "test", "--legal-basis", "consent", "--keep")[0] == 0
    empty = tmp_path / "empty"
    (empty / "sub").mkdir(parents=True)
    (empty / ".hidden.jpg").write_bytes(b"x")  # hidden files are not read
    code, out, err = _run("ingest", str(empty), "--collection", "c")
    assert code == 2 and f"no images found in {empty}" in err, out + err
    code, out, _ = _run("ingest", str(empty), "--collection", "c", "--json")
    assert code == 2 and "no images found" in json.loads(out)["error"]
    manifest = tmp_path / "empty.csv"
    manifest.write_text("path,source_url\n")
    code, out, err = _run("ingest", "--manifest", str(manifest), "--collection", "c")
    assert code == 2 and f"no images listed in {manifest}" in err, out + err
    # Nothing was started: no ingest job, no audit entry.
    store = Store(Settings().resolved_database_url)
    assert store.recent_ingest_jobs() == []
    assert [e for e in iter_entries(store) if e.action == Action.INGEST] == []


def test_report_without_failures(tmp_path: Path, synthetic_env: Path) -> None:
    write_gallery(tmp_path / "g", [0], 2)
    assert _run("collections", "create", "c", "--source", "test", "--legal-basis", "consent", "--keep")[0] == 0
    report = tmp_path / "out" / "failures.csv"
    code, out, err = _run("ingest", str(tmp_path / "g"), "--collection", "c", "--report", str(report), "--json")
    assert code == 0 and json.loads(out)["failed"] == 0  # stdout stays one JSON document
    assert "no failures" in err and str(report) in err
    assert report.read_text().splitlines() == ["path,reason,detail"]
    (tmp_path / "g" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    code, out, err = _run("ingest", str(tmp_path / "g"), "--collection", "c", "--report", str(report))
    assert code == 0 and "1 failure written to" in err and "no failures" not in err
    assert "broken.jpg" in report.read_text()


def test_progress_shows_rate_and_eta(tmp_path: Path, synthetic_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_gallery(tmp_path / "g", [0, 1], 2)
    assert _run("collections", "create", "c", "--source", "test", "--legal-basis", "consent", "--keep")[0] == 0
    monkeypatch.setenv("FACESEARCH_PROGRESS", "1")
    code, out, err = _run("ingest", str(tmp_path / "g"), "--collection", "c")
    assert code == 0, out + err
    assert "4/4" in err and "images/s" in err and "done" in err


def test_progress_columns_from_the_first_update() -> None:
    from facesearch.cli.ingest import _ingest_progress

    bar = _ingest_progress(disable=True)
    task_id = bar.add_task("ingest", total=100, faces=0)
    task = bar.tasks[0]
    rate, eta = (c for c in bar.columns if type(c).__name__ in ("_Rate", "_Eta"))
    assert "-" in rate.render(task).plain and "-:--" in eta.render(task).plain  # nothing done yet
    task.start_time = task.get_time() - 10  # 10 s in, one update: 25 images
    bar.update(task_id, completed=25)
    assert rate.render(task).plain == "2.5 images/s"
    assert eta.render(task).plain == "ETA 0:00:30"


def test_search_table_fits_100_columns(tmp_path: Path, synthetic_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """At COLUMNS=100 (a terminal's width) the table fits: one line per candidate, every line at most 100
    characters, the file name kept whole (paths are shortened from the left), the collection's source said
    once below the table; a collection without source URLs has no empty "source URL" column. `--wide` shows
    every column, paths whole."""
    deep = tmp_path / ("an-archive-folder-with-a-long-name-" * 3) / "scans"
    deep.mkdir(parents=True)
    _, gallery = _home(deep)
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "100")
    probe = write_photo(tmp_path / "probe.jpg", [1], seed=900, variant=4)
    code, out, err = _run("search", str(probe), "--top", "4", *CASE)
    assert code == 0, out + err
    lines = out.splitlines()
    rows = [line for line in lines if line.strip()[:1].isdigit() and ("above" in line or "below" in line)]
    assert len(rows) == 4, out
    assert all(len(line) <= 100 for line in rows), out
    header = next(line for line in lines if "how rare" in line and "score" in line)
    assert len(header) <= 100 and "source URL" in header and "collection source" not in header
    for photo in gallery[1]:
        assert sum(photo.name in r for r in rows) == 1, out  # the file name, whole, on its candidate's line
    assert any("…" in r for r in rows) and str(gallery[1][0]) not in out  # shortened from the left
    assert f"collection archive: source {SOURCE}" in out and out.count(SOURCE) == 1
    assert "how rare: 1 in N different people score this high" in out and "1 in " in rows[0]

    # A collection without source URLs: no "source URL" column at all.
    plain = write_gallery(tmp_path / "plain", [3], 2)
    assert _run("collections", "create", "plain", "--source", "s", "--legal-basis", "consent", "--keep")[0] == 0
    assert _run("ingest", str(plain[3][0].parent.parent), "--collection", "plain")[0] == 0
    code, out, err = _run("search", str(probe), "--top", "2", "-c", "plain", *CASE)
    assert code == 0 and "source URL" not in out, out + err

    monkeypatch.delenv("COLUMNS")  # piped without a width: the wide table's lines stay whole
    code, out, err = _run("search", str(probe), "--top", "4", "--wide", *CASE)
    assert code == 0 and "collection source" in out and "source URL" in out, out + err
    for photo in gallery[1]:
        assert photo.name in out


def test_case_report_carries_provenance_and_stays_off_the_terminal(
    tmp_path: Path, synthetic_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every candidate of the case report names its file, source URL, collection source and ingest time (with
    its zone), in the JSON and the HTML; the HTML report (base64 photos) is refused at a terminal unless it
    goes to --out, and is written there."""
    from facesearch.cli import governance

    _, gallery = _home(tmp_path)
    probe = write_photo(tmp_path / "probe.jpg", [1], seed=900, variant=4)
    assert _run("search", str(probe), "--top", "4", *CASE)[0] == 0
    code, out, err = _run("case", "report", "C-1", "--format", "json")
    assert code == 0, out + err
    candidates = [c for s in json.loads(out)["searches"] for c in s["candidates"]]
    assert len(candidates) == 4
    for c in candidates:
        assert Path(c["path"]).name.startswith("person_") and c["source_url"].startswith("https://example.org/")
        assert c["collection_source"] == SOURCE and c["ingested_at"].endswith("+00:00")
    code, html, err = _run("case", "report", "C-1")  # piped: the page itself
    assert code == 0 and all(c["path"] in html.replace("<wbr>", "") for c in candidates), err
    assert all(c["source_url"] in html.replace("<wbr>", "") for c in candidates) and SOURCE in html

    monkeypatch.setattr(governance, "at_terminal", lambda: True)
    code, out, err = _run("case", "report", "C-1")
    assert code == 2 and "--out" in err and "<html" not in out
    report = tmp_path / "case.html"
    code, out, err = _run("case", "report", "C-1", "--out", str(report))
    assert code == 0 and "<html" not in out and report.read_text().startswith("<!doctype html>")
    assert _run("case", "report", "C-1", "--format", "json")[0] == 0  # JSON text is fine at a terminal


def test_help_and_errors_read_as_text(tmp_path: Path, synthetic_env: Path) -> None:
    """Help names values as click does (no `<bool>`, `<str>`, `{first}`); a missing case reference names the
    option that gives it; a wrong path is said in words, not as Python's `[Errno 2]`."""
    for command in (["--help"], ["verify", "--help"], ["search", "--help"], ["people", "together", "--help"]):
        res = runner.invoke(app, command, env={"COLUMNS": "120"})
        assert res.exit_code == 0 and not any(t in res.stdout for t in ("<bool>", "<str>", "{first}", "{probe}"))
    assert "verify [OPTIONS] FIRST SECOND" in runner.invoke(app, ["verify", "--help"]).stdout
    probe = write_photo(tmp_path / "probe.jpg", [1], seed=900, variant=4)
    code, _, err = _run("search", str(probe), "--purpose", "TEST")
    assert code == 4 and "--case REF" in err
    code, _, err = _run("search", str(tmp_path / "missing.jpg"), *CASE)
    assert code == 2 and "no such file or directory" in err and "Errno" not in err
