"""Fair calibration: the math on controlled synthetic embeddings, the runtime API, the shipped file, and the
identity bootstrap."""

from __future__ import annotations

import json

import numpy as np
import pytest

from evaluation import bootstrap, metrics
from facesearch.calibration.fair import FairCalibration, fair_path, fit_fair, kmeans, load_fair


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def two_groups(
    seed: int, per_group: int = 120, images: int = 3, dim: int = 24
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Group 0 spread over face space; group 1 packed around one direction, so two different people of
    group 1 score much higher than two of group 0 (a heavier impostor tail, as for some groups on LFW)."""
    centre = _unit(np.random.default_rng(1234).normal(size=dim))  # the same face space for every seed
    rng = np.random.default_rng(seed)
    people = np.concatenate(
        [
            _unit(rng.normal(size=(per_group, dim))),
            _unit(centre + 0.45 * rng.normal(size=(per_group, dim)) / np.sqrt(dim) * 4),
        ]
    )
    group = np.repeat([0, 1], per_group)
    emb = _unit(np.repeat(people, images, axis=0) + 0.25 * rng.normal(size=(len(people) * images, dim)) / 2)
    return emb.astype(np.float32), np.repeat(np.arange(len(people)), images), np.repeat(group, images)


def within_group_impostors(
    emb: np.ndarray, ident: np.ndarray, group: np.ndarray, g: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    idx = np.flatnonzero(group == g)
    a, b = np.triu_indices(len(idx), 1)
    a, b = idx[a], idx[b]
    imp = ident[a] != ident[b]
    return a[imp], b[imp], np.einsum("ij,ij->i", emb[a[imp]], emb[b[imp]])


@pytest.fixture(scope="module")
def fitted() -> FairCalibration:
    emb, ident, _ = two_groups(0)
    return fit_fair(emb, ident, "synthetic", "v", "two synthetic groups", clusters=6, seed=0, pair_mode="same")


@pytest.mark.parametrize("mode", ["same", "both", "midpoint"])
def test_fair_calibration_narrows_the_gap_between_groups(mode: str) -> None:
    fc = fit_fair(*two_groups(0)[:2], "synthetic", "v", "fit", clusters=6, seed=0, pair_mode=mode)
    emb, ident, group = two_groups(1)  # measured on other people than the fit
    target = 1e-2
    all_imp = np.concatenate([within_group_impostors(emb, ident, group, g)[2] for g in (0, 1)])
    raw_t = metrics.threshold_at_fmr(all_imp, target)
    raw, cal = [], []
    for g in (0, 1):
        a, b, s = within_group_impostors(emb, ident, group, g)
        raw.append((s >= raw_t).mean())
        cal.append(fc.decide(fc.fmr(emb[a], emb[b], s), target).mean())
    raw_ratio = max(raw) / max(min(raw), 1e-9)
    cal_ratio = max(cal) / max(min(cal), 1e-9)
    assert raw_ratio > 5  # the synthetic gap is real
    if mode == "same":
        # Own curves only for pairs inside one cluster: a group split over two clusters keeps part of its gap.
        assert cal_ratio < raw_ratio * 0.8
    else:
        assert cal_ratio < raw_ratio / 2.5
    # The calibrated value keeps its meaning over everyone: about the target on people not fitted on.
    assert 0.3 * target < float(np.mean(cal)) < 3 * target


def test_calibrated_fmr_is_monotone_in_score_within_a_cluster(fitted: FairCalibration) -> None:
    scores = np.linspace(-1, 1, 801)
    for k in range(fitted.clusters + 1):
        lf = fitted.log_fmr_clusters(np.full(len(scores), k), None, scores)
        assert np.all(np.diff(lf) <= 1e-12)
    assert np.all(fitted.cluster_log_fmr(np.zeros(len(scores), int), scores) <= 0)


def test_runtime_api_shapes_and_decisions(fitted: FairCalibration) -> None:
    emb, _, _ = two_groups(2)
    q, k = 3, 5
    probes, cands = emb[:q], emb[10 : 10 + q * k].reshape(q, k, -1)
    scores = np.einsum("qd,qkd->qk", probes, cands)
    f = fitted.fmr(probes, cands, scores)
    assert f.shape == (q, k) and np.all(f >= fitted.fmr_floor) and np.all(f <= 1)
    # Per pair, the same as the batched call.
    one = fitted.fmr(np.repeat(probes, k, 0), cands.reshape(q * k, -1), scores.reshape(-1))
    assert np.allclose(one.reshape(q, k), f)
    # A higher score never gets a higher FMR for the same two faces.
    assert np.all(fitted.fmr(probes, cands, scores + 0.1) <= f + 1e-12)
    d = fitted.decide(f, 1e-2)
    assert d.dtype == bool and np.array_equal(d, f <= 1e-2 * (1 + 1e-9))
    assert fitted.decide(np.array([fitted.fmr_floor]), 1e-30).all()  # targets below the floor are clamped


def test_round_trip_and_user_override(fitted: FairCalibration, tmp_path) -> None:
    (tmp_path / "synthetic.faircal.json").write_text(fitted.to_json())
    loaded = load_fair("synthetic", tmp_path)
    assert loaded is not None and loaded.clusters == fitted.clusters
    assert loaded.margin == fitted.margin >= 1.0 and "cross_fit" in fitted.fit
    emb, _, _ = two_groups(3)
    s = (emb[:20] * emb[20:40]).sum(1)
    assert np.allclose(loaded.fmr(emb[:20], emb[20:40], s), fitted.fmr(emb[:20], emb[20:40], s), rtol=1e-3)
    bad = json.loads(fitted.to_json()) | {"version": 99}
    (tmp_path / "x.faircal.json").write_text(json.dumps(bad))
    with pytest.raises(Exception, match="unsupported"):
        load_fair("x", tmp_path)


def test_shipped_fair_calibration_loads() -> None:
    if not fair_path("yunet-reid").is_file():
        pytest.skip("no shipped fair calibration for yunet-reid")
    fc = load_fair("yunet-reid")
    assert fc is not None and fc.pack == "yunet-reid" and fc.version == 1
    c = np.asarray(fc.centroids)
    assert c.shape == (fc.clusters, 256) and np.allclose(np.linalg.norm(c, axis=1), 1, atol=1e-3)
    rng = np.random.default_rng(0)
    v = _unit(rng.normal(size=(4, 256))).astype(np.float32)
    scores = np.array([0.1, 0.4, 0.6, 0.9])
    f = fc.fmr(v, v[::-1], scores)
    assert f.shape == (4,) and np.all(np.diff(fc.fmr(np.repeat(v[:1], 4, 0), np.repeat(v[1:2], 4, 0), scores)) <= 0)


def test_kmeans_finds_separated_clusters() -> None:
    rng = np.random.default_rng(0)
    centres = _unit(rng.normal(size=(4, 16)))
    x = _unit(np.repeat(centres, 50, 0) + 0.05 * rng.normal(size=(200, 16))).astype(np.float32)
    c = kmeans(x, 4, seed=1)
    assign = np.argmax(x @ c.T, 1)
    assert all(len(set(assign[i * 50 : (i + 1) * 50])) == 1 for i in range(4))
    assert len(set(assign)) == 4


def test_identity_bootstrap_is_wider_than_wilson_when_pairs_share_people() -> None:
    rng = np.random.default_rng(0)
    n_ids, per = 60, 5
    img_ident = np.repeat(np.arange(n_ids), per)
    # Three people with look-alikes cause every false match: pairs are far from independent.
    guilty = np.array([3, 17, 42])
    a, b = np.triu_indices(len(img_ident), 1)
    cross = img_ident[a] != img_ident[b]
    a, b = a[cross], b[cross]
    fm = np.isin(img_ident[a], guilty) & (rng.random(len(a)) < 0.05)
    k, n = int(fm.sum()), len(a)
    w = bootstrap.identity_weights(n_ids, 600, seed=1)
    boot = bootstrap.impostor_rate(w, img_ident, img_ident[a[fm]], img_ident[b[fm]])
    lo, hi = bootstrap.ci(boot)
    wl, wh = metrics.wilson(k, n)
    assert lo <= k / n <= hi
    assert (hi - lo) > 3 * (float(wh) - float(wl))
    # With all weights 1 the weighted rate is the plain rate.
    assert bootstrap.impostor_rate(np.ones((1, n_ids)), img_ident, img_ident[a[fm]], img_ident[b[fm]])[
        0
    ] == pytest.approx(k / n)
    r = bootstrap.unit_rate(np.ones((1, n_ids)), img_ident, img_ident % 2 == 0)
    assert r[0] == pytest.approx(0.5)


def test_look_alike_decision_curve_is_stricter_and_keeps_the_shown_fmr() -> None:
    emb, ident, _ = two_groups(0)
    plain = fit_fair(emb, ident, "synthetic", "v", "fit", clusters=6, seed=0, cross_fit=False)
    strict = fit_fair(emb, ident, "synthetic", "v", "fit", clusters=6, seed=0, cross_fit=False, decision_clusters=2)
    test, tid, group = two_groups(1)
    a, b, s = within_group_impostors(test, tid, group, 1)  # the heavy group
    for target in (1e-2, 1e-3):
        assert plain.decision_level(target) == pytest.approx(np.log10(target))
        assert strict.decision_level(target) <= np.log10(target) + 1e-12
    # The FMR shown is the same curve; only the decision moves.
    assert np.allclose(plain.fmr(test[a], test[b], s), strict.fmr(test[a], test[b], s))
    f = strict.fmr(test[a], test[b], s)
    assert strict.decide(f, 1e-2).mean() <= plain.decide(f, 1e-2).mean()
