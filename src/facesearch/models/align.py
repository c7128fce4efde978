"""Five-point similarity alignment to the ArcFace template."""

from __future__ import annotations

import cv2
import numpy as np

# ArcFace's 112x112 template: viewer's-left eye, right eye, nose tip, left and right mouth corners.
ARCFACE_112 = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]],
    dtype=np.float32,
)


def template(size: int) -> np.ndarray:
    return ARCFACE_112 * (size / 112.0)


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity (rotation, uniform scale, translation) mapping src onto dst (Umeyama)."""
    src = np.asarray(src, np.float64)
    dst = np.asarray(dst, np.float64)
    n = src.shape[0]
    mu_s, mu_d = src.mean(0), dst.mean(0)
    sc, dc = src - mu_s, dst - mu_d
    cov = dc.T @ sc / n
    u, s, vt = np.linalg.svd(cov)
    d = np.ones(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        d[-1] = -1
    rot = u @ np.diag(d) @ vt
    var_s = (sc**2).sum() / n
    scale = float((s * d).sum() / var_s) if var_s > 0 else 1.0
    t = mu_d - scale * rot @ mu_s
    m = np.zeros((2, 3))
    m[:, :2] = scale * rot
    m[:, 2] = t
    return m


def align_faces(image: np.ndarray, landmarks: np.ndarray, size: int) -> np.ndarray:
    """Warp each face so its five landmarks sit on the template: (n, size, size, 3) uint8."""
    dst = template(size)
    out = np.empty((landmarks.shape[0], size, size, 3), np.uint8)
    for i, points in enumerate(landmarks):
        m = similarity_transform(points, dst)
        out[i] = cv2.warpAffine(image, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return out
