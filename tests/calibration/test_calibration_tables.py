"""Calibration tables: shipped ones are monotone and usable; the worst-group policy moves thresholds up."""

from __future__ import annotations

import json

import numpy as np
import pytest

from evaluation.calibrate import group_fmr_curves, group_pair_scores
from evaluation.groups import GroupLabels
from facesearch.calibration.tables import (
    CalibrationTable,
    build_table,
    load_table,
    search_point,
    table_path,
    verify_point,
)


@pytest.mark.parametrize("pack", ["yunet-reid", "dlib"])
def test_shipped_table_is_monotone(pack: str) -> None:
    if not table_path(pack).is_file():
        pytest.skip(f"no shipped table for {pack} yet")
    t = load_table(pack)
    th, fmr, fnmr = np.array(t.thresholds), np.array(t.fmr), np.array(t.fnmr)
    assert np.all(np.diff(th) > 0)
    assert np.all(np.diff(fmr) <= 0) and np.all(np.diff(fnmr) >= 0)
    assert fmr[0] == 1.0 and fmr[-1] == 0.0
    scores = np.linspace(-1, 1, 2001)
    f = t.fmr_at(scores)
    assert np.all(np.diff(f) <= 1e-12) and np.all(f >= t.fmr_floor * (1 - 1e-9))
    # Stricter targets never lower the threshold.
    targets = [1e-1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6]
    ths = [t.threshold_for_fmr(x) for x in targets]
    assert ths == sorted(ths)
    for x, thr in zip(targets, ths):
        assert t.decision_fmr()[t.thresholds.index(thr)] <= max(x, t.fmr_floor)
    if t.worst_group_fmr is not None:
        assert t.groups and any(v["measurable"] for v in t.groups.values())
        assert np.all(np.diff(t.worst_group_fmr) <= 0)


def _synthetic(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.normal(0.7, 0.1, 2000), rng.normal(0.0, 0.15, 200_000)


def test_worst_group_policy_raises_threshold_and_keeps_fmr_meaning() -> None:
    gen, imp = _synthetic()
    rng = np.random.default_rng(1)
    groups = {
        "a": rng.normal(0.0, 0.15, 50_000),
        "b": rng.normal(0.08, 0.15, 50_000),
        "tiny": rng.normal(0.3, 0.15, 500),
    }  # too small to count, however bad it looks
    plain = build_table("p", "v", gen, imp, "synthetic", "test")
    policy = build_table("p", "v", gen, imp, "synthetic", "test", group_impostors=groups)
    assert plain.worst_group_fmr is None and policy.worst_group_fmr is not None
    assert policy.groups["tiny"]["measurable"] is False and policy.groups["b"]["measurable"] is True
    t_plain, t_policy = plain.threshold_for_fmr(1e-3), policy.threshold_for_fmr(1e-3)
    assert t_policy > t_plain
    # Group "b" meets the target at the policy threshold.
    assert (groups["b"] >= t_policy).mean() <= 1e-3 + 1e-9
    assert (groups["tiny"] >= t_policy).mean() > 1e-3  # tiny is not what drives it
    # The FMR shown for a score is still the all-pairs rate.
    assert float(policy.fmr_at(0.4)) == pytest.approx(float(plain.fmr_at(0.4)))
    op = verify_point(policy, 1e-3)
    assert op.threshold == t_policy and "worst measured group" in op.reason
    sp = search_point(policy, 1e-2, 100)
    assert sp.threshold >= policy.threshold_for_fmr(1e-3)
    assert json.loads(policy.to_json())["worst_group_fmr"]
    assert CalibrationTable.from_dict(json.loads(policy.to_json())).threshold_for_fmr(1e-3) == t_policy


def test_group_curves_blockwise_equal_exact_counts() -> None:
    rng = np.random.default_rng(3)
    n = 400
    emb = rng.normal(size=(n, 8)).astype(np.float32)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    labels = [f"id{i // 4}" for i in range(n)]
    grp = np.array(["x" if (i // 4) % 3 else "y" for i in range(n)])
    grp[:8] = ""  # unlabelled
    gl = GroupLabels({"g": grp}, "test", [])
    ok = np.ones(n, bool)
    ok[10] = False
    thresholds = np.linspace(-1, 1, 41)
    curves = group_fmr_curves(emb, ok, labels, gl, thresholds, block=37)
    imp, gen = group_pair_scores(emb, ok, labels, gl)
    for g in ("x", "y"):
        n_imp, n_gen, fmr = curves[g]
        assert n_imp == len(imp[g]) and n_gen == len(gen[g])
        exact = np.array([(imp[g] >= t).mean() for t in thresholds])
        assert np.allclose(fmr, exact)


@pytest.mark.parametrize("pack", ["yunet-reid", "dlib"])
def test_shipped_fair_calibration_matches_its_table(pack: str) -> None:
    from facesearch.calibration.fair import fair_path, load_fair

    if not fair_path(pack).is_file():
        pytest.skip(f"no shipped fair calibration for {pack}")
    fair, table = load_fair(pack), load_table(pack)
    assert fair is not None
    # Versioned together: both describe the same weights, fitted on the same calibration set.
    assert fair.model_version == table.model_version and fair.dataset == table.dataset
    assert fair.margin >= 1.0 and fair.fmr_floor == pytest.approx(table.fmr_floor, rel=0.01)
    assert len(fair.cluster_thresholds) in (fair.clusters, fair.clusters + 1)
    assert all(np.all(np.diff(t) >= -1e-9) for t in fair.cluster_thresholds)
