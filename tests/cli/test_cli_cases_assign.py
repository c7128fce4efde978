"""`facesearch cases assign`: an admin adds an examiner to a case from the command line; others are refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.service import make_env, synthetic_packs
from typer.testing import CliRunner

from facesearch.cli.main import app


@pytest.fixture()
def home(tmp_path: Path):  # type: ignore[no-untyped-def]
    # One patch context, undone last: a monkeypatch fixture would restore the pack setting after this block.
    with synthetic_packs(), pytest.MonkeyPatch.context() as mp:
        env = make_env(tmp_path / "home")
        env.add_user("erik", "examiner")
        mp.setenv("FACESEARCH_HOME", str(tmp_path / "home"))
        yield env


def test_an_admin_assigns_and_an_examiner_may_not(home) -> None:  # type: ignore[no-untyped-def]
    runner = CliRunner()
    r = runner.invoke(app, ["--role", "admin", "cases", "assign", "CASE-7", "erik", "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert out["examiner"] == "erik" and out["case_ref"] == "CASE-7" and out["added_by"].startswith("cli:")
    r = runner.invoke(app, ["--role", "examiner", "cases", "assign", "CASE-7", "erik"])
    assert r.exit_code == 4, r.output
    r = runner.invoke(app, ["--role", "admin", "cases", "assign", "CASE-7", "nobody"])
    assert r.exit_code != 0 and "no account" in r.output


def test_an_admin_unassigns_from_the_command_line(home) -> None:  # type: ignore[no-untyped-def]
    runner = CliRunner()
    assert runner.invoke(app, ["--role", "admin", "cases", "assign", "CASE-8", "erik"]).exit_code == 0
    r = runner.invoke(app, ["--role", "examiner", "cases", "unassign", "CASE-8", "erik"])
    assert r.exit_code == 4, r.output
    r = runner.invoke(app, ["--role", "admin", "cases", "unassign", "CASE-8", "erik", "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert out["examiner"] == "erik" and out["case_ref"] == "CASE-8" and out["removed_by"].startswith("cli:")
    r = runner.invoke(app, ["--role", "admin", "cases", "unassign", "CASE-8", "erik"])
    assert r.exit_code == 2 and "not a member" in r.output, r.output
