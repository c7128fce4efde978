"""Building a collection's FAISS index anew (flat, HNSW or IVF with 8-bit codes), and tuning it to a recall target.

`build_faiss` makes one pass over the stored embeddings. IVF is trained on a random sample of the first
vectors of the stream (spherical k-means for the lists, then the 8-bit ranges of the residuals); each batch
is then added, every vector to the list of its nearest centre (a matrix product per batch, on every core).

Approximate kinds are tuned in the same pass: probes made from a sample of the stream's own vectors (each
moved as far as another photo of the person would be), their exact top 10 computed batch by batch, then the
smallest efSearch / nprobe whose recall@10 reaches the target at a one-sided 95% lower confidence bound over
the tuning queries, and the widening needed for the same with a random 10% filter.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from . import faiss_files as files
from . import kinds as K
from .faiss_index import MAX_THREADS, FaissIndex
from .topk import merge, top_k

TUNE_Z = 1.645  # one-sided 95%
_SUB = 65_536  # rows per block when scoring queries against a batch exactly
_WIDEN_MAX = 64


def build_faiss(
    path: Path,
    dim: int,
    kind: str,
    batches: Iterable[tuple[np.ndarray, np.ndarray]],
    *,
    count: int,
    recall: float = 0.95,
    progress: Callable[[int], None] | None = None,
    seed: int = 0,
    nlist: int | None = None,
) -> FaissIndex:
    """Build a new index of `kind` from (ids, vectors) batches, beside the live file at `path`.

    The result is saved at `<path>.build.<pid>.tmp` (with its sidecar) and returned; the caller swaps it
    in with `swap_into(path)` while searches on the live index go on. `count`: the faces the stream holds
    (it sizes the IVF lists, `kinds.ivf_nlist`, unless `nlist` is given). `progress(done)` is called after
    each batch with the faces added so far. See the module docstring for training and tuning.
    """
    if kind not in K.KINDS:
        raise ValueError(f"unknown index kind {kind!r}")
    path = Path(path)
    files.clear_stale(path)
    lists = (nlist or K.ivf_nlist(count)) if kind == "ivfpq" else 0
    index = new_index(kind, dim, lists)
    rng = np.random.default_rng(seed)
    need = min(count, K.IVF_TRAIN_MAX, max(K.IVF_TRAIN_PER_LIST * lists, 20_000))
    it = iter(batches)
    head: list[tuple[np.ndarray, np.ndarray]] = []
    held = 0
    for ids, vecs in it:
        head.append((np.ascontiguousarray(ids, np.int64), np.ascontiguousarray(vecs, np.float32).reshape(-1, dim)))
        held += len(ids)
        if held >= need:
            break
    head_ids = np.concatenate([h[0] for h in head]) if head else np.zeros(0, np.int64)
    head_vecs = np.concatenate([h[1] for h in head]) if head else np.zeros((0, dim), np.float32)
    head.clear()
    faiss.omp_set_num_threads(MAX_THREADS)
    if kind == "ivfpq":
        if len(head_ids) < lists:
            raise ValueError(f"{len(head_ids)} vectors cannot train {lists} lists")
        sample = rng.choice(len(head_ids), need, replace=False) if len(head_ids) > need else slice(None)
        _train_ivf(index, head_vecs[sample], seed)
    tune = kind != "flat" and len(head_ids) > K.TUNE_K + 1
    pick: Any = rng.choice(len(head_ids), min(K.TUNE_QUERIES, len(head_ids)), replace=False) if tune else []
    truth = _Truth(_probes_near(head_vecs[pick], rng), K.TUNE_K) if tune else None

    done = 0

    def take(ids: np.ndarray, vecs: np.ndarray) -> None:
        nonlocal done
        if truth is not None:
            truth.update(ids, vecs)
        index.add_with_ids(vecs, ids)
        done += len(ids)
        if progress is not None:
            progress(done)

    if len(head_ids):
        take(head_ids, head_vecs)
    del head_vecs
    for ids, vecs in it:
        take(np.ascontiguousarray(ids, np.int64), np.ascontiguousarray(vecs, np.float32).reshape(-1, dim))
    built = FaissIndex.from_built(files.build_path(path), dim, index, {})
    if truth is not None and index.ntotal > K.TUNE_K + 1:
        built.params = tune_index(built, truth, recall)
    # When the gallery has grown well past it, build again.
    built.params = {**built.params, "built_faces": int(index.ntotal)}
    built.save()
    return built


def new_index(kind: str, dim: int, nlist: int) -> faiss.Index:
    """An empty structure of `kind` (IVF untrained, with `nlist` lists)."""
    if kind == "flat":
        return faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
    if kind == "hnsw":
        hnsw = faiss.IndexHNSWFlat(dim, K.HNSW_M, faiss.METRIC_INNER_PRODUCT)
        hnsw.hnsw.efConstruction = K.HNSW_EF_CONSTRUCTION
        hnsw.hnsw.efSearch = K.HNSW_EF_DEFAULT
        return faiss.IndexIDMap2(hnsw)
    quantizer = faiss.IndexFlatIP(dim)
    ivf = faiss.IndexIVFScalarQuantizer(
        quantizer, dim, nlist, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT
    )
    ivf.own_fields = True
    quantizer.this.disown()  # type: ignore[attr-defined]
    ivf.nprobe = K.IVF_NPROBE_DEFAULT
    return ivf


def _train_ivf(ivf: faiss.Index, sample: np.ndarray, seed: int) -> None:
    """Train the lists (spherical k-means: the vectors are unit length and compared by inner product) and the
    8-bit ranges of the residuals, for which fewer points do."""
    sample = np.ascontiguousarray(sample, np.float32)
    lists = faiss.extract_index_ivf(ivf)
    nlist, dim = int(lists.nlist), int(lists.d)
    km = faiss.Kmeans(
        dim,
        nlist,
        niter=K.IVF_KMEANS_ITER,
        spherical=True,
        seed=seed,
        max_points_per_centroid=256,
        min_points_per_centroid=min(K.IVF_MIN_POINTS_PER_LIST, max(1, len(sample) // max(nlist, 1))),
    )
    km.train(sample)
    lists.quantizer.add(np.ascontiguousarray(km.centroids, np.float32))
    ivf.train(sample[: K.SQ_TRAIN_MAX])  # the lists are trained: this trains the 8-bit ranges only


# Tuning ------------------------------------------------------------------------------------------
class _Truth:
    """Exact top-k of a few queries over a stream of batches, overall and over a pseudo-random 10% of ids."""

    def __init__(self, queries: np.ndarray, k: int) -> None:
        self.queries, self.k = queries, k
        nq = len(queries)
        self.scores = np.full((nq, k), -np.inf, np.float32)
        self.ids = np.full((nq, k), -1, np.int64)
        self.f_scores = self.scores.copy()
        self.f_ids = self.ids.copy()
        self.allowed: list[np.ndarray] = []

    def update(self, ids: np.ndarray, vecs: np.ndarray) -> None:
        chosen = in_filter(ids)
        self.allowed.append(ids[chosen])
        for start in range(0, len(ids), _SUB):
            bid, bvec, bsel = ids[start : start + _SUB], vecs[start : start + _SUB], chosen[start : start + _SUB]
            sims = self.queries @ bvec.T
            self.scores, self.ids = _merge(self.scores, self.ids, sims, bid, self.k)
            if bsel.any():
                self.f_scores, self.f_ids = _merge(self.f_scores, self.f_ids, sims[:, bsel], bid[bsel], self.k)


def _probes_near(vecs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Tuning queries: the sampled faces moved as far as another photo of the same person would be (cosine
    ~0.75 to the face), so they are probes like real ones, not points of the index itself."""
    noise = rng.normal(size=vecs.shape).astype(np.float32) * np.float32(K.TUNE_NOISE / math.sqrt(vecs.shape[1]))
    moved = vecs + noise
    return np.ascontiguousarray(moved / np.linalg.norm(moved, axis=1, keepdims=True), np.float32)


def in_filter(ids: np.ndarray) -> np.ndarray:
    """A fixed pseudo-random ~10% of ids (by a multiplicative hash), the filter the tuning uses."""
    h = (ids.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(40)
    out: np.ndarray = (h % np.uint64(round(1 / K.TUNE_FILTER_FRACTION))) == 0
    return out


def tune_index(index: FaissIndex, truth: _Truth, target: float) -> dict[str, Any]:
    """The search parameters of an approximate index for recall@10 >= target (see the module docstring)."""
    kind = index.kind
    allowed = np.concatenate(truth.allowed) if truth.allowed else np.zeros(0, np.int64)
    if kind == "hnsw":
        steps: list[int] = list(K.HNSW_EF_STEPS)
        name = "ef_search"
    else:
        steps = K.nprobe_steps(index.nlist)
        name = "nprobe"

    def measure(value: int, filtered: bool) -> tuple[float, float]:
        index.params = {name: value, "filter_boost": 1.0}
        if filtered:
            # Through the id selector even where a real search would scan a small allow list exactly.
            _, got = index.search_with(truth.queries, truth.k, allowed, None, 0)
            want = truth.f_ids
        else:
            _, got = index.search(truth.queries, truth.k)
            want = truth.ids
        per_query = recall_per_query(got, want, truth.k)
        return float(per_query.mean()), lower_bound(per_query)

    def first_reaching(filtered: bool, candidates: list[int]) -> tuple[int, float, float]:
        best = (candidates[-1], 0.0, 0.0)
        for s in candidates:
            mean, low = measure(s, filtered)
            best = (s, mean, low)
            if low >= target:
                break
        return best

    value, reached, low = first_reaching(False, steps)
    params: dict[str, Any] = {
        name: value,
        "tuned_recall": round(reached, 4),
        "tuned_recall_low": round(low, 4),
        "recall_target": target,
        "tune_queries": len(truth.queries),
    }
    if len(allowed) > K.TUNE_K:
        # Filtered searches may widen past the largest step (up to the widening cap), not past nlist.
        top = value * _WIDEN_MAX if kind == "hnsw" else steps[-1]
        multiples = {value * m for m in (2, 3, 4, 6, 8, 12, 16) if value * m <= top}
        wider = sorted({s for s in steps if s >= value} | multiples)
        fvalue, freached, flow = first_reaching(True, wider)
        params.update(
            filter_boost=round(fvalue / value, 3),
            tuned_filter_recall=round(freached, 4),
            tuned_filter_recall_low=round(flow, 4),
        )
    else:
        params["filter_boost"] = 2.0
    if kind == "hnsw":
        params.update(M=K.HNSW_M, ef_construction=K.HNSW_EF_CONSTRUCTION)
    else:
        params.update(nlist=index.nlist, code="SQ8")
    return params


def recall_per_query(got: np.ndarray, want: np.ndarray, k: int) -> np.ndarray:
    """Recall@k of each row of `got` against the same row of `want` (the exact top k); -1 is padding."""
    out = np.ones(len(want), np.float64)
    for i, (g, w) in enumerate(zip(got, want, strict=True)):
        w_ids = {x for x in w.tolist()[:k] if x >= 0}
        if w_ids:
            out[i] = len({x for x in g.tolist()[:k] if x >= 0} & w_ids) / len(w_ids)
    return out


def lower_bound(per_query: np.ndarray) -> float:
    """One-sided 95% lower confidence bound of the mean recall over queries like these.

    Tuning stops at the first setting whose bound, not whose sample mean, reaches the target: a setting
    that lands right at the target on the tuning queries reaches it on new probes only half the time."""
    n = len(per_query)
    if n < 2:
        return float(per_query.mean()) if n else 0.0
    return float(per_query.mean() - TUNE_Z * per_query.std(ddof=1) / math.sqrt(n))


def _merge(
    scores: np.ndarray, ids: np.ndarray, sims: np.ndarray, new_ids: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Running top-k: the best k of (scores, ids) and the new columns sims of new_ids."""
    if sims.shape[1] == 0:
        return scores, ids
    return merge(scores, ids, *top_k(sims, new_ids, k), k)
