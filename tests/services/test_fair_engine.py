"""The engine decides on fair-calibrated false-match rates only when FACESEARCH_FAIR_CALIBRATION says so, and then
the decision follows the calibrated rate (not the score), while the score shown stays the model's."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from support.helpers import lfw_people, make_gallery
from support.paths import LFW, needs_lfw

from facesearch.app import collection as collections
from facesearch.app.context import Actor, Context
from facesearch.app.ingest import ingest, items_from_folder
from facesearch.calibration.fair import load_fair
from facesearch.calibration.tables import load_table
from facesearch.config import Settings
from facesearch.pipeline import imaging
from facesearch.services.engine import Engine
from facesearch.services.search_results import CALIBRATED_NOTE

pytestmark = needs_lfw


OPERATOR = Actor("ops", "operator")


def _load(p: Path) -> np.ndarray:
    return imaging.load_image(p, 10**8, 10**8)[0]


def _photo(name: str, i: int) -> np.ndarray:
    return _load(sorted((LFW / "deepfunneled" / name).glob("*.jpg"))[i])


@pytest.fixture(scope="module")
def people() -> list[str]:
    return lfw_people(min_images=6, count=6)


@pytest.mark.parametrize("mode", ["off", "verify"])
def test_verify_uses_the_calibration_only_when_turned_on(tmp_path: Path, people: list[str], mode: str) -> None:
    settings = Settings(home=tmp_path, fair_calibration=mode)
    engine = Engine(settings)
    table = load_table("yunet-reid")
    fair = load_fair("yunet-reid")
    assert fair is not None, "yunet-reid ships a fair calibration"
    for a, b in ((people[0], people[0]), (people[0], people[1])):
        res = engine.verify(_photo(a, 0), _photo(b, 1))
        if mode == "off":
            assert res.fmr == pytest.approx(float(table.fmr_at(res.score)))
            assert res.same_person == (res.score >= res.threshold)
            assert CALIBRATED_NOTE not in res.threshold_reason
        else:
            assert CALIBRATED_NOTE in res.threshold_reason
            assert res.same_person == (res.fmr <= res.threshold_fmr * (1 + 1e-9))
            assert res.fmr >= fair.fmr_floor
    # A threshold given by the user is a raw score and keeps its meaning.
    res = engine.verify(_photo(people[0], 0), _photo(people[0], 1), threshold=0.99)
    assert res.same_person is False and CALIBRATED_NOTE not in res.threshold_reason


def test_search_with_calibration_all_decides_each_candidate_on_its_own_rate(tmp_path: Path, people: list[str]) -> None:
    settings = Settings(home=tmp_path / "home", fair_calibration="all", workers=1)
    ctx = Context.open(settings)
    collections.create_collection(
        ctx,
        OPERATOR,
        "g",
        source="LFW test photos",
        legal_basis="consent",
        retention_days=None,
        keep=True,
        model="yunet-reid",
    )
    held = make_gallery(tmp_path / "photos", people, 3)
    assert ingest(ctx, OPERATOR, items_from_folder(tmp_path / "photos"), "g").ingested == 18
    engine = Engine(settings, ctx.store)
    res = engine.search(_load(held[people[2]][0]), top_k=8, force=True).answer
    face = res.faces[0]
    assert face.threshold.calibrated is True and CALIBRATED_NOTE in face.threshold.reason
    level = face.threshold.fmr
    for m in face.matches:
        assert m.above_threshold == (m.fmr <= level * (1 + 1e-9))
        assert m.expected_false_matches == pytest.approx(m.fmr * res.gallery_size)
    scores = [m.score for m in face.matches]
    assert scores == sorted(scores, reverse=True)  # ranked by the model's score, as shown
    top = face.matches[0]
    assert people[2] in top.image.path
