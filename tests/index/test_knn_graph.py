"""The k-nearest-neighbour graph people clustering links: exact for small sets, an inverted file above; both
leave each vector itself out and pad with -1 when fewer neighbours exist."""

from __future__ import annotations

import numpy as np

from facesearch.index.knn_graph import knn_graph


def _people(n_people: int, per: int, dim: int = 32, noise: float = 0.35, seed: int = 0) -> np.ndarray:
    """Photos of people: unit centres with a decaying spread per dimension (face embeddings have a low
    intrinsic dimension), each photo the centre plus noise of norm `noise`."""
    rng = np.random.default_rng(seed)
    spread = (np.arange(dim) + 1.0) ** -0.5
    centres = (rng.standard_normal((n_people, dim)) * spread / np.sqrt(np.mean(spread**2))).astype(np.float32)
    x = np.repeat(centres / np.linalg.norm(centres, axis=1, keepdims=True), per, 0)
    x += rng.standard_normal(x.shape).astype(np.float32) * np.float32(noise / np.sqrt(dim))
    out: np.ndarray = x / np.linalg.norm(x, axis=1, keepdims=True)
    return out


def test_exact_graph_leaves_each_row_out_and_pads() -> None:
    emb = _people(3, 2)
    sims, idx = knn_graph(emb, 8)
    assert sims.shape == idx.shape == (6, 8)
    assert not (idx == np.arange(6)[:, None]).any()
    assert (idx[:, :5] >= 0).all() and (idx[:, 5:] == -1).all() and np.isneginf(sims[:, 5:]).all()
    assert (idx[::2, 0] == np.arange(1, 6, 2)).all()  # each person's other photo is nearest
    assert (np.diff(sims[:, :5], axis=1) <= 1e-6).all()


def test_approximate_graph_finds_the_links_the_exact_one_finds() -> None:
    emb = _people(2000, 5, dim=128, noise=0.8)  # 10,000 faces, 5 photos of each person
    exact_s, exact_i = knn_graph(emb, 10)
    approx_s, approx_i = knn_graph(emb, 10, approx_from=0, progress=lambda done, n: None)
    assert approx_i.shape == exact_i.shape and not (approx_i == np.arange(len(emb))[:, None]).any()
    strong = exact_s >= 0.5  # photos of one person (cosine ~0.6, as faces); strangers 0 +- 0.09
    found = sum(len(set(e[s].tolist()) & set(a.tolist())) for e, s, a in zip(exact_i, strong, approx_i))
    assert strong.sum() >= 0.95 * 10_000 * 4 and found / strong.sum() >= 0.99
    # Every neighbour found carries its exact similarity (the lists hold the vectors themselves).
    rows = np.arange(len(emb))[:, None].repeat(10, 1)
    ok = approx_i >= 0
    np.testing.assert_allclose(approx_s[ok], np.sum(emb[rows[ok]] * emb[approx_i[ok]], axis=1), atol=1e-5)
