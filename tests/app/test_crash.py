"""kill -9 in the middle of an ingest, run again: the same state as one clean run.

Runs on the `synthetic` test pack (generated marker photos, no weights), so it runs anywhere; the same test
runs on yunet-reid with LFW photos where ../shared is present.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import cv2
import pytest
from support.helpers import lfw_people, make_gallery
from support.paths import MODELS, needs_lfw, needs_yunet
from support.synthetic import photo

from facesearch.index import FaissIndex
from facesearch.models.synthetic import INFO as SYNTHETIC
from facesearch.models.yunet_reid import INFO as YUNET_REID
from facesearch.store import Store
from facesearch.store.audit import HEAD_FILE, entry_dict, iter_entries, verify_chain
from facesearch.vocabulary import Action

PACKS = [
    pytest.param("synthetic", id="synthetic"),
    pytest.param("yunet-reid", id="yunet-reid", marks=[needs_lfw, needs_yunet]),
]
DIMS = {"synthetic": SYNTHETIC.dim, "yunet-reid": YUNET_REID.dim}


def _facesearch() -> list[str]:
    """The command line as installed (the `facesearch` script next to this Python), else the same app."""
    script = Path(sys.executable).with_name("facesearch")
    return [str(script)] if script.is_file() else [sys.executable, "-c", "from facesearch.cli import app; app()"]


def _env(home: Path, pack: str) -> dict[str, str]:
    env = dict(
        os.environ,
        FACESEARCH_HOME=str(home),
        FACESEARCH_MODELS_DIR=str(MODELS),
        FACESEARCH_BATCH_IMAGES="4",
        FACESEARCH_MODEL=pack,
        FACESEARCH_TEST_PACKS="1",
    )
    env.pop("FACESEARCH_DATABASE_URL", None)
    return env


def _ingest(gallery: Path, home: Path, workers: int, pack: str) -> subprocess.Popen:
    if not (home / "facesearch.db").exists():  # ingest needs a documented collection
        subprocess.run(
            _facesearch()
            + ["collections", "create", "c", "--source", "test photos", "--legal-basis", "consent", "--keep"],
            env=_env(home, pack),
            check=True,
            capture_output=True,
        )
    cmd = _facesearch() + ["ingest", str(gallery), "--collection", "c", "--workers", str(workers), "--json"]
    return subprocess.Popen(
        cmd, env=_env(home, pack), stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True
    )


def _count(db: Path) -> int:
    try:
        with sqlite3.connect(db, timeout=30) as conn:
            return int(conn.execute("select count(*) from images").fetchone()[0])
    except sqlite3.Error:
        return 0


def _state(home: Path, dim: int) -> tuple[set, set, set, set]:
    with sqlite3.connect(home / "facesearch.db") as conn:
        faces = conn.execute(
            "select i.sha256, f.face_index, round(f.x1), round(f.y1), f.thumbnail, f.id from faces f "
            "join images i on i.id = f.image_id"
        ).fetchall()
        images = {r[0] for r in conn.execute("select sha256 from images")}
        dangling = conn.execute("select count(*) from faces where image_id not in (select id from images)").fetchone()
    assert dangling[0] == 0
    index = FaissIndex(home / "index" / "collection-1.faiss", dim)
    index_ids = set(index.ids().tolist())
    assert len(index_ids) == len(index), "duplicate ids in the index"
    assert index_ids == {r[5] for r in faces}, "index and database disagree"
    thumbs = {str(p.relative_to(home / "thumbs")) for p in (home / "thumbs").rglob("*.jpg") if ".tmp" not in p.parts}
    assert thumbs == {r[4] for r in faces}, "orphaned or missing thumbnails"
    return images, {r[:4] for r in faces}, thumbs, index_ids


def _gallery(pack: str, gallery: Path) -> int:
    """The photos to ingest; returns how many. Synthetic: 40 marker photos, each saved at 5 JPEG qualities
    (different bytes, so 200 distinct images, quick to make)."""
    if pack != "synthetic":
        make_gallery(gallery, lfw_people(4, 20), 4)  # 80 photos
        return 80
    for identity in range(40):
        folder = gallery / f"person_{identity:04d}"
        folder.mkdir(parents=True)
        img = photo([identity], seed=identity)
        for quality in (95, 90, 85, 80, 75):
            ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])
            assert ok
            (folder / f"q{quality}.jpg").write_bytes(buf.tobytes())
    return 200


def _ingest_entries(home: Path) -> list[dict]:
    store = Store(f"sqlite:///{home / 'facesearch.db'}")
    report = verify_chain(store, home / HEAD_FILE)
    assert report.ok, report.problems  # a kill -9 leaves the audit chain whole
    return [entry_dict(e) for e in iter_entries(store) if e.action == Action.INGEST]


@pytest.mark.parametrize("pack", PACKS)
def test_kill_9_mid_ingest_then_resume_equals_clean_run(tmp_path: Path, pack: str) -> None:
    gallery = tmp_path / "g"
    total = _gallery(pack, gallery)
    clean_home, crash_home = tmp_path / "clean", tmp_path / "crash"

    clean = _ingest(gallery, clean_home, 1, pack)
    out, errs = clean.communicate(timeout=600)
    assert clean.returncode == 0, errs
    assert json.loads(out)["ingested"] == total

    proc = _ingest(gallery, crash_home, 2, pack)
    deadline = time.monotonic() + 300
    while _count(crash_home / "facesearch.db") < 20:
        assert proc.poll() is None, "ingest finished before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)  # the main process and its workers, mid-batch
    proc.wait()
    killed_at = _count(crash_home / "facesearch.db")
    assert 0 < killed_at < total

    resumed = _ingest(gallery, crash_home, 2, pack)
    out, errs = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, errs
    # Exactly the images that were not committed are processed again.
    summary = json.loads(out)
    assert summary["ingested"] == total - killed_at and summary["duplicates"] == killed_at
    assert summary["failed"] == 0

    dim = DIMS[pack]
    clean_state = _state(clean_home, dim)
    crash_state = _state(crash_home, dim)
    assert crash_state[0] == clean_state[0] and len(crash_state[0]) == total
    assert crash_state[1] == clean_state[1]
    assert len(crash_state[2]) == len(clean_state[2])
    if pack == "synthetic":
        assert len(clean_state[1]) == total  # one marker per photo
    # Nothing half-written is left behind.
    assert not list((crash_home / "index").glob("*.tmp"))
    assert not [p for p in (crash_home / "thumbs" / ".tmp").iterdir()]
    # The audit log is intact in both homes; the killed run never finished, so only the resumed run is logged.
    assert [e["outcome"] for e in _ingest_entries(clean_home)] == ["ok"]
    crash_entries = _ingest_entries(crash_home)
    assert [e["outcome"] for e in crash_entries] == ["ok"]
    assert crash_entries[0]["results"]["counts"]["ingested"] == total - killed_at
