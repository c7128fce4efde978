"""Our OpenVINO YuNet decoding against OpenCV's own FaceDetectorYN, on real photos: the same faces.

Our detector pads its input to a few fixed shapes (buckets, so that photos of mixed sizes need few compiled
networks); FaceDetectorYN pads to multiples of 32. Given the same padded input, both must agree exactly in f32
(the decoding and the coordinates; FACESEARCH_DETECT_PRECISION=f32); on the unpadded photo they must find the
same faces at nearly the same places (extra zero padding changes the network's input, so landmarks move by a
fraction of a pixel to ~1.5%).
"""

from __future__ import annotations

from collections import Counter

import cv2
import numpy as np
import openvino as ov
from support.detections import close_detections
from support.paths import FR_IMAGES, LFW, MODELS, needs_lfw, needs_yunet

from facesearch.models.base import downscale
from facesearch.models.yunet import EAGER, STATIC_AFTER, YunetDetector, bucket
from facesearch.models.yunet_reid import YUNET

pytestmark = [needs_lfw, needs_yunet]


def _reference() -> cv2.FaceDetectorYN:
    return cv2.FaceDetectorYN.create(str(MODELS / YUNET), "", (320, 320), 0.6, 0.3, 5000)


def _opencv(reference: cv2.FaceDetectorYN, image: np.ndarray) -> np.ndarray:
    reference.setInputSize((image.shape[1], image.shape[0]))
    _, faces = reference.detect(image)
    return np.zeros((0, 15), np.float32) if faces is None else faces


def _padded(image: np.ndarray) -> np.ndarray:
    """The image as our detector feeds it to the network: zero-padded right and bottom to its bucket."""
    h, w = image.shape[:2]
    ph, pw = bucket(h, w)
    out = np.zeros((ph, pw, 3), np.uint8)
    out[:h, :w] = image
    return out


def _same(got: np.ndarray, expected: np.ndarray, label: str) -> None:
    assert len(got) == len(expected), label
    order_e, order_g = np.argsort(-expected[:, 14]), np.argsort(-got[:, 14])
    np.testing.assert_allclose(got[order_g], expected[order_e], atol=0.05, err_msg=label)


def test_default_precision_finds_the_faces_f32_finds() -> None:
    """FACESEARCH_DETECT_PRECISION=auto lets the runtime run the detector in bfloat16 where the CPU has it:
    the same clear faces as in f32, boxes and landmarks within `close_detections`' bounds (on a CPU without bfloat16
    both are f32)."""
    core = ov.Core()
    auto = YunetDetector(MODELS / YUNET, core, threads=1, score_threshold=0.6)
    f32 = YunetDetector(MODELS / YUNET, core, threads=1, score_threshold=0.6, precision="f32")
    files = sorted((LFW / "deepfunneled").glob("C*/*_0001.jpg"))[:40] + sorted(FR_IMAGES.glob("*.jpg"))
    faces = 0
    for f in files:
        image, _ = downscale(cv2.imread(str(f)), 640)
        got = auto.detect(image)
        close_detections(got, f32.detect(image), f.name)
        faces += len(got)
    assert faces >= len(files)


def test_matches_opencv_facedetectoryn() -> None:
    ours = YunetDetector(MODELS / YUNET, ov.Core(), threads=1, score_threshold=0.6, precision="f32")
    reference = _reference()
    files = sorted((LFW / "deepfunneled").glob("B*/*_0001.jpg"))[:40] + sorted(FR_IMAGES.glob("*.jpg"))
    faces = 0
    for f in files:
        image, _ = downscale(cv2.imread(str(f)), 640)
        got = ours.detect(image)
        _same(got, _opencv(reference, _padded(image)), f.name)
        close_detections(got, _opencv(reference, image), f.name)
        if image.shape[:2] == (250, 250):  # LFW: the bucket is FaceDetectorYN's own padding, so identical
            _same(got, _opencv(reference, image), f.name)
        faces += len(got)
    assert faces >= len(files)


def test_many_input_sizes_few_compiled_shapes() -> None:
    """Photos of many sizes (as in-the-wild collections bring): the same faces as FaceDetectorYN at every
    size, in the unpadded image's coordinates, from a handful of compiled input shapes."""
    ours = YunetDetector(MODELS / YUNET, ov.Core(), threads=1, score_threshold=0.6, precision="f32")
    reference = _reference()
    sources = sorted((LFW / "deepfunneled").glob("C*/*_0001.jpg"))[:12] + sorted(FR_IMAGES.glob("*.jpg"))
    rng = np.random.default_rng(7)
    sizes = set()
    faces = 0
    for i in range(60):
        src = cv2.imread(str(sources[i % len(sources)]))
        long_side = int(rng.integers(160, 641))
        aspect = float(rng.uniform(0.6, 1.7))  # width / height
        w, h = (long_side, round(long_side / aspect)) if aspect >= 1 else (round(long_side * aspect), long_side)
        # The photo somewhere on a plain canvas of the new size, scaled to fit: faces anywhere, near edges too.
        scale = min(w / src.shape[1], h / src.shape[0]) * float(rng.uniform(0.6, 1.0))
        tile = cv2.resize(src, (max(1, round(src.shape[1] * scale)), max(1, round(src.shape[0] * scale))))
        image = np.full((h, w, 3), 90, np.uint8)
        y0, x0 = int(rng.integers(0, h - tile.shape[0] + 1)), int(rng.integers(0, w - tile.shape[1] + 1))
        image[y0 : y0 + tile.shape[0], x0 : x0 + tile.shape[1]] = tile
        sizes.add((h, w))
        got = ours.detect(image)
        label = f"{i}: {w}x{h}"
        _same(got, _opencv(reference, _padded(image)), label)
        close_detections(got, _opencv(reference, image), label)
        if len(got):  # in the unpadded image's coordinates
            assert got[:, [0, 4, 6, 8, 10, 12]].max() < w + 1 and got[:, [1, 5, 7, 9, 11, 13]].max() < h + 1
        faces += len(got)
    assert len(sizes) >= 55
    assert faces >= 50
    # The first two buckets and those seen 8 times get their own network; the rest share a dynamic one.
    buckets = Counter(bucket(h, w) for h, w in sizes)
    assert 3 <= ours.compiled <= 3 + sum(n >= 7 for n in buckets.values()) < len(buckets) // 2


def test_dynamic_and_static_networks_agree() -> None:
    """A bucket's first images run on the dynamic network, later ones on its own: the same detections."""
    ours = YunetDetector(MODELS / YUNET, ov.Core(), threads=1, score_threshold=0.6)
    filler = np.full((100, 100, 3), 90, np.uint8)
    for _ in range(EAGER):  # two other buckets first, so that the next one starts on the dynamic network
        ours.detect(filler)
        filler = np.full((300, 300, 3), 90, np.uint8)
    image = cv2.imread(str(FR_IMAGES / "obama.jpg"))
    image, _ = downscale(image, 600)
    first = ours.detect(image)
    assert ours.compiled == EAGER + 1  # the dynamic network
    for _ in range(STATIC_AFTER):
        later = ours.detect(image)
    assert ours.compiled == EAGER + 2  # and the bucket's own
    assert len(first) == len(later) >= 1
    np.testing.assert_allclose(later, first, atol=0.02)
