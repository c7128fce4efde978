"""The detection copy (`models.base.downscale`): a reduction of at most 2x is bilinear, a larger one ends in area
averaging. Bilinear must find the faces area averaging finds, at the same places, on real photos of web size."""

from __future__ import annotations

import cv2
import numpy as np
import openvino as ov
from support.detections import close_detections
from support.paths import FR_IMAGES, MODELS, needs_yunet

from facesearch.models.base import downscale
from facesearch.models.yunet import YunetDetector
from facesearch.models.yunet_reid import YUNET


@needs_yunet
def test_a_mild_reduction_finds_the_faces_area_averaging_finds() -> None:
    detector = YunetDetector(MODELS / YUNET, ov.Core(), threads=1, score_threshold=0.6, precision="f32")
    faces = 0
    photos = sorted(FR_IMAGES.parent.parent.rglob("*.jpg")) + sorted(FR_IMAGES.parent.parent.rglob("*.png"))
    for path in photos:
        photo = cv2.imread(str(path))
        for side in (800, 1000, 1280):  # web-sized copies, reduced by 1.25x to 2x to reach 640
            h, w = photo.shape[:2]
            s = side / max(h, w)
            web = cv2.resize(
                photo, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC
            )
            small, scale = downscale(web, 640)
            assert max(small.shape[:2]) == 640 and scale == 640 / side
            area = cv2.resize(web, (small.shape[1], small.shape[0]), interpolation=cv2.INTER_AREA)
            got = detector.detect(small)
            close_detections(got, detector.detect(area), f"{path.name} at {side} px")
            faces += len(got)
    assert len(photos) >= 20 and faces >= 3 * len(photos)


def test_a_large_reduction_is_averaged_not_aliased() -> None:
    """A 1-pixel checkerboard reduced 4x is even grey (sampling would keep stripes of black or white)."""
    board = (np.indices((2560, 1920)).sum(axis=0) % 2 * 255).astype(np.uint8)
    small, scale = downscale(np.dstack([board] * 3), 640)
    assert small.shape == (640, 480, 3) and scale == 0.25
    assert abs(float(small.mean()) - 127.5) < 2 and float(small.std()) < 2
