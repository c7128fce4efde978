"""Our OpenVINO YuNet decoding against OpenCV's own FaceDetectorYN, on real photos: the same faces."""

from __future__ import annotations

import cv2
import numpy as np
import openvino as ov
from conftest import FR_IMAGES, LFW, MODELS, needs_lfw, needs_yunet

from facesearch.models.base import downscale
from facesearch.models.yunet import YunetDetector
from facesearch.models.yunet_reid import YUNET

pytestmark = [needs_lfw, needs_yunet]


def test_matches_opencv_facedetectoryn() -> None:
    ours = YunetDetector(MODELS / YUNET, ov.Core(), threads=1, score_threshold=0.6)
    reference = cv2.FaceDetectorYN.create(str(MODELS / YUNET), "", (320, 320), 0.6, 0.3, 5000)
    files = sorted((LFW / "deepfunneled").glob("B*/*_0001.jpg"))[:40] + sorted(FR_IMAGES.glob("*.jpg"))
    faces = 0
    for f in files:
        image, _ = downscale(cv2.imread(str(f)), 640)
        reference.setInputSize((image.shape[1], image.shape[0]))
        _, expected = reference.detect(image)
        expected = np.zeros((0, 15), np.float32) if expected is None else expected
        got = ours.detect(image)
        assert len(got) == len(expected), f.name
        order_e, order_g = np.argsort(-expected[:, 14]), np.argsort(-got[:, 14])
        np.testing.assert_allclose(got[order_g], expected[order_e], atol=0.05, err_msg=f.name)
        faces += len(got)
    assert faces >= len(files)
