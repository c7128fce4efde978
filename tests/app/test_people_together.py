"""`people together`: exact counts on photos of known groups, the search gate (case reference, purpose),
the audit entry with what was returned, the case report, opted-out people never returned, the CLI's JSON."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import pytest
from support.people import EXAMINER, OPERATOR, _person_with, _world
from support.synthetic import write_photo
from typer.testing import CliRunner

from facesearch.app import optout, people, purposes
from facesearch.app.cases import case_report
from facesearch.app.context import Actor, Context
from facesearch.app.errors import CaseRequired, Forbidden, PurposeNotAllowed
from facesearch.cli import app as cli_app
from facesearch.services.uploads import Photo
from facesearch.store.audit.table import AuditEntry
from facesearch.vocabulary import Action

ADMIN = Actor("boss", "admin")


@pytest.fixture
def world(synthetic_env: Path, tmp_path: Path) -> tuple[Context, dict[str, Path]]:
    ctx, paths = _world(tmp_path)
    purposes.add_purpose(ctx, ADMIN, "TEST", "tests")
    return ctx, paths


def _entries(ctx: Context) -> list[AuditEntry]:
    with ctx.store.session() as s:
        return list(s.query(AuditEntry).filter(AuditEntry.action == Action.PEOPLE_TOGETHER).order_by(AuditEntry.seq))


def test_together_counts_are_exact(world: tuple[Context, dict[str, Path]]) -> None:
    ctx, paths = world
    a, b, c, d = (_person_with(ctx, paths, i) for i in (1, 2, 3, 4))
    out = asdict(people.together(ctx, EXAMINER, a, case_ref="CASE-7", purpose="TEST"))
    # A is in p1 [1,2,3], p2 [1,2], p3 [1,3], p4 [1,2,4]: with B in 3 photos, C in 2, D in 1; never E.
    got = [(t["person"], t["photos"], sorted(i["path"] for i in t["images"])) for t in out["together"]]
    assert got == [
        (b, 3, sorted(str(paths[k]) for k in ("p1", "p2", "p4"))),
        (c, 2, sorted(str(paths[k]) for k in ("p1", "p3"))),
        (d, 1, [str(paths["p4"])]),
    ]
    assert out["photos"] == 4 and out["person"] == a
    c_out = asdict(people.together(ctx, EXAMINER, c, case_ref="CASE-7", purpose="TEST"))
    assert [(t["person"], t["photos"]) for t in c_out["together"]] == [(a, 2), (b, 1)]
    e = _person_with(ctx, paths, 5)
    assert people.together(ctx, EXAMINER, e, case_ref="CASE-7", purpose="TEST").together == []
    # The audit entry holds what was returned; the case report lists the together-searches.
    entry = _entries(ctx)[0]
    results = json.loads(entry.results)
    assert entry.case_ref == "CASE-7" and entry.purpose == "TEST" and entry.actor == "ann"
    assert [(t["person"], t["photos"]) for t in results["together"]] == [(b, 3), (c, 2), (d, 1)]
    report = case_report(ctx, EXAMINER, "CASE-7").report
    assert report.summary.together == 3
    assert [t.person for t in report.together] == [a, c, e]
    assert [t.outcome for t in report.together] == ["ok", "ok", "no_candidates"]


def test_together_goes_through_the_search_gate(world: tuple[Context, dict[str, Path]]) -> None:
    ctx, paths = world
    a = _person_with(ctx, paths, 1)
    with pytest.raises(CaseRequired):
        people.together(ctx, EXAMINER, a, case_ref=None, purpose="TEST")
    with pytest.raises(PurposeNotAllowed):
        people.together(ctx, EXAMINER, a, case_ref="CASE-1", purpose="GOSSIP")
    with pytest.raises(Forbidden):
        people.together(ctx, OPERATOR, a, case_ref="CASE-1", purpose="TEST")
    assert [e.outcome for e in _entries(ctx)] == ["refused", "refused"]


def test_opted_out_people_are_never_returned(world: tuple[Context, dict[str, Path]]) -> None:
    ctx, paths = world
    a, b = _person_with(ctx, paths, 1), _person_with(ctx, paths, 2)
    optout.add_optout(
        ctx, OPERATOR, [Photo.from_path(write_photo(paths["p1"].parent / "b.jpg", [2], seed=77), ctx.settings)], "DSR-2"
    )
    out = people.together(ctx, EXAMINER, a, case_ref="CASE-2", purpose="TEST")
    assert b not in {t.person for t in out.together} and len(out.together) == 2


def test_cli_together_and_list_json(world: tuple[Context, dict[str, Path]], monkeypatch: pytest.MonkeyPatch) -> None:
    ctx, paths = world
    a = _person_with(ctx, paths, 1)
    runner = CliRunner()
    res = runner.invoke(
        cli_app,
        [
            "--as",
            "ann",
            "--role",
            "examiner",
            "people",
            "together",
            str(a),
            "--case",
            "CASE-3",
            "--purpose",
            "TEST",
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert set(out) == {"person", "together"} and out["person"] == a
    assert set(out["together"][0]) == {"person", "name", "photos", "images"}
    assert set(out["together"][0]["images"][0]) == {"id", "path"}
    res = runner.invoke(cli_app, ["--as", "ann", "--role", "examiner", "people", "together", str(a), "--json"])
    assert res.exit_code == 4
    browse = ["--case", "CASE-3", "--purpose", "TEST"]  # browsing people is a search
    res = runner.invoke(cli_app, ["--as", "ann", "--role", "examiner", "people", "list", *browse, "--json"])
    listed = json.loads(res.output)
    assert set(listed) == {"people"} and set(listed["people"][0]) == {"id", "name", "faces"}
    assert [len(p["faces"]) for p in listed["people"]] == [4, 3, 2, 2, 1]
    res = runner.invoke(cli_app, ["--as", "ann", "--role", "examiner", "people", "name", str(a), "Alice"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(cli_app, ["--as", "ann", "--role", "examiner", "people", "show", "Alice", *browse, "--json"])
    assert json.loads(res.output)["id"] == a
    shown = json.loads(res.output)
    assert set(shown) == {"id", "name", "model", "face_count", "photos", "faces", "corrections", "similar"}
    # A correction's JSON: the correction and the people it changed (and the new person of a split).
    as_ann = ["--as", "ann", "--role", "examiner", "people"]
    named = json.loads(runner.invoke(cli_app, [*as_ann, "name", "Alice", "Ann", "--json"]).output)
    assert set(named) == {"correction", "people"} and named["people"] == [a]
    assert set(named["correction"]) == {"id", "kind", "actor", "at", "name", "faces", "undone_at", "undone_by"}
    face = str(shown["faces"][0]["face_id"])
    split = json.loads(runner.invoke(cli_app, [*as_ann, "split", "Ann", face, "--json"]).output)
    assert set(split) == {"correction", "people", "new_person"}
    for done in (split, named):
        res = runner.invoke(cli_app, [*as_ann, "undo", str(done["correction"]["id"]), "--json"])
        assert res.exit_code == 0, res.output
        assert set(json.loads(res.output)) == {"correction", "people"}
    res = runner.invoke(cli_app, ["--as", "op", "people", "cluster", "--json"])
    assert res.exit_code == 0, res.output
    assert set(json.loads(res.output)) == {"passes"}
