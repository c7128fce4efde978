"""Standing searches and case authorisations from the command line, as an examiner, an operator, an admin and
an auditor would run them: `watch add|list|show|stop|renew|hits|propose`, `cases authorise`, purposes that
require an authorisation (refused with exit 4 without one), `purposes report --year`, and the exact JSON of
`watch hits --json`. Plumbing: runs on the `synthetic` test pack."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from support.service import EXTRA, PEOPLE, write_people
from support.watching import day
from typer.testing import CliRunner

from facesearch.cli import app

runner = CliRunner()
SUBJECT = "Tony_Blair"
HIT = {"watch", "case", "face_id", "image", "score", "decision", "fmr", "ingest_job", "at"}
WATCH = {
    *("id", "case", "purpose", "owner", "created_at", "until", "status", "ended_at", "ended_by", "end_reason"),
    *("threshold", "collections", "face", "probe_sha256", "models", "webhook", "hits", "unseen"),
}


def _run(*args: str, role: str | None = None, code: int = 0) -> str:
    res = runner.invoke(app, [*(["--role", role] if role else []), *args])
    assert res.exit_code == code, res.output
    return res.stdout


def _json(*args: str, role: str | None = None) -> Any:
    return json.loads(_run(*args, "--json", role=role))


def _folder(dest: Path, photos: list[Path]) -> Path:
    dest.mkdir(parents=True)
    for p in photos:
        (dest / p.name).write_bytes(p.read_bytes())
    return dest


def test_watch_and_authorisation_commands(tmp_path: Path, synthetic_env: Path) -> None:
    people = write_people(tmp_path / "photos")
    _run("collections", "create", "press", "--source", "agency feed", "--legal-basis", "contract", "--keep")
    _run("ingest", str(_folder(tmp_path / "g1", [p for n in PEOPLE for p in people[n][:2]])), "-c", "press")
    _run("purposes", "add", "TEST", "--description", "tests")
    probe = str(people[SUBJECT][7])

    watch = _json("watch", "add", probe, "--case", "C-CLI", "--purpose", "TEST", "--until", day(14))
    assert set(watch) == WATCH and watch["status"] == "active" and watch["owner"].startswith("cli:")
    # Too long, no case: refused by the rules or as bad input.
    _run("watch", "add", probe, "--case", "C-CLI", "--purpose", "TEST", "--until", day(200), code=2)
    _run("watch", "add", probe, "--purpose", "TEST", "--until", day(3), code=4)
    _run("watch", "add", probe, "--case", "C", "--purpose", "TEST", "--until", day(3), role="operator", code=4)

    mixed = [p for n in [*PEOPLE, EXTRA] for p in people[n][2:5]]
    _run("ingest", str(_folder(tmp_path / "g2", mixed)), "-c", "press")
    hits = _json("watch", "hits")
    assert [set(h) for h in hits] == [HIT] * 3
    assert all(set(h["image"]) == {"id", "path", "source_url"} for h in hits)
    assert sorted(Path(h["image"]["path"]).name for h in hits) == sorted(p.name for p in people[SUBJECT][2:5])
    assert {h["watch"] for h in hits} == {watch["id"]} and {h["case"] for h in hits} == {"C-CLI"}
    assert all(h["decision"] == "above threshold" and h["at"].endswith("+00:00") for h in hits)
    assert _json("watch", "hits", str(watch["id"])) == hits
    assert "score" in _run("watch", "hits") and "no hits" not in _run("watch", "hits")
    listed = _json("watch", "list")
    assert [w["id"] for w in listed] == [watch["id"]] and listed[0]["hits"] == 3 and listed[0]["unseen"] == 0
    assert _json("watch", "show", str(watch["id"]))["hits"] == 3
    renewed = _json("watch", "renew", str(watch["id"]), "--until", day(60))
    assert renewed["until"].startswith(day(61))
    proposal = _json("watch", "propose", str(watch["id"]), str(hits[0]["face_id"]), "--note", "same marker")
    assert proposal["search_id"] > 0 and proposal["status"] == "proposed"
    _run("review", "confirm", str(proposal["id"]), code=4)  # the same examiner: refused
    stopped = _json("watch", "stop", str(watch["id"]), "--reason", "closed")
    assert stopped["status"] == "stopped" and stopped["end_reason"] == "closed"
    report = json.loads(_run("--role", "auditor", "case", "report", "C-CLI", "--format", "json"))
    # The watch with its hits, and the refused attempt (its refusal says why).
    assert [w["watch"] for w in report["watches"]] == [watch["id"], None] and len(report["watches"][0]["hits"]) == 3
    assert "FACESEARCH_WATCH_MAX_DAYS" in report["watches"][1]["refusal"]
    assert json.loads(_run("--role", "auditor", "cases", "report", "C-CLI", "--format", "json"))["case_ref"] == "C-CLI"

    # A purpose that requires an authorisation: refused (exit 4) without one, allowed with one.
    added = _json("purposes", "add", "LE-10", "--description", "Art. 26(10)", "--requires-authorisation", role="admin")
    assert added["requires_authorisation"] is True and "urgent_hours" not in added
    _run("purposes", "add", "LE-U", "--description", "urgent", "--urgent-hours", "48", role="admin", code=2)
    urgent = _json(
        "purposes",
        "add",
        "LE-U",
        "--description",
        "u",
        "--requires-authorisation",
        "--urgent-hours",
        "48",
        role="admin",
    )
    assert urgent["urgent_hours"] == 48
    refused = runner.invoke(app, ["search", probe, "--case", "C-AUTH", "--purpose", "LE-10", "--json"])
    assert refused.exit_code == 4 and json.loads(refused.stdout)["kind"] == "forbidden"
    _run("watch", "add", probe, "--case", "C-AUTH", "--purpose", "LE-10", "--until", day(5), code=4)
    decision = tmp_path / "decision.pdf"
    decision.write_bytes(b"%PDF-1.4 the court's decision")
    _run(
        *("cases", "authorise", "C-AUTH", "--authority", "District Court", "--reference", "RK 1/26"),
        *("--granted", day(0), "--expires", day(30), "--document", str(decision)),
        role="examiner",
        code=4,
    )
    auth = _json(
        *("cases", "authorise", "C-AUTH", "--authority", "District Court", "--reference", "RK 1/26"),
        *("--granted", day(0), "--expires", day(30), "--document", str(decision)),
        role="admin",
    )
    assert auth["live"] is True and auth["document"]["name"] == "decision.pdf"
    assert [a["id"] for a in _json("cases", "authorisations", "C-AUTH", role="auditor")] == [auth["id"]]
    _run("search", probe, "--case", "C-AUTH", "--purpose", "LE-10", "--json")
    second = _json("watch", "add", probe, "--case", "C-AUTH", "--purpose", "LE-10", "--until", day(5))
    assert second["status"] == "active"
    report = json.loads(_run("--role", "auditor", "case", "report", "C-AUTH", "--format", "json"))
    assert [a["id"] for a in report["authorisations"]] == [auth["id"]]
    assert any(s.get("authorisation", "").startswith(f"authorisation #{auth['id']}") for s in report["searches"])
    html = _run("--role", "auditor", "case", "report", "C-AUTH")
    assert "RK 1/26" in html and "Standing searches" in html

    year = datetime.now(timezone.utc).year
    yearly = _json("purposes", "report", "--year", str(year), role="auditor")
    rows = {r["purpose"]: r for r in yearly["purposes"]}
    assert yearly["year"] == year and rows["LE-10"]["with_authorisation"] == 2 and rows["LE-10"]["refused"] == 2
    assert rows["TEST"]["watches"] == 1 and rows["TEST"]["watch_hits"] == 3
    assert "with an authorisation" in _run("purposes", "report", "--year", str(year), role="auditor")
    _run("purposes", "report", "--year", str(year), role="examiner", code=4)
