"""The face-analysis protocol every model pack implements: detect -> align -> embed, arrays in and out."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import cv2
import numpy as np


@dataclass
class Detections:
    """Faces found in one image, in that image's pixel coordinates."""

    boxes: np.ndarray  # (n, 4) float32: x1, y1, x2, y2
    landmarks: np.ndarray  # (n, 5, 2) float32: eye, eye, nose, mouth corner, mouth corner (viewer's left first)
    scores: np.ndarray  # (n,) float32 detector confidence in [0, 1]
    native: np.ndarray | None = None  # (n, k, 2) the pack's own landmarks, when its aligner needs them

    @classmethod
    def empty(cls) -> Detections:
        return cls(np.zeros((0, 4), np.float32), np.zeros((0, 5, 2), np.float32), np.zeros((0,), np.float32))

    def __len__(self) -> int:
        return int(self.boxes.shape[0])

    def take(self, keep: np.ndarray) -> Detections:
        native = None if self.native is None else self.native[keep]
        return Detections(self.boxes[keep], self.landmarks[keep], self.scores[keep], native)


@dataclass
class PackInfo:
    name: str
    version: str
    dim: int
    description: str
    licence: str
    files: dict[str, str] = field(default_factory=dict)  # relative path -> sha256
    multithreaded: bool = False  # its runtimes use several cores in one process (else: use processes)
    gpu: bool = False  # its runtime runs on a GPU where one is present (a cluster actor then asks for one)


class ModelPack(Protocol):
    """A detector, an aligner and an embedder that belong together.

    Embeddings are only comparable within one pack; collections are pinned to the pack that built them.
    """

    info: PackInfo

    def detect(self, image: np.ndarray) -> Detections:
        """Find faces in one BGR uint8 image."""
        ...

    def align(self, image: np.ndarray, detections: Detections) -> np.ndarray:
        """Aligned face crops (n, S, S, 3) uint8 BGR, in the embedder's input geometry."""
        ...

    def embed(self, crops: np.ndarray) -> np.ndarray:
        """L2-normalised embeddings (n, dim) float32 for a batch of aligned crops."""
        ...


def l2_normalise(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    out: np.ndarray = vectors / np.maximum(norms, 1e-12)
    return out


def downscale(image: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    """A copy whose longest side is at most max_side, and the scale used (1.0: the image itself).

    Area averaging is the right filter for a big reduction but slow (49 ms from 12 MP), so the bulk of a big
    reduction is done by a cheap linear resize to twice the target, and only the last 2x by area. A reduction
    of at most 2x (a web photo of up to 1,280 px) is linear alone: bilinear sampling then skips no pixel row
    whole, and it costs a fifth of area averaging's 1.1 ms at 1,024 px (on 218 such real photos, the same
    faces at the same places but one landmark of one face, tests/models/test_downscale.py).
    """
    h, w = image.shape[:2]
    scale = min(1.0, max_side / max(h, w))
    if scale == 1.0:
        return image, 1.0
    size = (round(w * scale), round(h * scale))
    if scale >= 0.5:
        return cv2.resize(image, size, interpolation=cv2.INTER_LINEAR), scale
    if scale < 0.25:
        image = cv2.resize(image, (round(w * scale * 2), round(h * scale * 2)), interpolation=cv2.INTER_LINEAR)
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA), scale
