"""The `yunet-reid` pack: YuNet detector + ArcFace-template alignment + OMZ reid-0095, both on OpenVINO."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import cv2
import numpy as np

from .align import align_faces
from .base import Detections, PackInfo, downscale, l2_normalise
from .yunet import YunetDetector

YUNET = "yunet_2023mar/face_detection_yunet_2023mar.onnx"
REID_XML = "omz_face_reid_0095/face-reidentification-retail-0095.xml"
REID_BIN = "omz_face_reid_0095/face-reidentification-retail-0095.bin"

INFO = PackInfo(
    name="yunet-reid",
    version="yunet-2023mar+omz-face-reidentification-retail-0095-fp16",
    dim=256,
    description="YuNet detector + 5-point similarity alignment + Intel face-reidentification-retail-0095 256-d",
    licence="MIT (YuNet), Apache-2.0 (OMZ)",
    multithreaded=True,
    files={
        YUNET: "8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4",
        REID_XML: "ce53d2c9c08c0bd1c1660fb8a5b6d0e3e4ec19eb92f1036d2d83a85e83082dce",
        REID_BIN: "241229ca3d206321868d46ce74a3c0b06c49cea58db7dc70b2e842ff287545d1",
    },
)
URLS = {
    YUNET: "https://github.com/opencv/opencv_zoo/raw/main/models/face_detection_yunet/"
    "face_detection_yunet_2023mar.onnx",
    REID_XML: "https://storage.openvinotoolkit.org/repositories/open_model_zoo/2023.0/models_bin/1/"
    "face-reidentification-retail-0095/FP16/face-reidentification-retail-0095.xml",
    REID_BIN: "https://storage.openvinotoolkit.org/repositories/open_model_zoo/2023.0/models_bin/1/"
    "face-reidentification-retail-0095/FP16/face-reidentification-retail-0095.bin",
}
CROP_SIZE = 128


class YunetReidPack:
    """Built from the weight files' paths (`registry.load_pack` finds them, in FACESEARCH_MODELS_DIR or shipped
    with the package, and checks their pinned sha256 first)."""

    info = INFO

    def __init__(
        self,
        files: Mapping[str, Path],
        threads: int = 1,
        detect_max_side: int = 640,
        min_score: float = 0.6,
        device: str = "CPU",
    ) -> None:
        import openvino as ov

        cv2.setNumThreads(threads)
        self._detect_max_side = detect_max_side
        core = ov.Core()
        self._detector = YunetDetector(files[YUNET], core, threads, min_score)
        model = core.read_model(str(files[REID_XML]), str(files[REID_BIN]))
        model.reshape([-1, 3, CROP_SIZE, CROP_SIZE])
        devices = core.available_devices
        chosen = device if device in devices else "CPU"
        config = {"INFERENCE_NUM_THREADS": threads} if chosen == "CPU" else {}
        self._compiled = core.compile_model(model, chosen, config)
        self._request = self._compiled.create_infer_request()
        self.device = chosen

    def detect(self, image: np.ndarray) -> Detections:
        h, w = image.shape[:2]
        small, scale = downscale(image, self._detect_max_side)
        faces = self._detector.detect(small)
        if len(faces) == 0:
            return Detections.empty()
        faces = faces.astype(np.float32) / np.float32(scale)
        boxes = faces[:, 0:4].copy()
        boxes[:, 2:4] += boxes[:, 0:2]
        boxes[:, [0, 2]] = np.clip(boxes[:, [0, 2]], 0, w)
        boxes[:, [1, 3]] = np.clip(boxes[:, [1, 3]], 0, h)
        landmarks = faces[:, 4:14].reshape(-1, 5, 2)
        scores = faces[:, 14] * np.float32(scale)  # undo the division above
        return Detections(boxes, landmarks, np.clip(scores, 0, 1))

    def align(self, image: np.ndarray, detections: Detections) -> np.ndarray:
        return align_faces(image, detections.landmarks, CROP_SIZE)

    def embed(self, crops: np.ndarray) -> np.ndarray:
        if len(crops) == 0:
            return np.zeros((0, INFO.dim), np.float32)
        blob = crops.transpose(0, 3, 1, 2).astype(np.float32)
        out = self._request.infer({0: blob})
        vectors = next(iter(out.values())).reshape(len(crops), -1)
        return l2_normalise(vectors)
