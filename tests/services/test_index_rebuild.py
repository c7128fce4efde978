"""`index rebuild` and the automatic growth of an index: built beside the live file, swapped in, picked up by
a running engine at its next search, erasures vanishing at once, admins only, logged."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from support.synthetic import write_gallery
from typer.testing import CliRunner

from facesearch.app import collection as collections
from facesearch.app import erasure, rebuild
from facesearch.app.context import Actor, Context
from facesearch.app.errors import Forbidden, Invalid, NotFound
from facesearch.app.ingest import ingest, items_from_folder
from facesearch.cli import app as cli_app
from facesearch.config import Settings
from facesearch.index import open_index
from facesearch.store.audit.table import AuditEntry
from facesearch.vocabulary import Action

OPERATOR = Actor("ops", "operator")
ADMIN = Actor("boss", "admin")
PEOPLE = list(range(1, 31))


def _home(tmp_path: Path, **settings: object) -> tuple[Context, dict[int, list[Path]]]:
    photos = write_gallery(tmp_path / "photos", PEOPLE, 2)
    ctx = Context.open(Settings(workers=1, batch_images=16, **settings))  # type: ignore[arg-type]
    collections.create_collection(
        ctx, OPERATOR, "g", source="synthetic markers", legal_basis="consent", retention_days=None, keep=True
    )
    assert ingest(ctx, OPERATOR, items_from_folder(tmp_path / "photos"), "g").faces == 60
    return ctx, photos


def _top(ctx: Context, queries: np.ndarray) -> np.ndarray:
    col = ctx.store.require_collection("g")
    return ctx.engine.search_vectors([col], queries, 5)[1]


def _entries(ctx: Context) -> list[AuditEntry]:
    with ctx.store.session() as s:
        return list(s.query(AuditEntry).filter(AuditEntry.action == Action.INDEX_REBUILD).order_by(AuditEntry.seq))


@pytest.mark.parametrize("kind", ["hnsw", "ivfpq", "flat"])
def test_rebuild_swaps_in_the_new_structure_and_searches_agree(synthetic_env: Path, tmp_path: Path, kind: str) -> None:
    ctx, _ = _home(tmp_path)
    col = ctx.store.require_collection("g")
    ids, vecs = next(ctx.store.iter_embeddings(col.id, col.dim))
    before = _top(ctx, vecs)
    assert ctx.engine.index(col).kind == "flat"
    res = rebuild.rebuild(ctx, ADMIN, kind=kind)
    assert res.collections[0].kind == kind and res.collections[0].faces == 60
    # The engine held the old index: it uses the new file from its next search.
    assert ctx.engine.index(col).kind == kind
    after = _top(ctx, vecs)
    # Each face finds itself among the top 5 (its identity's other photo may score the same), both ways.
    assert (after == ids[:, None]).any(axis=1).all() and (before == ids[:, None]).any(axis=1).all()
    # Another process (a fresh open) reads the same structure, its tuned parameters with it.
    assert open_index(ctx.settings, col.id, col.dim).kind == kind
    entry = _entries(ctx)[-1]
    assert entry.actor == "boss" and json.loads(entry.results)["g"] == {"kind": kind, "faces": 60}


def test_an_erased_face_vanishes_at_once_from_a_rebuilt_hnsw_index(synthetic_env: Path, tmp_path: Path) -> None:
    ctx, _ = _home(tmp_path)
    col = ctx.store.require_collection("g")
    rebuild.rebuild(ctx, ADMIN, kind="hnsw")
    ids, vecs = next(ctx.store.iter_embeddings(col.id, col.dim))
    victim = int(ids[7])
    assert victim in _top(ctx, vecs[7:8])[0].tolist()
    erasure.erase_faces(ctx.settings, ctx.store, [victim])
    top = _top(ctx, vecs[7:8])[0]
    assert victim not in top.tolist() and (top >= 0).sum() == 5  # still five results
    reopened = open_index(ctx.settings, col.id, col.dim)
    assert victim not in reopened.ids().tolist() and len(reopened) == 59
    # The next rebuild reclaims the tombstone.
    rebuild.rebuild(ctx, ADMIN, kind="hnsw")
    assert len(open_index(ctx.settings, col.id, col.dim)) == 59


def test_rebuild_is_for_admins_and_refuses_what_it_cannot_build(synthetic_env: Path, tmp_path: Path) -> None:
    ctx, _ = _home(tmp_path)
    with pytest.raises(Forbidden):
        rebuild.rebuild(ctx, OPERATOR, kind="ivfpq")
    with pytest.raises(Invalid, match="unknown index kind"):
        rebuild.rebuild(ctx, ADMIN, kind="annoy")
    with pytest.raises(Invalid, match="--recall"):
        rebuild.rebuild(ctx, ADMIN, kind="ivfpq", recall=1.5)
    with pytest.raises(NotFound, match="no collection named 'nope'"):
        rebuild.rebuild(ctx, ADMIN, collection="nope")
    assert _entries(ctx) == []


def test_an_ingest_past_the_exact_limit_grows_the_index(synthetic_env: Path, tmp_path: Path) -> None:
    ctx, photos = _home(tmp_path, index_flat_max=40, index_hnsw_max=40)
    col = ctx.store.require_collection("g")
    index = open_index(ctx.settings, col.id, col.dim)
    assert index.kind == "ivfpq" and len(index) == 60
    entry = _entries(ctx)[-1]
    assert entry.actor == "system:ingest" and json.loads(entry.details)["reason"] == "grew to 60 faces"
    ids, vecs = next(ctx.store.iter_embeddings(col.id, col.dim))
    assert (_top(ctx, vecs) == ids[:, None]).any(axis=1).mean() >= 0.95


def test_cli_rebuild(synthetic_env: Path, tmp_path: Path) -> None:
    ctx, _ = _home(tmp_path)
    res = CliRunner().invoke(
        cli_app, ["--as", "boss", "--role", "admin", "index", "rebuild", "--kind", "hnsw", "--json"]
    )
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["collections"][0]["collection"] == "g" and out["collections"][0]["kind"] == "hnsw"
    res = CliRunner().invoke(cli_app, ["--as", "ops", "--role", "operator", "index", "rebuild"])
    assert res.exit_code == 4 and "admin" in res.output
