"""FAISS index structures and their parameters, chosen by gallery size (see docs/scaling.md).

flat: exact inner product over float32 vectors (IndexFlatIP behind an id map); memory 1 KiB/face at 256-d.
hnsw: a graph over the float32 vectors (IndexHNSWFlat); approximate, fast for a few million faces, but
    more memory per face than flat and no true deletion (tombstones until the next rebuild).
ivfpq: an inverted file with 8-bit scalar-quantised codes (IndexIVFScalarQuantizer, QT_8bit): one byte per
    dimension plus the 8-byte id, about 270 bytes/face at 256-d with the list centres. Its scores are the
    inner products of the decoded codes, which rank the probed lists almost exactly; ids live in the lists,
    so deletions are real. The name says "IVF with quantised codes": 4-bit fast-scan product codes with a
    re-ranking of their shortlist scan faster but missed recall@10 0.95 on face-like embeddings at any
    shortlist that fits the budget, and 8-bit scalar codes with more, shorter lists scan less instead
    (scaling notes).
"""

from __future__ import annotations

import math

KINDS = ("flat", "hnsw", "ivfpq")

# HNSW graph: neighbours per node and the build-time beam. Search-time beam (efSearch) is tuned per index.
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 80
HNSW_EF_DEFAULT = 64
HNSW_EF_STEPS = (16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024)

# IVF: lists ~ 4 sqrt(n) rounded to a power of two, at most IVF_NLIST_MAX; k-means on this many points per
# list (capped).
IVF_LISTS_PER_SQRT = 4
IVF_NLIST_MAX = 8192
IVF_MIN_POINTS_PER_LIST = 39
IVF_TRAIN_PER_LIST = 64
IVF_TRAIN_MAX = 262_144
IVF_KMEANS_ITER = 10  # more barely moves recall here and costs build time
IVF_NPROBE_DEFAULT = 32
# The 8-bit ranges of the residuals are trained on at most this many of the training points.
SQ_TRAIN_MAX = 65_536

# Queries held out of the built index's own vectors to tune efSearch / nprobe against exact search.
TUNE_QUERIES = 300
TUNE_K = 10
# Each tuning query is one of the index's faces plus noise of this norm (cosine ~0.75 to it): a probe of an
# enrolled person, not a point of the index.
TUNE_NOISE = 0.9
# A random share of the gallery used to tune the widening applied when a filter allows only part of it.
TUNE_FILTER_FRACTION = 0.1


def choose_kind(n: int, flat_max: int, hnsw_max: int) -> str:
    """The structure for a gallery of n faces with index_kind auto: exact while small, then HNSW, then IVF."""
    if n <= flat_max:
        return "flat"
    if n <= hnsw_max:
        return "hnsw"
    return "ivfpq"


def ivf_nlist(n: int) -> int:
    """Inverted lists for n vectors: ~4 sqrt(n) as a power of two, at most IVF_NLIST_MAX (1M: 4096, 3M and
    10M: 8192), with at least IVF_MIN_POINTS_PER_LIST vectors per list. Four times the lists of 0.3.0 (sqrt(n))
    at 1M: a query scans about two thirds of the codes for the same recall. The cap keeps the build's
    assignment of every vector to its nearest centre (n x nlist inner products) within minutes at 10M."""
    target = IVF_LISTS_PER_SQRT * math.sqrt(max(n, 1))
    nlist = min(IVF_NLIST_MAX, 2 ** max(0, round(math.log2(max(target, 1)))))
    while nlist > 1 and nlist * IVF_MIN_POINTS_PER_LIST > n:
        nlist //= 2
    return int(max(1, nlist))


def nprobe_steps(nlist: int) -> list[int]:
    """The probe counts the tuning tries, smallest first, up to nlist: each power of two times 1, 1.25, 1.5 and
    1.75, so the first count that reaches the target overshoots it by at most a quarter."""
    steps = {1, 2, 3, nlist}
    p = 4
    while p < nlist:
        steps.update(p * m // 4 for m in (4, 5, 6, 7) if p * m // 4 < nlist)
        p *= 2
    return sorted(steps)
