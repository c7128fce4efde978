"""The face_recognition library's own test images, as an outside check of both packs."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.paths import FR_IMAGES, needs_shared, needs_yunet

from facesearch.config import Settings
from facesearch.models import load_pack
from facesearch.pipeline import imaging
from facesearch.pipeline.analysis import analyze
from facesearch.services.engine import Engine

pytestmark = [needs_shared, needs_yunet]
PACKS = ["yunet-reid", "dlib"]


def _img(name: str):
    return imaging.load_image(FR_IMAGES / name, 10**8, 10**8)[0]


@pytest.mark.parametrize("pack", PACKS)
def test_faces_found(home: Path, pack: str) -> None:
    p = load_pack(pack, Settings())
    names = ["obama.jpg", "obama_partial_face.jpg", "obama_partial_face2.jpg", "32bit.png"]
    found = analyze(p, [_img(n) for n in names])
    counts = dict(zip(names, (len(f) for f in found)))
    assert counts["obama.jpg"] == 1
    assert counts["obama_partial_face.jpg"] >= 1 and counts["obama_partial_face2.jpg"] >= 1
    assert counts["32bit.png"] == 1


@pytest.mark.parametrize("pack", PACKS)
def test_obama_vs_obama_and_biden(home: Path, pack: str) -> None:
    engine = Engine(Settings())
    obama = _img("obama.jpg")
    for other in ("obama2.jpg", "obama3.jpg"):
        assert engine.verify(obama, _img(other), model=pack).same_person, other
    assert not engine.verify(obama, _img("biden.jpg"), model=pack).same_person
