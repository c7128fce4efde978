"""kill -9 in the middle of an ingest, run again: the same state as one clean run."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from conftest import MODELS, needs_lfw, needs_yunet
from helpers import lfw_people, make_gallery

from facesearch.index import FaissIndex

pytestmark = [needs_lfw, needs_yunet]


def _env(home: Path) -> dict[str, str]:
    env = dict(os.environ, FACESEARCH_HOME=str(home), FACESEARCH_MODELS_DIR=str(MODELS),
               FACESEARCH_BATCH_IMAGES="4", FACESEARCH_MODEL="yunet-reid")
    env.pop("FACESEARCH_DATABASE_URL", None)
    return env


def _ingest(gallery: Path, home: Path, workers: int) -> subprocess.Popen:
    if not (home / "facesearch.db").exists():  # ingest needs a documented collection
        subprocess.run([sys.executable, "-m", "facesearch.cli", "collections", "create", "c", "--source", "LFW",
                        "--legal-basis", "consent", "--keep"], env=_env(home), check=True, capture_output=True)
    cmd = [sys.executable, "-m", "facesearch.cli", "ingest", str(gallery), "--collection", "c",
           "--workers", str(workers), "--json"]
    return subprocess.Popen(cmd, env=_env(home), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)


def _count(db: Path) -> int:
    try:
        with sqlite3.connect(db, timeout=30) as conn:
            return int(conn.execute("select count(*) from images").fetchone()[0])
    except sqlite3.Error:
        return 0


def _state(home: Path) -> tuple[set, set, set, set]:
    with sqlite3.connect(home / "facesearch.db") as conn:
        faces = conn.execute(
            "select i.sha256, f.face_index, round(f.x1), round(f.y1), f.thumbnail, f.id from faces f "
            "join images i on i.id = f.image_id").fetchall()
        images = {r[0] for r in conn.execute("select sha256 from images")}
        dangling = conn.execute("select count(*) from faces where image_id not in (select id from images)").fetchone()
    assert dangling[0] == 0
    index = FaissIndex(home / "index" / "collection-1.faiss", 256)
    index_ids = set(index.ids().tolist())
    assert len(index_ids) == len(index), "duplicate ids in the index"
    assert index_ids == {r[5] for r in faces}, "index and database disagree"
    thumbs = {str(p.relative_to(home / "thumbs")) for p in (home / "thumbs").rglob("*.jpg")
              if ".tmp" not in p.parts}
    assert thumbs == {r[4] for r in faces}, "orphaned or missing thumbnails"
    return images, {r[:4] for r in faces}, thumbs, index_ids


def test_kill_9_mid_ingest_then_resume_equals_clean_run(tmp_path: Path) -> None:
    gallery = tmp_path / "g"
    make_gallery(gallery, lfw_people(4, 20), 4)  # 80 photos
    clean_home, crash_home = tmp_path / "clean", tmp_path / "crash"

    clean = _ingest(gallery, clean_home, 1)
    assert clean.wait(timeout=600) == 0, clean.stderr.read() if clean.stderr else ""

    proc = _ingest(gallery, crash_home, 2)
    deadline = time.monotonic() + 300
    while _count(crash_home / "facesearch.db") < 20:
        assert proc.poll() is None, "ingest finished before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # the main process and its workers, mid-batch
    proc.wait()
    killed_at = _count(crash_home / "facesearch.db")
    assert 0 < killed_at < 80

    resumed = _ingest(gallery, crash_home, 2)
    out, errs = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, errs

    clean_state = _state(clean_home)
    crash_state = _state(crash_home)
    assert crash_state[0] == clean_state[0] and len(crash_state[0]) == 80
    assert crash_state[1] == clean_state[1]
    assert len(crash_state[2]) == len(clean_state[2])
    # Nothing half-written is left behind.
    assert not list((crash_home / "index").glob("*.tmp"))
    assert not [p for p in (crash_home / "thumbs" / ".tmp").iterdir()]
