"""Protocol arithmetic on synthetic arrays: k-fold accuracy, TAR@FAR, open-set ranks and rates, intervals."""

from __future__ import annotations

import numpy as np
import pytest

from evaluation import metrics, protocols
from evaluation.datasets import LabelledSet
from evaluation.embed import Embedded


def test_best_threshold_separates_perfectly() -> None:
    scores = np.array([0.1, 0.2, 0.3, 0.7, 0.8, 0.9])
    same = np.array([False, False, False, True, True, True])
    t = metrics.best_threshold(scores, same)
    assert 0.3 < t < 0.7


def test_kfold_counts_failures_to_detect_as_errors() -> None:
    rng = np.random.default_rng(0)
    n = 200
    same = np.arange(n) % 2 == 0
    scores = np.where(same, 0.8, 0.1) + rng.normal(0, 0.01, n)
    fold = np.arange(n) // 20
    valid = np.ones(n, bool)
    assert metrics.kfold_accuracy(scores, same, fold, valid)["mean"] == 1.0
    valid[:10] = False  # 10 pairs in fold 0 where a face was not found
    acc = metrics.kfold_accuracy(scores, same, fold, valid)
    assert acc["folds"][0] == pytest.approx(0.5)
    assert acc["mean"] == pytest.approx(0.95)
    assert acc["failed_pairs"] == 10


def test_tar_at_far_and_unmeasurable_targets() -> None:
    impostor = np.linspace(0, 0.5, 1000)
    genuine = np.linspace(0.4, 1.0, 1000)
    out = metrics.tar_at_far(genuine, impostor, (1e-2, 1e-4))
    assert out["0.01"]["far"] <= 0.01
    # 10 impostors may score at or above the threshold: it sits just above the 11th highest.
    assert out["0.01"]["threshold"] == pytest.approx(impostor[-11], abs=1e-6)
    assert out["0.0001"]["tar"] is None and "not measurable" in out["0.0001"]["note"]


def test_wilson_interval_contains_rate_and_handles_zero() -> None:
    lo, hi = metrics.wilson(0, 1000)
    assert lo == 0 and 0 < hi < 0.005
    lo, hi = metrics.wilson(50, 100)
    assert lo < 0.5 < hi


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_open_set_search_ranks_and_rates() -> None:
    rng = np.random.default_rng(1)
    centres = _unit(rng.normal(size=(50, 32)))
    gallery, gallery_ids = centres[:40], np.arange(40)
    mated = _unit(centres[:40] + rng.normal(0, 0.05, (40, 32)))
    nonmated = _unit(centres[40:] + rng.normal(0, 0.05, (10, 32)))
    probes = np.concatenate([mated, nonmated])
    ids = np.arange(50)
    is_mated = ids < 40
    ok = np.ones(50, bool)
    ok[0] = False  # no face in the first probe: a miss, never a false hit
    res = metrics.open_set_search(gallery, gallery_ids, probes, ok, ids, is_mated, block=7)
    assert res.gallery_size == 40
    assert res.mated_rank[0] == 0 and np.all(res.mated_rank[1:] == 1)
    assert res.rank_k(1) == pytest.approx(39 / 40)
    assert float(res.fpir(res.nonmated_top.max() + 1e-6)) == 0.0
    t = res.threshold_at_fpir(0.1)  # one of 10 non-mated probes may pass
    assert float(res.fpir(t)) <= 0.1
    assert res.tpir_at_fpir((0.1,))["0.1"]["tpir"] == pytest.approx(39 / 40)
    _, fpir, fnir = res.det()
    assert np.all(np.diff(fpir) >= 0) and np.all(np.diff(fnir) <= 0)


def test_open_set_split_lfw_rule_and_fallback(tmp_path) -> None:
    labels = [f"p{i}" for i in range(10) for _ in range(3)] + [f"s{i}" for i in range(40)]
    ok = np.ones(len(labels), bool)
    keep = np.ones(len(labels), bool)
    split = protocols.open_set_split(labels, ok, keep, seed=3)
    assert len(split.mated) == 20 and len(split.nonmated) == 20 and split.distractors == 20
    assert len(split.gallery) == 30
    assert not set(split.gallery) & set(split.mated) and not set(split.gallery) & set(split.nonmated)
    again = protocols.open_set_split(labels, ok, keep, seed=3)
    assert np.array_equal(split.gallery, again.gallery)  # reproducible
    # AT&T-like: everyone has several photos, so a quarter of the people are held out.
    att = [f"s{i}" for i in range(8) for _ in range(5)]
    s2 = protocols.open_set_split(att, np.ones(40, bool), np.ones(40, bool), seed=0)
    assert len(s2.nonmated) == 10 and len(s2.gallery) == 6 and len(s2.mated) == 24


def test_make_pairs_folds_share_no_person(tmp_path) -> None:
    labels = [f"p{i}" for i in range(30) for _ in range(4)]
    ds = LabelledSet("x", tmp_path, [tmp_path / f"{i}.jpg" for i in range(len(labels))], labels)
    pairs = protocols.make_pairs(ds, np.ones(len(labels), bool), seed=0, folds=5, per_fold=10)
    lab = np.array(labels)
    first, second, fold = np.array(pairs.first), np.array(pairs.second), np.array(pairs.fold)
    assert np.array_equal(lab[first] == lab[second], np.array(pairs.same))
    people_per_fold = [set(lab[first[fold == f]]) | set(lab[second[fold == f]]) for f in range(5)]
    for a in range(5):
        for b in range(a + 1, 5):
            assert not people_per_fold[a] & people_per_fold[b]


def test_all_pairs_histogram_matches_exact_counts(tmp_path) -> None:
    rng = np.random.default_rng(2)
    n = 300
    labels = [f"p{i // 3}" for i in range(n)]
    emb = _unit(rng.normal(size=(n, 16))).astype(np.float32)
    e = Embedded(
        emb,
        np.ones(n, bool),
        np.ones(n, np.float32),
        np.zeros((n, 4), np.float32),
        np.zeros((n, 5, 2), np.float32),
        np.ones(n, np.float32),
        np.zeros(n, np.uint8),
        np.ones(n, np.int16),
        np.ones(n, np.float32),
    )
    ap = protocols.all_pairs(e, labels, np.ones(n, bool), None, block=64)
    sims = emb @ emb.T
    iu = np.triu_indices(n, 1)
    lab = np.array(labels)
    same = lab[iu[0]] == lab[iu[1]]
    assert len(ap.genuine) == same.sum() and ap.n_impostor == (~same).sum()
    imp = sims[iu][~same]
    for t in (0.0, 0.2, 0.5):
        assert ap.fmr(t) == pytest.approx((imp >= t).mean(), abs=2e-3)
    assert ap.top_imp[0, 2] == pytest.approx(imp.max(), abs=1e-6)


def test_groups_csv_by_identity_or_image(tmp_path) -> None:
    from evaluation.groups import read_groups_csv

    root = tmp_path / "set"
    images = [root / "ann" / "1.jpg", root / "ann" / "2.jpg", root / "bob" / "1.jpg"]
    ds = LabelledSet("x", root, images, ["ann", "ann", "bob"])
    by_id = tmp_path / "ids.csv"
    by_id.write_text("identity,group\nann,g1\nbob,g2\n")
    assert read_groups_csv(by_id, ds).attributes["group"].tolist() == ["g1", "g1", "g2"]
    by_img = tmp_path / "imgs.csv"
    by_img.write_text("image,group\nann/2.jpg,g3\n1.jpg,g4\n")
    # A relative path wins; a bare file name matches any folder.
    assert read_groups_csv(by_img, ds).attributes["group"].tolist() == ["g4", "g3", "g4"]
    bad = tmp_path / "bad.csv"
    bad.write_text("name,label\nann,g1\n")
    with pytest.raises(ValueError, match="identity,group"):
        read_groups_csv(bad, ds)


def test_exclusion_list_matches_images_and_identities(tmp_path) -> None:
    from evaluation.datasets import excluded_mask, read_exclusions

    root = tmp_path / "set"
    images = [root / "ann" / "ann_1.jpg", root / "ann" / "ann_2.jpg", root / "bob" / "bob_1.jpg"]
    ds = LabelledSet("x", root, images, ["ann", "ann", "bob"])
    f = tmp_path / "ex.txt"
    f.write_text("# comment\nann_2.jpg  # one photo\nbob\n\n")
    assert excluded_mask(ds, read_exclusions(f)).tolist() == [False, True, True]


def test_evaluate_reports_calibrated_and_uncalibrated_side_by_side(tmp_path, monkeypatch) -> None:
    from pathlib import Path

    from evaluation import runner
    from evaluation.groups import GroupLabels
    from facesearch.calibration.fair import fit_fair
    from facesearch.config import Settings

    rng = np.random.default_rng(5)
    n_people, per = 80, 4
    people = _unit(rng.normal(size=(n_people, 32)))
    labels = [f"p{i}" for i in range(n_people) for _ in range(per)] + [f"s{i}" for i in range(60)]
    emb = np.concatenate(
        [
            _unit(np.repeat(people, per, 0) + 0.35 * rng.normal(size=(n_people * per, 32)) / 4),
            _unit(rng.normal(size=(60, 32))),
        ]
    ).astype(np.float32)
    n = len(labels)
    e = Embedded(
        emb,
        np.ones(n, bool),
        np.ones(n, np.float32),
        np.zeros((n, 4), np.float32),
        np.zeros((n, 5, 2), np.float32),
        np.ones(n, np.float32),
        np.zeros(n, np.uint8),
        np.ones(n, np.int16),
        np.ones(n, np.float32),
    )
    ds = LabelledSet("syn", tmp_path, [tmp_path / f"{i}.jpg" for i in range(n)], labels)
    group = np.array(["a" if i % 2 else "b" for i in range(n)])
    ident = np.unique(np.asarray(labels), return_inverse=True)[1]
    fc = fit_fair(emb, ident, "synthetic", "v", "test", clusters=4, seed=0)
    monkeypatch.setattr(runner, "load_fair", lambda pack, override=None: fc)
    opts = runner.EvalOptions(
        pack="synthetic",
        out=tmp_path,
        cache_dir=None,
        groups=GroupLabels({"g": group}, "test", []),
        bootstrap_replicates=50,
    )
    r = runner.evaluate(ds, e, opts, Settings(home=Path(tmp_path)), np.ones(n, bool))
    r.pop("_internal")
    assert r["fair_calibration"]["clusters"] == 4
    for key in (
        "groups",
        "fmr_ratio",
        "fnmr_ratio",
        "verification",
        "identification",
        "search_modes",
        "bootstrap",
        "operating_points",
    ):
        assert key in r and key in r["uncalibrated"], key
    assert r["groups_thresholds"]["scale"] == "calibrated"
    assert r["uncalibrated"]["groups_thresholds"]["scale"] == "score"
    assert set(r["search_modes"]) == {"strict", "investigative"}
    for mode in r["search_modes"].values():
        assert 0 <= mode["fnir"] <= 1 and 0 <= mode["fpir"] <= 1
    assert r["search_modes"]["investigative"]["fnir"] <= r["search_modes"]["strict"]["fnir"]
    # Ranking is by raw score either way, so rank-1 is the same.
    assert r["identification"]["rank1"] == r["uncalibrated"]["identification"]["rank1"]
    b = r["bootstrap"]
    lo, hi = b["rank1"]["ci95"]
    assert lo <= b["rank1"]["value"] <= hi
    for g in ("a", "b"):
        assert "fmr_ci95_identities" in r["groups"][g] and "rank1_ci95_identities" in r["groups"][g]
    assert "fmr_ratio_ci95_identities" in r and "fmr_ratio_ci95_identities" in r["uncalibrated"]
