"""A collection's FAISS index in one file (flat, HNSW or IVF with 8-bit codes), saved atomically.

Beside the index file, `<file>.meta.json` holds what FAISS does not keep: the kind's tuned search parameters
(efSearch or nprobe, and how far to widen them when a filter allows only part of the gallery) and, for
HNSW, the tombstones of removed ids (an HNSW graph cannot drop nodes; removed ids are denied inside every
search until a rebuild leaves them out). A tombstone never keeps what was erased: the node's vector is
overwritten with zeros and its own links to its neighbours (which would say whom the erased face resembled)
are cleared when it is removed, so neither the live file nor a copy of it holds the erased embedding. Files
written before the sidecar existed (flat) load as they are.

Writes are crash-safe: new file named with the writer's pid, fsync, atomic rename. The sidecar is written
before the index file, so tombstones are durable no later than the index they apply to; a sidecar that
lists ids the index lacks (crash between the two renames) is harmless, ids are never reused.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from ..fsutil import pid_alive
from . import kinds as K
from .topk import empty, merge, top_k

PARALLEL_SCAN_MIN = 2_000_000  # vectors scanned x queries
_MAX_THREADS = faiss.omp_get_max_threads()
# An allow list up to this size is searched exactly: its vectors are gathered and scored directly, which
# costs less than a filtered graph or list walk and always finds k results when k eligible ids exist.
EXACT_ALLOW_MAX = 2_000
# Files at least this big are memory-mapped when opened (read-only; copied into memory on the first write),
# so a big gallery opens in seconds. Smaller ones are simply read.
MMAP_MIN_BYTES = 256 * 2**20
META_SUFFIX = ".meta.json"
META_FORMAT = 1
_WIDEN_MAX = 64.0
_SUB = 65_536  # rows per block when scoring queries against a batch exactly
TUNE_Z = 1.645  # one-sided 95%


def meta_path(path: Path) -> Path:
    return path.with_name(path.name + META_SUFFIX)


class FaissIndex:
    """One collection's vectors: `add`/`remove`/`search` by 64-bit id; see the VectorIndex protocol."""

    def __init__(self, path: Path, dim: int, *, mmap: bool = True) -> None:
        self.path = Path(path)
        self.dim = dim
        clear_stale(self.path)
        # Why the file could not be used, when it could not: the index then starts empty (flat), and the
        # owner (app/indexes.reconcile) rebuilds it from the database, which is the source of truth.
        self.load_error: str | None = None
        self.file_missing = not self.path.is_file()
        self._index: faiss.Index = _new_index("flat", dim, 0)
        self._params: dict[str, Any] = {}
        self._tombstones = np.zeros(0, np.int64)  # sorted, unique, each present in the HNSW graph
        self._mapped = False
        self._index_dirty = False
        self._meta_dirty = False
        if not self.file_missing:
            try:
                self._load(mmap)
            except Exception as exc:  # truncated, corrupt, another kind of index, another dimension
                self.load_error = (str(exc).strip().splitlines() or [type(exc).__name__])[-1][:200]
                self._index, self._params, self._mapped = _new_index("flat", dim, 0), {}, False
                self._tombstones = np.zeros(0, np.int64)

    @classmethod
    def _built(cls, path: Path, dim: int, index: faiss.Index, params: dict[str, Any]) -> FaissIndex:
        self = cls.__new__(cls)
        self.path, self.dim, self.load_error, self.file_missing = Path(path), dim, None, True
        self._index, self._params, self._mapped = index, dict(params), False
        self._tombstones = np.zeros(0, np.int64)
        self._index_dirty = self._meta_dirty = True
        return self

    # Reading -------------------------------------------------------------------------------------
    def _load(self, mmap: bool) -> None:
        meta = _read_meta(self.path)
        big = mmap and self.path.stat().st_size >= MMAP_MIN_BYTES
        index = None
        if big:
            try:
                index = _read(self.path, self.dim, str(meta.get("kind", "flat")))
            except Exception:  # noqa: BLE001 - mapping refused (sidecar of another kind): read it whole
                index = None
        self._index, self._mapped = (index, True) if index is not None else (_read(self.path, self.dim), False)
        if meta.get("kind") == self.kind:
            self._params = dict(meta.get("params") or {})
        dead = np.unique(np.asarray(meta.get("tombstones") or [], np.int64))
        if len(dead):
            present = dead[np.isin(dead, self._all_ids())]
            if self.kind == "hnsw":
                self._tombstones = present
                self._meta_dirty = len(present) != len(dead)
            elif len(present):  # the sidecar of an HNSW index this one replaced: delete for real
                self._materialize()
                self._index.remove_ids(faiss.IDSelectorBatch(present))
                self._index_dirty = self._meta_dirty = True

    def _materialize(self) -> None:
        """A memory-mapped index is read-only (FAISS aborts on writes to it): read it into memory first."""
        if self._mapped:
            self._index = _read(self.path, self.dim)
            self._mapped = False

    @property
    def kind(self) -> str:
        return _kind_of(self._index)

    @property
    def params(self) -> dict[str, Any]:
        """The tuned search parameters and what the tuning measured (empty for flat)."""
        return dict(self._params)

    @property
    def dirty(self) -> bool:
        return self._index_dirty or self._meta_dirty

    @dirty.setter
    def dirty(self, value: bool) -> None:
        self._index_dirty = self._meta_dirty = value

    @property
    def tombstones(self) -> int:
        """Removed ids still in the HNSW graph (denied in every search); a rebuild reclaims them."""
        return len(self._tombstones)

    def __len__(self) -> int:
        return int(self._index.ntotal) - len(self._tombstones)

    def erased_vectors_kept(self) -> int:
        """Tombstoned ids whose vector is still in the HNSW graph (a file written before removals overwrote
        them): what `doctor` reports, and `scrub_erased` clears."""
        if self.kind != "hnsw" or not len(self._tombstones):
            return 0
        vecs = _hnsw_vectors(self._index, self._tombstones)
        return int(np.count_nonzero(np.any(vecs != 0, axis=1)))

    def scrub_erased(self) -> int:
        """Overwrite the vectors and links of every tombstoned id (see `erased_vectors_kept`); how many."""
        n = self.erased_vectors_kept()
        if n:
            self._materialize()
            _hnsw_scrub(self._index, self._tombstones, self._tombstones)
            self._index_dirty = True
        return n

    def ids(self) -> np.ndarray:
        every = self._all_ids()
        if len(self._tombstones):
            every = every[~np.isin(every, self._tombstones)]
        return every

    def _all_ids(self) -> np.ndarray:
        index = self._index
        if isinstance(index, faiss.IndexIDMap2):
            return faiss.vector_to_array(index.id_map).astype(np.int64)
        ivf = faiss.extract_index_ivf(index)
        lists = ivf.invlists
        assert lists is not None
        parts = []
        for i in range(ivf.nlist):
            n = lists.list_size(i)
            if n:
                parts.append(faiss.rev_swig_ptr(lists.get_ids(i), n).copy())
        return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, np.int64)

    # Writing -------------------------------------------------------------------------------------
    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        ids = np.ascontiguousarray(ids, np.int64).reshape(-1)
        if len(ids) == 0:
            return
        vectors = np.ascontiguousarray(vectors, np.float32).reshape(len(ids), self.dim)
        if len(self._tombstones):
            # An id removed from the graph and added again (a removal rolled back): its node is still
            # there with the same embedding, so reviving it is enough.
            back = np.isin(ids, self._tombstones)
            if back.any():
                self._materialize()
                self._tombstones = np.setdiff1d(self._tombstones, ids[back])
                _hnsw_write_vectors(self._index, ids[back], vectors[back])  # the removal zeroed them
                self._meta_dirty = self._index_dirty = True
                ids, vectors = ids[~back], vectors[~back]
                if len(ids) == 0:
                    return
        self._materialize()
        self._index.add_with_ids(vectors, ids)
        self._index_dirty = True

    def remove(self, ids: np.ndarray) -> int:
        ids = np.unique(np.ascontiguousarray(ids, np.int64).reshape(-1))
        if len(ids) == 0 or self._index.ntotal == 0:
            return 0
        if self.kind == "hnsw":
            fresh = np.setdiff1d(ids, self._tombstones, assume_unique=True)
            fresh = fresh[np.isin(fresh, self._all_ids())]
            if len(fresh):
                self._materialize()
                self._tombstones = np.union1d(self._tombstones, fresh)
                _hnsw_scrub(self._index, fresh, self._tombstones)
                self._meta_dirty = self._index_dirty = True
            return len(fresh)
        self._materialize()
        removed = int(self._index.remove_ids(faiss.IDSelectorBatch(ids)))
        self._index_dirty = self._index_dirty or removed > 0
        return removed

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._write_meta()
        if self._index_dirty or not self._mapped or not self.path.is_file():
            tmp = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
            faiss.write_index(self._index, str(tmp))
            _fsync_file(tmp)
            os.replace(tmp, self.path)
        else:
            # Only the sidecar changed (tombstones): touch the index file so that other processes, which
            # notice a changed index by its file's identity, reopen it and see the removals.
            os.utime(self.path)
        _fsync_dir(self.path.parent)
        self.file_missing = False
        self.dirty = False

    def _write_meta(self) -> None:
        meta = {
            "format": META_FORMAT,
            "kind": self.kind,
            "dim": self.dim,
            "params": self._params,
            "tombstones": self._tombstones.tolist(),
        }
        target = meta_path(self.path)
        tmp = target.with_name(f"{target.name}.{os.getpid()}.tmp")
        with open(tmp, "w") as fh:
            json.dump(meta, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)

    def swap_into(self, live_path: Path) -> None:
        """Move this (built, saved) index over the live file atomically; it then lives at `live_path`.

        Faces added or removed while it was being built are not in it: reconcile it with the store after.
        """
        live_path = Path(live_path)
        if self.dirty or not self.path.is_file():
            self.save()
        src_meta = meta_path(self.path)
        # Index first, sidecar second: a crash between leaves the new index with the old sidecar, whose
        # tombstones name ids the rebuilt index left out and whose parameters are ignored if the kind differs.
        os.replace(self.path, live_path)
        if src_meta.is_file():
            os.replace(src_meta, meta_path(live_path))
        _fsync_dir(live_path.parent)
        self.path = live_path
        self.file_missing = False

    # Searching -----------------------------------------------------------------------------------
    def search(
        self, queries: np.ndarray, k: int, *, allow: np.ndarray | None = None, deny: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        return self._search(queries, k, allow, deny, EXACT_ALLOW_MAX)

    def _search(
        self, queries: np.ndarray, k: int, allow: np.ndarray | None, deny: np.ndarray | None, exact_max: int
    ) -> tuple[np.ndarray, np.ndarray]:
        queries = np.ascontiguousarray(queries, np.float32).reshape(-1, self.dim)
        nq = queries.shape[0]
        if k <= 0:
            return np.zeros((nq, 0), np.float32), np.zeros((nq, 0), np.int64)
        denied = self._tombstones
        if deny is not None and len(deny):
            denied = np.union1d(denied, np.asarray(deny, np.int64))
        total = self._index.ntotal
        sel: Any = None
        keep: list[Any] = []  # SWIG selectors do not own what they point to: keep it alive
        fraction = 1.0
        if allow is not None:
            allowed = _sorted_unique(np.asarray(allow, np.int64).reshape(-1))
            if len(denied) and len(allowed) <= exact_max:
                allowed = np.setdiff1d(allowed, denied, assume_unique=True)
            if len(allowed) == 0 or total == 0:
                return empty(nq, k)
            if len(allowed) <= exact_max and self.kind != "ivfpq":
                return self._exact_subset(queries, k, allowed)
            sel = _allow_selector(allowed, denied, keep)
            fraction = min(1.0, len(allowed) / max(len(self), 1))
            exhaustive = len(allowed) <= exact_max
        else:
            if total == 0:
                return empty(nq, k)
            exhaustive = False
            if len(denied):
                inner = faiss.IDSelectorBatch(denied)
                keep.append(inner)
                sel = faiss.IDSelectorNot(inner)
        params, scanned = self._search_params(sel, fraction, exhaustive)
        big = nq * scanned >= PARALLEL_SCAN_MIN and (nq > 1 or self.kind == "flat")
        faiss.omp_set_num_threads(_MAX_THREADS if big else 1)
        scores, ids = self._index.search(queries, k, params=params)
        scores[ids < 0] = -np.inf
        return scores, ids

    def _search_params(self, sel: Any, fraction: float, exhaustive: bool) -> tuple[Any, int]:
        """FAISS search parameters for this kind, widened when a filter allows only a fraction of the
        gallery (the tuned widening at the tuning fraction, scaled geometrically), and the vectors a query
        scans roughly (for the thread choice)."""
        kind, total = self.kind, self._index.ntotal
        widen = 1.0
        if fraction < 1.0:
            boost = float(self._params.get("filter_boost", 2.0))
            widen = min(_WIDEN_MAX, boost ** (math.log(1 / fraction) / math.log(1 / K.TUNE_FILTER_FRACTION)))
        if kind == "hnsw":
            ef = int(math.ceil(int(self._params.get("ef_search", K.HNSW_EF_DEFAULT)) * widen))
            p: Any = faiss.SearchParametersHNSW()  # type: ignore[attr-defined]
            p.efSearch = max(ef, 16)
            scanned = p.efSearch * K.HNSW_M
        elif kind == "ivfpq":
            ivf = faiss.extract_index_ivf(self._index)
            nprobe = int(self._params.get("nprobe", K.IVF_NPROBE_DEFAULT))
            p = faiss.SearchParametersIVF()
            # A small allow list may sit in lists a normal probe misses: probe them all; the selector is
            # checked before any code is decoded, so this costs an id test per face, not a distance.
            p.nprobe = ivf.nlist if exhaustive else max(1, min(ivf.nlist, int(math.ceil(nprobe * widen))))
            scanned = total * p.nprobe // max(ivf.nlist, 1)
        else:
            p = faiss.SearchParameters()
            scanned = total
        if sel is None and kind == "flat":
            return None, scanned
        p.sel = sel
        return p, scanned

    def _exact_subset(self, queries: np.ndarray, k: int, allowed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Score the allowed ids' own vectors directly (small allow lists; flat and HNSW store them exactly)."""
        try:
            vecs = self._index.reconstruct_batch(allowed)
        except RuntimeError:  # some allowed ids are not in the index
            allowed = allowed[np.isin(allowed, self._all_ids())]
            if len(allowed) == 0:
                return empty(len(queries), k)
            vecs = self._index.reconstruct_batch(allowed)
        faiss.omp_set_num_threads(1)
        sims = queries @ vecs.T
        return top_k(sims, allowed, k)


# Building ----------------------------------------------------------------------------------------
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
) -> FaissIndex:
    """Build a new index of `kind` from (ids, vectors) batches, beside the live file at `path`.

    The result is saved at `<path>.build.<pid>.tmp` (with its sidecar) and returned; the caller swaps it
    in with `swap_into(path)` while searches on the live index go on. IVF is trained on the first
    vectors of the stream. Approximate kinds are tuned on probes made from a sample of the stream's own
    vectors (each moved as far as another photo of the person would be) against exact search computed
    in the same pass: the smallest efSearch / nprobe whose recall@10 reaches `recall` at a one-sided 95%
    lower confidence bound over the tuning queries, and the widening needed for the same with a random 10%
    filter.
    `progress(done)` is called after each batch with the faces added so far.
    """
    if kind not in K.KINDS:
        raise ValueError(f"unknown index kind {kind!r}")
    path = Path(path)
    build_path = path.with_name(f"{path.name}.build.{os.getpid()}.tmp")
    clear_stale(path)
    nlist = K.ivf_nlist(count) if kind == "ivfpq" else 0
    index = _new_index(kind, dim, nlist)
    rng = np.random.default_rng(seed)
    need = min(count, K.IVF_TRAIN_MAX, max(K.IVF_TRAIN_PER_LIST * nlist, 20_000))
    it = iter(batches)
    head: list[tuple[np.ndarray, np.ndarray]] = []
    held = 0
    for ids, vecs in it:
        head.append((np.ascontiguousarray(ids, np.int64), np.ascontiguousarray(vecs, np.float32)))
        held += len(ids)
        if held >= need:
            break
    head_ids = np.concatenate([h[0] for h in head]) if head else np.zeros(0, np.int64)
    head_vecs = np.concatenate([h[1] for h in head]) if head else np.zeros((0, dim), np.float32)
    head.clear()
    faiss.omp_set_num_threads(_MAX_THREADS)
    if kind == "ivfpq":
        if len(head_ids) < nlist:
            raise ValueError(f"{len(head_ids)} vectors cannot train {nlist} lists")
        sample = rng.choice(len(head_ids), need, replace=False) if len(head_ids) > need else slice(None)
        index.train(head_vecs[sample])
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
    params: dict[str, Any] = {}
    built = FaissIndex._built(build_path, dim, index, params)
    if truth is not None and index.ntotal > K.TUNE_K + 1:
        built._params = _tune(built, truth, recall)
    built._params["built_faces"] = int(index.ntotal)  # when the gallery has grown well past it, build again
    built.save()
    return built


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


def _tune(index: FaissIndex, truth: _Truth, target: float) -> dict[str, Any]:
    kind = index.kind
    allowed = np.concatenate(truth.allowed) if truth.allowed else np.zeros(0, np.int64)
    if kind == "hnsw":
        steps: list[int] = list(K.HNSW_EF_STEPS)
        name = "ef_search"
    else:
        nlist = faiss.extract_index_ivf(index._index).nlist
        steps = sorted(
            {
                s
                for s in (
                    1,
                    2,
                    3,
                    4,
                    6,
                    8,
                    12,
                    16,
                    24,
                    32,
                    48,
                    64,
                    96,
                    128,
                    192,
                    256,
                    384,
                    512,
                    768,
                    1024,
                    1536,
                    2048,
                    3072,
                    4096,
                )
                if s < nlist
            }
            | {nlist}
        )
        name = "nprobe"
    faiss.omp_set_num_threads(_MAX_THREADS)

    def measure(value: int, filtered: bool) -> tuple[float, float]:
        index._params = {name: value, "filter_boost": 1.0}
        if filtered:
            # Through the id selector even where a real search would scan a small allow list exactly.
            _, got = index._search(truth.queries, truth.k, allowed, None, 0)
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
        top = value * int(_WIDEN_MAX) if kind == "hnsw" else steps[-1]
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
        params.update(nlist=faiss.extract_index_ivf(index._index).nlist, code="SQ8")
    index._params = params
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


# Helpers -----------------------------------------------------------------------------------------
def _new_index(kind: str, dim: int, nlist: int) -> faiss.Index:
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
    ivf.cp.niter = 10  # k-means iterations: more barely moves recall here and costs build time
    ivf.nprobe = K.IVF_NPROBE_DEFAULT
    return ivf


def _hnsw_positions(index: Any, ids: np.ndarray) -> np.ndarray:
    """The storage positions of these ids in an id-mapped HNSW index."""
    every = faiss.vector_to_array(index.id_map).astype(np.int64)
    return np.flatnonzero(np.isin(every, ids))


def _hnsw_storage(index: Any) -> tuple[Any, np.ndarray]:
    """The HNSW structure and a writable view of its stored vectors (ntotal, dim)."""
    inner: Any = faiss.downcast_index(index.index)
    storage: Any = faiss.downcast_index(inner.storage)
    xb = faiss.rev_swig_ptr(storage.get_xb(), int(storage.ntotal) * int(index.d))
    return inner.hnsw, np.asarray(xb).reshape(-1, int(index.d))


def _hnsw_vectors(index: Any, ids: np.ndarray) -> np.ndarray:
    _, xb = _hnsw_storage(index)
    return np.asarray(xb[_hnsw_positions(index, ids)])


def _hnsw_write_vectors(index: Any, ids: np.ndarray, vectors: np.ndarray) -> None:
    every = faiss.vector_to_array(index.id_map).astype(np.int64)
    where = {int(i): p for p, i in enumerate(every.tolist())}
    _, xb = _hnsw_storage(index)
    for i, v in zip(ids.tolist(), vectors):
        if int(i) in where:
            xb[where[int(i)]] = v


def _hnsw_scrub(index: Any, ids: np.ndarray, dead: np.ndarray) -> None:
    """Overwrite the vectors of `ids` with zeros and their own neighbour lists (every level) with links to
    nodes drawn at random among those not in `dead`: the lists said whom the erased face resembled, random
    ones say nothing and keep the node from being a dead end for a search that reaches it through another
    node's link (those stay: a zero vector scores 0, and the tombstone denies the id). When the entry point is
    among them, the highest node not in `dead` becomes the entry point."""
    hnsw, xb = _hnsw_storage(index)
    pos = _hnsw_positions(index, ids)
    if not len(pos):
        return
    xb[pos] = 0.0
    offsets = faiss.vector_to_array(hnsw.offsets).astype(np.int64)
    levels = faiss.vector_to_array(hnsw.levels).astype(np.int64)  # a node's level + 1
    cum = faiss.vector_to_array(hnsw.cum_nneighbor_per_level).astype(np.int64)
    alive = np.ones(len(levels), bool)
    alive[_hnsw_positions(index, dead)] = False
    if 0 <= int(hnsw.entry_point) < len(levels) and not alive[int(hnsw.entry_point)] and alive.any():
        candidates = np.flatnonzero(alive)
        new = int(candidates[np.argmax(levels[candidates])])
        hnsw.entry_point = new
        hnsw.max_level = int(levels[new]) - 1
    links = faiss.rev_swig_ptr(hnsw.neighbors.data(), int(hnsw.neighbors.size()))
    rng = np.random.default_rng()
    pools: dict[int, np.ndarray] = {}
    for p in pos.tolist():
        for level in range(int(levels[p])):
            start, stop = offsets[p] + cum[level], offsets[p] + cum[level + 1]
            if level not in pools:
                pools[level] = np.flatnonzero(alive & (levels > level))
            pool = pools[level]
            pick: Any = rng.choice(pool, size=min(int(stop - start), len(pool)), replace=False) if len(pool) else []
            links[start:stop] = -1
            links[start : start + len(pick)] = pick


def _kind_of(index: faiss.Index) -> str:
    inner = faiss.downcast_index(index.index) if isinstance(index, faiss.IndexIDMap2) else index
    if isinstance(inner, faiss.IndexFlat):
        return "flat"
    if isinstance(inner, faiss.IndexHNSW):
        return "hnsw"
    return "ivfpq"


def _read(path: Path, dim: int, mmap_kind: str | None = None) -> faiss.Index:
    """Read an index file and check it is one this class writes, of `dim`; memory-mapped when `mmap_kind`
    (the kind the sidecar names: FAISS maps flat and HNSW vectors and IVF lists with different flags)."""
    flags = 0
    if mmap_kind == "ivfpq":
        flags = faiss.IO_FLAG_MMAP
    elif mmap_kind is not None:
        flags = faiss.IO_FLAG_MMAP_IFC
    index = faiss.read_index(str(path), flags)
    if index.d != dim:
        raise ValueError(f"index dimension {index.d} != collection dimension {dim}")
    if isinstance(index, faiss.IndexIDMap2):
        inner = faiss.downcast_index(index.index)
        if not isinstance(inner, (faiss.IndexFlatIP, faiss.IndexHNSWFlat)):
            raise ValueError(f"unexpected index inside the id map ({type(inner).__name__})")
        if faiss.vector_to_array(index.id_map).shape[0] != index.ntotal:
            raise ValueError("ids and vectors differ in number")
        return index
    if isinstance(index, faiss.IndexIVFScalarQuantizer):
        return index
    raise ValueError(f"not an index facesearch writes ({type(index).__name__})")


def _read_meta(path: Path) -> dict[str, Any]:
    try:
        meta = json.loads(meta_path(path).read_text())
    except (OSError, ValueError):
        return {}
    return meta if isinstance(meta, dict) else {}


def clear_stale(path: Path) -> None:
    """Remove temporary files (saves, sidecars, builds) of `path` left by writers that died."""
    if not path.parent.is_dir():
        return
    for stale in path.parent.glob(f"{path.name}.*.tmp"):
        pid = stale.name.split(".")[-2]
        if pid.isdigit() and not pid_alive(int(pid)):
            stale.unlink(missing_ok=True)


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _sorted_unique(ids: np.ndarray) -> np.ndarray:
    """The ids sorted and unique; a list that already is (the usual case) is checked, not sorted again."""
    if len(ids) < 2 or bool(np.all(ids[1:] > ids[:-1])):
        return ids
    return np.unique(ids)


def _allow_selector(allowed: np.ndarray, denied: np.ndarray, keep: list[Any]) -> Any:
    """An id selector for allowed-and-not-denied ids (allowed sorted, unique). Dense id sets (row ids are)
    become a bitmap, built in milliseconds even for a million ids; sparse ones a hash set."""
    top = int(allowed[-1]) + 1
    if allowed[0] >= 0 and top <= 64 * len(allowed):  # at most 8 bytes of bitmap per allowed id
        bits = np.zeros(top, bool)
        bits[allowed] = True
        if len(denied):
            d = denied[(denied >= 0) & (denied < top)]
            bits[d] = False
        bitmap = np.packbits(bits, bitorder="little")
        keep.append(bitmap)
        return faiss.IDSelectorBitmap(top, faiss.swig_ptr(bitmap))
    if len(denied):
        allowed = np.setdiff1d(allowed, denied, assume_unique=True)
    return faiss.IDSelectorBatch(allowed)


def _merge(
    scores: np.ndarray, ids: np.ndarray, sims: np.ndarray, new_ids: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Running top-k: the best k of (scores, ids) and the new columns sims of new_ids."""
    if sims.shape[1] == 0:
        return scores, ids
    return merge(scores, ids, *top_k(sims, new_ids, k), k)
