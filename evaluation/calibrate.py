"""Build a pack's calibration table from every genuine and impostor pair of a labelled set."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from evaluation.datasets import LabelledSet
from evaluation.groups import GroupLabels, lfw_demographics
from facesearch.calibration.fair import FairCalibration, fit_fair
from facesearch.calibration.tables import CalibrationTable, build_table
from facesearch.config import Settings

FAIR_CLUSTERS = 100  # chosen on stability across seeds and cluster counts (docs/calibration.md)
FAIR_MODE = "same"
FAIR_DECISION_CLUSTERS = 8  # look-alike populations whose impostor pairs must meet the target (no labels)


def all_pair_scores(emb: np.ndarray, ok: np.ndarray, labels: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Scores of every unordered pair of detected images: (genuine, impostor)."""
    genuine, impostor, _, _ = _pairs(emb, ok, labels, None)
    return genuine, impostor


def _pairs(
    emb: np.ndarray, ok: np.ndarray, labels: list[str], group: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(genuine, impostor, genuine group code, impostor group code); a pair's code is its images' shared
    group, -1 when they differ or are unlabelled."""
    keep = np.flatnonzero(ok)
    e = emb[keep]
    lab = np.asarray([labels[i] for i in keep])
    _, codes = np.unique(lab, return_inverse=True)
    g = group[keep] if group is not None else np.full(len(keep), -1)
    genuine, impostor, g_gen, g_imp = [], [], [], []
    block = 2048
    for s in range(0, len(e), block):
        sims = e[s : s + block] @ e.T
        rows = np.arange(s, min(s + block, len(e)))
        upper = np.arange(len(e))[None, :] > rows[:, None]
        same = codes[rows][:, None] == codes[None, :]
        pair_group = np.where(g[rows][:, None] == g[None, :], g[rows][:, None], -1)
        genuine.append(sims[upper & same])
        impostor.append(sims[upper & ~same])
        g_gen.append(pair_group[upper & same])
        g_imp.append(pair_group[upper & ~same])
    return np.concatenate(genuine), np.concatenate(impostor), np.concatenate(g_gen), np.concatenate(g_imp)


def default_groups(ds: LabelledSet) -> GroupLabels | None:
    """LFW's demographics folder, when the set is LFW (calibration then uses the worst-group policy)."""
    for demo in (ds.root / "demographics", ds.root.parent / "demographics"):
        if (demo / "lfw_race_dict.json").is_file():
            return lfw_demographics(demo, ds)
    return None


def calibrate_set(
    ds: LabelledSet,
    emb: np.ndarray,
    ok: np.ndarray,
    pack: str,
    model_version: str,
    dataset_label: str,
    groups: GroupLabels | None | bool = True,
) -> CalibrationTable:
    """groups: labels for the worst-group policy; True = LFW demographics when found; None/False = none."""
    labels = default_groups(ds) if groups is True else (groups or None)
    genuine, impostor = all_pair_scores(emb, ok, ds.labels)
    group_imp, group_gen = group_pair_scores(emb, ok, ds.labels, labels) if labels else ({}, {})
    method = (
        f"all {len(genuine)} genuine and {len(impostor)} impostor pairs among the {int(ok.sum())} of "
        f"{len(ok)} images where a face was found (the face nearest the image centre); "
        "FMR = share of impostor pairs scoring >= threshold, FNMR = share of genuine pairs scoring below"
    )
    source = labels.source if labels else None
    if labels:
        method += (
            "; worst-group FMR from impostor pairs within each labelled group "
            f"({', '.join(f'{g}: {len(v)}' for g, v in sorted(group_imp.items()))} pairs)"
        )
    return build_table(
        pack,
        model_version,
        genuine,
        impostor,
        dataset_label,
        method,
        group_impostors=group_imp or None,
        group_genuine=group_gen or None,
        groups_source=str(Path(source).name) if source else None,
    )


def calibrate_data(
    data: Path,
    pack: str,
    model_version: str,
    settings: Settings,
    cache_dir: Path | None,
    groups_csv: Path | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> CalibrationTable:
    """The table `facesearch calibrate` writes.

    LFW: the score -> FMR/FNMR table from LFW View 1 (pairsDevTrain + pairsDevTest images), as before; the
    worst-group curve from the demographics folder over *all* LFW images, because View 1 alone holds only
    1,399 impostor pairs within the african group (too few for FMR 1e-3) while all of LFW holds 14,215.
    A folder set: both from the folder, with groups from --groups if given.
    """
    from evaluation.datasets import folder_dataset, lfw_all, lfw_pairs_set
    from evaluation.embed import embed_full
    from evaluation.groups import read_groups_csv

    def bar(stage: str) -> Callable[[int, int], None] | None:
        return (lambda d, t: progress(stage, d, t)) if progress else None

    if (data / "pairsDevTrain.txt").is_file() and (data / "deepfunneled").is_dir():
        ds, _ = lfw_pairs_set(data, ["pairsDevTrain.txt", "pairsDevTest.txt"], "lfw-view1")
        label = "LFW View 1 (pairsDevTrain + pairsDevTest images, deep-funneled)"
        # Embed all of LFW once (the cache `facesearch eval lfw` shares) and take View 1 from it.
        full = lfw_all(data)
        fe = embed_full(full, pack, settings, cache_dir, progress=bar("embedding LFW"))
        pos = {p: i for i, p in enumerate(full.images)}
        v1 = np.array([pos[p] for p in ds.images])
        emb, ok = fe.emb[v1], fe.ok[v1]
        genuine, impostor = all_pair_scores(emb, ok, ds.labels)
        labels = read_groups_csv(groups_csv, full) if groups_csv else default_groups(full)
        method = (
            f"all {len(genuine)} genuine and {len(impostor)} impostor pairs among the {int(ok.sum())} of "
            f"{len(ok)} View 1 images where a face was found (the face nearest the image centre); "
            "FMR = share of impostor pairs scoring >= threshold, FNMR = share of genuine pairs scoring below"
        )
        curves = None
        if labels is not None:
            method += (
                f"; worst-group FMR over impostor pairs within each group among all {len(full)} LFW images "
                f"(labels: {Path(labels.source).name})"
            )
            curves = lambda t: group_fmr_curves(fe.emb, fe.ok, full.labels, labels, t)  # noqa: E731
        return build_table(
            pack,
            model_version,
            genuine,
            impostor,
            label,
            method,
            group_curves=curves,
            groups_source=f"{Path(labels.source).name} (all LFW images)" if labels else None,
        )
    ds = folder_dataset(data)
    e = embed_full(ds, pack, settings, cache_dir, progress=bar(f"embedding {ds.name}"))
    groups = read_groups_csv(groups_csv, ds) if groups_csv else None
    return calibrate_set(ds, e.emb, e.ok, pack, model_version, f"folder {data.name}", groups=groups)


def group_fmr_curves(
    emb: np.ndarray, ok: np.ndarray, labels: list[str], groups: GroupLabels, thresholds: np.ndarray, block: int = 1024
) -> dict[str, tuple[int, int, np.ndarray]]:
    """group -> (impostor pairs, genuine pairs, FMR at each threshold) over pairs within the group.

    Counted block by block against the threshold grid (searchsorted + bincount), so even the 52 million
    within-group pairs of LFW's largest group never sit in memory at once.
    """
    t = np.asarray(thresholds, np.float64)
    nt = len(t)
    _, ids = np.unique(np.asarray(labels), return_inverse=True)
    out: dict[str, tuple[int, int, np.ndarray]] = {}
    for lab in groups.attributes.values():
        names = sorted(set(lab.tolist()) - {""})
        lookup = {g: k for k, g in enumerate(names)}
        code = np.array([lookup.get(x, -1) for x in lab], np.int64)
        keep = np.flatnonzero(ok & (code >= 0))
        e, c, who = emb[keep], code[keep], ids[keep]
        counts = np.zeros((len(names), nt + 1), np.int64)
        n_gen = np.zeros(len(names), np.int64)
        cols = np.arange(len(keep))
        for s in range(0, len(keep), block):
            rows = np.arange(s, min(len(keep), s + block))
            within = (cols[None, :] > rows[:, None]) & (c[rows][:, None] == c[None, :])
            same = who[rows][:, None] == who[None, :]
            imp = within & ~same
            n_gen += np.bincount(np.broadcast_to(c[rows][:, None], same.shape)[within & same], minlength=len(names))
            sims = (e[rows] @ e.T)[imp]
            # Index of the first threshold above each score: the score is >= every threshold before it.
            pos = np.searchsorted(t, sims, side="right")
            key = np.broadcast_to(c[rows][:, None], imp.shape)[imp] * (nt + 1) + pos
            counts += np.bincount(key, minlength=counts.size).reshape(counts.shape)
        for k, g in enumerate(names):
            n_imp = int(counts[k].sum())
            # count of scores >= t_j = scores whose position is > j.
            ge = np.cumsum(counts[k][::-1])[::-1][1:]
            out[g] = (n_imp, int(n_gen[k]), ge / max(n_imp, 1))
    return out


def group_pair_scores(
    emb: np.ndarray, ok: np.ndarray, labels: list[str], groups: GroupLabels
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Impostor and genuine scores of the pairs within each group (both images in it); for small sets."""
    group_imp: dict[str, np.ndarray] = {}
    group_gen: dict[str, np.ndarray] = {}
    for lab in groups.attributes.values():
        names = sorted(set(lab.tolist()) - {""})
        lookup = {g: k for k, g in enumerate(names)}
        code = np.array([lookup.get(x, -1) for x in lab], np.int64)
        # Only labelled images matter here: dropping the rest keeps the pair arrays small.
        sel = ok & (code >= 0)
        gen, imp, gg, gi = _pairs(emb, sel, labels, code)
        for k, g in enumerate(names):
            group_imp[g] = imp[gi == k]
            group_gen[g] = gen[gg == k]
    return group_imp, group_gen


def fair_data(
    data: Path,
    pack: str,
    model_version: str,
    settings: Settings,
    cache_dir: Path | None,
    clusters: int | None = None,
    seed: int = 0,
    progress: Callable[[str, int, int], None] | None = None,
) -> FairCalibration:
    """The fair calibration `facesearch calibrate` writes beside the table: fitted on LFW View 1 (the same
    images as the table) or on every image of a folder. Only identity labels are used (same person or not);
    group labels never enter the fit."""
    from evaluation.datasets import folder_dataset, lfw_all, lfw_pairs_set
    from evaluation.embed import embed_full

    def bar(stage: str) -> Callable[[int, int], None] | None:
        return (lambda d, t: progress(stage, d, t)) if progress else None

    if (data / "pairsDevTrain.txt").is_file() and (data / "deepfunneled").is_dir():
        ds, _ = lfw_pairs_set(data, ["pairsDevTrain.txt", "pairsDevTest.txt"], "lfw-view1")
        full = lfw_all(data)
        fe = embed_full(full, pack, settings, cache_dir, progress=bar("embedding LFW"))
        pos = {p: i for i, p in enumerate(full.images)}
        v1 = np.array([pos[p] for p in ds.images])
        emb, ok, labels = fe.emb[v1], fe.ok[v1], ds.labels
        label = "LFW View 1 (pairsDevTrain + pairsDevTest images, deep-funneled)"
    else:
        ds = folder_dataset(data)
        e = embed_full(ds, pack, settings, cache_dir, progress=bar(f"embedding {ds.name}"))
        emb, ok, labels, label = e.emb, e.ok, ds.labels, f"folder {data.name}"
    keep = np.flatnonzero(ok)
    ident = np.unique(np.asarray(labels), return_inverse=True)[1][keep]
    # About 50 faces per cluster worked best on LFW (docs/calibration.md); a small folder gets fewer clusters.
    k = clusters or max(2, min(FAIR_CLUSTERS, len(keep) // 50))
    return fit_fair(
        emb[keep],
        ident,
        pack,
        model_version,
        label,
        clusters=k,
        seed=seed,
        pair_mode=FAIR_MODE,
        decision_clusters=FAIR_DECISION_CLUSTERS,
    )
