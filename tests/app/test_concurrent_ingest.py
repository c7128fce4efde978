"""Two ingests into one collection at the same time (two CLI processes) leave the index equal to the rows,
with no `doctor --fix` needed: writers of one collection take turns."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from support.synthetic import write_gallery

from facesearch.app import doctor
from facesearch.app.context import Actor, Context
from facesearch.config import Settings
from facesearch.index import open_index

FACESEARCH = str(Path(sys.executable).with_name("facesearch"))


def test_concurrent_cli_ingests_keep_the_index_whole(synthetic_env: Path, tmp_path: Path) -> None:
    env = {**os.environ}
    subprocess.run(
        [FACESEARCH, "collections", "create", "c", "--source", "scans", "--legal-basis", "consent", "--keep"],
        check=True,
        env=env,
        capture_output=True,
    )
    a, b = tmp_path / "a", tmp_path / "b"
    write_gallery(a, list(range(1, 21)), 2)
    write_gallery(b, list(range(21, 41)), 2)
    runs = [
        subprocess.Popen(
            [FACESEARCH, "ingest", str(folder), "-c", "c", "--workers", "1", "--json"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for folder in (a, b)
    ]
    outs = [r.communicate(timeout=300) for r in runs]
    for r, (out, err) in zip(runs, outs):
        assert r.returncode == 0, err
        assert json.loads(out.strip().splitlines()[-1])["faces"] == 40
    ctx = Context.open(Settings())
    col = ctx.store.get_collection("c")
    assert col is not None
    index = open_index(ctx.settings, col.id, col.dim)
    assert sorted(index.ids().tolist()) == sorted(ctx.store.face_ids(col.id).tolist())
    assert len(index.ids()) == 80
    report = doctor.doctor(ctx, Actor("olga", "operator"))
    assert report.ok, report
