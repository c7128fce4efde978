"""A search over collections of two model packs: each pack's probe is compared only with its own pack's faces,
so its threshold and expected false matches are computed over those faces, not over every face searched."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.second_pack import SECOND_PACK, register_second_pack
from support.synthetic import write_gallery, write_photo

from facesearch.app import collection as collections
from facesearch.app.context import Actor, Context
from facesearch.app.ingest import ingest, items_from_folder
from facesearch.calibration.tables import load_table, search_point
from facesearch.config import Settings
from facesearch.pipeline import imaging
from facesearch.services.engine import Engine

OPERATOR = Actor("ops", "operator")


def test_threshold_of_each_pack_uses_that_packs_faces(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FACESEARCH_TEST_PACKS", "1")
    settings = Settings(
        home=tmp_path / "home",
        database_url=None,
        models_dir=tmp_path / "models",
        model="synthetic",
        workers=1,
        batch_images=16,
        search_fpir=0.05,
    )
    register_second_pack(monkeypatch, settings.home)
    ctx = Context.open(settings)
    # Pack sizes far apart: 4 faces on `synthetic`, 60 on `synthetic-b`.
    write_gallery(tmp_path / "small", [0, 1], 2)
    write_gallery(tmp_path / "large", list(range(20)), 3)
    sizes = {"synthetic": 4, SECOND_PACK: 60}
    for pack, folder in (("synthetic", "small"), (SECOND_PACK, "large")):
        collections.create_collection(
            ctx,
            OPERATOR,
            f"col-{pack}",
            source="test photos",
            legal_basis="consent",
            retention_days=None,
            keep=True,
            model=pack,
        )
        res = ingest(ctx, OPERATOR, items_from_folder(tmp_path / folder), f"col-{pack}", model=pack)
        assert res.faces == sizes[pack]
    probe = write_photo(tmp_path / "probe.jpg", [1], seed=999, variant=3)
    image = imaging.load_image(probe, 10**8, 10**8)[0]

    res = Engine(settings, ctx.store).search(image, top_k=3).answer

    assert res.gallery_size == sum(sizes.values()) == 64  # the top level is still every face searched
    assert {f.model for f in res.faces} == set(sizes)
    for face in res.faces:
        pack = face.model
        table = load_table(pack, settings.home / "calibration")
        own = search_point(table, settings.search_fpir, sizes[pack])
        assert face.gallery_size == sizes[pack]
        assert face.collections == [f"col-{pack}"]
        assert face.threshold.score == pytest.approx(own.threshold)
        assert str(sizes[pack]) + " faces" in face.threshold.reason
        for m in face.matches:
            assert m.expected_false_matches == pytest.approx(m.fmr * sizes[pack])
            assert m.above_threshold == (m.score >= own.threshold)
    # The counts differ enough that the old way (every face searched) would have moved the small pack's bar.
    small = load_table("synthetic", settings.home / "calibration")
    fpir = settings.search_fpir
    assert search_point(small, fpir, 64).threshold > search_point(small, fpir, 4).threshold
