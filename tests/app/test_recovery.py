"""After a process dies mid-ingest (kill -9), its run is closed as interrupted and its staged uploads are
removed, when the service starts again; a live job's run and uploads are never touched."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from facesearch.app import collection as collections
from facesearch.app import recovery
from facesearch.app.context import Actor, Context
from facesearch.config import Settings
from facesearch.index import open_index
from facesearch.server import create_app
from facesearch.services.jobqueue import hold_staging
from facesearch.store import audit
from facesearch.store.schema import IngestJob


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def _world(home: Path) -> tuple[Context, int, int, Path, Path]:
    ctx = Context.open(Settings())
    collections.create_collection(
        ctx, Actor("olga", "operator"), "c", source="scans", legal_basis="consent", retention_days=None, keep=True
    )
    col = ctx.store.get_collection("c")
    assert col is not None
    dead_run = ctx.store.start_job(col.id, "upload:2 files", col.model)
    live_run = ctx.store.start_job(col.id, "upload:1 file", col.model)
    with ctx.store.session.begin() as s:
        s.execute(
            update(IngestJob).where(IngestJob.id == dead_run).values(owner=f"{socket.gethostname()}:{_dead_pid()}")
        )
    abandoned = home / "uploads" / "abandoned"
    abandoned.mkdir(parents=True)
    for n in range(2):
        (abandoned / f"0000{n}_photo.jpg").write_bytes(b"someone's face")
    live = home / "uploads" / "live"
    live.mkdir(parents=True)
    (live / "00000_photo.jpg").write_bytes(b"a live job's upload")
    return ctx, dead_run, live_run, abandoned, live


def _status(ctx: Context, job_id: int) -> str:
    with ctx.store.session() as s:
        row = s.get(IngestJob, job_id)
        assert row is not None
        return row.status


def test_recover_closes_dead_runs_and_removes_abandoned_uploads(home: Path) -> None:
    ctx, dead_run, live_run, abandoned, live = _world(home)
    held = hold_staging(live)
    try:
        report = recovery.recover(ctx)
        again = recovery.recover(ctx)
    finally:
        os.close(held)
    assert report == recovery.Recovery(interrupted_runs=[dead_run], uploads_removed=2)
    assert _status(ctx, dead_run) == "interrupted" and _status(ctx, live_run) == "running"
    assert not abandoned.exists()
    assert (live / "00000_photo.jpg").is_file()
    entry = audit.query(ctx.store, action="ingest", limit=1)[0][0]
    assert entry["outcome"] == "recovered" and entry["actor"] == "system:recovery"
    assert again == recovery.Recovery(interrupted_runs=[], uploads_removed=0)  # nothing twice


def test_the_service_recovers_when_it_starts(home: Path) -> None:
    ctx, dead_run, live_run, abandoned, _ = _world(home)
    ctx.store.close()
    with TestClient(create_app(Settings(purge_interval_hours=0))) as client:
        assert client.get("/api/v1/health").status_code == 200
        store = client.app.state.ctx.store  # type: ignore[attr-defined]
        with store.session() as s:
            assert s.get(IngestJob, dead_run).status == "interrupted"
            assert s.get(IngestJob, live_run).status == "running"  # this process is alive
    assert not abandoned.exists()


def test_a_damaged_index_is_rebuilt_when_the_service_starts(
    synthetic_env: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from support.synthetic import write_gallery

    from facesearch.app import ingest

    ctx = Context.open(Settings(workers=1))
    olga = Actor("olga", "operator")
    collections.create_collection(ctx, olga, "c", source="scans", legal_basis="consent", retention_days=None, keep=True)
    write_gallery(tmp_path / "g", [1, 2, 3], 2)
    ingest.ingest(ctx, olga, ingest.items_from_folder(tmp_path / "g"), "c", workers=1)
    col = ctx.store.get_collection("c")
    assert col is not None
    path = ctx.settings.index_dir / f"collection-{col.id}.faiss"
    path.write_bytes(b"not an index at all")
    ctx.store.close()
    with (
        caplog.at_level(logging.WARNING, logger="facesearch.index"),
        TestClient(create_app(Settings(purge_interval_hours=0))) as client,
    ):
        assert client.get("/api/v1/health").status_code == 200
        assert any("rebuilt from the database (6 faces)" in r.getMessage() for r in caplog.records)
    assert open_index(ctx.settings, col.id, col.dim).ids().size == 6  # saved, good on the next open
