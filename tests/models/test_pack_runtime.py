"""How the yunet-reid pack runs: the compile cache under the home, bounded embedder batches, bounded detector
networks."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
from support.paths import FR_IMAGES, ROOT, needs_yunet

from facesearch.config import Settings
from facesearch.models import load_pack, registry, yunet
from facesearch.models.yunet_reid import chunks

DEMO = ROOT / "src" / "facesearch" / "demo"


def _settings(home: Path) -> Settings:
    return Settings(home=home, models_dir=home / "no-models")  # the weights shipped with the package


def test_chunks_cover_every_face_with_four_batch_sizes() -> None:
    for n in range(1, 300):
        sizes = chunks(n)
        assert sum(sizes) == n
        assert set(sizes) <= {8, 4, 2, 1}
        assert sizes == sorted(sizes, reverse=True) and sizes.count(4) <= 1 and sizes.count(2) <= 1


def test_compile_cache_dir_is_private_and_optional(tmp_path: Path) -> None:
    path = registry.compile_cache_dir(_settings(tmp_path / "home"))
    assert path == tmp_path / "home" / "cache" / "openvino"
    assert path is not None and path.is_dir() and (path.stat().st_mode & 0o077) == 0
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    assert registry.compile_cache_dir(_settings(blocked / "home")) is None  # no cache, no failure


@needs_yunet
def test_a_second_process_loads_compiled_networks_from_the_cache(tmp_path: Path) -> None:
    """The first load compiles and fills the home's cache; a fresh process loads from it and gives the same
    faces and embeddings."""
    home = tmp_path / "home"
    image = cv2.imread(str(DEMO / "obama-east-room.jpg"))
    pack = load_pack("yunet-reid", _settings(home), 1)
    det = pack.detect(image)
    first = pack.embed(pack.align(image, det))
    blobs = sorted((home / "cache" / "openvino").glob("*.blob"))
    assert len(blobs) >= 2  # the embedder and the detector's first bucket
    assert all(b.stat().st_mode & 0o077 == 0 for b in blobs)  # the runtime writes 0440; the home keeps 0600 or less
    script = (
        "import sys, cv2, numpy as np\n"
        "from pathlib import Path\n"
        "from facesearch.config import Settings\n"
        "from facesearch.models import load_pack\n"
        "home = Path(sys.argv[1])\n"
        "pack = load_pack('yunet-reid', Settings(home=home, models_dir=home / 'no-models'), 1)\n"
        "image = cv2.imread(sys.argv[2])\n"
        "np.save(sys.argv[3], pack.embed(pack.align(image, pack.detect(image))))\n"
    )
    out = tmp_path / "second.npy"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    subprocess.run(
        [sys.executable, "-c", script, str(home), str(DEMO / "obama-east-room.jpg"), str(out)], check=True, env=env
    )
    assert sorted((home / "cache" / "openvino").glob("*.blob")) == blobs  # nothing compiled again
    np.testing.assert_allclose(np.load(out), first, atol=1e-5)


@needs_yunet
def test_embedding_in_chunks_equals_one_face_at_a_time(tmp_path: Path) -> None:
    pack = load_pack("yunet-reid", _settings(tmp_path / "home"), 1)
    crops = []
    for f in sorted(FR_IMAGES.glob("*.jpg")) + sorted(DEMO.glob("*.jpg")):
        image = cv2.imread(str(f))
        det = pack.detect(image)
        if len(det):
            crops.append(pack.align(image, det))
    faces = np.concatenate(crops)
    faces = np.concatenate([faces, faces[:, :, ::-1]])  # mirrored too: more faces than one batch
    assert len(faces) > 8
    together = pack.embed(faces)
    alone = np.concatenate([pack.embed(faces[i : i + 1]) for i in range(len(faces))])
    assert (together * alone).sum(axis=1).min() > 0.999


@needs_yunet
def test_detector_networks_stay_bounded_however_many_sizes(tmp_path: Path) -> None:
    """Every bucket seen often: at most SHAPE_CACHE static networks and the dynamic one, none compiled twice."""
    pack = load_pack("yunet-reid", _settings(tmp_path / "home"), 1)
    detector = pack._detector  # type: ignore[attr-defined]
    sides = yunet.SIDES[:4]  # 16 buckets, more than SHAPE_CACHE
    for _ in range(yunet.STATIC_AFTER):
        for h in sides:
            for w in sides:
                detector.detect(np.zeros((h - 5, w - 3, 3), np.uint8))
    assert detector.compiled == yunet.SHAPE_CACHE + 1
    assert len(detector._requests) == yunet.SHAPE_CACHE


@needs_yunet
def test_a_damaged_cache_is_compiled_again(tmp_path: Path) -> None:
    """A cut or overwritten blob in the cache (a crash while writing, a full disk) costs a compilation, not a
    failure or different faces."""
    home = tmp_path / "home"
    image = cv2.imread(str(DEMO / "obama-east-room.jpg"))
    pack = load_pack("yunet-reid", _settings(home), 1)
    first = pack.embed(pack.align(image, pack.detect(image)))
    blobs = list((home / "cache" / "openvino").glob("*.blob"))
    for i, blob in enumerate(blobs):
        blob.chmod(0o600)
        blob.write_bytes(blob.read_bytes()[:1000] if i % 2 else os.urandom(50_000))
    again = load_pack("yunet-reid", _settings(home), 1)
    np.testing.assert_allclose(again.embed(again.align(image, again.detect(image))), first, atol=1e-5)
