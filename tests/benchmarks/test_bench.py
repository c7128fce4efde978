"""Smoke test of `facesearch bench ingest`: the code path runs on a few photos and reports every field.

Speeds are not asserted: this is a correctness check of the benchmark, not a benchmark.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.paths import LFW, MODELS, needs_lfw, needs_yunet
from typer.testing import CliRunner

from facesearch.cli import app
from facesearch.cli.checkout import load_harness

harness = load_harness()  # benchmarks/harness.py of this checkout, loaded as `facesearch bench` loads it
pick_images, to_markdown = harness.pick_images, harness.to_markdown

ROW_FIELDS = {
    "name",
    "kind",
    "images",
    "faces",
    "workers",
    "images_per_s",
    "faces_per_s",
    "peak_rss_mb",
    "speedup",
    "speedup_per_repeat",
}


@needs_lfw
@needs_yunet
def test_bench_ingest_smoke(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FACESEARCH_MODELS_DIR", str(MODELS))
    data = LFW / "deepfunneled"
    first = pick_images(data, 10, seed=7)
    assert first == pick_images(data, 10, seed=7) and len(first) == 10  # deterministic sample

    out = tmp_path / "results"
    result = CliRunner().invoke(
        app,
        [
            "bench",
            "ingest",
            "--images",
            "10",
            "--model",
            "yunet-reid",
            "--workers",
            "1",
            "--data",
            str(data),
            "--seed",
            "7",
            "--out",
            str(out),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout.strip().splitlines()[-1])

    assert report["benchmark"] == "ingest" and report["images"] == 10
    assert {"cpu", "cores", "ram_mb", "loadavg"} <= set(report["machine"])
    assert {"commit", "dirty"} <= set(report["git"])
    assert {"workers", "batch_images", "threads_per_worker"} <= set(report["settings"])
    assert report["date"] and report["packages"]["facesearch"]
    names = {r["name"] for r in report["rows"]}
    assert names == {"yunet-reid", "face_recognition"}
    for row in report["rows"]:
        assert set(row) >= ROW_FIELDS
        assert row["images"] == 10 and row["faces"] > 0 and row["peak_rss_mb"] > 0
    # LFW, given by its path: the 20x (any other set: 16x, test_speed_goal_is_20x_on_lfw_and_16x_elsewhere).
    assert [g["target"] for g in report["goals"] if g["goal"].startswith("yunet-reid")] == [20.0]
    for run in report["runs"]:
        assert len(run["loadavg_before"]) == 3

    written = sorted(p.suffix for p in out.iterdir())
    assert written == [".json", ".md"]
    md = to_markdown(report)
    assert "| case |" in md and "yunet-reid" in md and "face_recognition" in md


def test_bench_without_harness_exits_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """From a wheel install (no benchmarks/ beside the package) the commands say where they run, and exit 2."""
    monkeypatch.setenv("FACESEARCH_BENCHMARKS_DIR", str(tmp_path / "nowhere"))
    result = CliRunner().invoke(app, ["bench", "ingest", "--data", str(tmp_path), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2, result.output
    said = " ".join(result.output.split())  # the console wraps long lines
    assert "source checkout" in said and "pip install -e ." in said
    assert not (tmp_path / "out").exists()


@needs_lfw
def test_speed_goal_is_20x_on_lfw_and_16x_elsewhere(tmp_path: Path) -> None:
    assert harness.speed_goal(None) == (20.0, "LFW")  # --data left out: the default set, LFW
    assert harness.speed_goal(harness.default_data_dir())[0] == 20.0
    assert harness.speed_goal(tmp_path)[0] == 16.0
