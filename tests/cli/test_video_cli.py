"""Video from the command line, on the `synthetic` test pack and a clip with known times: `ingest --video-fps`
(summary with the video counts, bad files in the --report CSV), `search` (the table's `file @ time (start–end)`,
the JSON's `video` next to `image`), a clip as the probe (`--face N` picks a track), `people together` (the
same frame), and the case report with each video candidate's time and frame."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from support.synthetic import write_photo
from support.videos import audio_only, marker_clip, write_clip
from typer.testing import CliRunner

from facesearch.cli import app

runner = CliRunner()
CLIP = [(1, 0.5, 4.0, 0.02), (2, 2.0, 7.0, 0.5)]  # tracks 0 (0.5–3.5 s) and 1 (2.0–6.5 s), together 2.0–3.5 s


def _ok(*args: str) -> str:
    res = runner.invoke(app, list(args))
    assert res.exit_code == 0, res.output
    return res.stdout


@pytest.fixture
def gallery(synthetic_env: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "g"
    folder.mkdir()
    write_clip(folder / "clip.mp4", marker_clip(8.0, CLIP))
    audio_only(folder / "memo.mp4")
    write_photo(folder / "three.jpg", [3], seed=3)
    _ok("collections", "create", "c", "--source", "clips", "--legal-basis", "consent", "--keep")
    _ok("purposes", "add", "TEST", "--description", "tests")
    return folder


def test_ingest_search_and_people_together_on_a_video(gallery: Path, tmp_path: Path) -> None:
    report = tmp_path / "failures.csv"
    out = _ok("ingest", str(gallery), "-c", "c", "--video-fps", "2", "--report", str(report), "--json")
    summary = json.loads(out)
    assert (summary["ingested"], summary["videos"], summary["video_tracks"], summary["failed"]) == (2, 1, 2, 1)
    assert summary["video_seconds"] == pytest.approx(7.9, abs=0.2) and summary["video_speed"] > 0
    with report.open() as fh:
        rows = list(csv.DictReader(fh))
    assert [(Path(r["path"]).name, r["reason"]) for r in rows] == [("memo.mp4", "NO_VIDEO_STREAM")]
    # A wrong sampling rate is refused before anything runs.
    bad = runner.invoke(app, ["ingest", str(gallery), "-c", "c", "--video-fps", "0"])
    assert bad.exit_code != 0 and "sampling rate" in bad.output

    probe = write_photo(tmp_path / "two.jpg", [2], seed=20, variant=1)
    found = json.loads(_ok("search", str(probe), "--case", "CASE-C", "--purpose", "TEST", "--json"))
    top = found["faces"][0]["matches"][0]
    assert top["image"]["path"] == str(gallery / "clip.mp4")
    assert top["video"]["track"] == 1 and (top["video"]["start"], top["video"]["end"]) == (2.0, 6.5)
    assert top["video"]["frame"] == round(top["video"]["time"] * 10)
    table = _ok("search", str(probe), "--case", "CASE-C", "--purpose", "TEST")
    t = top["video"]["time"]
    assert f"clip.mp4 @ 00:0{int(t)}.{round(t * 10) % 10} (00:02.0–00:06.5)" in table

    clip = write_clip(
        tmp_path / "probe.mkv", marker_clip(3.0, [(3, 0.0, 1.0, 0.05), (1, 0.5, 3.0, 0.5)]), fmt="matroska"
    )
    by_clip = json.loads(_ok("search", str(clip), "--case", "CASE-C", "--purpose", "TEST", "--face", "1", "--json"))
    face = by_clip["faces"][0]
    assert face["face"] == 1 and face["video"]["track"] == 1 and face["video"]["start"] == 0.5
    assert face["matches"][0]["video"]["track"] == 0  # identity 1: the clip's first track
    assert [f["start"] for f in by_clip["probe"]["video"]["faces"]] == [0.0, 0.5]
    text = _ok("search", str(clip), "--case", "CASE-C", "--purpose", "TEST")
    assert "Probe face 0 track 0 at 00:00.0 (00:00.0–00:00.5)" in text and "three.jpg" in text
    wrong = runner.invoke(app, ["search", str(clip), "--case", "CASE-C", "--purpose", "TEST", "--face", "7"])
    assert wrong.exit_code == 3 and "in order of appearance" in wrong.output

    _ok("people", "cluster", "--full")
    listed = json.loads(_ok("people", "list", "--case", "CASE-C", "--purpose", "TEST", "--json"))  # a search
    first_track = face["matches"][0]["face_id"]  # a face of identity 1's track
    one = next(p["id"] for p in listed["people"] if first_track in {f["face_id"] for f in p["faces"]})
    together = json.loads(_ok("people", "together", str(one), "--case", "CASE-C", "--purpose", "TEST", "--json"))
    (other,) = together["together"]
    assert other["photos"] == 0 and other["videos"] == 1
    assert [(m["start"], m["end"]) for m in other["moments"]] == [(2.0, 3.5)]
    said = _ok("people", "together", str(one), "--case", "CASE-C", "--purpose", "TEST")
    assert "on screen in the same frame in 1 video" in said and "00:02.0–00:03.5" in said

    case = json.loads(_ok("case", "report", "CASE-C", "--format", "json"))
    video_candidates = [c for s in case["searches"] for c in s["candidates"] if "video" in c]
    assert video_candidates and all({"time", "frame", "track"} <= set(c["video"]) for c in video_candidates)
    probe_tracks = [f for s in case["searches"] for f in s["probe_faces"] if "video" in f]
    assert probe_tracks and probe_tracks[0]["video"]["track"] == 1
    html = tmp_path / "case.html"
    _ok("case", "report", "CASE-C", "--out", str(html))
    assert "video, seen at 00:0" in html.read_text() and "a track of the probe clip" in html.read_text()
