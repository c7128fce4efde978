"""Comparing two detectors' answers: the same clear faces at nearly the same places."""

from __future__ import annotations

import numpy as np


def close_detections(got: np.ndarray, expected: np.ndarray, label: str) -> None:
    """Every clear face (score >= 0.7) of one found by the other, box IoU >= 0.9, landmarks within 3% of
    the face's width, score within 0.05; faces near the 0.6 threshold may be on either side of it."""
    for a, b in ((got, expected), (expected, got)):
        for face in a[a[:, 14] >= 0.7]:
            x1, y1 = np.maximum(face[0:2], b[:, 0:2]).T
            x2, y2 = np.minimum(face[0:2] + face[2:4], b[:, 0:2] + b[:, 2:4]).T
            inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
            iou = inter / (face[2] * face[3] + b[:, 2] * b[:, 3] - inter)
            j = int(np.argmax(iou)) if len(b) else -1
            assert j >= 0 and iou[j] >= 0.9, f"{label}: a face at {face[:4]} not found by the other"
            assert np.abs(face[4:14] - b[j, 4:14]).max() <= 0.03 * face[2], f"{label}: landmarks {face}, {b[j]}"
            assert abs(face[14] - b[j, 14]) <= 0.05, label
