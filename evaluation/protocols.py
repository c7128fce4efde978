"""Evaluation protocols on embedded sets: 1:1 verification (k-fold + all pairs), 1:N open-set, groups, gate.

Inputs are the per-image arrays of `Embedded` (one face per image, the one nearest the centre); every
protocol is a few matrix products and sorts over them, so re-running with another exclusion list or
threshold costs seconds once the embeddings are cached.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from evaluation import metrics
from evaluation.datasets import LabelledSet, PairList
from evaluation.embed import Embedded
from evaluation.groups import GroupLabels

FAR_TARGETS = (1e-2, 1e-3, 1e-4)
FAR_TARGETS_ALL = (1e-2, 1e-3, 1e-4, 1e-5, 1e-6)
FPIR_TARGETS = (1e-2, 1e-3)
NBINS = 20000  # impostor score histogram on [-1, 1]: 1e-4 wide bins, exact enough for FMR at any threshold
TOP_K = 16  # strongest impostor / weakest genuine pairs listed in the report
SEARCH_K = 10  # candidates a search returns by default: calibrated decisions are made over these

# A pair transform maps raw scores of image pairs (sims, first image index, second image index; broadcast
# together) to values in [-1, 1] where higher is a stronger match, e.g. calibrated -log10 FMR (fair_eval).
PairTransform = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


def identity_codes(labels: list[str]) -> np.ndarray:
    return np.unique(np.asarray(labels), return_inverse=True)[1]


# Verification -----------------------------------------------------------------------------------
def make_pairs(ds: LabelledSet, keep: np.ndarray, seed: int, folds: int = 10, per_fold: int = 300) -> PairList:
    """Pairs for a folder set, LFW-style: identities split into folds, up to `per_fold` genuine pairs per fold
    and as many impostor pairs between identities of the same fold (so folds share no person)."""
    rng = np.random.default_rng(seed)
    codes = identity_codes(ds.labels)
    ids = np.unique(codes[keep])
    fold_of = np.empty(codes.max() + 1, np.int64)
    fold_of[rng.permutation(ids)] = np.arange(len(ids)) % folds
    first: list[int] = []
    second: list[int] = []
    same: list[bool] = []
    fold: list[int] = []
    img = np.flatnonzero(keep)
    for f in range(min(folds, len(ids))):
        members = img[fold_of[codes[img]] == f]
        a, b = np.triu_indices(len(members), 1)
        gen = codes[members[a]] == codes[members[b]]
        g_idx = np.flatnonzero(gen)
        i_idx = np.flatnonzero(~gen)
        n = min(per_fold, len(g_idx), len(i_idx))
        for sel in (rng.choice(g_idx, n, replace=False), rng.choice(i_idx, n, replace=False)):
            first += members[a[sel]].tolist()
            second += members[b[sel]].tolist()
            same += gen[sel].tolist()
            fold += [f] * n
    return PairList(first, second, same, fold)


def verification(
    e: Embedded, pairs: PairList, keep: np.ndarray, gate: float, transform: PairTransform | None = None
) -> dict[str, Any]:
    """k-fold accuracy and ROC over a pair list; a pair with an undetected image is an error."""
    a, b = np.asarray(pairs.first), np.asarray(pairs.second)
    same, fold = np.asarray(pairs.same, bool), np.asarray(pairs.fold)
    use = keep[a] & keep[b]
    a, b, same, fold = a[use], b[use], same[use], fold[use]
    valid = e.ok[a] & e.ok[b]
    raw = (e.emb[a] * e.emb[b]).sum(axis=1)
    scores = np.where(valid, transform(raw, a, b) if transform else raw, -np.inf)
    acc = metrics.kfold_accuracy(scores, same, fold, valid)
    # The same protocol on the pairs where both faces were found: separates detection misses from the
    # embedding's own errors when comparing with a model's published figure.
    if valid.sum() > 20 and (~valid).any():
        acc["detected_pairs_only"] = metrics.kfold_accuracy(scores[valid], same[valid], fold[valid], valid[valid])[
            "mean"
        ]
    # No face = no match: a genuine pair is then falsely rejected, an impostor pair correctly rejected.
    genuine, impostor = scores[same], scores[~same]
    out = {
        "pairs": int(len(same)),
        "genuine": int(same.sum()),
        "impostor": int((~same).sum()),
        "folds": int(len(np.unique(fold))),
        "failed_to_detect_pairs": int((~valid).sum()),
        "accuracy": acc,
        "tar_at_far": metrics.tar_at_far(genuine, impostor, FAR_TARGETS),
    }
    # Gated: pairs where both faces pass the probe quality gate; the rest would be refused, not decided.
    passed = valid & (e.quality[a] >= gate) & (e.quality[b] >= gate)
    if passed.sum() > 20 and len(np.unique(fold[passed])) == len(np.unique(fold)):
        g_acc = metrics.kfold_accuracy(scores[passed], same[passed], fold[passed], valid[passed])
        out["gated"] = {"gate": gate, "refused_pairs": int((valid & ~passed).sum()), "accuracy": g_acc}
    out["_scores"] = (genuine, impostor)
    return out


@dataclass
class AllPairs:
    """Every pair of detected, kept images: exact genuine scores, impostor scores as a fine histogram."""

    n_images: int
    genuine: np.ndarray
    gen_i: np.ndarray
    gen_j: np.ndarray
    imp_hist: np.ndarray  # (NBINS,)
    top_imp: np.ndarray  # (TOP_K, 3): i, j, score of the strongest impostor pairs
    group_gen: dict[str, np.ndarray] = field(default_factory=dict)  # attr -> group code of each genuine pair (-1)
    group_imp_hist: dict[str, np.ndarray] = field(default_factory=dict)  # attr -> (G, NBINS)
    group_names: dict[str, list[str]] = field(default_factory=dict)
    # Impostor pairs scoring at or above `collect` (image indices), for the identity bootstrap.
    fm_i: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    fm_j: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

    @property
    def n_impostor(self) -> int:
        return int(self.imp_hist.sum())

    @staticmethod
    def tail(hist: np.ndarray, t: float | np.ndarray) -> np.ndarray:
        """Counts of scores >= t (to the 1e-4 bin)."""
        b = np.clip(np.ceil((np.asarray(t, np.float64) + 1) * NBINS / 2 - 1e-9).astype(np.int64), 0, NBINS)
        cum = np.concatenate(
            [np.cumsum(hist[..., ::-1], axis=-1)[..., ::-1], np.zeros(hist.shape[:-1] + (1,))], axis=-1
        )
        return np.take(cum, b, axis=-1)

    def fmr(self, t: float | np.ndarray) -> np.ndarray:
        return self.tail(self.imp_hist, t) / max(self.n_impostor, 1)

    def threshold_at_fmr(self, target: float, hist: np.ndarray | None = None) -> float:
        h = self.imp_hist if hist is None else hist
        grid = np.linspace(-1, 1, NBINS + 1)
        ok = np.flatnonzero(self.tail(h, grid) <= target * h.sum())
        return float(grid[ok[0]]) if len(ok) else 1.0


def all_pairs(
    e: Embedded,
    labels: list[str],
    keep: np.ndarray,
    groups: GroupLabels | None,
    block: int = 512,
    transform: PairTransform | None = None,
    collect: float | None = None,
) -> AllPairs:
    idx = np.flatnonzero(e.ok & keep)
    emb = e.emb[idx]
    codes = identity_codes(labels)[idx]
    n = len(idx)
    gcode: dict[str, np.ndarray] = {}
    names: dict[str, list[str]] = {}
    if groups:
        for attr, lab in groups.attributes.items():
            names[attr] = sorted(set(lab[idx].tolist()) - {""})
            lookup = {g: k for k, g in enumerate(names[attr])}
            gcode[attr] = np.array([lookup.get(x, -1) for x in lab[idx]], np.int64)
    imp_hist = np.zeros(NBINS, np.int64)
    ghist = {a: np.zeros((len(names[a]), NBINS), np.int64) for a in gcode}
    gen, gi, gj = [], [], []
    fi: list[np.ndarray] = []
    fj: list[np.ndarray] = []
    top = np.zeros((0, 3))
    cols = np.arange(n)
    for s in range(0, n, block):
        rows = np.arange(s, min(n, s + block))
        sims = emb[rows] @ emb.T
        if transform is not None:
            sims = transform(sims, idx[rows][:, None], idx[None, :])
        upper = cols[None, :] > rows[:, None]
        same = codes[rows][:, None] == codes[None, :]
        r, c = np.nonzero(upper & same)
        gen.append(sims[r, c])
        gi.append(idx[rows[r]])
        gj.append(idx[c])
        imp = upper & ~same
        if collect is not None:
            r, c = np.nonzero(imp & (sims >= collect))
            fi.append(idx[rows[r]])
            fj.append(idx[c])
        bins = np.clip(((sims + 1) * (NBINS / 2)).astype(np.int64), 0, NBINS - 1)
        imp_hist += np.bincount(bins[imp], minlength=NBINS)
        for attr, g in gcode.items():
            gr = g[rows][:, None]
            within = imp & (gr == g[None, :]) & (gr >= 0)
            key = np.broadcast_to(gr, within.shape)[within] * NBINS + bins[within]
            ghist[attr] += np.bincount(key, minlength=ghist[attr].size).reshape(ghist[attr].shape)
        vals = np.where(imp, sims, -np.inf)
        flat = np.argpartition(vals.ravel(), -TOP_K)[-TOP_K:] if vals.size > TOP_K else np.arange(vals.size)
        rr, cc = np.unravel_index(flat, vals.shape)
        cand = np.column_stack([idx[rows[rr]], idx[cc], vals[rr, cc]])
        top = np.concatenate([top, cand[np.isfinite(cand[:, 2])]])
        top = top[np.argsort(-top[:, 2])[:TOP_K]]
    out = AllPairs(
        n,
        np.concatenate(gen) if gen else np.zeros(0),
        np.concatenate(gi) if gi else np.zeros(0, int),
        np.concatenate(gj) if gj else np.zeros(0, int),
        imp_hist,
        top,
        group_names=names,
        group_imp_hist=ghist,
    )
    if fi:
        out.fm_i, out.fm_j = np.concatenate(fi), np.concatenate(fj)
    pos = np.full(len(e.ok), -1)
    pos[idx] = cols
    for attr, g in gcode.items():
        a, b = g[pos[out.gen_i]], g[pos[out.gen_j]]
        out.group_gen[attr] = np.where(a == b, a, -1)
    return out


def all_pairs_summary(ap: AllPairs) -> dict[str, Any]:
    out: dict[str, Any] = {
        "images": ap.n_images,
        "genuine": int(len(ap.genuine)),
        "impostor": ap.n_impostor,
        "tar_at_far": {},
    }
    for far in FAR_TARGETS_ALL:
        if far * ap.n_impostor < 10:
            out["tar_at_far"][f"{far:g}"] = {"tar": None, "note": "fewer than 10 impostor pairs at this rate"}
            continue
        t = ap.threshold_at_fmr(far)
        out["tar_at_far"][f"{far:g}"] = {
            "tar": float((ap.genuine >= t).mean()),
            "threshold": t,
            "far": float(ap.fmr(t)),
        }
    return out


# Identification ---------------------------------------------------------------------------------
@dataclass
class Split:
    gallery: np.ndarray  # image indices
    mated: np.ndarray  # probe image indices with a mate in the gallery
    nonmated: np.ndarray  # probe image indices of people not in the gallery
    distractors: int  # gallery entries of people with no probe
    rule: str


def open_set_split(labels: list[str], ok: np.ndarray, keep: np.ndarray, seed: int) -> Split:
    """LFW open-set protocol: one enrolled photo of each person with 2+ photos (a detected one, chosen at
    random with the seed), the other photos as mated probes; single-photo people split half into the
    gallery as distractors, half held out as non-mated probes. A set with few single-photo people (e.g.
    AT&T) holds out a quarter of its people instead, all their photos being non-mated probes."""
    rng = np.random.default_rng(seed)
    codes = identity_codes(labels)
    img = np.flatnonzero(keep)
    counts = np.bincount(codes[img], minlength=codes.max() + 1)
    multi = np.flatnonzero(counts >= 2)
    single = np.flatnonzero(counts == 1)
    if len(single) >= 20:
        single = rng.permutation(single)
        held = single[: len(single) // 2]
        distract = single[len(single) // 2 :]
        rule = (
            "gallery = one photo of each person with 2+ photos + half of the single-photo people; "
            "non-mated probes = the other half"
        )
    else:
        multi = rng.permutation(multi)
        n_held = max(1, len(multi) // 4)
        held, multi, distract = multi[:n_held], np.sort(multi[n_held:]), np.zeros(0, np.int64)
        rule = "gallery = one photo of each of 3/4 of the people; non-mated probes = every photo of the rest"
    order = img[rng.permutation(len(img))]  # random choice of the enrolled photo, detected ones first
    order = order[np.argsort(~ok[order], kind="stable")]
    first: dict[int, int] = {}
    for i in order:
        first.setdefault(int(codes[i]), int(i))
    enrolled = np.array(sorted(first[int(c)] for c in multi), np.int64)
    is_multi = np.isin(codes[img], multi)
    mated = np.setdiff1d(img[is_multi], enrolled)
    dis = img[np.isin(codes[img], distract)]
    nonmated = img[np.isin(codes[img], held)]
    return Split(np.sort(np.concatenate([enrolled, dis])), mated, nonmated, int(len(dis)), rule)


def identification(
    e: Embedded,
    labels: list[str],
    split: Split,
    probe_emb: np.ndarray | None = None,
    probe_ok: np.ndarray | None = None,
) -> metrics.OpenSet:
    """Search mated then non-mated probes (optionally degraded embeddings, rows in that order)."""
    codes = identity_codes(labels)
    g = split.gallery[e.ok[split.gallery]]  # an undetected gallery photo enrolls nothing
    probes = np.concatenate([split.mated, split.nonmated])
    pe = e.emb[probes] if probe_emb is None else probe_emb
    pok = e.ok[probes] if probe_ok is None else probe_ok
    mated = np.zeros(len(probes), bool)
    mated[: len(split.mated)] = True
    return metrics.open_set_search(e.emb[g], codes[g], pe, pok, codes[probes], mated)


def identification_calibrated(
    e: Embedded, labels: list[str], split: Split, transform: PairTransform, top_k: int = SEARCH_K, block: int = 2048
) -> metrics.OpenSet:
    """The search as the product runs it with a calibration: candidates ranked by raw score (top_k), each
    decided on its calibrated value. A mated probe is a hit when its mate is first and its value passes; a
    non-mated probe is a false positive when any of its top_k candidates passes."""
    codes = identity_codes(labels)
    g = split.gallery[e.ok[split.gallery]]
    probes = np.concatenate([split.mated, split.nonmated])
    n = len(probes)
    k = min(top_k, len(g))
    top = np.full(n, -np.inf)
    mate_val = np.full(n, -np.inf)
    rank = np.zeros(n, np.int64)
    for s in range(0, n, block):
        p = probes[s : s + block]
        sims = e.emb[p] @ e.emb[g].T
        same = codes[g][None, :] == codes[p][:, None]
        has = same.any(axis=1)
        ms = np.where(same, sims, -np.inf).max(axis=1)
        rank[s : s + len(p)] = np.where(has, 1 + ((sims > ms[:, None]) & ~same).sum(axis=1), 0)
        cand = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        vals = transform(np.take_along_axis(sims, cand, 1), p[:, None], g[cand])
        top[s : s + len(p)] = vals.max(axis=1)
        mate = np.argmax(np.where(same, sims, -np.inf), axis=1)
        mv = transform(sims[np.arange(len(p)), mate], p, g[mate])
        mate_val[s : s + len(p)] = np.where(has, mv, -np.inf)
    ok = e.ok[probes]
    top[~ok], mate_val[~ok], rank[~ok] = -np.inf, -np.inf, 0
    m = len(split.mated)
    return metrics.OpenSet(rank[:m], mate_val[:m], top[:m], top[m:], int(len(g)))


def open_set_summary(res: metrics.OpenSet, split: Split | None = None) -> dict[str, Any]:
    out = {
        "gallery_size": res.gallery_size,
        "mated_probes": int(len(res.mated_rank)),
        "nonmated_probes": int(len(res.nonmated_top)),
        "rank1": res.rank_k(1),
        "rank10": res.rank_k(10),
        "mated_no_face": int((res.mated_rank == 0).sum()),
        "tpir_at_fpir": res.tpir_at_fpir(FPIR_TARGETS),
    }
    if split is not None:
        out["distractors"] = split.distractors
        out["rule"] = split.rule
    return out


def gate_comparison(
    res: metrics.OpenSet, mated_q: np.ndarray, nonmated_q: np.ndarray, gate: float, threshold: float
) -> dict[str, Any]:
    """The same search with and without the probe quality gate: refused probes leave the denominators."""
    out: dict[str, Any] = {}
    for name, m, nm in (
        ("ungated", np.ones(len(mated_q), bool), np.ones(len(nonmated_q), bool)),
        ("gated", mated_q >= gate, nonmated_q >= gate),
    ):
        sub = res.subset(m, nm)
        out[name] = {
            "mated_probes": int(m.sum()),
            "nonmated_probes": int(nm.sum()),
            "rank1": sub.rank_k(1),
            "tpir_at_fpir": sub.tpir_at_fpir(FPIR_TARGETS),
            "fpir_at_threshold": float(sub.fpir(threshold)),
            "fnir_at_threshold": float(sub.fnir(threshold)),
        }
    out["gate"] = gate
    out["threshold"] = threshold
    out["refused_mated"] = int((mated_q < gate).sum())
    out["refused_nonmated"] = int((nonmated_q < gate).sum())
    return out


# Groups -----------------------------------------------------------------------------------------
def group_stats(
    ap: AllPairs,
    groups: GroupLabels,
    labels: list[str],
    keep: np.ndarray,
    res: metrics.OpenSet,
    split: Split,
    e: Embedded,
    fmr_threshold: float,
    fpir_threshold: float,
    target_fmr: float,
) -> dict[str, Any]:
    """Per group: FMR and FNMR at the operating threshold (pairs within the group), open-set rank-1, TPIR and
    FPIR at the common search threshold, group sizes and 95% intervals; max/min ratios per attribute."""
    codes = identity_codes(labels)
    probes_m, probes_n = split.mated, split.nonmated
    out: dict[str, Any] = {"groups": {}, "by_attribute": {}}
    for attr, names in ap.group_names.items():
        lab = groups.attributes[attr]
        fmrs: dict[str, float] = {}
        fnmrs: dict[str, float] = {}
        for k, g in enumerate(names):
            in_g = (lab == g) & keep
            hist = ap.group_imp_hist[attr][k]
            n_imp = int(hist.sum())
            k_imp = int(ap.tail(hist, fmr_threshold))
            gen = ap.genuine[ap.group_gen[attr] == k]
            k_fn = int((gen < fmr_threshold).sum())
            mg = in_g[probes_m]
            ng = in_g[probes_n]
            sub = res.subset(mg, ng)
            rank1_hits = int((sub.mated_rank == 1).sum())
            tp = int(((sub.mated_rank == 1) & (sub.mated_score >= fpir_threshold)).sum())
            fp = int((sub.nonmated_top >= fpir_threshold).sum())
            measurable = n_imp * target_fmr >= 10
            entry: dict[str, Any] = {
                "attribute": attr,
                "identities": int(len(np.unique(codes[in_g]))),
                "images": int(in_g.sum()),
                "images_no_face": int((in_g & ~e.ok).sum()),
                "fmr": k_imp / n_imp if n_imp else None,
                "fmr_ci95": metrics.rate_ci(k_imp, n_imp)["ci95"],
                "impostor_pairs": n_imp,
                "false_matches": k_imp,
                "fnmr": k_fn / len(gen) if len(gen) else None,
                "fnmr_ci95": metrics.rate_ci(k_fn, len(gen))["ci95"],
                "genuine_pairs": int(len(gen)),
                "rank1": rank1_hits / int(mg.sum()) if mg.sum() else None,
                "rank1_ci95": metrics.rate_ci(rank1_hits, int(mg.sum()))["ci95"],
                "mated_probes": int(mg.sum()),
                "tpir": tp / int(mg.sum()) if mg.sum() else None,
                "fpir": fp / int(ng.sum()) if ng.sum() else None,
                "fpir_ci95": metrics.rate_ci(fp, int(ng.sum()))["ci95"],
                "nonmated_probes": int(ng.sum()),
                "measurable_at_target_fmr": bool(measurable),
                "threshold_for_target_fmr": ap.threshold_at_fmr(target_fmr, hist) if measurable else None,
            }
            out["groups"][g] = entry
            if measurable and entry["fmr"] is not None:
                fmrs[g] = entry["fmr"]
            if entry["fnmr"] is not None and len(gen) >= 100:
                fnmrs[g] = entry["fnmr"]
        out["by_attribute"][attr] = {
            "groups": names,
            "measured_fmr_groups": sorted(fmrs),
            "fmr_ratio": _ratio(fmrs),
            "fnmr_ratio": _ratio(fnmrs),
            "max_fmr_group": max(fmrs, key=fmrs.__getitem__) if fmrs else None,
        }
    ratios = [v["fmr_ratio"] for v in out["by_attribute"].values() if v["fmr_ratio"] is not None]
    fn_ratios = [v["fnmr_ratio"] for v in out["by_attribute"].values() if v["fnmr_ratio"] is not None]
    out["fmr_ratio"] = max(ratios) if ratios else None
    out["fnmr_ratio"] = max(fn_ratios) if fn_ratios else None
    return out


def _ratio(rates: dict[str, float]) -> float | None:
    """Highest over lowest rate; a zero lowest rate is replaced by half an error (a continuity correction
    would hide nothing here: the group sizes are reported next to it)."""
    if len(rates) < 2:
        return None
    lo, hi = min(rates.values()), max(rates.values())
    if lo <= 0:
        return None if hi <= 0 else float("inf")
    return hi / lo


def worst_group_threshold(ap: AllPairs, target: float) -> dict[str, Any]:
    """The lowest threshold at which every measurable group (of every attribute) meets the FMR target, and
    what it costs in FNMR per group compared with the threshold that meets it on all pairs together."""
    t_all = ap.threshold_at_fmr(target)
    t_worst, worst = t_all, None
    for attr, names in ap.group_names.items():
        for k, g in enumerate(names):
            h = ap.group_imp_hist[attr][k]
            if h.sum() * target >= 10:
                t = ap.threshold_at_fmr(target, h)
                if t > t_worst:
                    t_worst, worst = t, g
    cost = {}
    for attr, names in ap.group_names.items():
        for k, g in enumerate(names):
            gen = ap.genuine[ap.group_gen[attr] == k]
            if len(gen):
                cost[g] = {
                    "fnmr_at_overall": float((gen < t_all).mean()),
                    "fnmr_at_worst_group": float((gen < t_worst).mean()),
                }
    return {
        "target_fmr": target,
        "threshold_overall": t_all,
        "threshold_worst_group": t_worst,
        "worst_group": worst,
        "fnmr_overall": float((ap.genuine < t_all).mean()),
        "fnmr_worst_group_threshold": float((ap.genuine < t_worst).mean()),
        "fnmr_cost_by_group": cost,
    }
