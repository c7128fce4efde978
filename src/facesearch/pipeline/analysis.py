"""Images -> faces: detect each image, align, score quality, and embed the whole batch in one call."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..models import quality as quality_mod
from ..models.base import Detections, ModelPack

THUMB_SIZE = 112
THUMB_MARGIN = 0.25


@dataclass
class FaceSet:
    """Every face of one image; rows line up across the arrays."""

    boxes: np.ndarray  # (n, 4)
    landmarks: np.ndarray  # (n, 5, 2)
    det_scores: np.ndarray  # (n,)
    quality: np.ndarray  # (n,)
    reasons: list[list[str]]
    embeddings: np.ndarray  # (n, dim)
    image_size: tuple[int, int]  # (width, height)

    def __len__(self) -> int:
        return int(self.boxes.shape[0])

    def largest(self) -> int:
        widths = self.boxes[:, 2] - self.boxes[:, 0]
        heights = self.boxes[:, 3] - self.boxes[:, 1]
        return int(np.argmax(widths * heights))


def filter_detections(det: Detections, min_face_px: int, min_score: float) -> Detections:
    if len(det) == 0:
        return det
    width = det.boxes[:, 2] - det.boxes[:, 0]
    height = det.boxes[:, 3] - det.boxes[:, 1]
    keep = (np.minimum(width, height) >= min_face_px) & (det.scores >= min_score)
    return det.take(np.flatnonzero(keep))


def analyze(pack: ModelPack, images: list[np.ndarray], min_face_px: int = 20, min_score: float = 0.6) -> list[FaceSet]:
    """Run the whole pack over a batch of images; one embedding call for all faces of the batch."""
    detections = [filter_detections(pack.detect(img), min_face_px, min_score) for img in images]
    crops = [pack.align(img, det) for img, det in zip(images, detections)]
    all_crops = np.concatenate(crops) if crops else np.zeros((0, 1, 1, 3), np.uint8)
    embeddings = pack.embed(all_crops) if len(all_crops) else np.zeros((0, pack.info.dim), np.float32)
    result = []
    start = 0
    for img, det, crop in zip(images, detections, crops):
        n = len(det)
        q = quality_mod.assess(det.landmarks, det.scores, crop)
        result.append(
            FaceSet(
                det.boxes,
                det.landmarks,
                det.scores,
                q.score,
                q.reasons,
                embeddings[start : start + n],
                (img.shape[1], img.shape[0]),
            )
        )
        start += n
    return result


def thumbnail_jpeg(image: np.ndarray, box: np.ndarray, size: int = THUMB_SIZE, quality: int = 85) -> bytes:
    """A square crop around the face box with a margin, as JPEG bytes."""
    h, w = image.shape[:2]
    x1, y1, x2, y2 = (float(v) for v in box)
    side = max(x2 - x1, y2 - y1) * (1 + 2 * THUMB_MARGIN)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    left, top = int(max(0, cx - side / 2)), int(max(0, cy - side / 2))
    right, bottom = int(min(w, cx + side / 2)), int(min(h, cy + side / 2))
    crop = image[top : max(bottom, top + 1), left : max(right, left + 1)]
    scale = size / max(crop.shape[:2])
    crop = cv2.resize(
        crop, (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale))), interpolation=cv2.INTER_AREA
    )
    ok, buf = cv2.imencode(".jpg", crop, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:  # pragma: no cover - imencode only fails on empty input
        raise ValueError("thumbnail encoding failed")
    return buf.tobytes()
