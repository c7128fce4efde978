"""The k nearest neighbours of every vector of a set among the others (the graph people clustering links).

Exact below APPROX_FROM vectors: a flat inner-product search of the set against itself, in batches, on every
core. The exact search costs n^2 inner products: 100k faces take minutes on two cores, 1M would take hours.

Above it, approximate: an IVF search of every vector, batched by cell. k-means cuts the set into cells
(~4 sqrt(n), as the IVF index); each vector is searched in the KNN_PROBE cells whose centres are nearest it
(its own first), exactly as an IVF search with that many probes would, but turned around: for each cell,
every vector that probes it is scored against the cell's vectors in one matrix product, and each vector
keeps a running best k over the cells it probes. The work is the IVF search's (n * KNN_PROBE * cell size
inner products), done in large matrix products rather than one vector at a time; the vectors are split
between threads, one per core. Every neighbour found carries its exact similarity; what the approximation
can cost is a neighbour in a cell not probed, and the neighbours clustering links (similarity at or above
the link threshold, far above chance) sit in a vector's own cell or the next few. Measurements (time at 1M
faces, links found, BCubed F1 on LFW against the exact graph): docs/scaling.md.
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
    probe = min(probe, nlist)
    faiss.omp_set_num_threads(threads)
    rng = np.random.default_rng(0)
    sample = emb[np.sort(rng.choice(n, min(n, K.IVF_TRAIN_PER_LIST * nlist, K.IVF_TRAIN_MAX), replace=False))]
    km = faiss.Kmeans(dim, nlist, niter=K.IVF_KMEANS_ITER, spherical=True, seed=1, max_points_per_centroid=256)
    km.train(sample)
    centres = faiss.IndexFlatIP(dim)
    centres.add(km.centroids)
    # Each vector's `probe` nearest centres (its own cell first), in batches.
    near = np.empty((n, probe), np.int32)
    for start in range(0, n, BATCH):
        near[start : start + BATCH] = centres.search(emb[start : start + BATCH], probe)[1]
    home = near[:, 0].astype(np.int64)
    members = np.argsort(home, kind="stable")
    m_end = np.cumsum(np.bincount(home, minlength=nlist))
    m_begin = m_end - np.bincount(home, minlength=nlist)
    del home
    out_s[:] = -np.inf
    out_i[:] = -1
    best_s = np.full((n, kk), -np.inf, np.float32)
    best_i = np.full((n, kk), -1, np.int64)
    faiss.omp_set_num_threads(1)  # one thread per core below, FAISS on one thread inside each
    done = 0
    lock = threading.Lock()

    def part(t: int) -> None:
        """Vectors t, t + threads, ...: every cell they probe, in cell order."""
        nonlocal done
        rows = np.arange(t, n, threads, dtype=np.int64)
        cells = near[rows].reshape(-1)
        order = np.argsort(cells, kind="stable")
        askers = rows[order // probe]  # the vector of each (vector, probed cell) pair, by cell
        q_end = np.cumsum(np.bincount(cells, minlength=nlist))
        q_begin = q_end - np.bincount(cells, minlength=nlist)
        del cells, order
        for c in range(nlist):
            who = askers[q_begin[c] : q_end[c]]
            pool = members[m_begin[c] : m_end[c]]
            if len(who) == 0 or len(pool) == 0:
                continue
            take = min(kk, len(pool))
            sims, idx = faiss.knn(emb[who], emb[pool], take, metric=faiss.METRIC_INNER_PRODUCT)
            both_s = np.concatenate([best_s[who], sims], axis=1)
            both_i = np.concatenate([best_i[who], pool[idx]], axis=1)
            keep = np.argpartition(-both_s, kk - 1, axis=1)[:, :kk]
            best_s[who] = np.take_along_axis(both_s, keep, axis=1)
            best_i[who] = np.take_along_axis(both_i, keep, axis=1)
            if progress is not None:
                with lock:
                    done += len(who)  # (vector, cell) pairs: probe of them per vector
                    if c % 64 == 63:
                        progress(done // probe, n)

    try:
        with ThreadPoolExecutor(max_workers=threads) as pool_:
            list(pool_.map(part, range(threads)))
    finally:
        faiss.omp_set_num_threads(threads)
    order = np.argsort(-best_s, axis=1, kind="stable")
    best_s = np.take_along_axis(best_s, order, axis=1)
    best_i = np.take_along_axis(best_i, order, axis=1)
    for start in range(0, n, BATCH):
        stop = min(n, start + BATCH)
        _drop_self(best_s[start:stop], best_i[start:stop], np.arange(start, stop), out_s[start:stop], out_i[start:stop])
    if progress is not None:
        progress(n, n)


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
