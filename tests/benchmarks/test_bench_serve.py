"""`facesearch bench serve`: a few seconds of searches against a real server process while an ingest runs,
on generated photos and the synthetic pack (the figures in docs/benchmarks.md come from real packs)."""

from __future__ import annotations

import json
from pathlib import Path

from support.synthetic import write_gallery
from typer.testing import CliRunner

from facesearch.cli import app


def test_bench_serve_reports_rate_latency_errors_and_server_growth(tmp_path: Path, synthetic_env: Path) -> None:
    data = tmp_path / "people"
    write_gallery(data, list(range(10)), 3)  # 4 people in the gallery, 6 more for the ingest during the load
    res = CliRunner().invoke(
        app,
        [
            "bench",
            "serve",
            "--model",
            "synthetic",
            "--people",
            "4",
            "--per-person",
            "2",
            "--clients",
            "2",
            "--seconds",
            "4",
            "--sample-seconds",
            "0.5",
            "--ingest-batch",
            "6",
            "--data",
            str(data),
            "--out",
            str(tmp_path / "out"),
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output
    report = json.loads(next(line for line in reversed(res.output.splitlines()) if line.startswith("{")))
    r = report["result"]
    assert report["benchmark"] == "serve" and report["git"]["commit"] and report["machine"]["cores"]
    assert r["requests"] > 0 and r["ok"] == r["requests"] and r["errors"] == 0
    assert r["latency_ms"]["p50"] > 0 and r["latency_ms"]["p99"] >= r["latency_ms"]["p50"]
    assert r["ingest"]["jobs"] >= 1 and r["ingest"]["images"] > 0 and r["ingest"]["errors"] == 0
    server = r["server"]
    assert len(server["samples"]) >= 3 and server["rss_mb"]["max"] > 0 and server["open_files"]["max"] > 0
    assert list((tmp_path / "out").glob("*-serve.md"))
