"""The k nearest neighbours of every vector of a set among the others (the graph people clustering links).

Exact below APPROX_FROM vectors: a flat inner-product search of the set against itself, in batches, on every
core. Above it, approximate: an inverted file over the set (lists ~ 4 sqrt(n), k-means on a sample), each
vector searched in the KNN_NPROBE lists nearest to it, in batches of queries split between the cores. The
lists hold the float vectors themselves (IndexIVFFlat), so every neighbour found has its exact similarity;
what the approximation can cost is a neighbour in a list not probed, and the neighbours that clustering
links (similarity at or above the link threshold, well above chance) sit in the vector's own list or the
next few. The exact search costs n^2 (100k faces: minutes on two cores, 1M: hours); the approximate one
about n * KNN_NPROBE * sqrt(n) / 4 (1M: about two minutes). See docs/scaling.md for the measurements.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from . import kinds as K

# From this many vectors the graph is approximate (below it the exact search takes seconds).
APPROX_FROM = 50_000
# Lists each vector is searched in: enough that links above the threshold are found as by the exact search.
KNN_NPROBE = 16
# Queries per search call: bounds the memory of the answers in flight and lets progress be reported.
BATCH = 65_536


def knn_graph(
    emb: np.ndarray,
    k: int,
    *,
    threads: int | None = None,
    approx_from: int = APPROX_FROM,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(similarities, neighbour rows), each (n, k), the row itself left out; -1 / -inf where fewer exist.

    `emb`: (n, dim) unit vectors. `threads`: cores to use (default all). `progress(done, n)` after each batch."""
    import faiss

    emb = np.ascontiguousarray(emb, np.float32)
    n, dim = emb.shape
    out_s = np.full((n, k), -np.inf, np.float32)
    out_i = np.full((n, k), -1, np.int64)
    if n == 0 or k <= 0:
        return out_s, out_i
    faiss.omp_set_num_threads(threads or faiss.omp_get_max_threads())
    kk = min(k + 1, n)
    index: faiss.Index
    params: faiss.SearchParameters | None = None
    if n >= approx_from:
        nlist = K.ivf_nlist(n)
        quantizer = faiss.IndexFlatIP(dim)
        index = faiss.IndexIVFFlat(quantizer, dim, nlist, faiss.METRIC_INNER_PRODUCT)
        index.cp.niter = K.IVF_KMEANS_ITER
        rng = np.random.default_rng(0)
        sample = emb[np.sort(rng.choice(n, min(n, K.IVF_TRAIN_PER_LIST * nlist, K.IVF_TRAIN_MAX), replace=False))]
        index.train(sample)
        index.add(emb)
        params = faiss.SearchParametersIVF()
        params.nprobe = min(nlist, KNN_NPROBE)
        index.parallel_mode = 0  # over the queries of a batch
    else:
        index = faiss.IndexFlatIP(dim)
        index.add(emb)
    for start in range(0, n, BATCH):
        stop = min(n, start + BATCH)
        sims, idx = index.search(emb[start:stop], kk, params=params)
        _drop_self(sims, idx, np.arange(start, stop), out_s[start:stop], out_i[start:stop])
        if progress is not None:
            progress(stop, n)
    del index
    return out_s, out_i


def _drop_self(sims: np.ndarray, idx: np.ndarray, rows: np.ndarray, out_s: np.ndarray, out_i: np.ndarray) -> None:
    """Write each row's neighbours without the row itself into out_s / out_i: one entry per row goes, the row
    itself or, where ties or an approximate search left it out, the last."""
    m, kk = idx.shape
    drop = idx == rows[:, None]
    drop[drop.sum(1) == 0, -1] = True
    keep = ~drop
    s = sims[keep].reshape(m, kk - 1)
    i = idx[keep].reshape(m, kk - 1)
    out_s[:, : kk - 1], out_i[:, : kk - 1] = s, i
    out_s[out_i < 0] = -np.inf
