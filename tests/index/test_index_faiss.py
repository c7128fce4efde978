"""FAISS index kinds (flat, HNSW, IVF-SQ8) against exact search on random unit vectors: add, search, remove,
persist, reopen, allow and deny inside the search, tombstones, rebuild, broken and old files."""

from __future__ import annotations

import json
import os
from pathlib import Path

import faiss
import numpy as np
import pytest

from facesearch.index import faiss_files
from facesearch.index import faiss_index as fi
from facesearch.index.faiss_build import build_faiss
from facesearch.index.faiss_files import meta_path
from facesearch.index.faiss_index import FaissIndex
from facesearch.index.kinds import KINDS, choose_kind, ivf_nlist

DIM = 32
N = 5000


def _unit(n: int, seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=(n, DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


VECS = _unit(N, 0)
IDS = np.arange(N, dtype=np.int64) * 7 + 2**40  # 64-bit ids, not positions
QUERIES = _unit(40, 1)


def _exact(queries: np.ndarray, k: int, ids: np.ndarray = IDS, vecs: np.ndarray = VECS) -> np.ndarray:
    sims = queries @ vecs.T
    return ids[np.argsort(-sims, axis=1, kind="stable")[:, :k]]


def _recall(got: np.ndarray, want: np.ndarray) -> float:
    return float(np.mean([len(set(g) & set(w)) / len(w) for g, w in zip(got.tolist(), want.tolist(), strict=True)]))


def _batches(ids: np.ndarray = IDS, vecs: np.ndarray = VECS, size: int = 1000):
    return ((ids[i : i + size], vecs[i : i + size]) for i in range(0, len(ids), size))


def _build(tmp_path: Path, kind: str, **kw: object) -> FaissIndex:
    live = tmp_path / "collection-1.faiss"
    built = build_faiss(live, DIM, kind, _batches(), count=N, recall=0.95, **kw)  # type: ignore[arg-type]
    assert built.path != live and built.path.is_file()  # built beside the live file
    built.swap_into(live)
    assert built.path == live and live.is_file() and not list(tmp_path.glob("*.tmp"))
    return built


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_searches_removes_and_persists(tmp_path: Path, kind: str) -> None:
    index = _build(tmp_path, kind)
    assert index.kind == kind and len(index) == N
    assert sorted(index.ids().tolist()) == IDS.tolist()
    scores, found = index.search(QUERIES, 10)
    assert found.shape == (40, 10) and scores.dtype == np.float32
    recall = _recall(found, _exact(QUERIES, 10))
    assert recall == 1.0 if kind == "flat" else recall >= 0.9
    if kind != "flat":
        assert index.params["tuned_recall"] >= 0.95
    # Each vector finds itself first with its own id.
    _, own = index.search(VECS[[3, 999]], 1)
    assert own[:, 0].tolist() == [IDS[3], IDS[999]]

    # Removed ids vanish at once and the count is of live faces.
    gone = found[:, 0]
    assert index.remove(np.concatenate([gone, [12345]])) == len(set(gone.tolist()))
    assert len(index) == N - len(set(gone.tolist()))
    _, after = index.search(QUERIES, 10)
    assert not np.isin(after, gone).any() and (after >= 0).all()
    assert not np.isin(index.ids(), gone).any()

    index.save()
    again = FaissIndex(index.path, DIM)
    assert again.load_error is None and again.kind == kind and len(again) == len(index)
    assert again.params == index.params
    _, reopened = again.search(QUERIES, 10)
    assert np.array_equal(reopened, after)


@pytest.mark.parametrize("kind", KINDS)
def test_allow_and_deny_apply_inside_the_search(tmp_path: Path, kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    index = _build(tmp_path, kind)
    # A small allow list is searched exactly: k results whenever k eligible ids exist.
    few = IDS[[5, 50, 500, 1500, 2500, 3500, 4000, 4100, 4200, 4300, 4400, 4999]]
    scores, found = index.search(QUERIES, 10, allow=few)
    assert np.isin(found, few).all()
    assert np.array_equal(found, _exact(QUERIES, 10, few, VECS[np.isin(IDS, few)])) or kind == "ivfpq"
    assert _recall(found, _exact(QUERIES, 10, few, VECS[np.isin(IDS, few)])) >= 0.95
    # Fewer eligible than k: all of them, then -1.
    _, three = index.search(QUERIES[:2], 10, allow=few[:3], deny=few[:1])
    assert sorted(three[0, :2].tolist()) == sorted(few[1:3].tolist()) and (three[:, 2:] == -1).all()
    # Ids not in the index are ignored in an allow list.
    _, odd = index.search(QUERIES[:2], 5, allow=np.array([few[0], 999], np.int64))
    assert odd[:, 0].tolist() == [few[0]] * 2 and (odd[:, 1:] == -1).all()

    # A big allow list goes through an id selector inside FAISS (forced here by lowering the bound).
    monkeypatch.setattr(fi, "EXACT_ALLOW_MAX", 100)
    tenth = IDS[::10]
    _, found = index.search(QUERIES, 10, allow=tenth)
    assert np.isin(found, tenth).all() and (found >= 0).all()
    recall = _recall(found, _exact(QUERIES, 10, tenth, VECS[::10]))
    assert recall == 1.0 if kind == "flat" else recall >= 0.85

    # Deny: the exact top 3 of every query denied, the rest still fills k.
    top = _exact(QUERIES, 3).reshape(-1)
    _, found = index.search(QUERIES, 10, deny=top)
    assert not np.isin(found, top).any() and (found >= 0).all()
    _, both = index.search(QUERIES, 10, allow=tenth, deny=top)
    assert np.isin(both, tenth).all() and not np.isin(both, top).any()


def test_hnsw_tombstones_survive_reopen_and_rebuild_reclaims_them(tmp_path: Path) -> None:
    index = _build(tmp_path, "hnsw")
    dead = IDS[:100]
    assert index.remove(dead) == 100 and index.remove(dead) == 0
    assert index.tombstones == 100 and len(index) == N - 100
    index.save()
    meta = json.loads(meta_path(index.path).read_text())
    assert sorted(meta["tombstones"]) == dead.tolist()
    again = FaissIndex(index.path, DIM)
    assert again.tombstones == 100 and len(again) == N - 100
    _, found = again.search(VECS[:100], 10)
    assert not np.isin(found, dead).any() and (found >= 0).all()
    _, found = again.search(VECS[:5], 10, allow=IDS[:200])
    assert not np.isin(found, dead).any() and np.isin(found, IDS[100:200]).all()
    # Adding a removed id again (a removal rolled back) brings it back without a second node.
    again.add(dead[:1], VECS[:1])
    assert again.tombstones == 99 and again._index.ntotal == N
    assert again.search(VECS[:1], 1)[1][0, 0] == dead[0]

    live = again.ids()
    rebuilt = build_faiss(index.path, DIM, "hnsw", [(live, VECS[np.isin(IDS, live)])], count=len(live))
    rebuilt.swap_into(index.path)
    fresh = FaissIndex(index.path, DIM)
    assert fresh.tombstones == 0 and fresh._index.ntotal == len(live) == len(fresh)


def test_hnsw_removal_keeps_no_erased_vector_in_the_file(tmp_path: Path) -> None:
    """A tombstone denies the id; the vector and the node's own links are overwritten, so neither the live
    file nor a copy of it gives the erased embedding back, and the graph still finds the others."""
    index = _build(tmp_path, "hnsw")
    inner = faiss.downcast_index(index._index.index)
    dead = np.concatenate([IDS[:50], IDS[fi._hnsw_positions(index._index, IDS)[[inner.hnsw.entry_point]]]])
    index.remove(dead)
    index.save()
    copy = faiss.read_index(str(index.path))
    for i in dead.tolist():
        assert not np.any(copy.reconstruct(int(i)))  # zeros where the embedding was
    assert index.erased_vectors_kept() == 0
    again = FaissIndex(index.path, DIM)
    assert again.erased_vectors_kept() == 0
    live_ids, live_vecs = IDS[~np.isin(IDS, dead)], VECS[~np.isin(IDS, dead)]
    _, found = again.search(QUERIES, 10)
    assert not np.isin(found, dead).any()
    assert _recall(found, _exact(QUERIES, 10, live_ids, live_vecs)) >= 0.9


def test_doctor_view_of_an_old_hnsw_file_with_vectors_behind_tombstones(tmp_path: Path) -> None:
    """A file written by an older version (tombstones in the sidecar, vectors still in the graph) is
    reported and scrubbed on demand."""
    index = _build(tmp_path, "hnsw")
    index.save()
    meta = json.loads(meta_path(index.path).read_text())
    meta["tombstones"] = IDS[:10].tolist()
    meta_path(index.path).write_text(json.dumps(meta))
    old = FaissIndex(index.path, DIM)
    assert old.tombstones == 10 and old.erased_vectors_kept() == 10
    assert old.scrub_erased() == 10
    old.save()
    assert FaissIndex(index.path, DIM).erased_vectors_kept() == 0


def test_rebuild_gives_the_same_results(tmp_path: Path) -> None:
    flat = _build(tmp_path, "flat")
    _, before = flat.search(QUERIES, 10)
    for kind in ("flat", "ivfpq"):
        built = build_faiss(flat.path, DIM, kind, _batches(size=777), count=N)
        built.swap_into(flat.path)
        _, after = FaissIndex(flat.path, DIM).search(QUERIES, 10)
        assert np.array_equal(after, before) if kind == "flat" else _recall(after, before) >= 0.9
    assert FaissIndex(flat.path, DIM).kind == "ivfpq"


def test_new_index_is_flat_and_grows(tmp_path: Path) -> None:
    index = FaissIndex(tmp_path / "new.faiss", DIM)
    assert index.file_missing and index.kind == "flat" and len(index) == 0
    scores, found = index.search(QUERIES[:2], 5)
    assert found.shape == (2, 5) and (found == -1).all() and np.isneginf(scores).all()
    index.add(IDS[:10], VECS[:10])
    assert index.dirty
    index.save()
    assert not index.dirty and not index.file_missing
    assert len(FaissIndex(tmp_path / "new.faiss", DIM)) == 10


def test_corrupt_file_is_reported_and_replaced_by_an_empty_index(tmp_path: Path) -> None:
    index = _build(tmp_path, "ivfpq")
    data = index.path.read_bytes()
    index.path.write_bytes(data[: len(data) // 2])
    broken = FaissIndex(index.path, DIM)
    assert broken.load_error and len(broken) == 0 and broken.kind == "flat"
    index.path.write_bytes(b"not an index")
    assert FaissIndex(index.path, DIM).load_error
    faiss.write_index(faiss.IndexIDMap2(faiss.IndexFlatIP(DIM + 1)), str(index.path))
    assert "dimension" in (FaissIndex(index.path, DIM).load_error or "")


def test_files_of_the_earlier_exact_index_still_load(tmp_path: Path) -> None:
    path = tmp_path / "collection-7.faiss"
    old = faiss.IndexIDMap2(faiss.IndexFlatIP(DIM))
    old.add_with_ids(VECS, IDS)
    faiss.write_index(old, str(path))  # as the earlier code wrote it: no sidecar
    index = FaissIndex(path, DIM)
    assert index.load_error is None and index.kind == "flat" and len(index) == N
    assert np.array_equal(index.search(QUERIES, 10)[1], _exact(QUERIES, 10))


def test_big_files_are_memory_mapped_and_copied_in_on_write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for kind in ("flat", "ivfpq", "hnsw"):
        sub = tmp_path / kind
        sub.mkdir()
        index = _build(sub, kind)
        _, want = index.search(QUERIES, 10)
        monkeypatch.setattr(faiss_files, "MMAP_MIN_BYTES", 0)
        mapped = FaissIndex(index.path, DIM)
        monkeypatch.setattr(faiss_files, "MMAP_MIN_BYTES", 256 * 2**20)
        assert mapped._mapped and mapped.load_error is None
        assert np.array_equal(mapped.search(QUERIES, 10)[1], want)
        assert sorted(mapped.ids().tolist()) == IDS.tolist()
        mapped.remove(IDS[:3])
        mapped.add(np.array([1, 2], np.int64), _unit(2, 9))
        mapped.save()
        again = FaissIndex(index.path, DIM)
        assert len(again) == N - 1 and not np.isin(IDS[:3], again.ids()).any()


def test_stale_temporary_files_of_dead_writers_are_removed(tmp_path: Path) -> None:
    path = tmp_path / "collection-1.faiss"
    dead = 2**22 + 12345  # above pid_max: no such process
    stale = [
        tmp_path / f"collection-1.faiss.{dead}.tmp",
        tmp_path / f"collection-1.faiss.build.{dead}.tmp",
        tmp_path / f"collection-1.faiss.meta.json.{dead}.tmp",
        tmp_path / f"collection-1.faiss.build.{dead}.tmp.meta.json",  # a dead build's sidecar
    ]
    mine = tmp_path / f"collection-1.faiss.build.{os.getpid()}.tmp"
    mine_meta = tmp_path / f"collection-1.faiss.build.{os.getpid()}.tmp.meta.json"
    other = tmp_path / f"collection-10.faiss.build.{dead}.tmp.meta.json"  # another collection's
    for f in [*stale, mine, mine_meta, other]:
        f.write_bytes(b"x")
    FaissIndex(path, DIM)
    assert not any(f.exists() for f in stale) and mine.exists() and mine_meta.exists() and other.exists()


def test_kind_choice_and_list_counts() -> None:
    assert choose_kind(10, 200_000, 2_000_000) == "flat"
    assert choose_kind(500_000, 200_000, 2_000_000) == "hnsw"
    assert choose_kind(3_000_000, 200_000, 2_000_000) == "ivfpq"
    assert ivf_nlist(1_000_000) == 4096 and ivf_nlist(10_000_000) == 8192
    assert ivf_nlist(1000) * 39 <= 1000


@pytest.mark.parametrize("kind", ["flat", "ivfpq"])
def test_dense_row_ids_filter_through_a_bitmap(tmp_path: Path, kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    ids = np.arange(1, N + 1, dtype=np.int64)  # row ids: dense, so the allow list becomes a bitmap
    built = build_faiss(tmp_path / "c.faiss", DIM, kind, [(ids, VECS)], count=N)
    monkeypatch.setattr(fi, "EXACT_ALLOW_MAX", 100)
    allow = ids[::3][::-1]  # any order
    deny = _exact(QUERIES, 2, ids).reshape(-1)
    _, found = built.search(QUERIES, 10, allow=allow, deny=deny)
    assert np.isin(found, allow).all() and not np.isin(found, deny).any() and (found >= 0).all()
    keep = allow[~np.isin(allow, deny)]
    want = _exact(QUERIES, 10, keep, VECS[keep - 1])
    assert _recall(found, want) == 1.0 if kind == "flat" else _recall(found, want) >= 0.85


def test_one_query_splits_its_lists_between_threads_and_finds_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    index = _build(tmp_path, "ivfpq")
    index.threads = 1
    one = [index.search(q[None], 10) for q in QUERIES]
    monkeypatch.setattr(fi, "PARALLEL_LIST_MIN", 0)  # every query big enough to split
    monkeypatch.setattr(fi.os, "getloadavg", lambda: (0.2, 0.2, 0.2))  # a quiet machine
    index.threads = 2
    ivf = faiss.extract_index_ivf(index._index)
    for q, (scores, found) in zip(QUERIES, one, strict=True):
        s2, f2 = index.search(q[None], 10)
        assert ivf.parallel_mode == 1 and faiss.omp_get_max_threads() == 2
        assert set(f2[0].tolist()) == set(found[0].tolist())
        np.testing.assert_allclose(np.sort(s2[0]), np.sort(scores[0]), atol=1e-6)
    # A batch splits its queries, and a small scan stays on one thread.
    monkeypatch.setattr(fi, "PARALLEL_SCAN_MIN", 0)
    _, batch = index.search(QUERIES, 10)
    assert ivf.parallel_mode == 0 and all(set(b) == set(f[0]) for b, (_, f) in zip(batch.tolist(), one, strict=True))
    monkeypatch.setattr(fi, "PARALLEL_LIST_MIN", 10**9)
    index.search(QUERIES[:1], 10)
    assert faiss.omp_get_max_threads() == 1
    # A machine without a core to spare: one thread, whatever the scan.
    monkeypatch.setattr(fi, "PARALLEL_LIST_MIN", 0)
    monkeypatch.setattr(fi.os, "getloadavg", lambda: (12.0, 12.0, 12.0))
    _, busy = index.search(QUERIES[:1], 10)
    assert faiss.omp_get_max_threads() == 1 and ivf.parallel_mode == 0
    assert set(busy[0].tolist()) == set(one[0][1][0].tolist())


def test_saves_go_through_the_atomic_write_and_leave_no_temporary(tmp_path: Path) -> None:
    index = _build(tmp_path, "ivfpq")
    index.remove(IDS[:2])
    index.save()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["collection-1.faiss", "collection-1.faiss.meta.json"]
    dead = 2**22 + 12345
    stale = tmp_path / f".collection-1.faiss.{dead}.140001.tmp"  # the one atomic write's naming
    mine = tmp_path / f".collection-1.faiss.meta.json.{os.getpid()}.140001.tmp"
    for f in (stale, mine):
        f.write_bytes(b"x")
    FaissIndex(index.path, DIM)
    assert not stale.exists() and mine.exists()
