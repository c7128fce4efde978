"""Error rates from score arrays: ROC/DET, k-fold accuracy, open-set identification, confidence intervals.

Everything takes whole arrays (scores of all pairs, or a probe x gallery similarity matrix) and is
vectorised: sorting and searchsorted instead of loops over pairs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


def wilson(k: int | np.ndarray, n: int | np.ndarray, z: float = 1.96) -> tuple[np.ndarray, np.ndarray]:
    """95% Wilson score interval for a proportion k/n; well behaved at k = 0 (rule-of-three-like upper bound).

    It treats the n trials as independent. Pairs sharing a person are not, so for pair rates the interval is a
    lower bound on the real uncertainty (docs/accuracy.md says so).
    """
    k = np.asarray(k, np.float64)
    n = np.maximum(np.asarray(n, np.float64), 1e-12)
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return np.maximum(centre - half, 0.0), np.minimum(centre + half, 1.0)


def rate_ci(k: int, n: int) -> dict[str, float | int | list[float] | None]:
    if n == 0:
        return {"value": None, "k": 0, "n": 0, "ci95": None}
    lo, hi = wilson(k, n)
    return {"value": k / n, "k": int(k), "n": int(n), "ci95": [float(lo), float(hi)]}


def fmr_fnmr(genuine: np.ndarray, impostor: np.ndarray, thresholds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """FMR = share of impostor scores >= t; FNMR = share of genuine scores < t, at each threshold."""
    g = np.sort(genuine)
    i = np.sort(impostor)
    t = np.asarray(thresholds, np.float64)
    # (n - below) / n, not 1 - below / n: exact at the rates a target is compared with.
    fmr = (len(i) - np.searchsorted(i, t, side="left")) / max(len(i), 1)
    fnmr = np.searchsorted(g, t, side="left") / max(len(g), 1)
    return fmr, fnmr


def roc(genuine: np.ndarray, impostor: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(thresholds, FMR, TAR) at every distinct score, thresholds descending (FMR rising)."""
    t = np.unique(np.concatenate([genuine, impostor, [np.inf]]))[::-1]
    fmr, fnmr = fmr_fnmr(genuine, impostor, t)
    return t, fmr, 1.0 - fnmr


def threshold_at_fmr(impostor: np.ndarray, target: float) -> float:
    """Lowest threshold whose FMR is at most the target: just above the k-th highest impostor score."""
    imp = np.sort(np.asarray(impostor, np.float64))[::-1]
    k = int(np.floor(target * len(imp)))  # how many impostors may score at or above the threshold
    if k >= len(imp):
        return float(imp[-1])
    return float(np.nextafter(imp[k], np.inf))


def tar_at_far(genuine: np.ndarray, impostor: np.ndarray, targets: tuple[float, ...]) -> dict[str, dict[str, Any]]:
    """TAR at each FAR target; a target below 1/len(impostor) cannot be measured and is marked as such."""
    out: dict[str, dict[str, Any]] = {}
    for far in targets:
        key = f"{far:g}"
        if far * len(impostor) < 1:
            out[key] = {"tar": None, "threshold": None, "note": f"not measurable: only {len(impostor)} impostor pairs"}
            continue
        t = threshold_at_fmr(impostor, far)
        fmr, fnmr = fmr_fnmr(genuine, impostor, np.array([t]))
        out[key] = {"tar": float(1 - fnmr[0]), "threshold": t, "far": float(fmr[0])}
    return out


def best_threshold(scores: np.ndarray, same: np.ndarray) -> float:
    """Threshold maximising accuracy on (scores, same): tried between every pair of consecutive scores."""
    order = np.argsort(scores)
    s, y = scores[order], same[order]
    # Deciding "same" for scores >= s[k]: correct = impostors below k + genuines from k on.
    imp_below = np.concatenate([[0], np.cumsum(~y)])
    gen_from = np.concatenate([np.cumsum(y[::-1])[::-1], [0]])
    correct = imp_below + gen_from
    k = int(np.argmax(correct))
    if k == 0:
        return float(s[0] - 1e-6)
    if k == len(s):
        return float(s[-1] + 1e-6)
    return float((s[k - 1] + s[k]) / 2)


def kfold_accuracy(scores: np.ndarray, same: np.ndarray, fold: np.ndarray, valid: np.ndarray) -> dict[str, object]:
    """LFW View 2 protocol: the threshold is picked on 9 folds, accuracy measured on the 10th.

    `valid` is False for pairs where a face was not found in one image: they count as errors on the test
    fold (the pipeline gave no answer) and are left out of threshold selection.
    """
    folds = np.unique(fold)
    accs, thresholds = [], []
    for f in folds:
        train = (fold != f) & valid
        test = fold == f
        t = best_threshold(scores[train], same[train])
        correct = ((scores[test] >= t) == same[test]) & valid[test]
        accs.append(float(correct.mean()))
        thresholds.append(t)
    a = np.asarray(accs)
    return {
        "mean": float(a.mean()),
        "std": float(a.std()),
        "folds": accs,
        "thresholds": thresholds,
        "failed_pairs": int((~valid).sum()),
    }


@dataclass
class OpenSet:
    """Result of searching every probe against the gallery, reduced to what the metrics need."""

    mated_rank: np.ndarray  # (m,) 1-based rank of the mate among gallery scores; 0 = no result (no face found)
    mated_score: np.ndarray  # (m,) score of the mate (-inf when no face)
    mated_top: np.ndarray  # (m,) best gallery score of the mated probe (-inf when no face)
    nonmated_top: np.ndarray  # (k,) best gallery score of each non-mated probe (-inf when no face)
    gallery_size: int

    def rank_k(self, k: int) -> float:
        if len(self.mated_rank) == 0:
            return float("nan")
        return float(((self.mated_rank >= 1) & (self.mated_rank <= k)).mean())

    def fpir(self, t: float | np.ndarray) -> np.ndarray:
        top = np.sort(self.nonmated_top)
        return (len(top) - np.searchsorted(top, np.asarray(t, np.float64), side="left")) / max(len(top), 1)

    def fnir(self, t: float | np.ndarray) -> np.ndarray:
        """Share of mated probes whose mate is not returned at rank 1 with a score >= t."""
        hit = self.mated_rank == 1
        s = np.sort(np.where(hit, self.mated_score, -np.inf))
        return np.searchsorted(s, np.asarray(t, np.float64), side="left") / max(len(s), 1)

    def threshold_at_fpir(self, target: float) -> float:
        return threshold_at_fmr(self.nonmated_top, target) if len(self.nonmated_top) else float("inf")

    def tpir_at_fpir(self, targets: tuple[float, ...]) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for fpir in targets:
            key = f"{fpir:g}"
            if fpir * len(self.nonmated_top) < 1:
                out[key] = {
                    "tpir": None,
                    "threshold": None,
                    "note": f"not measurable: only {len(self.nonmated_top)} non-mated probes",
                }
                continue
            t = self.threshold_at_fpir(fpir)
            out[key] = {"tpir": float(1 - self.fnir(t)), "threshold": t, "fpir": float(self.fpir(t))}
        return out

    def det(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(thresholds, FPIR, FNIR) over every non-mated top score."""
        t = np.unique(np.concatenate([self.nonmated_top[np.isfinite(self.nonmated_top)], [np.inf]]))[::-1]
        return t, self.fpir(t), self.fnir(t)

    def subset(self, mated: np.ndarray, nonmated: np.ndarray) -> OpenSet:
        return OpenSet(
            self.mated_rank[mated],
            self.mated_score[mated],
            self.mated_top[mated],
            self.nonmated_top[nonmated],
            self.gallery_size,
        )


def open_set_search(
    gallery: np.ndarray,
    gallery_ids: np.ndarray,
    probes: np.ndarray,
    probe_ok: np.ndarray,
    probe_ids: np.ndarray,
    mated: np.ndarray,
    block: int = 4096,
) -> OpenSet:
    """Exact search of every probe against the gallery (matrix products in blocks).

    gallery_ids / probe_ids are integer identity codes; `mated` says which probes have a mate in the gallery.
    """
    n = len(probes)
    top = np.full(n, -np.inf)
    mate_score = np.full(n, -np.inf)
    rank = np.zeros(n, np.int64)
    for s in range(0, n, block):
        e = slice(s, min(n, s + block))
        sims = probes[e] @ gallery.T  # (b, G)
        top[e] = sims.max(axis=1)
        same = gallery_ids[None, :] == probe_ids[e, None]
        has = same.any(axis=1)
        ms = np.where(same, sims, -np.inf).max(axis=1)
        mate_score[e] = np.where(has, ms, -np.inf)
        # Rank = 1 + gallery entries of other people scoring strictly above the mate.
        rank[e] = np.where(has, 1 + ((sims > ms[:, None]) & ~same).sum(axis=1), 0)
    ok = probe_ok.astype(bool)
    top[~ok] = -np.inf
    mate_score[~ok] = -np.inf
    rank[~ok] = 0
    return OpenSet(rank[mated], mate_score[mated], top[mated], top[~mated], int(len(gallery)))
