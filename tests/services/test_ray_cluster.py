"""Ingest on a real Ray cluster (a head and a second node on this machine, both on 127.0.0.1; started once per
session by the `ray_cluster` fixture of tests/support/ray_cluster.py): both nodes analyse photos; the result
(faces, embeddings to 1e-5, people, audit entries) equals a local run on the same photos; a node killed in the
middle of a run loses no photo and nothing is committed twice. yunet-reid on LFW photos."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from support.helpers import lfw_people, make_gallery
from support.paths import MODELS, needs_lfw, needs_yunet
from support.ray_cluster import RayCluster

from facesearch.app import collection as collections
from facesearch.app.context import Actor, Context
from facesearch.app.ingest import IngestResult, ingest, items_from_folder
from facesearch.config import Settings
from facesearch.store.audit import entry_dict, iter_entries
from facesearch.store.people.reads import members
from facesearch.store.schema import Face
from facesearch.store.schema import Image as ImageRow

pytestmark = [needs_lfw, needs_yunet]
OPERATOR = Actor("ops", "operator")
PACK = "yunet-reid"


@pytest.fixture(scope="module")
def gallery(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """40 LFW photos of 8 people, a copy of one of them (a duplicate) and a file that is not an image."""
    dest = tmp_path_factory.mktemp("cluster-gallery")
    make_gallery(dest, lfw_people(5, 8), 5)
    first = sorted(dest.rglob("*.jpg"))[0]
    shutil.copy(first, dest / "copy_of_first.jpg")
    (dest / "notes.jpg").write_text("not a photo")
    return dest


def _ingest(
    home: Path, gallery: Path, cluster: str, progress: Callable[[IngestResult, int], None] | None = None
) -> tuple[IngestResult, Context]:
    ctx = Context.open(Settings(home=home, models_dir=MODELS, batch_images=4))
    collections.create_collection(
        ctx, OPERATOR, "c", source="LFW photos", legal_basis="consent", retention_days=None, keep=True, model=PACK
    )
    result = ingest(
        ctx, OPERATOR, items_from_folder(gallery), "c", source="gallery", cluster=cluster, progress=progress
    )
    return result, ctx


def _state(ctx: Context) -> dict[str, Any]:
    """Everything the run stored, keyed by (photo path, face number) so that row ids do not matter."""
    with ctx.store.session() as s:
        rows = s.query(Face, ImageRow).join(ImageRow, Face.image_id == ImageRow.id).all()
        images = sorted((i.path, i.sha256, i.width, i.height) for i in s.query(ImageRow).all())
    ids = [f.id for f, _ in rows]
    embeddings = dict(zip(ids, ctx.store.embeddings(ids, 256)))
    key = {f.id: (i.path, f.face_index) for f, i in rows}
    faces = {
        key[f.id]: {
            "box": np.array([f.x1, f.y1, f.x2, f.y2]),
            "landmarks": np.array(f.landmarks),
            "scores": np.array([f.det_score, f.quality]),
            "reasons": f.quality_reasons,
            "embedding": embeddings[f.id],
            "thumbnail": (ctx.settings.thumbs_dir / f.thumbnail).read_bytes(),
        }
        for f, i in rows
    }
    people = {frozenset(key[face] for face in face_ids) for face_ids in members(ctx.store).values()}
    audit = []
    for entry in map(entry_dict, iter_entries(ctx.store)):
        # The same entries, but for when they were written and where the photos were analysed.
        details = {k: v for k, v in (entry["details"] or {}).items() if k != "cluster" and not k.endswith("_at")}
        audit.append(
            (
                entry["action"],
                entry["actor"],
                entry["role"],
                entry["outcome"],
                entry["collections"],
                entry["model"],
                entry["results"],
                details,
            )
        )
    return {"images": images, "faces": faces, "people": people, "audit": audit}


def _assert_same(got: dict[str, Any], want: dict[str, Any]) -> None:
    assert got["images"] == want["images"]
    assert got["faces"].keys() == want["faces"].keys()
    for k, face in want["faces"].items():
        other = got["faces"][k]
        assert np.allclose(other["embedding"], face["embedding"], atol=1e-5), k
        assert np.allclose(other["box"], face["box"], atol=1e-3), k
        assert np.allclose(other["landmarks"], face["landmarks"], atol=1e-2), k
        assert np.allclose(other["scores"], face["scores"], atol=1e-5), k
        assert other["reasons"] == face["reasons"], k
        assert other["thumbnail"][:3] == b"\xff\xd8\xff"
    assert got["people"] == want["people"]
    assert got["audit"] == want["audit"]


@pytest.fixture(scope="module")
def local_run(gallery: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[IngestResult, dict[str, Any]]:
    result, ctx = _ingest(tmp_path_factory.mktemp("local") / "home", gallery, "local")
    return result, _state(ctx)


def test_nodes_listen_on_loopback_only(ray_cluster: RayCluster) -> None:
    ray_cluster.ensure_second()
    assert ray_cluster.listening_addresses() <= {"127.0.0.1", "::ffff:127.0.0.1"}


def test_cluster_ingest_equals_a_local_run_and_uses_both_nodes(
    ray_cluster: RayCluster, gallery: Path, local_run: tuple[IngestResult, dict[str, Any]], tmp_path: Path
) -> None:
    ray_cluster.ensure_second()
    local, want = local_run
    result, ctx = _ingest(tmp_path / "home", gallery, ray_cluster.address)
    assert result.executor == ray_cluster.address and result.workers == 2
    assert result.counts() == local.counts() and result.ingested == 40 and result.duplicates == 1
    assert sorted(result.failures) == sorted(local.failures)
    # Both nodes analysed photos, and every file once: the 40 photos and the one that is not a photo (the
    # duplicate was never sent to analysis).
    assert len(result.analysed_by) == 2 and min(result.analysed_by.values()) > 0
    assert sum(result.analysed_by.values()) == 41
    _assert_same(_state(ctx), want)
    entry = [entry_dict(e) for e in iter_entries(ctx.store)][-1]
    assert entry["details"]["cluster"] == ray_cluster.address


def test_a_node_killed_mid_run_loses_no_photo(
    ray_cluster: RayCluster,
    gallery: Path,
    local_run: tuple[IngestResult, dict[str, Any]],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    ray_cluster.ensure_second()
    local, want = local_run
    killed: list[int] = []

    def progress(res: IngestResult, total: int) -> None:
        # After the first committed batch, while batches are still in flight on both nodes.
        if not killed and 0 < res.processed < total:
            killed.append(res.processed)
            ray_cluster.kill_second()

    try:
        result, ctx = _ingest(tmp_path / "home", gallery, ray_cluster.address, progress)
    finally:
        ray_cluster.ensure_second()
    assert killed and killed[0] < 20
    assert "lost the ingest actor" in caplog.text  # its batches in flight were sent to the head's actor
    assert result.counts() == local.counts() and result.ingested == 40
    assert sorted(result.failures) == sorted(local.failures)  # no WORKER_LOST: the lost batches ran elsewhere
    _assert_same(_state(ctx), want)
    with ctx.store.session() as s:  # nothing committed twice
        assert s.query(ImageRow).count() == 40


def test_cli_ingest_on_the_cluster(ray_cluster: RayCluster, gallery: Path, tmp_path: Path) -> None:
    """`facesearch ingest --cluster ray://...` from the command line: the same summary as a local run."""
    ray_cluster.ensure_second()
    env = {**ray_cluster.env, "FACESEARCH_HOME": str(tmp_path / "home"), "FACESEARCH_BATCH_IMAGES": "8"}
    env.pop("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", None)
    cli = [sys.executable, "-c", "from facesearch.cli import app; app()"]
    subprocess.run(
        [*cli, "collections", "create", "c", "--source", "LFW", "--legal-basis", "consent", "--keep"],
        env=env,
        check=True,
        capture_output=True,
    )
    done = subprocess.run(
        [*cli, "ingest", str(gallery), "-c", "c", "--cluster", ray_cluster.address, "--cluster-workers", "1", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    import json

    summary = json.loads(done.stdout)  # stdout holds the one JSON document: Ray's log lines stay off it
    assert summary["ingested"] == 40 and summary["duplicates"] == 1 and summary["failed"] == 1


def test_results_a_node_should_not_give_are_refused(
    ray_cluster: RayCluster, gallery: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A node that answers for a file it was not sent: that batch's photos fail (CLUSTER_RESULT_REFUSED) and
    none of it is stored; the thumbnails of the batches accepted are named by the driver, inside the home."""
    from support.rogue_worker import RogueWorker

    from facesearch.services.ray_executor import RayExecutor

    ray_cluster.ensure_second()
    monkeypatch.setattr(RayExecutor, "worker_class", RogueWorker)
    result, ctx = _ingest(tmp_path / "home", gallery, ray_cluster.address)
    refused = [f for f in result.failures if f[1] == "CLUSTER_RESULT_REFUSED"]
    assert refused and all("not sent" in detail for _, _, detail in refused)
    assert result.ingested == 40 - len(refused) + (1 if any(p.endswith("notes.jpg") for p, _, _ in refused) else 0)
    with ctx.store.session() as s:
        stored = {i.path for i in s.query(ImageRow).all()}
        thumbs = [f.thumbnail for f in s.query(Face).all()]
    assert not stored & {p for p, _, _ in refused}
    assert thumbs and all(".." not in t and (ctx.settings.thumbs_dir / t).is_file() for t in thumbs)
    assert not (tmp_path / "escaped.jpg").exists() and not (tmp_path / "home" / "escaped.jpg").exists()


def test_nodes_that_cannot_load_the_pack_stop_the_run_before_it_starts(
    ray_cluster: RayCluster, gallery: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from support.rogue_worker import PacklessWorker

    from facesearch.errors import ClusterError
    from facesearch.services.ray_executor import RayExecutor

    monkeypatch.setattr(RayExecutor, "worker_class", PacklessWorker)
    with pytest.raises(ClusterError, match="not installed on this node"):
        _ingest(tmp_path / "home", gallery, ray_cluster.address)
    ctx = Context.open(Settings(home=tmp_path / "home", models_dir=MODELS))
    assert ctx.store.recent_ingest_jobs(5) == []  # no run was recorded
    [entry] = [e for e in map(entry_dict, iter_entries(ctx.store)) if e["action"] == "ingest"]
    assert entry["outcome"] == "refused" and "not installed on this node" in entry["details"]["reason"]


def test_runs_in_one_process_share_its_connection(ray_cluster: RayCluster, gallery: Path, tmp_path: Path) -> None:
    """Ray allows one connection per process: a run that ends while another (an API job in another thread)
    still uses the connection leaves it open, and a run naming another cluster meanwhile is refused."""
    import ray

    from facesearch.errors import ClusterError
    from facesearch.services.ray_executor import _CONNECTION

    few = tmp_path / "few"
    few.mkdir()
    for photo in sorted(gallery.rglob("*.jpg"))[:3]:
        shutil.copy(photo, few / photo.name)
    _CONNECTION.acquire(ray, ray_cluster.address)  # as a run still going on would hold it
    try:
        result, _ = _ingest(tmp_path / "home", few, ray_cluster.address)
        assert result.ingested == 3 and result.executor == ray_cluster.address
        assert ray.is_initialized()  # the other user's connection is still there
        with pytest.raises(ClusterError, match="one cluster per process"):
            _ingest(tmp_path / "other", few, "ray://127.0.0.1:1")
    finally:
        _CONNECTION.release(ray)
    assert not ray.is_initialized()


def test_a_video_among_the_photos_is_ingested_as_in_a_local_run(ray_cluster: RayCluster, tmp_path: Path) -> None:
    """A node tells a video by its first bytes and hands it back; the driver ingests it after the photos, as a
    local run does: the same photos, video, tracks and faces."""
    from support.paths import lfw_person
    from support.videos import Appearance, Clip, write_clip

    ray_cluster.ensure_second()
    folder = tmp_path / "mixed"
    folder.mkdir()
    for photo in lfw_person("Tony_Blair")[:3]:
        shutil.copy(photo, folder / photo.name)
    # Named like a photo: it is told by its content.
    write_clip(folder / "clip.jpg", Clip(3.0, (Appearance(lfw_person("Colin_Powell")[0], 0.0, 3.0),)), fmt="mp4")
    local, local_ctx = _ingest(tmp_path / "local", folder, "local")
    result, ctx = _ingest(tmp_path / "cluster", folder, ray_cluster.address)
    assert local.video.ingested == 1 and local.video.tracks >= 1
    assert result.counts() == local.counts() and result.ingested == 4
    assert sum(result.analysed_by.values()) == 3  # the photos; the video was not analysed on a node
    _assert_same(_state(ctx), _state(local_ctx))
