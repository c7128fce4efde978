"""`facesearch bench watches`: the per-ingest cost of watches, run small on real photos (yunet-reid, LFW)."""

from __future__ import annotations

import json
from pathlib import Path

from support.paths import LFW, MODELS, needs_lfw, needs_yunet
from typer.testing import CliRunner

from facesearch.cli import app

pytestmark = [needs_lfw, needs_yunet]


def test_bench_watches_reports_each_case(tmp_path: Path) -> None:
    out = tmp_path / "results"
    res = CliRunner().invoke(
        app,
        [
            *("bench", "watches", "--images", "20", "--watches", "1,50", "--repeat", "1", "--templates", "5"),
            *("--data", str(LFW / "deepfunneled"), "--models-dir", str(MODELS), "--out", str(out), "--json"),
        ],
    )
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout.strip().splitlines()[-1])
    assert report["benchmark"] == "watches" and report["machine"]["cores"] and "commit" in report["git"]
    cases = [r["case"] for r in report["rows"]]
    assert cases == ["check, 1 watches", "check, 50 watches", "ingest, 0 watches", "ingest, 50 watches"]
    checks = report["rows"][:2]
    assert all(r["new_faces"] >= 20 and r["check_s"] > 0 and r["ingest_s"] > 0 for r in checks)
    assert len(list(out.glob("*-watches.json"))) == 1 and len(list(out.glob("*-watches.md"))) == 1
