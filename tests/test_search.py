"""1:N search and 1:1 verify on real LFW photos, with both model packs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import lfw_person, needs_lfw, needs_yunet
from helpers import create_collection, lfw_people, make_gallery
from PIL import Image

from facesearch import imaging
from facesearch.config import Settings
from facesearch.errors import CollectionError, ProbeError
from facesearch.ingest import ingest, items_from_folder
from facesearch.search import Engine
from facesearch.store import Store

pytestmark = [needs_lfw, needs_yunet]


def _load(p: Path) -> np.ndarray:
    return imaging.load_image(p, 10**8, 10**8)[0]


@pytest.fixture(scope="module")
def galleries(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """20 LFW people x 3 photos, ingested once per pack into its own collection; the rest held out."""
    root = tmp_path_factory.mktemp("search")
    mp = pytest.MonkeyPatch()
    from conftest import MODELS

    mp.setenv("FACESEARCH_HOME", str(root / "home"))
    mp.setenv("FACESEARCH_MODELS_DIR", str(MODELS))
    settings = Settings(workers=2, batch_images=16)
    held = make_gallery(root / "g", lfw_people(4, 20), 3)
    store = Store(settings.resolved_database_url)
    for pack in ("yunet-reid", "dlib"):
        create_collection(store, f"lfw-{pack}", pack)
        res = ingest(items_from_folder(root / "g"), f"lfw-{pack}", settings, store, model=pack)
        assert res.ingested == 60 and res.failed == 0
    yield {"settings": settings, "store": store, "held": held}
    mp.undo()


@pytest.mark.parametrize("pack", ["yunet-reid", "dlib"])
def test_held_out_photos_find_their_person_first(galleries: dict, pack: str) -> None:
    engine = Engine(galleries["settings"], galleries["store"])
    held: dict[str, list[Path]] = galleries["held"]
    correct = 0
    for name, photos in held.items():
        res = engine.search(_load(photos[0]), top_k=5, collections=[f"lfw-{pack}"], force=True)
        face = res["faces"][0]
        assert face["model"] == pack and len(face["matches"]) == 5
        top = face["matches"][0]
        assert top["image"]["path"] and top["collection"] == f"lfw-{pack}"
        scores = [m["score"] for m in face["matches"]]
        assert scores == sorted(scores, reverse=True)
        fmrs = [m["fmr"] for m in face["matches"]]
        assert fmrs == sorted(fmrs) and all(0 < f <= 1 for f in fmrs)
        correct += Path(top["image"]["path"]).parent.name == name
    assert correct == len(held), f"{pack}: {correct}/{len(held)} held-out photos found their person first"


def test_search_all_collections_never_mixes_packs(galleries: dict) -> None:
    engine = Engine(galleries["settings"], galleries["store"])
    name, photos = next(iter(galleries["held"].items()))
    res = engine.search(_load(photos[0]), top_k=3)
    assert {f["model"] for f in res["faces"]} == {"yunet-reid", "dlib"}
    for f in res["faces"]:
        assert {m["collection"] for m in f["matches"]} == {f"lfw-{f['model']}"}
        assert Path(f["matches"][0]["image"]["path"]).parent.name == name
    assert res["gallery_size"] == galleries["store"].stats()["faces"] >= 120


def test_probe_without_a_face_is_an_error_with_a_reason(galleries: dict) -> None:
    engine = Engine(galleries["settings"], galleries["store"])
    sky = np.full((300, 400, 3), (200, 160, 90), np.uint8)
    with pytest.raises(ProbeError, match="no face"):
        engine.search(sky, collections=["lfw-yunet-reid"])


def test_poor_probe_is_refused_unless_forced(galleries: dict) -> None:
    engine = Engine(galleries["settings"], galleries["store"])
    photo = _load(next(iter(galleries["held"].values()))[0])
    tiny = np.asarray(Image.fromarray(photo).resize((60, 60)).resize((250, 250), Image.BILINEAR))
    import cv2

    blurred = cv2.GaussianBlur(tiny, (0, 0), 4)
    with pytest.raises(ProbeError) as exc:
        engine.search(blurred, collections=["lfw-yunet-reid"])
    assert "BLURRY" in exc.value.reasons
    forced = engine.search(blurred, collections=["lfw-yunet-reid"], force=True)
    assert forced["faces"][0]["matches"]


def test_unknown_collection_is_an_error(galleries: dict) -> None:
    engine = Engine(galleries["settings"], galleries["store"])
    with pytest.raises(CollectionError, match="unknown collection"):
        engine.search(np.zeros((10, 10, 3), np.uint8), collections=["nope"])


@pytest.mark.parametrize("pack", ["yunet-reid", "dlib"])
def test_verify_same_and_different(home: Path, pack: str) -> None:
    engine = Engine(Settings(workers=1))
    a, b = lfw_person("Colin_Powell")[:2]
    other = lfw_person("Tony_Blair")[0]
    same = engine.verify(_load(a), _load(b), model=pack)
    diff = engine.verify(_load(a), _load(other), model=pack)
    assert same["same_person"] is True and diff["same_person"] is False
    assert same["score"] > same["threshold"] > diff["score"]
    assert diff["fmr"] > same["fmr"]
    assert {"score", "fmr", "threshold", "same_person"} <= set(same)
