"""Build a pack's calibration table from every genuine and impostor pair of a labelled set."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..calibration import CalibrationTable, build_table
from .datasets import LabelledSet
from .groups import GroupLabels, lfw_demographics


def all_pair_scores(emb: np.ndarray, ok: np.ndarray, labels: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Scores of every unordered pair of detected images: (genuine, impostor)."""
    genuine, impostor, _, _ = _pairs(emb, ok, labels, None)
    return genuine, impostor


def _pairs(emb: np.ndarray, ok: np.ndarray, labels: list[str], group: np.ndarray | None
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
        sims = e[s:s + block] @ e.T
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


def calibrate_set(ds: LabelledSet, emb: np.ndarray, ok: np.ndarray, pack: str, model_version: str,
                  dataset_label: str, groups: GroupLabels | None | bool = True) -> CalibrationTable:
    """groups: labels for the worst-group policy; True = LFW demographics when found; None/False = none."""
    labels = default_groups(ds) if groups is True else (groups or None)
    group_imp: dict[str, np.ndarray] = {}
    group_gen: dict[str, np.ndarray] = {}
    genuine = impostor = None
    if labels:
        for lab in labels.attributes.values():
            names = sorted(set(lab.tolist()) - {""})
            lookup = {g: k for k, g in enumerate(names)}
            code = np.array([lookup.get(x, -1) for x in lab], np.int64)
            gen, imp, gg, gi = _pairs(emb, ok, ds.labels, code)
            genuine, impostor = gen, imp
            for k, g in enumerate(names):
                group_imp[g] = imp[gi == k]
                group_gen[g] = gen[gg == k]
    if genuine is None or impostor is None:
        genuine, impostor = all_pair_scores(emb, ok, ds.labels)
    method = (f"all {len(genuine)} genuine and {len(impostor)} impostor pairs among the {int(ok.sum())} of "
              f"{len(ok)} images where a face was found (the face nearest the image centre); "
              "FMR = share of impostor pairs scoring >= threshold, FNMR = share of genuine pairs scoring below")
    source = labels.source if labels else None
    if labels:
        method += ("; worst-group FMR from impostor pairs within each labelled group "
                   f"({', '.join(f'{g}: {len(v)}' for g, v in sorted(group_imp.items()))} pairs)")
    return build_table(pack, model_version, genuine, impostor, dataset_label, method,
                       group_impostors=group_imp or None, group_genuine=group_gen or None,
                       groups_source=str(Path(source).name) if source else None)
