"""The same use cases with the vectors in a real Milvus server (FACESEARCH_INDEX_URI): ingest, search, erasure
vanishing at once, the index's rows equal to the database's after a crash-like loss, doctor, rebuild refused."""

from __future__ import annotations

import uuid
from pathlib import Path

import numpy as np
import pytest
from support.synthetic import write_gallery

from facesearch.app import collection as collections
from facesearch.app import doctor, erasure, rebuild
from facesearch.app.context import Actor, Context
from facesearch.app.errors import Invalid
from facesearch.app.ingest import ingest, items_from_folder
from facesearch.config import Settings
from facesearch.index import open_index

OPERATOR = Actor("ops", "operator")
ADMIN = Actor("boss", "admin")


@pytest.fixture
def ctx(synthetic_env: Path, tmp_path: Path, milvus_uri: str) -> Context:
    # A namespace of its own per test: the server is shared by the session.
    uri = f"{milvus_uri}/t{uuid.uuid4().hex[:12]}"
    settings = Settings(workers=1, batch_images=16, index_uri=uri)
    context = Context.open(settings)
    collections.create_collection(
        context, OPERATOR, "g", source="synthetic markers", legal_basis="consent", retention_days=None, keep=True
    )
    write_gallery(tmp_path / "photos", list(range(1, 13)), 2)
    assert ingest(context, OPERATOR, items_from_folder(tmp_path / "photos"), "g").faces == 24
    return context


def test_ingest_search_and_erase_through_milvus(ctx: Context) -> None:
    col = ctx.store.require_collection("g")
    index = ctx.engine.index(col)
    assert type(index).__name__ == "MilvusIndex" and len(index) == 24
    ids, vecs = next(ctx.store.iter_embeddings(col.id, col.dim))
    top = ctx.engine.search_vectors([col], vecs, 5)[1]
    assert (top == ids[:, None]).any(axis=1).all()  # every face finds itself
    victim = int(ids[3])
    erasure.erase_faces(ctx.settings, ctx.store, [victim])
    after = ctx.engine.search_vectors([col], vecs[3:4], 5)[1][0]
    assert victim not in after.tolist() and (after >= 0).sum() == 5
    # Another process opening the collection sees the same 23 faces.
    assert sorted(open_index(ctx.settings, col.id, col.dim).ids().tolist()) == sorted(ids[ids != victim].tolist())


def test_reconcile_and_doctor_restore_a_lost_milvus_collection(ctx: Context) -> None:
    col = ctx.store.require_collection("g")
    index = open_index(ctx.settings, col.id, col.dim)
    lost = np.asarray(sorted(index.ids().tolist())[:5], np.int64)
    index.remove(lost)  # as if the server lost them
    index.save()
    report = doctor.doctor(ctx, OPERATOR)
    assert report.counts["rows_without_index_entry"] == 5
    doctor.doctor(ctx, OPERATOR, fix=True)
    assert len(open_index(ctx.settings, col.id, col.dim)) == 24
    assert doctor.doctor(ctx, OPERATOR).ok


def test_rebuild_refuses_a_milvus_index(ctx: Context) -> None:
    with pytest.raises(Invalid, match="Milvus"):
        rebuild.rebuild(ctx, ADMIN)
