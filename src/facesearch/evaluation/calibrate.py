"""Build a pack's calibration table from every genuine and impostor pair of a labelled set."""

from __future__ import annotations

import numpy as np

from ..calibration import CalibrationTable, build_table
from .datasets import LabelledSet


def all_pair_scores(emb: np.ndarray, ok: np.ndarray, labels: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Scores of every unordered pair of detected images: (genuine, impostor)."""
    keep = np.flatnonzero(ok)
    e = emb[keep]
    lab = np.asarray([labels[i] for i in keep])
    _, codes = np.unique(lab, return_inverse=True)
    genuine, impostor = [], []
    block = 2048
    for s in range(0, len(e), block):
        sims = e[s:s + block] @ e.T
        rows = np.arange(s, min(s + block, len(e)))
        upper = np.arange(len(e))[None, :] > rows[:, None]
        same = codes[rows][:, None] == codes[None, :]
        genuine.append(sims[upper & same])
        impostor.append(sims[upper & ~same])
    return np.concatenate(genuine), np.concatenate(impostor)


def calibrate_set(ds: LabelledSet, emb: np.ndarray, ok: np.ndarray, pack: str, model_version: str,
                  dataset_label: str) -> CalibrationTable:
    genuine, impostor = all_pair_scores(emb, ok, ds.labels)
    method = (f"all {len(genuine)} genuine and {len(impostor)} impostor pairs among the {int(ok.sum())} of "
              f"{len(ok)} images where a face was found (the face nearest the image centre); "
              "FMR = share of impostor pairs scoring >= threshold, FNMR = share of genuine pairs scoring below")
    return build_table(pack, model_version, genuine, impostor, dataset_label, method)
