"""Smoke test of `facesearch bench video`: the code path runs on one short clip, with the baseline, and reports
every field. Speeds are not asserted: this checks the benchmark, it is not one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.paths import LFW, needs_lfw, needs_yunet
from typer.testing import CliRunner

from facesearch.cli import app


@needs_lfw
@needs_yunet
def test_bench_video_smoke(tmp_path: Path) -> None:
    out = tmp_path / "results"
    args = ["bench", "video", "--sizes", "360", "--encodings", "b", "--seconds", "4", "--baseline-seconds", "1"]
    result = CliRunner().invoke(app, [*args, "--data", str(LFW / "deepfunneled"), "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout.strip().splitlines()[-1])

    assert report["benchmark"] == "video" and report["settings"]["sampling_fps"] == 2.0
    assert {"cpu", "cores", "loadavg"} <= set(report["machine"]) and {"commit", "dirty"} <= set(report["git"])
    assert report["packages"]["av"]
    (row,) = report["rows"]
    assert row["case"] == "360p b" and row["video_s"] == 4.0 and row["frames_analysed"] == 8
    assert row["tracks"] > 0 and row["x_real_time"] > 0 and row["baseline_x_real_time"] > 0 and row["speedup"]
    assert {r["case"] for r in report["runs"]} == {"facesearch", "face_recognition"}
    baseline = next(r for r in report["runs"] if r["case"] == "face_recognition")
    assert baseline["frames_analysed"] == 2 and baseline["video_s"] == 1.0  # the same sampling, first second
    assert sorted(p.suffix for p in out.iterdir() if p.is_file()) == [".json", ".md"]
    clips = sorted(p.suffix for p in (out / "video-clips").iterdir())
    assert clips == [".json", ".mp4"]  # cached for the next run, with who is on screen when


@pytest.mark.parametrize(
    "args", [["--sizes", "480"], ["--sizes", "x"], ["--encodings", "q"], ["--baseline", "dlib"]], ids=str
)
def test_bench_video_refuses_bad_options(tmp_path: Path, args: list[str]) -> None:
    result = CliRunner().invoke(app, ["bench", "video", *args, "--out", str(tmp_path)])
    assert result.exit_code == 2, result.output
    assert not any(tmp_path.iterdir())
