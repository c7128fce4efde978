"""Label-free fair calibration: a pair's false-match rate from the score *and* where both faces sit.

One global score -> FMR table (calibration.py) describes the average impostor pair. Some kinds of face
(in LFW: women, people labelled african) have heavier impostor tails: at the same score, two different
people of that kind match far more often. Group labels cannot be used at search time (facesearch never infers
or stores them), so this module follows FairCal (Salvador et al., ICLR 2022): k-means over the embeddings of a
calibration set splits face space into clusters, each cluster gets its own score -> FMR curve from the
impostor pairs that involve one of its faces, and a pair's value combines the curves of both faces' clusters
(the mean of the two log-FMRs), mapped once more onto the calibration set's overall FMR so the number keeps
its meaning ("share of impostor pairs at least this strong"). Where a cluster has too few impostor pairs to
resolve a rate (fewer than `min_errors` above it), its curve is the global one shifted by the cluster's
offset at the lowest rate it resolves.

The score shown to users stays the model's cosine score; the false-match rate and the threshold decision use
the calibrated value. The data (centroids and per-cluster curves) is shipped per pack beside the calibration
table as `models/calibration/<pack>.faircal.json` (docs/calibration.md).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import FacesearchError

FAIR_FORMAT = "facesearch-faircal"
FAIR_VERSION = 1
GRID = 4001  # score grid on [-1, 1] (5e-4 apart) on which each cluster's curve is tabulated at load time
MIN_ERRORS = 10  # a rate is read from a cluster's own pairs where at least this many of them match


@dataclass
class FairCalibration:
    pack: str
    model_version: str
    dataset: str
    method: str
    created: str
    clusters: int
    seed: int
    centroids: list[list[float]]  # (K, d), unit length
    levels: list[float]  # log10 FMR levels, descending from 0
    cluster_thresholds: list[list[float]]  # (K, J): score at which cluster k's impostor FMR falls to each level
    combined_x: list[float]  # ascending mean-of-log-FMR values ...
    combined_log_fmr: list[float]  # ... and the overall log10 FMR of calibration impostor pairs at or below them
    n_impostor: int
    n_genuine: int
    cluster_sizes: list[int] = field(default_factory=list)
    cluster_impostor_pairs: list[int] = field(default_factory=list)
    min_errors: int = MIN_ERRORS
    pair_mode: str = "same"  # see docs/calibration.md: "same", "both" (FairCal as published) or "midpoint"
    # Out-of-sample correction (>= 1): per-cluster tails fitted on a set look rarer on it than on new faces;
    # measured by cross-fitting on halves of the calibration identities, it multiplies every calibrated FMR.
    margin: float = 1.0
    # Decisions: thresholds are chosen so that impostor pairs of look-alike people (both faces in one coarse
    # cluster of `decision_clusters`) meet the target, the way the score table's worst-group policy makes the
    # worst group meet it, but without labels. The FMR shown stays the all-pairs rate (combined_*).
    decision_clusters: int = 0
    decision_x: list[float] = field(default_factory=list)
    decision_log_fmr: list[float] = field(default_factory=list)
    format: str = FAIR_FORMAT
    version: int = FAIR_VERSION
    fit: dict[str, Any] = field(default_factory=dict)  # what the fit measured on its own set (for the docs)

    def __post_init__(self) -> None:
        self._c = np.asarray(self.centroids, np.float32)
        lv = np.asarray(self.levels, np.float64)
        th = np.maximum.accumulate(np.asarray(self.cluster_thresholds, np.float64), axis=1)
        grid = np.linspace(-1.0, 1.0, GRID)
        # Dense per-cluster log-FMR over the score grid: lookups become one gather, whatever the batch. Above
        # a curve's last level it goes on falling at the slope of its last decade, so that strong pairs are
        # never tied at the floor (ranking and FPIR sweeps need them ordered).
        span = min(len(lv) - 1, max(1, int(round(1.0 / max(lv[0] - lv[1], 1e-9))))) if len(lv) > 1 else 1
        rows = []
        for t in th:
            slope = (lv[-1] - lv[-1 - span]) / max(t[-1] - t[-1 - span], 1e-3) if len(lv) > 1 else -10.0
            row = np.interp(grid, t, lv, left=0.0, right=lv[-1])
            above = grid > t[-1]
            row[above] = lv[-1] + slope * (grid[above] - t[-1])
            rows.append(row)
        self._table = np.stack(rows).astype(np.float32)
        self._cx = np.asarray(self.combined_x, np.float64)
        self._cy = np.asarray(self.combined_log_fmr, np.float64)

    # Runtime API -------------------------------------------------------------------------------------
    @property
    def fmr_floor(self) -> float:
        """The smallest FMR the calibration set can resolve: one impostor pair in all of them."""
        return 1.0 / max(self.n_impostor, 1)

    def assign(self, vecs: np.ndarray) -> np.ndarray:
        """Cluster of each embedding: (..., d) -> (...) int (nearest centroid by cosine)."""
        v = np.asarray(vecs, np.float32)
        flat = v.reshape(-1, v.shape[-1])
        out = np.argmax(flat @ self._c.T, axis=1) if len(flat) else np.zeros(0, np.int64)
        return out.reshape(v.shape[:-1])

    def cluster_log_fmr(self, clusters: np.ndarray, scores: np.ndarray) -> np.ndarray:
        """log10 FMR of each score on its cluster's own curve (same shape as scores)."""
        s = np.clip(np.asarray(scores, np.float64), -1.0, 1.0)
        pos = (s + 1.0) * ((GRID - 1) / 2.0)
        i = np.minimum(pos.astype(np.int64), GRID - 2)
        f = pos - i
        c = np.broadcast_to(np.asarray(clusters, np.int64), s.shape)
        flat = self._table.reshape(-1)
        base = c * GRID + i
        return (1.0 - f) * flat[base] + f * flat[base + 1]

    def log_fmr_clusters(self, ca: np.ndarray, cb: np.ndarray | None, scores: np.ndarray) -> np.ndarray:
        """Calibrated log10 FMR of pairs given their clusters (midpoint mode: `ca` is the pair's cluster and
        `cb` None; both mode: each face's), not clamped to the floor, so that strict targets still order
        pairs."""
        x = self.cluster_log_fmr(ca, scores)
        if cb is not None:
            x = 0.5 * (x + self.cluster_log_fmr(cb, scores))
        # Below the lowest combined value seen, keep the slope 1 (an order of magnitude rarer per decade).
        y = np.interp(x, self._cx, self._cy)
        y = np.where(x < self._cx[0], self._cy[0] + (x - self._cx[0]), y)
        out: np.ndarray = np.minimum(y + np.log10(max(self.margin, 1.0)), 0.0)
        return out

    def project(self, vecs: np.ndarray) -> np.ndarray:
        """Similarity of each embedding to every centroid: (..., d) -> (..., K); computed once per face."""
        v = np.asarray(vecs, np.float32)
        return v @ self._c.T

    def log_fmr_projected(self, pa: np.ndarray, pb: np.ndarray, scores: np.ndarray) -> np.ndarray:
        """log_fmr from `project` of both faces (broadcast to the scores' shape + (K,))."""
        if self.pair_mode == "same":
            # Pairs within one cluster have their cluster's own curve; pairs across clusters share one curve.
            ca, cb = np.argmax(pa, axis=-1), np.argmax(pb, axis=-1)
            return self.log_fmr_clusters(np.where(ca == cb, ca, self.clusters), None, scores)
        if self.pair_mode == "midpoint":
            # (a + b) . c = a . c + b . c: the pair's cluster is where its midpoint lies.
            return self.log_fmr_clusters(np.argmax(pa + pb, axis=-1), None, scores)
        return self.log_fmr_clusters(np.argmax(pa, axis=-1), np.argmax(pb, axis=-1), scores)

    def fmr(self, probe_vecs: np.ndarray, cand_vecs: np.ndarray, scores: np.ndarray) -> np.ndarray:
        """Calibrated FMR of each (probe, candidate) pair, clamped to the measurable floor.

        Search: probe_vecs (q, d), cand_vecs (q, k, d), scores (q, k) -> (q, k).
        Verify / any pairs: probe_vecs (n, d), cand_vecs (n, d), scores (n,) -> (n,).
        """
        return np.maximum(10.0 ** self.log_fmr(probe_vecs, cand_vecs, scores), self.fmr_floor)

    def log_fmr(self, probe_vecs: np.ndarray, cand_vecs: np.ndarray, scores: np.ndarray) -> np.ndarray:
        s = np.asarray(scores, np.float64)
        pa, pb = self.project(probe_vecs), self.project(cand_vecs)
        while pa.ndim - 1 < s.ndim:  # one probe per row of candidates
            pa = pa[..., None, :]
        return self.log_fmr_projected(pa, pb, s)

    def decision_level(self, target_fmr: float) -> float:
        """The calibrated log10 FMR (the shown scale) at and below which a pair is a match for a target:
        the target itself, or, with a look-alike decision curve, the shown FMR at which look-alike impostor
        pairs meet the target. Targets below the floor are clamped to it, as the table's thresholds are."""
        lt = float(np.log10(max(float(target_fmr), self.fmr_floor)))
        if not self.decision_x:
            return lt
        dx, dy = np.asarray(self.decision_x), np.asarray(self.decision_log_fmr)
        x = float(np.interp(lt, dy, dx)) if lt >= dy[0] else float(dx[0] + (lt - dy[0]))
        y = float(np.interp(x, self._cx, self._cy)) if x >= self._cx[0] else float(self._cy[0] + x - self._cx[0])
        return min(y + float(np.log10(max(self.margin, 1.0))), lt)

    def decide(self, fmr: np.ndarray, target_fmr: float) -> np.ndarray:
        """Above threshold: the pair's calibrated FMR (from `fmr`) is at most the decision level."""
        level = max(10.0 ** self.decision_level(target_fmr), self.fmr_floor)
        out: np.ndarray = np.asarray(fmr) <= level * (1 + 1e-9)
        return out

    def to_json(self) -> str:
        return json.dumps({k: getattr(self, k) for k in self.__dataclass_fields__}, indent=None, separators=(",", ":"))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FairCalibration:
        if data.get("format") != FAIR_FORMAT or int(data.get("version", 0)) > FAIR_VERSION:
            raise FacesearchError(
                f"unsupported fair-calibration file (format {data.get('format')!r}, "
                f"version {data.get('version')!r}); upgrade facesearch or re-run calibrate"
            )
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


def fair_path(pack: str) -> Path:
    return Path(str(resources.files("facesearch") / "models" / "calibration" / f"{pack}.faircal.json"))


def load_fair(pack: str, override_dir: Path | None = None) -> FairCalibration | None:
    """A pack's fair calibration: the user's own (`facesearch calibrate` writes it beside the table) if present,
    else the shipped one, else None (then the plain score table decides, as before)."""
    candidates = ([override_dir / f"{pack}.faircal.json"] if override_dir else []) + [fair_path(pack)]
    for path in candidates:
        if path.is_file():
            return _cached(str(path), path.stat().st_mtime_ns)
    return None


_CACHE: dict[tuple[str, int], FairCalibration] = {}


def _cached(path: str, mtime: int) -> FairCalibration:
    key = (path, mtime)
    if key not in _CACHE:
        _CACHE.clear()
        _CACHE[key] = FairCalibration.from_dict(json.loads(Path(path).read_text()))
    return _CACHE[key]


# Fitting ---------------------------------------------------------------------------------------------
def kmeans(x: np.ndarray, k: int, seed: int, iters: int = 50) -> np.ndarray:
    """Spherical k-means (k-means++ start), numpy only: (n, d) unit vectors -> (k, d) unit centroids."""
    rng = np.random.default_rng(seed)
    x = np.asarray(x, np.float32)
    n = len(x)
    if n < k:
        raise FacesearchError(f"k-means needs at least {k} faces, got {n}")
    centres = [x[rng.integers(n)]]
    d2 = np.full(n, np.inf)
    for _ in range(1, k):
        d2 = np.minimum(d2, np.maximum(2.0 - 2.0 * (x @ centres[-1]), 0.0))
        p = d2 / d2.sum() if d2.sum() > 0 else np.full(n, 1.0 / n)
        centres.append(x[rng.choice(n, p=p)])
    c = np.stack(centres)
    for _ in range(iters):
        a = np.argmax(x @ c.T, axis=1)
        new = np.zeros_like(c)
        np.add.at(new, a, x)
        empty = np.flatnonzero(np.bincount(a, minlength=k) == 0)
        new[empty] = x[rng.choice(n, len(empty), replace=False)]  # an empty cluster restarts on a random face
        new /= np.maximum(np.linalg.norm(new, axis=1, keepdims=True), 1e-12)
        if np.allclose(new, c, atol=1e-6):
            c = new
            break
        c = new
    return c


def _thresholds_at(sorted_scores: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """Score at which the share of scores >= it equals each level (an order statistic)."""
    n = len(sorted_scores)
    ranks = np.clip(np.ceil(n * (1 - 10.0**levels)).astype(np.int64), 0, n - 1)
    return sorted_scores[ranks]


def fit_fair(
    emb: np.ndarray,
    identity: np.ndarray,
    pack: str,
    model_version: str,
    dataset: str,
    clusters: int = 25,
    seed: int = 0,
    min_errors: int = MIN_ERRORS,
    step: float = 0.125,
    shift_level: float | None = None,
    pair_mode: str = "same",
    block: int = 256,
    cross_fit: bool = True,
    decision_clusters: int = 0,
) -> FairCalibration:
    """Fit on every pair of a labelled calibration set (identity labels only: same person or not).

    shift_level: if set (a log10 FMR), each cluster's curve is the global curve shifted by its offset at that
    one level (Fair Score Normalization, Terhorst et al. 2020), instead of its own tail where resolved.
    cross_fit: measure the out-of-sample margin (fit on half of the identities with half the clusters, count
    the other half's impostor pairs at FMR 1e-3 and 1e-4; both ways) and store it.
    """
    emb = np.asarray(emb, np.float32)
    ident = np.asarray(identity)
    n = len(emb)
    cent = kmeans(emb, clusters, seed)
    proj = emb @ cent.T
    cl = np.argmax(proj, axis=1)
    coarse_of = np.argmax(emb @ kmeans(emb, decision_clusters, seed + 1).T, axis=1) if decision_clusters else None
    coarse_same: list[np.ndarray] = []
    imp_s: list[np.ndarray] = []
    pair_a: list[np.ndarray] = []
    pair_b: list[np.ndarray] = []
    gen: list[np.ndarray] = []
    cols = np.arange(n)
    for s in range(0, n, block):
        rows = np.arange(s, min(n, s + block))
        sims = emb[rows] @ emb.T
        upper = cols[None, :] > rows[:, None]
        same = ident[rows][:, None] == ident[None, :]
        r, c = np.nonzero(upper & ~same)
        sc = sims[r, c].astype(np.float32)
        if pair_mode == "same":
            pair_a.append(np.where(cl[rows[r]] == cl[c], cl[c], clusters).astype(np.int16))
        elif pair_mode == "midpoint":
            pair_a.append(np.argmax(proj[rows[r]] + proj[c], axis=1).astype(np.int16))
        else:
            pair_a.append(cl[rows[r]].astype(np.int16))
            pair_b.append(cl[c].astype(np.int16))
        imp_s.append(sc)
        if coarse_of is not None:
            coarse_same.append(coarse_of[rows[r]] == coarse_of[c])
        gen.append(sims[upper & same])
    sc = np.concatenate(imp_s)
    a = np.concatenate(pair_a)
    b = np.concatenate(pair_b) if pair_b else None
    n_imp = len(sc)
    if n_imp == 0:
        raise FacesearchError("fair calibration needs impostor pairs (at least two people)")
    levels = np.arange(0.0, np.log10(1.0 / n_imp) - 1e-9, -step)
    levels = np.append(levels, np.log10(1.0 / n_imp)) if levels[-1] > np.log10(1.0 / n_imp) + 1e-9 else levels
    glob = _thresholds_at(np.sort(sc), levels)
    # Both mode: each impostor pair counts for both of its faces' clusters (FairCal's cluster-conditional
    # sets); midpoint mode: once, for the cluster its midpoint falls in.
    cc = np.concatenate([a, b]) if b is not None else a
    ss = np.concatenate([sc, sc]) if b is not None else sc
    order = np.lexsort((ss, cc))
    cc, ss = cc[order], ss[order]
    curves = clusters + 1 if pair_mode == "same" else clusters
    bounds = np.searchsorted(cc, np.arange(curves + 1))
    th = np.zeros((curves, len(levels)))
    counts = np.zeros(curves, np.int64)
    for k in range(curves):
        own = ss[bounds[k] : bounds[k + 1]]
        counts[k] = len(own)
        if len(own) == 0:
            th[k] = glob
            continue
        t = _thresholds_at(own, levels)
        resolved = len(own) * 10.0**levels >= min_errors
        if shift_level is not None:
            j = int(np.argmin(np.abs(levels - shift_level)))
            if not resolved[j]:
                j = int(np.flatnonzero(resolved)[-1]) if resolved.any() else 0
            th[k] = glob + (t[j] - glob[j])
        else:
            last = int(np.flatnonzero(resolved)[-1]) if resolved.any() else 0
            th[k] = np.where(resolved, t, glob + (t[last] - glob[last]))
    partial = FairCalibration(
        pack,
        model_version,
        dataset,
        "",
        "",
        clusters,
        seed,
        cent.tolist(),
        levels.tolist(),
        th.tolist(),
        [0.0, 1.0],
        [0.0, 0.0],
        n_imp,
        int(sum(len(g) for g in gen)),
        min_errors=min_errors,
        pair_mode=pair_mode,
    )
    x_unsorted = partial.cluster_log_fmr(a, sc)
    if b is not None:
        x_unsorted = 0.5 * (x_unsorted + partial.cluster_log_fmr(b, sc))
    x = np.sort(x_unsorted)
    # Final map: the share of calibration impostor pairs whose combined value is at most x, on a fine grid.
    fine = np.arange(0.0, np.log10(1.0 / n_imp) - 1e-9, -0.02)
    fine = np.append(fine, np.log10(1.0 / n_imp))
    xs, ys = _quantile_map(x, fine, n_imp)
    dxs: list[float] = []
    dys: list[float] = []
    if decision_clusters:
        same_coarse = np.concatenate(coarse_same)
        xd = np.sort(x_unsorted[same_coarse])
        if len(xd):
            dfine = np.append(np.arange(0.0, np.log10(1.0 / len(xd)) - 1e-9, -0.02), np.log10(1.0 / len(xd)))
            d1, d2 = _quantile_map(xd, dfine, len(xd))
            dxs, dys = [round(float(v), 6) for v in d1], [round(float(v), 6) for v in d2]
    genuine = np.concatenate(gen) if gen else np.zeros(0)
    method = (
        f"spherical k-means ({clusters} clusters, seed {seed}) over the {n} calibration faces; per cluster "
        f"the score -> FMR curve of the impostor pairs with a face in it"
        + (
            f", as the global curve shifted by the cluster's offset at FMR 1e{shift_level:g}"
            if shift_level is not None
            else f" where at least {min_errors} of them match, beyond that the "
            "global curve shifted by the cluster's last resolved offset"
        )
        + f"; a pair's value = mean of its two faces' cluster log-FMRs, mapped onto the overall FMR of "
        f"all {n_imp} impostor pairs"
    )
    margin: float = 1.0
    margin_info: dict[str, Any] = {}
    if cross_fit:
        margin, margin_info = _cross_fit_margin(emb, ident, clusters, seed, min_errors, step, shift_level, pair_mode)
        method += f"; out-of-sample margin x{margin:.2f} from cross-fitting on halves of the identities"
    return FairCalibration(
        pack=pack,
        model_version=model_version,
        dataset=dataset,
        method=method,
        margin=round(margin, 4),
        decision_clusters=decision_clusters,
        decision_x=dxs,
        decision_log_fmr=dys,
        fit={"cross_fit": margin_info},
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        clusters=clusters,
        seed=seed,
        centroids=np.round(cent.astype(np.float64), 4).tolist(),
        levels=[round(float(v), 6) for v in levels],
        cluster_thresholds=np.round(th, 5).tolist(),
        combined_x=[round(float(v), 6) for v in xs],
        combined_log_fmr=[round(float(v), 6) for v in ys],
        n_impostor=int(n_imp),
        n_genuine=int(len(genuine)),
        cluster_sizes=np.bincount(cl, minlength=clusters).tolist(),
        cluster_impostor_pairs=counts.tolist(),
        min_errors=min_errors,
        pair_mode=pair_mode,
    )


def _cross_fit_margin(
    emb: np.ndarray,
    ident: np.ndarray,
    clusters: int,
    seed: int,
    min_errors: int,
    step: float,
    shift_level: float | None,
    pair_mode: str,
) -> tuple[float, dict[str, Any]]:
    """How much rarer the calibrated FMR claims a pair is than it is on faces not fitted on: the ratio of
    measured to target FMR on held-out identities, geometric mean over both halves and two targets."""
    rng = np.random.default_rng(seed + 7919)
    people = np.unique(ident)
    half = np.isin(ident, rng.permutation(people)[: len(people) // 2])
    ratios: list[float] = []
    info: dict[str, Any] = {}
    for name, fit_mask in (("a", half), ("b", ~half)):
        sub = fit_fair(
            emb[fit_mask],
            ident[fit_mask],
            "",
            "",
            "",
            clusters=max(2, clusters // 2),
            seed=seed,
            min_errors=min_errors,
            step=step,
            shift_level=shift_level,
            pair_mode=pair_mode,
            cross_fit=False,
        )
        test = np.flatnonzero(~fit_mask)
        proj = sub.project(emb[test])
        a, b = np.triu_indices(len(test), 1)
        keep = ident[test][a] != ident[test][b]
        a, b = a[keep], b[keep]
        lf = np.concatenate(
            [
                sub.log_fmr_projected(
                    proj[a[i : i + 500_000]],
                    proj[b[i : i + 500_000]],
                    np.einsum("ij,ij->i", emb[test][a[i : i + 500_000]], emb[test][b[i : i + 500_000]]),
                )
                for i in range(0, len(a), 500_000)
            ]
        )
        for target in (1e-3, 1e-4):
            k = int((lf <= np.log10(target) + 1e-9).sum())
            if k >= 10 * min_errors:
                measured = k / len(lf)
                ratios.append(measured / target)
                info[f"{name} {target:g}"] = {"impostor_pairs": int(len(lf)), "measured_fmr": measured}
    margin = float(np.exp(np.mean(np.log(ratios)))) if ratios else 1.0
    return max(margin, 1.0), info


def _quantile_map(x_sorted: np.ndarray, levels: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(x, log10 share of values <= x) at each level; ascending x, and where several levels share an x (ties)
    the highest level is its rate."""
    k_at = np.clip(np.floor(n * 10.0**levels).astype(np.int64) - 1, 0, n - 1)
    xs, first = np.unique(x_sorted[k_at], return_index=True)
    return xs, np.maximum.accumulate(levels[first])
