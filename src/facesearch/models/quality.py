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
SHARP_REFERENCE = 0.08  # raw sharpness of a crisp face (LFW clean median 0.14, 10th percentile 0.07)
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


def sharpness_raw(crops: np.ndarray) -> np.ndarray:
    """Laplacian energy of aligned crops relative to their grey-level variance.

    Dividing by the variance makes the measure blind to brightness and contrast (a dark or flat photo is
    not a blurred one; the unnormalised energy flagged most dark faces BLURRY), while blur lowers it about
    tenfold at a sigma of 5% of the face width (LFW, see docs/accuracy.md). The +25 keeps flat crops finite.
    """
    if len(crops) == 0:
        return np.zeros((0,), np.float32)
    size = crops.shape[1]
    m = size // 8
    values = np.empty(len(crops), np.float32)
    for i, crop in enumerate(crops):
        grey = cv2.cvtColor(crop[m : size - m, m : size - m], cv2.COLOR_BGR2GRAY)
        grey = cv2.resize(grey, (64, 64), interpolation=cv2.INTER_AREA).astype(np.float32)
        values[i] = cv2.Laplacian(grey, cv2.CV_32F).var() / (grey.var() + 25.0)
    return values


def sharpness(crops: np.ndarray) -> np.ndarray:
    """~1 for a crisp face, ~0 for a smeared one."""
    return normalise_sharpness(sharpness_raw(crops))


def normalise_sharpness(raw: np.ndarray) -> np.ndarray:
    return np.clip(np.asarray(raw, np.float32) / SHARP_REFERENCE, 0.0, 1.0)


def assess(landmarks: np.ndarray, det_scores: np.ndarray, crops: np.ndarray) -> Quality:
    """Score every face of a batch; landmarks in image pixels (n, 5, 2)."""
    return from_components(landmarks, det_scores, sharpness_raw(crops))


def from_components(landmarks: np.ndarray, det_scores: np.ndarray, sharp_raw: np.ndarray) -> Quality:
    """Quality from landmarks, detector scores and raw sharpness; evaluation re-scores cached faces with it."""
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
    sharp = normalise_sharpness(sharp_raw)
    conf = np.clip(np.asarray(det_scores, np.float32), 0, 1)
    score = (size * sharp * pose) ** (1 / 3) * np.minimum(1.0, conf / LOW_DETECTION_SCORE)
    small = eye_dist < SMALL_EYE_DISTANCE_PX
    blurry = sharp < BLUR_SHARPNESS
    extreme = yaw > POSE_YAW_LIMIT
    low = conf < LOW_DETECTION_SCORE
    reasons: list[list[str]] = [
        [code for code, flag in ((SMALL_FACE, small[i]), (BLURRY, blurry[i]), (EXTREME_POSE, extreme[i]),
                                 (LOW_CONFIDENCE, low[i])) if flag]
        for i in range(n)
    ]
    f32 = np.float32
    return Quality(score.astype(f32), size.astype(f32), sharp, pose.astype(f32), conf, reasons)
