"""kill -9 in the middle of a long video, run again: the same rows, files and index as one clean run.

A two-and-a-half-minute clip of `synthetic` markers (the test pack: no weights, quick) with people coming and going,
two at a time now and then. Its tracks are committed two at a time (FACESEARCH_VIDEO_BATCH_TRACKS=2) so the
kill lands between commits, after some tracks are stored; the second run resumes the scan at the stored
checkpoint and must end where one clean run ends: the same tracks (numbers, times, frames, who was seen with
whom), the same faces (times, frames, boxes), embeddings equal to 1e-3 (decoding resumes at a keyframe), the
index equal to the rows, every thumbnail and nothing else."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from support.videos import marker_clip, write_clip

from facesearch.index import FaissIndex
from facesearch.models.synthetic import INFO as SYNTHETIC

DURATION = 150.0


def _facesearch() -> list[str]:
    script = Path(sys.executable).with_name("facesearch")
    return [str(script)] if script.is_file() else [sys.executable, "-c", "from facesearch.cli import app; app()"]


def _env(home: Path) -> dict[str, str]:
    env = dict(
        os.environ,
        FACESEARCH_HOME=str(home),
        FACESEARCH_MODEL="synthetic",
        FACESEARCH_TEST_PACKS="1",
        FACESEARCH_VIDEO_BATCH_TRACKS="2",
    )
    env.pop("FACESEARCH_DATABASE_URL", None)
    return env


def _ingest(folder: Path, home: Path) -> subprocess.Popen[bytes]:
    if not (home / "facesearch.db").exists():
        subprocess.run(
            _facesearch()
            + ["collections", "create", "c", "--source", "test clips", "--legal-basis", "consent", "--keep"],
            env=_env(home),
            check=True,
            capture_output=True,
        )
    cmd = _facesearch() + ["ingest", str(folder), "--collection", "c", "--json"]
    return subprocess.Popen(cmd, env=_env(home), stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)


def _committed(db: Path) -> tuple[int, str | None]:
    """(tracks stored, the video's scan status) as another process sees them."""
    try:
        with sqlite3.connect(db, timeout=30) as conn:
            tracks = int(conn.execute("select count(*) from video_tracks").fetchone()[0])
            row = conn.execute("select status from videos").fetchone()
            return tracks, row[0] if row else None
    except sqlite3.Error:
        return 0, None


def _long_clip(path: Path) -> Path:
    """Someone new every 4 s for 3 s (six identities in turn), and every 20 s a second person beside them."""
    appearances = []
    for k, start in enumerate(np.arange(1.0, DURATION - 4, 4.0)):
        appearances.append((1 + k % 6, float(start), float(start) + 3.0, 0.02))
        if k % 5 == 0:
            appearances.append((7 + k % 3, float(start) + 0.5, float(start) + 2.5, 0.5))
    return write_clip(path, marker_clip(DURATION, appearances, fps=5.0))


def _state(home: Path) -> dict[str, object]:
    with sqlite3.connect(home / "facesearch.db") as conn:
        video = conn.execute("select status, sampling_fps, duration, checkpoint from videos").fetchall()
        tracks = conn.execute(
            "select track, start, end, start_frame, end_frame, sightings, seen_with from video_tracks order by track"
        ).fetchall()
        faces = conn.execute(
            "select t.track, f.face_index, v.time, v.frame, f.x1, f.y1, f.x2, f.y2, f.thumbnail, e.embedding, f.id "
            "from faces f join video_faces v on v.face_id = f.id join video_tracks t on t.id = v.track_id "
            "join face_embeddings e on e.face_id = f.id order by t.track, f.face_index"
        ).fetchall()
        image = conn.execute("select sha256, width, height, face_count from images").fetchall()
        counter = conn.execute("select faces from collection_counters").fetchone()[0]
    index = FaissIndex(home / "index" / "collection-1.faiss", SYNTHETIC.dim)
    assert set(index.ids().tolist()) == {r[10] for r in faces} and len(index) == len(faces)
    thumbs = {str(p.relative_to(home / "thumbs")) for p in (home / "thumbs").rglob("*.jpg") if ".tmp" not in p.parts}
    assert thumbs == {r[8] for r in faces}, "orphaned or missing thumbnails"
    assert counter == len(faces) == image[0][3]
    return {"video": video, "tracks": tracks, "faces": faces, "image": image}


def test_kill_9_mid_video_then_resume_equals_clean_run(tmp_path: Path, synthetic_env: Path) -> None:
    folder = tmp_path / "g"
    folder.mkdir()
    _long_clip(folder / "long.mp4")
    clean_home, crash_home = tmp_path / "clean", tmp_path / "crash"

    clean = _ingest(folder, clean_home)
    out, errs = clean.communicate(timeout=600)
    assert clean.returncode == 0, errs
    whole = json.loads(out)
    assert whole["videos"] == 1 and whole["video_tracks"] > 35

    proc = _ingest(folder, crash_home)
    deadline = time.monotonic() + 300
    while _committed(crash_home / "facesearch.db")[0] < 6:
        assert proc.poll() is None, "the ingest finished before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    stored, status = _committed(crash_home / "facesearch.db")
    assert status == "scanning" and 0 < stored < whole["video_tracks"]

    resumed = _ingest(folder, crash_home)
    out, errs = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, errs
    again = json.loads(out)
    assert again["ingested"] == 1 and again["failed"] == 0
    assert again["video_tracks"] == whole["video_tracks"] - stored  # only the tracks not yet stored
    assert again["video_seconds"] < whole["video_seconds"]  # resumed, not started over

    a, b = _state(clean_home), _state(crash_home)
    assert a["image"] == b["image"] and a["tracks"] == b["tracks"]
    assert [v[:3] for v in a["video"]] == [v[:3] for v in b["video"]] == [("done", 2.0, DURATION)]
    fa, fb = a["faces"], b["faces"]
    assert isinstance(fa, list) and isinstance(fb, list) and len(fa) == len(fb)
    for x, y in zip(fa, fb):
        assert x[:4] == y[:4] and x[8] == y[8]  # track, face number, time, frame, thumbnail name
        assert np.allclose(x[4:8], y[4:8], atol=1.0)
        ex, ey = np.frombuffer(x[9], np.float32), np.frombuffer(y[9], np.float32)
        assert np.allclose(ex, ey, atol=1e-3)
    assert not [p for p in (crash_home / "thumbs" / ".tmp").iterdir()]
