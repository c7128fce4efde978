"""FAISS index structures and their parameters, chosen by gallery size (see docs/scaling.md).

flat: exact inner product over float32 vectors (IndexFlatIP behind an id map); memory 1 KiB/face at 256-d.
hnsw: a graph over the float32 vectors (IndexHNSWFlat); approximate, fast for a few million faces, but
    more memory per face than flat and no true deletion (tombstones until the next rebuild).
ivfpq: an inverted file with 8-bit scalar-quantised codes (IndexIVFScalarQuantizer, QT_8bit): one byte per
    dimension plus the 8-byte id, about 264 bytes/face at 256-d. Its scores are the inner products of the
    decoded codes, which re-rank the probed lists almost exactly; ids live in the lists, so deletions are
    real. The name says "IVF with quantised codes"; 8-bit scalar codes beat product codes of the same
    budget plus a re-ranking store on recall here (scaling notes).
"""

from __future__ import annotations

import math

KINDS = ("flat", "hnsw", "ivfpq")

# HNSW graph: neighbours per node and the build-time beam. Search-time beam (efSearch) is tuned per index.
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 80
HNSW_EF_DEFAULT = 64
HNSW_EF_STEPS = (16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024)

# IVF: lists ~ sqrt(n) rounded to a power of two; k-means on this many points per list (capped).
IVF_TRAIN_PER_LIST = 64
IVF_TRAIN_MAX = 262_144
IVF_NPROBE_DEFAULT = 32

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
    """Inverted lists for n vectors: ~sqrt(n) as a power of two (1M: 1024, 10M: 4096), at least 39 training
    points per list. Fewer, longer lists than the usual 4 sqrt(n) keep k-means and the assignment of 10M
    vectors within minutes on two cores; the probe count is tuned per index anyway."""
    target = math.sqrt(max(n, 1))
    nlist = 2 ** max(0, round(math.log2(max(target, 1))))
    while nlist > 1 and nlist * 39 > n:
        nlist //= 2
    return int(max(1, nlist))
