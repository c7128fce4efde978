"""The `synthetic` test pack's contract on generated images: markers in, one face and a stable embedding each.

The pack is not a face model; these tests only pin down what plumbing tests may rely on.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image
from support.synthetic import identity_pattern, photo, write_gallery, write_photo
from typer.testing import CliRunner

from facesearch.calibration.tables import load_table
from facesearch.cli import app
from facesearch.config import Settings
from facesearch.errors import ModelNotFoundError
from facesearch.models import ModelPack, get_entry, is_installed, load_pack
from facesearch.models.registry import pull
from facesearch.models.synthetic import INFO as SYNTHETIC
from facesearch.pipeline.analysis import FaceSet, analyze
from facesearch.pipeline.imaging import decode_image

DEMO = Path(__file__).resolve().parents[2] / "src" / "facesearch" / "demo"


@pytest.fixture
def pack(synthetic_env: Path) -> ModelPack:
    return load_pack("synthetic", Settings(workers=1))


def jpeg(image: np.ndarray, quality: int = 70) -> np.ndarray:
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return decode_image(buf.tobytes(), 50_000_000)


def half(image: np.ndarray) -> np.ndarray:
    return cv2.resize(image, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)


def faces(pack: ModelPack, image: np.ndarray, **kwargs: int) -> FaceSet:
    return analyze(pack, [image], **kwargs)[0]


def embedding(pack: ModelPack, image: np.ndarray) -> np.ndarray:
    found = faces(pack, image)
    assert len(found) == 1
    return found.embeddings[0]


def test_generator_is_deterministic() -> None:
    assert np.array_equal(photo([1, 2], seed=3), photo([1, 2], seed=3))
    assert not np.array_equal(photo([1], seed=3), photo([1], seed=4))
    assert not np.array_equal(photo([1], seed=3), photo([1], seed=3, variant=1))
    p = identity_pattern(7)
    assert p.shape == (8, 8) and set(np.unique(p)) == {0, 1} and int(p.sum()) == 32
    assert np.array_equal(p, identity_pattern(7)) and not np.array_equal(p, identity_pattern(8))
    img = photo([1], seed=0, size=(300, 200))
    assert img.shape == (200, 300, 3) and img.dtype == np.uint8
    with pytest.raises(ValueError):
        photo(list(range(20)), seed=0)  # 20 markers of 120 px do not fit in 480x360


def test_one_marker_one_face(pack: ModelPack) -> None:
    found = faces(pack, photo([3], seed=1))
    assert len(found) == 1
    assert found.det_scores[0] >= 0.9
    x1, y1, x2, y2 = found.boxes[0]
    assert 100 <= x2 - x1 <= 140 and 100 <= y2 - y1 <= 140  # marker_px 120 +-10%
    assert found.embeddings.shape == (1, 64)
    assert abs(float(np.linalg.norm(found.embeddings[0])) - 1) < 1e-5
    assert found.quality[0] > 0.5 and found.reasons == [[]]  # models/quality.py, as for real packs
    landmarks = found.landmarks[0]
    assert np.all((landmarks[:, 0] > x1) & (landmarks[:, 0] < x2) & (landmarks[:, 1] > y1) & (landmarks[:, 1] < y2))


def test_three_markers_three_faces(pack: ModelPack) -> None:
    found = faces(pack, photo([4, 5, 6], seed=2))
    assert len(found) == 3
    assert np.all(found.det_scores >= 0.9)
    singles = np.stack([embedding(pack, photo([i], seed=10 + i)) for i in (4, 5, 6)])
    sims = found.embeddings @ singles.T
    # Each face is one of the three identities, and each identity is found once.
    assert sorted(np.argmax(sims, axis=1).tolist()) == [0, 1, 2]
    assert np.all(sims.max(axis=1) >= 0.95)


@pytest.mark.parametrize("case", ["background", "black", "grey", "white", "noise"])
def test_no_marker_no_face(pack: ModelPack, case: str) -> None:
    rng = np.random.default_rng(0)
    image = {
        "background": photo([], seed=5),
        "black": np.zeros((360, 480, 3), np.uint8),
        "grey": np.full((360, 480, 3), 128, np.uint8),
        "white": np.full((360, 480, 3), 255, np.uint8),
        "noise": rng.integers(0, 256, (360, 480, 3), dtype=np.uint8),
    }[case]
    assert len(pack.detect(image)) == 0
    assert len(faces(pack, image)) == 0


def test_real_photos_have_no_marker(pack: ModelPack) -> None:
    photos = sorted(DEMO.glob("*.jpg"))
    assert photos
    for path in photos:
        assert len(pack.detect(decode_image(path.read_bytes(), 50_000_000))) == 0, path.name


def test_same_identity_embeds_close(pack: ModelPack) -> None:
    sims = []
    for identity in range(10):
        reference = embedding(pack, photo([identity], seed=identity))
        for variant in (1, 2, 3):
            img = photo([identity], seed=100 + 10 * identity + variant, variant=variant)
            for probe in (img, jpeg(img, 70), half(img), jpeg(half(img), 70)):
                sims.append(float(embedding(pack, probe) @ reference))
    assert min(sims) >= 0.95, min(sims)


def test_different_identities_embed_apart(pack: ModelPack) -> None:
    rng = np.random.default_rng(42)
    pairs: set[tuple[int, int]] = set()
    while len(pairs) < 50:
        a, b = (int(x) for x in rng.integers(0, 1000, 2))
        if a != b:
            pairs.add((a, b))
    cache: dict[int, np.ndarray] = {}
    for identity in {i for pair in pairs for i in pair}:
        cache[identity] = embedding(pack, photo([identity], seed=identity))
    sims = [float(cache[a] @ cache[b]) for a, b in pairs]
    assert max(sims) <= 0.5, max(sims)


def test_small_marker_is_dropped_by_the_pipeline(pack: ModelPack) -> None:
    img = photo([1], seed=3, marker_px=30)
    assert len(pack.detect(img)) == 1  # the pack finds it...
    assert len(faces(pack, img, min_face_px=20)) == 1
    assert len(faces(pack, img, min_face_px=40)) == 0  # ...and the pipeline's min_face_px drops it


def test_decoded_files_jpeg_png_grey_rgba_exif(pack: ModelPack, tmp_path: Path) -> None:
    reference = embedding(pack, photo([9], seed=9))
    jpg = write_photo(tmp_path / "a", [9], seed=9, quality=70)
    png = write_photo(tmp_path / "b", [9], seed=9, fmt="png")
    assert jpg.suffix == ".jpg" and png.suffix == ".png"
    rgb = Image.open(png).convert("RGB")
    variants = {"jpg": jpg.read_bytes(), "png": png.read_bytes()}
    for mode in ("L", "RGBA"):
        buf = io.BytesIO()
        rgb.convert(mode).save(buf, format="PNG")
        variants[mode] = buf.getvalue()
    # Pixels stored rotated, with the EXIF orientation that turns them upright again.
    buf = io.BytesIO()
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 clockwise to display
    rgb.transpose(Image.Transpose.ROTATE_90).save(buf, format="JPEG", quality=90, exif=exif)
    variants["exif"] = buf.getvalue()
    for name, data in variants.items():
        img = decode_image(data, 50_000_000)
        assert img.shape == (360, 480, 3), name
        assert float(embedding(pack, img) @ reference) >= 0.95, name


def test_write_gallery(tmp_path: Path) -> None:
    gallery = write_gallery(tmp_path / "g", [3, 1], per_identity=2, start_seed=7)
    assert list(gallery) == [3, 1]
    paths = [p for ps in gallery.values() for p in ps]
    assert len(paths) == 4 and len({p.read_bytes() for p in paths}) == 4
    assert all(p.is_file() and p.parent.parent == tmp_path / "g" for p in paths)
    assert gallery[3][0].parent.name != gallery[1][0].parent.name


def test_registry(synthetic_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings(workers=1)
    assert settings.model == "synthetic"  # the fixture's choice
    entry = get_entry("synthetic")
    assert entry.info.dim == 64 and "never use it to claim accuracy" in entry.info.description
    assert is_installed("synthetic", settings)  # no weights
    assert pull("synthetic", settings) == []
    monkeypatch.delenv("FACESEARCH_MODEL")
    assert Settings().model != "synthetic"  # never a default
    monkeypatch.delenv("FACESEARCH_TEST_PACKS")
    with pytest.raises(ModelNotFoundError, match="unknown model pack 'synthetic'"):
        load_pack("synthetic", settings)
    with pytest.raises(ModelNotFoundError):
        get_entry("synthetic")


def _listed(env: dict[str, str]) -> dict[str, dict[str, object]]:
    result = CliRunner().invoke(app, ["models", "list", "--json"], env=env)
    assert result.exit_code == 0, result.output
    return {row["name"]: row for row in json.loads(result.stdout)}


def test_models_list_hides_it_without_the_variable(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FACESEARCH_TEST_PACKS", raising=False)
    rows = _listed({})
    assert "synthetic" not in rows and "dlib" in rows
    rows = _listed({"FACESEARCH_TEST_PACKS": "1"})
    assert rows["synthetic"]["installed"] is True and rows["synthetic"]["default"] is False
    assert rows["synthetic"]["dim"] == 64
    assert "synthetic" not in _listed({"FACESEARCH_TEST_PACKS": "0"})


def test_calibration_table() -> None:
    table = load_table("synthetic")
    assert table.pack == "synthetic" and table.dataset == "synthetic markers (tests only)"
    assert table.model_version == SYNTHETIC.version
    th, fmr, fnmr = np.array(table.thresholds), np.array(table.fmr), np.array(table.fnmr)
    assert np.all(np.diff(th) > 0) and np.all(np.diff(fmr) <= 0) and np.all(np.diff(fnmr) >= 0)
    threshold = table.threshold_for_fmr(1e-3)
    assert 0.2 < threshold < 0.6
    assert table.fnmr_at(threshold) < 0.01
    assert table.threshold_for_fmr(1e-4) >= threshold
