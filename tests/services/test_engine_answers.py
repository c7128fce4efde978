"""The engine's answers: built with their words, and with the faces a hide filter keeps out reported beside the
answer, never in it. The filter is handed down by the use case (opt-out templates, compared in memory): the
engine denies what it hides inside the index and searches again, so k candidates still come back when k
eligible faces exist, and it remembers a hidden face only once a search that hid it has returned (so its use
case logged it).

Runs on the `synthetic` test pack (generated marker photos, no weights)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from support.synthetic import write_gallery, write_photo

from facesearch.app import collection as collections
from facesearch.app.context import Actor, Context
from facesearch.app.ingest import ingest, items_from_folder
from facesearch.calibration.wording import decision_text, fmr_text
from facesearch.config import Settings
from facesearch.pipeline import imaging
from facesearch.services.engine import Engine
from facesearch.services.hiding import Hidden, HideFilter
from facesearch.services.search_results import MatchImage, candidate, comparison, search_threshold

OPERATOR = Actor("ops", "operator")
HIDE_AT = 0.8  # synthetic markers of one identity score about 0.99, of two identities about 0


def test_search_and_verify_answers_get_the_words() -> None:
    image = MatchImage(id=1, path=None, source_url=None, sha256="0" * 64, metadata={})

    def match(score: float, fmr: float, above: bool) -> Any:
        fields = {"face_id": 1, "collection": "c", "box": [0.0, 0.0, 1.0, 1.0], "quality": 1.0, "thumbnail": "t"}
        return candidate(rank=1, score=score, fmr=fmr, gallery_size=10, above=above, image=image, **fields)

    threshold = search_threshold(0.4, 1e-4, "r")
    matches = [match(0.7, 2e-7, True), match(0.2, 0.01, False)]
    assert threshold.fmr_text == "1 in 10,000 different people score this high"
    assert [m.decision for m in matches] == ["above threshold", "below threshold"]
    assert matches[0].fmr_text == "1 in 5,000,000 different people score this high"
    assert matches[0].expected_false_matches == pytest.approx(2e-6)
    assert search_threshold(0.3, 1e-3, "r").fmr_text == "1 in 1,000 different people score this high"
    v = comparison(
        score=0.5,
        fmr=1e-5,
        threshold=0.45,
        threshold_fmr=1e-4,
        reason="r",
        same=True,
        model="m",
        model_version="1",
        faces=[],
    )
    assert v.fmr_text == "1 in 100,000 different people score this high"
    assert v.threshold_fmr_text == "1 in 10,000 different people score this high"
    assert v.decision == "above threshold"
    # Absent unless they say something: no `calibrated` on a table's threshold, no `skipped` on a searched face.
    assert "calibrated" not in threshold.model_dump(mode="json")
    assert search_threshold(0.3, 1e-3, "r", calibrated=True).model_dump(mode="json")["calibrated"] is True


@pytest.fixture
def gallery(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """6 identities x 3 marker photos in one collection, and a new photo of identity 1."""
    monkeypatch.setenv("FACESEARCH_TEST_PACKS", "1")
    settings = Settings(
        home=tmp_path / "home", database_url=None, models_dir=tmp_path / "models", model="synthetic", workers=1
    )
    ctx = Context.open(settings)
    collections.create_collection(
        ctx, OPERATOR, "g", source="test photos", legal_basis="consent", retention_days=None, keep=True
    )
    write_gallery(tmp_path / "photos", list(range(6)), 3)
    assert ingest(ctx, OPERATOR, items_from_folder(tmp_path / "photos"), "g").faces == 18
    probe = imaging.load_image(write_photo(tmp_path / "probe.jpg", [1], seed=901, variant=2), 10**8, 10**8)[0]
    yield {"settings": settings, "store": ctx.store, "probe": probe}
    ctx.store.close()


def _identity_faces(engine: Engine, identity: str) -> set[int]:
    col = engine.store.require_collection("g")
    details = engine.store.face_details(list(range(1, 100)))
    return {
        fid for fid, d in details.items() if Path(d["path"]).parent.name == identity and d["collection"] == col.name
    }


def _filter(engine: Engine, probe: np.ndarray) -> HideFilter:
    """Identity 1 opted out: its template is the probe's face."""
    template = engine.analyze_probe("synthetic", probe).embeddings[:1]
    return HideFilter({"synthetic": template}, {"synthetic": HIDE_AT})


def test_search_answers_are_worded_and_well_formed(gallery: dict[str, Any]) -> None:
    engine = Engine(gallery["settings"], gallery["store"])
    found = engine.search(gallery["probe"], top_k=5)
    assert found.hidden == ()
    face = found.answer.faces[0]
    assert face.threshold.fmr_text == fmr_text(face.threshold.fmr) and face.skipped is None
    for m in face.matches:
        assert m.fmr_text == fmr_text(m.fmr) and m.decision == decision_text(m.above_threshold)
    assert Path(face.matches[0].image.path or "").parent.name == "person_0001"
    dumped = found.answer.model_dump(mode="json")
    assert "skipped" not in dumped["faces"][0] and "calibrated" not in dumped["faces"][0]["threshold"]
    same = engine.verify(gallery["probe"], gallery["probe"])
    assert same.same_person and same.decision == "above threshold" and same.fmr_text == fmr_text(same.fmr)


def test_hidden_faces_are_denied_inside_the_search_and_reported_apart(gallery: dict[str, Any]) -> None:
    engine = Engine(gallery["settings"], gallery["store"])
    hide = _filter(engine, gallery["probe"])
    theirs = _identity_faces(engine, "person_0001")
    assert len(theirs) == 3

    found = engine.search(gallery["probe"], top_k=5, hide=hide)
    shown = [m.face_id for m in found.answer.faces[0].matches]
    assert len(shown) == 5 and not set(shown) & theirs  # k candidates, none of them hidden ones
    assert found.hidden == (Hidden("synthetic", tuple(sorted(theirs))),)
    assert set(found.answer.model_dump()) == {"gallery_size", "collections", "faces"}  # nothing says who was hidden
    # Remembered: the next search denies them from the start, so there is nothing new to report.
    again = engine.search(gallery["probe"], top_k=5, hide=hide)
    assert again.hidden == () and [m.face_id for m in again.answer.faces[0].matches] == shown
    # Without a filter, a new engine shows them.
    plain = Engine(gallery["settings"], gallery["store"]).search(gallery["probe"], top_k=5)
    assert {m.face_id for m in plain.answer.faces[0].matches[:3]} == theirs


def test_a_search_that_fails_does_not_remember_what_it_hid(
    gallery: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its use case could not log them: the next search finds and reports them again."""
    engine = Engine(gallery["settings"], gallery["store"])
    hide = _filter(engine, gallery["probe"])

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("database gone")

    with monkeypatch.context() as m:
        m.setattr(engine.store, "face_details", broken)
        with pytest.raises(RuntimeError):
            engine.search(gallery["probe"], top_k=5, hide=hide)
    found = engine.search(gallery["probe"], top_k=5, hide=hide)
    assert found.hidden and set(found.hidden[0].face_ids) == _identity_faces(engine, "person_0001")


def test_search_vectors_reports_hidden_rounds(gallery: dict[str, Any]) -> None:
    engine = Engine(gallery["settings"], gallery["store"])
    hide = _filter(engine, gallery["probe"])
    col = engine.store.require_collection("g")
    queries = engine.analyze_probe("synthetic", gallery["probe"]).embeddings[:1]
    ranked = engine.search_vectors([col], queries, 4, hide)
    assert set(ranked.ids[0].tolist()).isdisjoint(_identity_faces(engine, "person_0001"))
    assert len(ranked.hidden) == 1 and (ranked.ids >= 0).sum() == 4
