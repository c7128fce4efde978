"""The `dlib` pack: HOG detector, 5-point shape predictor, ResNet 128-d. An optional extra: its weights ship
with pip packages (`face-recognition-models`, ~100 MB) that the default install leaves out."""

from __future__ import annotations

import cv2
import numpy as np

from ..errors import ModelNotFoundError
from .align import similarity_transform, template
from .base import Detections, PackInfo, downscale, l2_normalise

INFO = PackInfo(
    name="dlib",
    version="dlib-resnet-v1+hog+sp5",
    dim=128,
    description="dlib HOG detector + 5-point shape predictor + ResNet-29 128-d (LFW 99.38% published)",
    licence="Boost (dlib), public domain (weights)",
)
INSTALL_HINT = (
    "the dlib pack is an optional extra, not installed here: `pip install 'facesearch[dlib]'` (prebuilt dlib and "
    "its weights, about 100 MB); the default pack, yunet-reid, ships with facesearch"
)
CHIP_SIZE = 150
CHIP_PADDING = 0.25
DET_MAX_SIDE = 640
# HOG finds faces from ~80 px; one upsampling reaches ~40 px faces on photos this small.
UPSAMPLE_BELOW_SIDE = 800


def _sigmoid(x: np.ndarray) -> np.ndarray:
    out: np.ndarray = 1.0 / (1.0 + np.exp(-x))
    return out


def five_points_from_dlib(parts: np.ndarray) -> np.ndarray:
    """dlib's 5 points (two corners of each eye, nose base) -> eye centres, nose, estimated mouth corners.

    The mouth corners are placed by the similarity transform that maps the eyes and nose onto the
    ArcFace template, so every pack reports the same five landmarks.
    """
    eye_a = parts[:, 0:2].mean(axis=1)
    eye_b = parts[:, 2:4].mean(axis=1)
    swap = eye_a[:, 0] > eye_b[:, 0]
    left = np.where(swap[:, None], eye_b, eye_a)
    right = np.where(swap[:, None], eye_a, eye_b)
    nose = parts[:, 4]
    tpl = template(112).astype(np.float64)
    out = np.empty((parts.shape[0], 5, 2), np.float32)
    for i in range(parts.shape[0]):
        src3 = np.stack([left[i], right[i], nose[i]])
        # Map template -> image using the three known points, then place the mouth.
        m = similarity_transform(tpl[:3], src3)
        mouth = tpl[3:] @ m[:, :2].T + m[:, 2]
        out[i, :3] = src3
        out[i, 3:] = mouth
    return out


class DlibPack:
    info = INFO

    def __init__(self, threads: int = 1) -> None:
        try:
            import dlib
            import face_recognition_models as frm
        except ImportError as exc:
            raise ModelNotFoundError(INSTALL_HINT) from exc
        self._dlib = dlib
        self._detector = dlib.get_frontal_face_detector()
        self._predictor = dlib.shape_predictor(frm.pose_predictor_five_point_model_location())
        self._encoder = dlib.face_recognition_model_v1(frm.face_recognition_model_location())
        self._raw: dict[int, np.ndarray] = {}

    def detect(self, image: np.ndarray) -> Detections:
        h, w = image.shape[:2]
        small, scale = downscale(image, DET_MAX_SIDE)
        # HOG on grey finds the same faces as on colour for 30% less work; the shape predictor reads
        # intensities only, so it gets the same grey image.
        grey = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
        upsample = 1 if max(small.shape[:2]) < UPSAMPLE_BELOW_SIDE else 0
        rects, scores, _ = self._detector.run(grey, upsample, 0.0)
        if not rects:
            return Detections.empty()
        parts = np.empty((len(rects), 5, 2), np.float32)
        boxes = np.empty((len(rects), 4), np.float32)
        for i, r in enumerate(rects):
            shape = self._predictor(grey, r)
            parts[i] = [(p.x, p.y) for p in shape.parts()]
            boxes[i] = (r.left(), r.top(), r.right(), r.bottom())
        parts /= scale
        boxes /= scale
        boxes[:, [0, 2]] = np.clip(boxes[:, [0, 2]], 0, w)
        boxes[:, [1, 3]] = np.clip(boxes[:, [1, 3]], 0, h)
        det = Detections(
            boxes, five_points_from_dlib(parts), _sigmoid(2.0 * np.asarray(scores, np.float32) + 1.0).astype(np.float32)
        )
        det.native = parts
        return det

    def align(self, image: np.ndarray, detections: Detections) -> np.ndarray:
        if len(detections) == 0:
            return np.zeros((0, CHIP_SIZE, CHIP_SIZE, 3), np.uint8)
        dlib = self._dlib
        parts = detections.native
        if parts is None:
            raise ValueError("dlib alignment needs the detections of the dlib pack")
        shapes = dlib.full_object_detections()
        for p, box in zip(parts, detections.boxes):
            rect = dlib.rectangle(*(int(round(v)) for v in box))
            shapes.append(dlib.full_object_detection(rect, [dlib.point(int(round(x)), int(round(y))) for x, y in p]))
        rgb = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
        chips = dlib.get_face_chips(rgb, shapes, size=CHIP_SIZE, padding=CHIP_PADDING)
        return np.ascontiguousarray(np.stack(chips)[:, :, :, ::-1])

    def embed(self, crops: np.ndarray) -> np.ndarray:
        if len(crops) == 0:
            return np.zeros((0, INFO.dim), np.float32)
        rgb = [np.ascontiguousarray(c[:, :, ::-1]) for c in crops]
        vectors = np.asarray(self._encoder.compute_face_descriptor(rgb), np.float32)
        return l2_normalise(vectors)
