"""A collection's FAISS index at run time (flat, HNSW or IVF with 8-bit codes): add, remove, search, save.

The index lives in one file with a JSON sidecar (`faiss_files`): the kind's tuned search parameters (efSearch
or nprobe, and how far to widen them when a filter allows only part of the gallery) and, for HNSW, the
tombstones of removed ids (an HNSW graph cannot drop nodes; removed ids are denied inside every search until
a rebuild leaves them out). A tombstone never keeps what was erased: the node's vector is overwritten with
zeros and its own links to its neighbours (which would say whom the erased face resembled) with random ones
when it is removed, so neither the live file nor a copy of it holds the erased embedding. Files written
before the sidecar existed (flat) load as they are. New indexes are built and tuned by
`faiss_build.build_faiss`.

One query uses both cores where that pays: an IVF search that scans many lists splits them between the
threads (FAISS's parallel mode over inverted lists); a batch of queries splits the queries. Small scans stay
on one thread, where waking a second costs more than it saves, and so does every search while the machine
has no core to spare: a parallel search waits for its slowest thread, and on a machine busy with other work
that thread waits for a time slice (1M faces at load 12-16: p50 55 ms on two threads, ~5 ms on one).
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from ..fsutil import fsync_dir
from . import faiss_files as files
from . import kinds as K
from .topk import empty, top_k

MAX_THREADS = faiss.omp_get_max_threads()
# A batch of queries is split between threads when it scans at least this many vectors in all.
PARALLEL_SCAN_MIN = 2_000_000
# One IVF query splits its probed lists between threads when it scans at least this many codes (about half a
# millisecond of work on one core): below that, waking the second thread costs more than it saves.
PARALLEL_LIST_MIN = 16_384
# An allow list up to this size is searched exactly: its vectors are gathered and scored directly, which
# costs less than a filtered graph or list walk and always finds k results when k eligible ids exist.
EXACT_ALLOW_MAX = 2_000
_WIDEN_MAX = 64.0
# FAISS's IVF parallel modes: over the queries of a batch, or over the lists one query probes.
_OVER_QUERIES, _OVER_LISTS = 0, 1


class FaissIndex:
    """One collection's vectors: `add`/`remove`/`search` by 64-bit id; see the VectorIndex protocol.

    `threads`: the most threads one search may use (all cores by default; 1 searches as 0.3.0 did)."""

    def __init__(self, path: Path, dim: int, *, mmap: bool = True) -> None:
        self.path = Path(path)
        self.dim = dim
        self.threads = MAX_THREADS
        files.clear_stale(self.path)
        # Why the file could not be used, when it could not: the index then starts empty (flat), and the
        # owner (services/indexes.reconcile) rebuilds it from the database, which is the source of truth.
        self.load_error: str | None = None
        self.file_missing = not self.path.is_file()
        self._index: faiss.Index = _empty(dim)
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
                self._index, self._params, self._mapped = _empty(dim), {}, False
                self._tombstones = np.zeros(0, np.int64)

    @classmethod
    def from_built(cls, path: Path, dim: int, index: faiss.Index, params: dict[str, Any]) -> FaissIndex:
        """A newly built structure, to be saved at `path` (the builder's file beside the live one)."""
        self = cls.__new__(cls)
        self.path, self.dim, self.threads, self.load_error, self.file_missing = Path(path), dim, MAX_THREADS, None, True
        self._index, self._params, self._mapped = index, dict(params), False
        self._tombstones = np.zeros(0, np.int64)
        self._index_dirty = self._meta_dirty = True
        return self

    # Reading -------------------------------------------------------------------------------------
    def _load(self, mmap: bool) -> None:
        meta = files.read_meta(self.path)
        big = mmap and self.path.stat().st_size >= files.MMAP_MIN_BYTES
        index = None
        if big:
            try:
                index = files.read_index(self.path, self.dim, str(meta.get("kind", "flat")))
            except Exception:  # noqa: BLE001 - mapping refused (sidecar of another kind): read it whole
                index = None
        if index is not None:
            self._index, self._mapped = index, True
        else:
            self._index, self._mapped = files.read_index(self.path, self.dim), False
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
            self._index = files.read_index(self.path, self.dim)
            self._mapped = False

    @property
    def kind(self) -> str:
        return files.kind_of(self._index)

    @property
    def params(self) -> dict[str, Any]:
        """The tuned search parameters and what the tuning measured (empty for flat)."""
        return dict(self._params)

    @params.setter
    def params(self, value: dict[str, Any]) -> None:
        """Set by the tuning (which tries parameters on this index) and recorded in the sidecar at the next save."""
        self._params = dict(value)
        self._meta_dirty = True

    @property
    def nlist(self) -> int:
        """Inverted lists of an IVF index (0 for the other kinds)."""
        return int(faiss.extract_index_ivf(self._index).nlist) if self.kind == "ivfpq" else 0

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
        """Persist atomically: the sidecar, then the index file (when it changed), then the folder."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        files.write_meta(
            self.path,
            {
                "format": files.META_FORMAT,
                "kind": self.kind,
                "dim": self.dim,
                "params": self._params,
                "tombstones": self._tombstones.tolist(),
            },
        )
        if self._index_dirty or not self._mapped or not self.path.is_file():
            files.write_index(self._index, self.path)
        else:
            files.touch(self.path)
        fsync_dir(self.path.parent)
        self.file_missing = False
        self.dirty = False

    def swap_into(self, live_path: Path) -> None:
        """Move this (built, saved) index over the live file atomically; it then lives at `live_path`.

        Faces added or removed while it was being built are not in it: reconcile it with the store after.
        """
        live_path = Path(live_path)
        if self.dirty or not self.path.is_file():
            self.save()
        files.move_into(self.path, live_path)
        self.path = live_path
        self.file_missing = False

    # Searching -----------------------------------------------------------------------------------
    def search(
        self, queries: np.ndarray, k: int, *, allow: np.ndarray | None = None, deny: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        return self.search_with(queries, k, allow, deny, EXACT_ALLOW_MAX)

    def search_with(
        self, queries: np.ndarray, k: int, allow: np.ndarray | None, deny: np.ndarray | None, exact_max: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """`search`, with allow lists of at most `exact_max` ids scored exactly (0: every allow list goes
        through the id selector inside the index, as the tuning measures it)."""
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
        self._use_threads(nq, scanned)
        scores, ids = self._index.search(queries, k, params=params)
        scores[ids < 0] = -np.inf
        return scores, ids

    def _use_threads(self, nq: int, scanned: int) -> None:
        """Threads for this search (FAISS's setting is per process; every search sets it): a single IVF query
        that scans many codes splits its lists between the cores; a batch that scans much splits its
        queries; anything smaller, and anything while the machine has no core to spare, runs on one thread."""
        threads, mode = 1, _OVER_QUERIES
        if self.kind == "ivfpq" and nq == 1 and scanned >= PARALLEL_LIST_MIN:
            threads, mode = self.threads, _OVER_LISTS
        elif nq * scanned >= PARALLEL_SCAN_MIN and (nq > 1 or self.kind == "flat"):
            threads = self.threads
        if threads > 1 and not _cores_free(threads):
            threads, mode = 1, _OVER_QUERIES
        if self.kind == "ivfpq":
            faiss.extract_index_ivf(self._index).parallel_mode = mode
        faiss.omp_set_num_threads(threads)

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


def _cores_free(threads: int) -> bool:
    """Whether the machine has the cores for a parallel search: its 1-minute load average, which counts this
    process's own threads too, is below the threads wanted plus a half."""
    try:
        return os.getloadavg()[0] < threads + 0.5
    except OSError:  # no load average on this platform
        return True


def _empty(dim: int) -> faiss.Index:
    """What a collection without an index file starts with: exact search over nothing."""
    return faiss.IndexIDMap2(faiss.IndexFlatIP(dim))


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


# Erasure inside an HNSW graph ---------------------------------------------------------------------
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
