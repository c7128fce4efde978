"""The k nearest neighbours of every vector of a set among the others (the graph people clustering links).

Exact below APPROX_FROM vectors: a flat inner-product search of the set against itself, in batches, on every
core. The exact search costs n^2 inner products: 100k faces take minutes on two cores, 1M would take hours.

Above it, approximate and batched by cell. k-means cuts the set into cells (~4 sqrt(n), as the IVF index);
an IVF search would look for a vector's neighbours in the KNN_PROBE cells whose centres are nearest it. Here
the vectors of one cell are searched together, by one matrix product, against every cell that any of them
would probe: a superset of each one's own cells, so the recall is at least an IVF search's with as many
probes, and the work is done in large matrix products rather than one vector at a time. Cells are shared
out between threads, one per core. Every neighbour found carries its exact similarity; what the
approximation can cost is a neighbour in a cell not searched, and the neighbours clustering links
(similarity at or above the link threshold, far above chance) sit in a vector's own cell or the next few.
Measurements (time at 1M faces, links found, BCubed F1 on LFW against the exact graph): docs/scaling.md.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from . import kinds as K

# From this many vectors the graph is approximate (below it the exact search takes seconds).
APPROX_FROM = 50_000
# Cells each cell's vectors are searched in (their own included).
KNN_PROBE = 64
# Queries per exact search call: bounds the memory of the answers in flight and lets progress be reported.
BATCH = 65_536


def knn_graph(
    emb: np.ndarray,
    k: int,
    *,
    threads: int | None = None,
    approx_from: int = APPROX_FROM,
    probe: int = KNN_PROBE,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(similarities, neighbour rows), each (n, k), best first, the row itself left out; -1 / -inf where fewer
    exist.

    `emb`: (n, dim) unit vectors. `threads`: cores to use (default all). `probe`: cells searched per cell
    (approximate graph). `progress(done, n)`: vectors whose neighbours are known so far."""
    import faiss

    emb = np.ascontiguousarray(emb, np.float32)
    n, dim = emb.shape
    out_s = np.full((n, k), -np.inf, np.float32)
    out_i = np.full((n, k), -1, np.int64)
    if n == 0 or k <= 0:
        return out_s, out_i
    threads = threads or faiss.omp_get_max_threads()
    kk = min(k + 1, n)
    if n < approx_from:
        faiss.omp_set_num_threads(threads)
        index = faiss.IndexFlatIP(dim)
        index.add(emb)
        for start in range(0, n, BATCH):
            stop = min(n, start + BATCH)
            sims, idx = index.search(emb[start:stop], kk)
            _drop_self(sims, idx, np.arange(start, stop), out_s[start:stop], out_i[start:stop])
            if progress is not None:
                progress(stop, n)
        return out_s, out_i
    _by_cells(emb, kk, threads, probe, out_s, out_i, progress)
    return out_s, out_i


def _by_cells(
    emb: np.ndarray,
    kk: int,
    threads: int,
    probe: int,
    out_s: np.ndarray,
    out_i: np.ndarray,
    progress: Callable[[int, int], None] | None,
) -> None:
    """The approximate graph (module docstring), written into out_s / out_i."""
    import faiss

    n, dim = emb.shape
    nlist = K.ivf_nlist(n)
    faiss.omp_set_num_threads(threads)
    rng = np.random.default_rng(0)
    sample = emb[np.sort(rng.choice(n, min(n, K.IVF_TRAIN_PER_LIST * nlist, K.IVF_TRAIN_MAX), replace=False))]
    km = faiss.Kmeans(dim, nlist, niter=K.IVF_KMEANS_ITER, spherical=True, seed=1, max_points_per_centroid=256)
    km.train(sample)
    centres = faiss.IndexFlatIP(dim)
    centres.add(km.centroids)
    # Each vector's `probe` nearest centres (its own cell first), in batches.
    near = np.empty((n, min(probe, nlist)), np.int32)
    for start in range(0, n, BATCH):
        near[start : start + BATCH] = centres.search(emb[start : start + BATCH], near.shape[1])[1]
    home = near[:, 0]
    order = np.argsort(home, kind="stable")
    ends = np.cumsum(np.bincount(home, minlength=nlist))
    begins = ends - np.bincount(home, minlength=nlist)
    # One thread per core, each running whole cells; FAISS itself on one thread inside each.
    faiss.omp_set_num_threads(1)
    done = 0
    lock = threading.Lock()

    def cell(c: int) -> None:
        nonlocal done
        rows = order[begins[c] : ends[c]]
        if len(rows) == 0:
            return
        # Every cell any of these vectors would probe: a search of each vector's own `probe` cells, and more.
        cells = np.unique(near[rows])
        pool = np.concatenate([order[begins[j] : ends[j]] for j in cells if j >= 0])
        take = min(kk, len(pool))
        sims, idx = faiss.knn(emb[rows], emb[pool], take, metric=faiss.METRIC_INNER_PRODUCT)
        got = np.where(idx >= 0, pool[np.maximum(idx, 0)], -1)
        s = np.full((len(rows), kk), -np.inf, np.float32)
        i = np.full((len(rows), kk), -1, np.int64)
        s[:, :take], i[:, :take] = sims, got
        ks, ki = out_s[rows], out_i[rows]
        _drop_self(s, i, rows, ks, ki)
        out_s[rows], out_i[rows] = ks, ki
        if progress is not None:
            with lock:
                done += len(rows)
                progress(done, n)

    try:
        with ThreadPoolExecutor(max_workers=threads) as pool_:
            list(pool_.map(cell, range(nlist)))
    finally:
        faiss.omp_set_num_threads(threads)


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
