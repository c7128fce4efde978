"""The `--json` output of the core commands, pinned: the keys of each document, and the ingest summary on one
line (a script reads it as one JSON document per run). Runs on the `synthetic` test pack."""

from __future__ import annotations

import json
from pathlib import Path

from support.synthetic import write_gallery
from typer.testing import CliRunner

from facesearch.cli import app

runner = CliRunner()
COLLECTION = {
    "name",
    "model",
    "model_version",
    "created_at",
    "source",
    "legal_basis",
    "legal_basis_note",
    "owner",
    "retention_days",
    "keep_until_deleted",
    "description",
    "problems",
}


def _json(*args: str) -> object:
    res = runner.invoke(app, list(args))
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


def test_core_commands_print_the_same_keys(tmp_path: Path, synthetic_env: Path) -> None:
    made = _json("collections", "create", "c", "--source", "scans", "--legal-basis", "consent", "--keep", "--json")
    assert set(made) == COLLECTION and made["keep_until_deleted"] is True  # no `dim`: that is the API's
    listed = _json("collections", "list", "--json")
    assert [set(c) for c in listed] == [COLLECTION | {"images", "faces"}]

    write_gallery(tmp_path / "g", [0, 1], 2)
    res = runner.invoke(app, ["ingest", str(tmp_path / "g"), "-c", "c", "--json"])
    assert res.exit_code == 0 and len(res.stdout.strip().splitlines()) == 1, res.output
    summary = json.loads(res.stdout)
    assert set(summary) == {
        "collection",
        "model",
        "job",
        "ingested",
        "duplicates",
        "no_face",
        "failed",
        "faces",
        "faces_below_quality",
        "opted_out_faces",
        "opted_out_images",
        "seconds",
        "images_per_second",
    }
    assert summary["collection"] == "c" and summary["ingested"] == 4

    stats = _json("stats", "--json")
    assert set(stats) == {
        "images",
        "faces",
        "images_without_faces",
        "collections",
        "home",
        "default_model",
        "index_bytes",
    }
    assert stats["images"] == 4 and stats["home"] == str(synthetic_env)
    assert [set(c) for c in stats["collections"]] == [{"name", "model", "created_at", "images", "faces"}]

    rebuilt = _json("--role", "admin", "index", "rebuild", "--kind", "flat", "--json")
    assert set(rebuilt) == {"collections", "recall_target"}
    assert [set(c) for c in rebuilt["collections"]] == [{"collection", "kind", "faces", "seconds", "params"}]

    added = runner.invoke(
        app, ["users", "add", "ann", "--role", "examiner", "--password-stdin"], input="a long passphrase\n"
    )
    assert added.exit_code == 0, added.output
    assert _json("users", "list", "--json") == [{"name": "ann", "role": "examiner", "disabled": False}]
    assert set(_json("db", "current", "--json")) == {"current", "head", "state"}
    assert set(_json("audit", "verify", "--json")) == {"ok", "entries", "head_seq", "head_hash", "problems"}
