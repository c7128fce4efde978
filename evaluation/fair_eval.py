"""The evaluation protocols on calibrated values: the FMR a fair calibration gives a pair, as a score.

Every protocol in `protocols` works on "higher is a stronger match" values in [-1, 1]. A calibrated pair is
mapped there by its strength -log10(FMR) in decades: value = strength / 5 - 1 (0 to 10 decades), so the same
histograms, k-fold thresholds and FPIR sweeps apply unchanged, and a target FMR becomes a threshold value.
"""

from __future__ import annotations

import numpy as np

from evaluation.protocols import PairTransform
from facesearch.calibration.fair import FairCalibration

DECADES = 10.0


def to_unit(log_fmr: np.ndarray) -> np.ndarray:
    return np.clip(-np.asarray(log_fmr, np.float64) / (DECADES / 2) - 1.0, -1.0, 1.0)


def unit_threshold(fair: FairCalibration, target_fmr: float) -> float:
    """The value at and above which a pair is decided a match for a target FMR (clamped to the floor)."""
    return float(to_unit(np.asarray(max(fair.decision_level(target_fmr), float(np.log10(fair.fmr_floor))))))


def pair_transform(fair: FairCalibration, emb: np.ndarray) -> PairTransform:
    """Calibrated values of image pairs of one embedded set; each face's centroid similarities are computed
    once, the pair's cluster from them (cheap even for the 87 million pairs of LFW)."""
    proj = fair.project(emb)
    clusters = np.argmax(proj, axis=1)

    def transform(sims: np.ndarray, ia: np.ndarray, ib: np.ndarray) -> np.ndarray:
        if fair.pair_mode == "midpoint":
            a, b = np.broadcast_arrays(ia, ib)
            out = np.empty(np.shape(sims))
            flat_a, flat_b, flat_s = a.reshape(-1), b.reshape(-1), np.asarray(sims).reshape(-1)
            res = out.reshape(-1)
            for s in range(0, len(flat_s), 200_000):
                sl = slice(s, s + 200_000)
                res[sl] = fair.log_fmr_projected(proj[flat_a[sl]], proj[flat_b[sl]], flat_s[sl])
            return to_unit(out)
        ca, cb = clusters[ia], clusters[ib]
        if fair.pair_mode == "same":
            return to_unit(fair.log_fmr_clusters(np.where(ca == cb, ca, fair.clusters), None, sims))
        return to_unit(fair.log_fmr_clusters(ca, cb, sims))

    return transform
