"""Face quality from geometry and pixels: size, sharpness, pose, detector confidence, with reason codes."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

SMALL_FACE = "SMALL_FACE"
BLURRY = "BLURRY"
EXTREME_POSE = "EXTREME_POSE"
LOW_CONFIDENCE = "LOW_CONFIDENCE"

# Thresholds below which a component raises its reason code. Chosen on LFW degradations (docs/accuracy.md).
SMALL_EYE_DISTANCE_PX = 16.0  # ~ a 40 px wide face
GOOD_EYE_DISTANCE_PX = 40.0
BLUR_SHARPNESS = 0.25
POSE_YAW_LIMIT = 0.45  # nose offset from the eye midline, in eye distances
LOW_DETECTION_SCORE = 0.7


@dataclass
class Quality:
    score: np.ndarray  # (n,) in [0, 1]
    size: np.ndarray
    sharpness: np.ndarray
    pose: np.ndarray
    confidence: np.ndarray
    reasons: list[list[str]]


def sharpness(crops: np.ndarray) -> np.ndarray:
    """Normalised Laplacian energy of aligned crops: ~1 for a crisp face, ~0 for a smeared one."""
    if len(crops) == 0:
        return np.zeros((0,), np.float32)
    size = crops.shape[1]
    m = size // 8
    values = np.empty(len(crops), np.float32)
    for i, crop in enumerate(crops):
        grey = cv2.cvtColor(crop[m : size - m, m : size - m], cv2.COLOR_BGR2GRAY)
        grey = cv2.resize(grey, (64, 64), interpolation=cv2.INTER_AREA)
        values[i] = cv2.Laplacian(grey, cv2.CV_32F).var()
    return np.clip(values / 150.0, 0.0, 1.0)


def assess(landmarks: np.ndarray, det_scores: np.ndarray, crops: np.ndarray) -> Quality:
    """Score every face of a batch; landmarks in image pixels (n, 5, 2)."""
    n = landmarks.shape[0]
    eyes_left, eyes_right, nose = landmarks[:, 0], landmarks[:, 1], landmarks[:, 2]
    eye_vec = eyes_right - eyes_left
    eye_dist = np.linalg.norm(eye_vec, axis=1)
    size = np.clip(
        (eye_dist - SMALL_EYE_DISTANCE_PX / 2) / (GOOD_EYE_DISTANCE_PX - SMALL_EYE_DISTANCE_PX / 2), 0, 1
    )
    # Yaw: signed distance of the nose from the perpendicular bisector of the eyes, in eye distances.
    mid = (eyes_left + eyes_right) / 2
    unit = eye_vec / np.maximum(eye_dist, 1e-6)[:, None]
    yaw = np.abs(((nose - mid) * unit).sum(axis=1)) / np.maximum(eye_dist, 1e-6)
    pose = np.clip(1.0 - yaw / (2 * POSE_YAW_LIMIT), 0, 1)
    sharp = sharpness(crops)
    conf = np.clip(det_scores.astype(np.float32), 0, 1)
    score = (size * sharp * pose) ** (1 / 3) * np.minimum(1.0, conf / LOW_DETECTION_SCORE)
    reasons: list[list[str]] = []
    for i in range(n):
        r = []
        if eye_dist[i] < SMALL_EYE_DISTANCE_PX:
            r.append(SMALL_FACE)
        if sharp[i] < BLUR_SHARPNESS:
            r.append(BLURRY)
        if yaw[i] > POSE_YAW_LIMIT:
            r.append(EXTREME_POSE)
        if conf[i] < LOW_DETECTION_SCORE:
            r.append(LOW_CONFIDENCE)
        reasons.append(r)
    f32 = np.float32
    return Quality(score.astype(f32), size.astype(f32), sharp, pose.astype(f32), conf, reasons)
