"""The governance commands as an operator runs them: collections, doctor exit codes, purge with --now,
kill switch, purposes, opt-out, subject report and case report. Plumbing: runs on the `synthetic` test pack."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

from support.synthetic import write_gallery
from typer.testing import CliRunner

from facesearch.cli import app

runner = CliRunner()
PERSON, OTHER = 11, 7  # marker identities: the person who opts out, and someone else


def _run(*args: str) -> tuple[int, str]:
    res = runner.invoke(app, list(args))
    return res.exit_code, res.output


def test_governance_commands(tmp_path: Path, synthetic_env: Path) -> None:
    home = synthetic_env
    # Five photos of each person: the first two go into the gallery, the rest are held out.
    people = write_gallery(tmp_path / "people", [OTHER, PERSON], 5)
    gallery = tmp_path / "g"
    gallery.mkdir()
    for who in (OTHER, PERSON):
        for p in people[who][:2]:
            (gallery / p.name).write_bytes(p.read_bytes())
    code, out = _run("ingest", str(gallery), "--collection", "press")
    assert code == 2 and "facesearch collections create press" in out
    assert (
        _run(
            "collections",
            "create",
            "press",
            "--source",
            "agency feed",
            "--legal-basis",
            "contract",
            "--retention-days",
            "10",
        )[0]
        == 0
    )
    assert _run("collections", "create", "bad", "--source", "s", "--legal-basis", "whim", "--keep")[0] == 2
    code, out = _run("collections", "list", "--json")
    assert json.loads(out)[0]["retention_days"] == 10 and json.loads(out)[0]["problems"] == []
    assert json.loads(out)[0]["model"] == "synthetic"
    assert _run("ingest", str(gallery), "--collection", "press")[0] == 0

    code, out = _run("doctor", "--json")
    assert code == 0 and json.loads(out)["orphans"] == 0
    stray = home / "thumbs" / "stray.jpg"
    stray.write_bytes(b"x")
    code, out = _run("doctor", "--json")
    assert code == 1 and json.loads(out)["counts"]["thumbnails_without_face"] == 1
    assert _run("doctor", "--fix")[0] == 1 and _run("doctor")[0] == 0

    code, out = _run("subject", "report", str(people[PERSON][4]), "--reference", "DSR-0", "--json")
    assert code == 0 and json.loads(out)["images"] >= 1
    code, out = _run("optout", "add", str(people[PERSON][3]), str(people[PERSON][4]), "--reference", "DSR-1", "--json")
    assert code == 0, out
    assert json.loads(out)["erased"]["images"] == 2
    assert _run("doctor")[0] == 0

    soon = (datetime.now(timezone.utc) + timedelta(days=5)).isoformat()
    code, out = _run("purge", "--now", soon, "--json")
    assert code == 0 and json.loads(out)["erased"]["images"] == 0
    later = (datetime.now(timezone.utc) + timedelta(days=11)).isoformat()
    code, out = _run("purge", "--now", later, "--json")
    assert code == 0 and json.loads(out)["erased"]["images"] == 2
    assert _run("doctor")[0] == 0

    assert _run("purposes", "add", "LE-1", "--description", "Art. 10")[0] == 0
    assert _run("purposes", "retire", "LE-1")[0] == 0
    code, out = _run("purposes", "list", "--json")
    assert json.loads(out) == [json.loads(out)[0]] and json.loads(out)[0]["active"] is False

    # A search names a case and an allowed purpose (required since the refactor); a suspension refuses it
    # by the rules: exit 4 (was 2), kind "suspended".
    assert _run("purposes", "add", "TEST", "--description", "tests")[0] == 0
    assert _run("search-suspend", "--reason", "audit")[0] == 0
    probe = str(people[OTHER][3])
    refused = runner.invoke(app, ["search", probe, "--case", "C-1", "--purpose", "TEST", "--json"])
    assert refused.exit_code == 4 and "suspended" in refused.output
    assert json.loads(refused.stdout)["kind"] == "suspended"
    assert _run("search-resume")[0] == 0
    code, out = _run("search", probe, "--case", "C-1", "--purpose", "TEST", "--json")
    assert code == 0, out

    code, out = _run("case", "report", "NO-SUCH-CASE", "--format", "json")
    assert code == 0 and json.loads(out)["searches"] == []
    report = tmp_path / "r.html"
    assert _run("case", "report", "NO-SUCH-CASE", "--out", str(report))[0] == 0
    assert "Case disclosure report" in report.read_text()
