"""Progress from the first images: a run's batches start at one image and double up to batch_images, each
committed (thumbnails first, then one transaction) and reported as it is done. Runs on the synthetic pack."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.synthetic import write_gallery

from facesearch.app import collection as collections
from facesearch.app.context import Actor, Context
from facesearch.app.ingest import IngestResult, ingest, items_from_folder
from facesearch.config import Settings
from facesearch.index import open_index
from facesearch.services import executor

OPERATOR = Actor("ops", "operator")


@pytest.mark.parametrize("workers", [1, 2])
def test_batches_grow_and_progress_moves_per_image_early(tmp_path: Path, synthetic_env: Path, workers: int) -> None:
    write_gallery(tmp_path / "photos", list(range(20)), 4, size=(160, 120), marker_px=60)  # 80 photos
    ctx = Context.open(Settings(workers=workers, batch_images=16))
    collections.create_collection(
        ctx,
        OPERATOR,
        "c",
        source="test photos",
        legal_basis="consent",
        retention_days=None,
        keep=True,
        model="synthetic",
    )
    seen: list[int] = []
    committed: list[int] = []

    def progress(result: IngestResult, total: int) -> None:
        assert total == 80
        seen.append(result.processed)
        committed.append(ctx.store.stats()["images"])  # each report follows its batch's transaction

    result = ingest(ctx, OPERATOR, items_from_folder(tmp_path / "photos"), "c", progress=progress)
    assert result.ingested == 80 and result.faces == 80
    # Batches of 1, 2, 4, 8, then 16 (batch_images): one report per batch, then the final one.
    assert seen == [1, 3, 7, 15, 31, 47, 63, 79, 80, 80]
    assert committed == seen
    index = open_index(ctx.settings, ctx.store.get_collection("c").id, 64)  # type: ignore[union-attr]
    assert len(index) == 80


def test_first_batch_setting_restores_full_batches(
    tmp_path: Path, synthetic_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(executor, "FIRST_BATCH", 16)
    write_gallery(tmp_path / "photos", list(range(10)), 4, size=(160, 120), marker_px=60)  # 40 photos
    ctx = Context.open(Settings(workers=1, batch_images=16))
    collections.create_collection(
        ctx,
        OPERATOR,
        "c",
        source="test photos",
        legal_basis="consent",
        retention_days=None,
        keep=True,
        model="synthetic",
    )
    seen: list[int] = []
    ingest(ctx, OPERATOR, items_from_folder(tmp_path / "photos"), "c", progress=lambda r, _t: seen.append(r.processed))
    assert seen == [16, 32, 40, 40]
