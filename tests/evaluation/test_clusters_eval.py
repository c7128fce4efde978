"""Clustering metrics and the clustering itself on small known arrays: pairwise and BCubed figures worked out
by hand, the same-image rule, constraints, and the link threshold taken from a calibration table."""

from __future__ import annotations

import numpy as np
import pytest

from evaluation.clusters import scores
from facesearch.calibration.tables import load_table
from facesearch.services import clustering


def test_scores_by_hand() -> None:
    # truth: a a a b b; predicted: {a a} {a b b}
    r = scores(np.array([0, 0, 1, 1, 1]), np.array(["a", "a", "a", "b", "b"]))
    # pairs put together: (0,1) right, (2,3) (2,4) wrong, (3,4) right -> precision 2/4; truth pairs 3 + 1 = 4
    assert r["pairwise_precision"] == pytest.approx(0.5) and r["pairwise_recall"] == pytest.approx(0.5)
    # BCubed precision per item: 1, 1, 1/3, 2/3, 2/3; recall: 2/3, 2/3, 1/3, 1, 1
    assert r["bcubed_precision"] == pytest.approx((1 + 1 + 1 / 3 + 2 / 3 + 2 / 3) / 5)
    assert r["bcubed_recall"] == pytest.approx((2 / 3 + 2 / 3 + 1 / 3 + 1 + 1) / 5)
    assert r["people_found"] == 2 and r["people_true"] == 2


def _blobs(rng: np.random.Generator, people: int, per: int, dim: int = 32, noise: float = 0.05) -> np.ndarray:
    centres = clustering.normalise(rng.standard_normal((people, dim)))
    return clustering.normalise(np.repeat(centres, per, 0) + rng.standard_normal((people * per, dim)) * noise)


def test_cluster_finds_people_and_keeps_constraints() -> None:
    rng = np.random.default_rng(3)
    emb = _blobs(rng, 6, 5)
    truth = np.repeat(np.arange(6), 5)
    images = np.arange(30)
    labels = clustering.cluster(emb, images, 0.8, k=8)
    assert scores(labels, truth)["bcubed_f1"] == 1.0
    # Two faces of one image: never one person, however alike.
    images2 = images.copy()
    images2[1] = images2[0]
    labels2 = clustering.cluster(emb, images2, 0.8, k=8)
    assert labels2[0] != labels2[1] and clustering.same_image_merges(labels2, images2) == 0
    # Cannot-link splits a person; must-link joins two; exclusive labels (names) keep people apart.
    cons = clustering.Constraints(cannot_link=[(np.array([0, 1]), np.array([2, 3, 4]))], must_link=[np.array([5, 10])])
    labels3 = clustering.cluster(emb, images, 0.8, k=8, constraints=cons)
    assert labels3[0] == labels3[1] != labels3[2] == labels3[3] and labels3[5] == labels3[10]
    ex = np.full(30, -1)
    ex[5], ex[6] = 0, 1
    labels4 = clustering.cluster(emb, images, 0.8, k=8, constraints=clustering.Constraints(exclusive=ex))
    assert labels4[5] != labels4[6]


def test_link_threshold_tightens_with_gallery_size() -> None:
    table = load_table("yunet-reid")
    small, why = clustering.link_threshold(table, 100)
    big, _ = clustering.link_threshold(table, 1_000_000)
    assert small < big and "false links per face" in why
    assert small == table.threshold_for_fmr(1e-3)  # never looser than a 1:1 verification


def test_templates_and_assign() -> None:
    rng = np.random.default_rng(5)
    emb = _blobs(rng, 3, 4)
    labels = np.repeat(np.arange(3), 4)
    tmpl = clustering.templates(emb, labels, np.linspace(0.1, 1, 12))
    assert np.allclose(np.linalg.norm(tmpl, axis=1), 1)
    new = _blobs(np.random.default_rng(5), 3, 1)
    got = clustering.assign(new, np.array([100, 100, 101]), tmpl, [set(), set(), set()], 0.8)
    assert sorted(got.tolist()) == [0, 1, 2]
    # A person who already has a face of that photo is not joined.
    got = clustering.assign(new[:1], np.array([7]), tmpl, [{7}, set(), set()], 0.8)
    assert got[0] == -1
