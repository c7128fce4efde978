"""Face quality from geometry and pixels: size, sharpness, pose, detector confidence, with reason codes."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

import cv2
import numpy as np

SMALL_FACE = "SMALL_FACE"
BLURRY = "BLURRY"
EXTREME_POSE = "EXTREME_POSE"
LOW_CONFIDENCE = "LOW_CONFIDENCE"

# Thresholds below which a component raises its reason code, chosen on LFW probes degraded in controlled
# steps with the yunet-reid pack (docs/accuracy.md, "Quality gate"): rank-1 stays at 95-98% down to an eye
# distance of 8 px (a face ~20 px wide) and falls to 75% below it; it falls from 92% to 45-77% once the
# normalised sharpness drops under 0.25 (Gaussian blur of ~5% of the face width).
SMALL_EYE_DISTANCE_PX = 8.0  # ~ a 20 px wide face
GOOD_EYE_DISTANCE_PX = 24.0  # ~ a 60 px wide face: no measurable loss above it
BLUR_SHARPNESS = 0.25
SHARP_REFERENCE = 0.08  # raw sharpness of a crisp face (LFW clean median 0.14, 10th percentile 0.07)
POSE_YAW_LIMIT = 0.45  # nose offset from the eye midline, in eye distances
LOW_DETECTION_SCORE = 0.7
# Each component is mapped so that its reason threshold lands on this value; the score is the weakest
# component, so a face scores below FACESEARCH_PROBE_MIN_QUALITY (default 0.25) exactly when it is
# SMALL_FACE, BLURRY or EXTREME_POSE (or nearly so with a low detector confidence).
REASON_LEVEL = 0.25


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
    out: np.ndarray = np.clip(np.asarray(raw, np.float32) / SHARP_REFERENCE, 0.0, 1.0)
    return out


def assess(landmarks: np.ndarray, det_scores: np.ndarray, crops: np.ndarray) -> Quality:
    """Score every face of a batch; landmarks in image pixels (n, 5, 2)."""
    return from_components(landmarks, det_scores, sharpness_raw(crops))


def from_components(landmarks: np.ndarray, det_scores: np.ndarray, sharp_raw: np.ndarray) -> Quality:
    """Quality from landmarks, detector scores and raw sharpness; evaluation re-scores cached faces with it."""
    n = landmarks.shape[0]
    eyes_left, eyes_right, nose = landmarks[:, 0], landmarks[:, 1], landmarks[:, 2]
    eye_vec = eyes_right - eyes_left
    eye_dist = np.linalg.norm(eye_vec, axis=1)
    size = np.interp(eye_dist, [0.0, SMALL_EYE_DISTANCE_PX, GOOD_EYE_DISTANCE_PX], [0.0, REASON_LEVEL, 1.0])
    # Yaw: signed distance of the nose from the perpendicular bisector of the eyes, in eye distances.
    mid = (eyes_left + eyes_right) / 2
    unit = eye_vec / np.maximum(eye_dist, 1e-6)[:, None]
    yaw = np.abs(((nose - mid) * unit).sum(axis=1)) / np.maximum(eye_dist, 1e-6)
    pose = np.interp(yaw, [0.0, POSE_YAW_LIMIT, 2 * POSE_YAW_LIMIT], [1.0, REASON_LEVEL, 0.0])
    sharp = normalise_sharpness(sharp_raw)
    conf = np.clip(np.asarray(det_scores, np.float32), 0, 1)
    # The weakest component decides: a sharp face does not make up for a smeared one (a geometric mean let
    # faces with rank-1 below 50% through the gate).
    score = np.minimum(np.minimum(size, sharp), pose) * np.minimum(1.0, conf / LOW_DETECTION_SCORE)
    small = eye_dist < SMALL_EYE_DISTANCE_PX
    blurry = sharp < BLUR_SHARPNESS
    extreme = yaw > POSE_YAW_LIMIT
    low = conf < LOW_DETECTION_SCORE
    reasons: list[list[str]] = [
        [
            code
            for code, flag in (
                (SMALL_FACE, small[i]),
                (BLURRY, blurry[i]),
                (EXTREME_POSE, extreme[i]),
                (LOW_CONFIDENCE, low[i]),
            )
            if flag
        ]
        for i in range(n)
    ]
    f32 = np.float32
    return Quality(score.astype(f32), size.astype(f32), sharp, pose.astype(f32), conf, reasons)


@dataclass(frozen=True)
class GateVerdict:
    """What the probe quality gate says about one face: searched or refused, and whether it is below the bar."""

    refused: bool  # refused unless forced
    below: bool  # quality under the bar (searched only with a warning, or forced)


def gate(quality: float, reasons: list[str], min_quality: float, refusing: Collection[str]) -> GateVerdict:
    """The probe gate. A face at or above `min_quality` passes. Below it, a face is refused when one of its
    reasons is `refusing` (FACESEARCH_PROBE_REFUSE_REASONS: the reasons whose refused probes were measured to be
    found at rank 1 clearly less often, docs/accuracy.md "Quality gate by reason"), or when it has no reason
    at all (a low score alone: nothing measured excuses it); a face whose every reason is measured not to
    predict errors (a three-quarter pose, say) is searched, with a warning."""
    if quality >= min_quality:
        return GateVerdict(refused=False, below=False)
    return GateVerdict(refused=not reasons or any(r in refusing for r in reasons), below=True)
