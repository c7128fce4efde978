"""Confidence intervals that respect identities: resample people, not pairs.

Pairs that share a person are not independent (one person with a look-alike makes many false matches), so a
Wilson interval over pairs is too narrow. Here each replicate draws the identities with replacement (a
multinomial weight per identity); a pair of images weighs the product of its two people's weights, a probe
or a genuine pair its person's weight. Rates are ratios of weighted counts, computed for all replicates at
once with matrix products.
"""

from __future__ import annotations

from typing import Any

import numpy as np

REPLICATES = 1000


def identity_weights(n_ids: int, replicates: int = REPLICATES, seed: int = 0) -> np.ndarray:
    """(replicates, n_ids) counts: how often each identity is drawn in each replicate."""
    rng = np.random.default_rng(seed)
    return rng.multinomial(n_ids, np.full(n_ids, 1.0 / n_ids), size=replicates).astype(np.float64)


def ci(values: np.ndarray) -> list[float] | None:
    v = np.asarray(values, np.float64)
    v = v[np.isfinite(v)]
    if len(v) == 0:
        return None
    return [float(np.percentile(v, 2.5)), float(np.percentile(v, 97.5))]


def unit_rate(w: np.ndarray, ident: np.ndarray, success: np.ndarray) -> np.ndarray:
    """Per replicate: weighted share of units (probes or genuine pairs, each of one identity) that succeed."""
    k = np.bincount(ident, weights=success.astype(np.float64), minlength=w.shape[1])
    n = np.bincount(ident, minlength=w.shape[1]).astype(np.float64)
    den = w @ n
    return np.where(den > 0, (w @ k) / np.maximum(den, 1e-12), np.nan)


def impostor_rate(w: np.ndarray, img_ident: np.ndarray, fm_a: np.ndarray, fm_b: np.ndarray) -> np.ndarray:
    """Per replicate: weighted FMR over all impostor pairs among the given images.

    img_ident: identity of every image taking part (images of the group); fm_a, fm_b: identities of the two
    images of each false match. Impostor pairs between identities a != b weigh w_a w_b; their weighted count
    over all images is (S^2 - sum_a (w_a c_a)^2) / 2 with c_a the images of identity a and S = sum w_a c_a.
    """
    c = np.bincount(img_ident, minlength=w.shape[1]).astype(np.float64)
    s = w @ c
    den = (s * s - (w * w) @ (c * c)) / 2.0
    num = np.zeros(w.shape[0])
    for start in range(0, len(fm_a), 20000):
        a, b = fm_a[start : start + 20000], fm_b[start : start + 20000]
        num += (w[:, a] * w[:, b]).sum(axis=1)
    return np.where(den > 0, num / np.maximum(den, 1e-12), np.nan)


def summary(values: np.ndarray, point: float | None) -> dict[str, Any]:
    return {"value": point, "ci95": ci(values), "replicates": int(len(values))}
