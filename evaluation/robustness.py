"""Controlled probe degradations for the robustness report: the 1:N run again with each probe degraded.

Each degradation is a function (image, clean face box, clean landmarks) -> image, so a size change can be
expressed in face pixels (the clean run's box) and an occlusion placed on the lower face.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

Degrade = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Degradation:
    kind: str
    level: str
    fn: Degrade

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.level}"


def _face_width(img: np.ndarray, box: np.ndarray) -> float:
    w = float(box[2] - box[0])
    return w if w > 4 else 0.4 * img.shape[1]  # no clean box: LFW-like framing


def downscale(face_px: int) -> Degrade:
    """Shrink the whole photo so the face is `face_px` wide (a small face in a small photo)."""

    def fn(img: np.ndarray, box: np.ndarray, _lm: np.ndarray) -> np.ndarray:
        s = min(1.0, face_px / _face_width(img, box))
        size = (max(1, round(img.shape[1] * s)), max(1, round(img.shape[0] * s)))
        return cv2.resize(img, size, interpolation=cv2.INTER_AREA)

    return fn


def blur(sigma_face_fraction: float) -> Degrade:
    """Gaussian blur with sigma a fraction of the face width (so it means the same at any photo size)."""

    def fn(img: np.ndarray, box: np.ndarray, _lm: np.ndarray) -> np.ndarray:
        sigma = max(0.3, sigma_face_fraction * _face_width(img, box))
        return cv2.GaussianBlur(img, (0, 0), sigma)

    return fn


def jpeg(quality: int) -> Degrade:
    def fn(img: np.ndarray, _box: np.ndarray, _lm: np.ndarray) -> np.ndarray:
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])
        decoded = cv2.imdecode(buf, cv2.IMREAD_COLOR) if ok else None
        return img if decoded is None else np.asarray(decoded)

    return fn


def brightness_contrast(gain: float, bias: float) -> Degrade:
    """out = gain * (in - mean) + mean * brightness; gain < 1 flattens contrast, bias scales brightness."""

    def fn(img: np.ndarray, _box: np.ndarray, _lm: np.ndarray) -> np.ndarray:
        f = img.astype(np.float32)
        mean = f.mean()
        out: np.ndarray = np.clip(gain * (f - mean) + mean * bias, 0, 255).astype(np.uint8)
        return out

    return fn


def rotate(degrees: float) -> Degrade:
    """In-plane rotation about the face centre, same canvas, border replicated (no black wedge to detect)."""

    def fn(img: np.ndarray, box: np.ndarray, _lm: np.ndarray) -> np.ndarray:
        h, w = img.shape[:2]
        c = ((box[0] + box[2]) / 2, (box[1] + box[3]) / 2) if box[2] > box[0] else (w / 2, h / 2)
        m = cv2.getRotationMatrix2D((float(c[0]), float(c[1])), degrees, 1.0)
        return cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)

    return fn


def hflip() -> Degrade:
    def fn(img: np.ndarray, _box: np.ndarray, _lm: np.ndarray) -> np.ndarray:
        return img[:, ::-1]

    return fn


def occlude_lower() -> Degrade:
    """A flat grey mask over the lower face: from the nose tip down to the box bottom (a surgical mask)."""

    def fn(img: np.ndarray, box: np.ndarray, lm: np.ndarray) -> np.ndarray:
        out = img.copy()
        h, w = img.shape[:2]
        if box[2] > box[0]:
            x1, x2, y2 = int(box[0]), int(np.ceil(box[2])), int(np.ceil(box[3]))
            y1 = int(lm[2, 1])  # nose tip
        else:
            x1, x2, y1, y2 = int(0.3 * w), int(0.7 * w), int(0.5 * h), int(0.75 * h)
        out[max(0, y1) : min(h, y2), max(0, x1) : min(w, x2)] = 128
        return out

    return fn


def standard() -> list[Degradation]:
    """The issue's list, in controlled steps."""
    return [
        Degradation("downscale", "face 80 px", downscale(80)),
        Degradation("downscale", "face 40 px", downscale(40)),
        Degradation("downscale", "face 24 px", downscale(24)),
        Degradation("blur", "sigma 2% of face", blur(0.02)),
        Degradation("blur", "sigma 5% of face", blur(0.05)),
        Degradation("jpeg", "quality 20", jpeg(20)),
        Degradation("brightness", "dark x0.35", brightness_contrast(0.35, 0.35)),
        Degradation("contrast", "contrast x0.3", brightness_contrast(0.3, 1.0)),
        Degradation("rotation", "20 deg", rotate(20)),
        Degradation("rotation", "40 deg", rotate(40)),
        Degradation("flip", "horizontal", hflip()),
        Degradation("occlusion", "lower face", occlude_lower()),
    ]
