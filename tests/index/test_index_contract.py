"""One contract for every vector index backend (FAISS flat, HNSW, IVF; Milvus), on real face embeddings:
240 LFW photos (40 people, 6 each) embedded with the shipped yunet-reid pack. Five photos of each person
are the gallery, the sixth a probe. Each backend must: find a gallery face as its own best match and agree
with exact NumPy search (exactly for exact backends, recall@10 >= 0.95 for approximate ones); drop removed
faces from the very next search; apply allow lists (a subset of the collection) and deny lists (opt-outs)
inside the search, returning k results whenever k are eligible; keep everything across save and reopen;
and give the same top-k when rebuilt from the same vectors."""

from __future__ import annotations

import itertools
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from support.helpers import lfw_people
from support.paths import LFW, MODELS, needs_lfw, needs_yunet

from evaluation.datasets import LabelledSet
from evaluation.embed import embed_full
from facesearch.config import Settings
from facesearch.index import FaissIndex, VectorIndex
from facesearch.index.faiss_build import build_faiss
from facesearch.index.kinds import KINDS as FAISS_KINDS

PEOPLE, PER_PERSON, K = 40, 6, 10
ID_BASE = 2**40  # face ids beyond 32 bits: ids are 64-bit throughout
EXACT_KINDS = {"faiss-flat", "milvus"}  # Milvus searches a small collection exhaustively


@dataclass
class Faces:
    ids: np.ndarray  # gallery face ids (n,)
    vecs: np.ndarray  # gallery embeddings (n, dim), unit norm
    person: np.ndarray  # gallery person index (n,)
    probes: np.ndarray  # one held-out embedding per person (PEOPLE, dim)

    @property
    def dim(self) -> int:
        return int(self.vecs.shape[1])


@pytest.fixture(scope="module")
def faces(tmp_path_factory: pytest.TempPathFactory) -> Faces:
    names = lfw_people(PER_PERSON, PEOPLE)
    paths = [p for n in names for p in sorted((LFW / "deepfunneled" / n).glob("*.jpg"))[:PER_PERSON]]
    ds = LabelledSet("index-contract", LFW, paths, [p.parent.name for p in paths])
    settings = Settings(models_dir=MODELS, workers=1, home=Path("/nonexistent-facesearch-home"))
    e = embed_full(ds, "yunet-reid", settings, tmp_path_factory.mktemp("embed-cache"))
    assert e.ok.all(), "every chosen LFW photo has a face"
    person = np.repeat(np.arange(PEOPLE), PER_PERSON)
    probe = np.arange(len(paths)) % PER_PERSON == PER_PERSON - 1
    gallery = ~probe
    ids = ID_BASE + 7 * np.arange(int(gallery.sum()), dtype=np.int64)
    return Faces(
        ids,
        np.ascontiguousarray(e.emb[gallery], np.float32),
        person[gallery],
        np.ascontiguousarray(e.emb[probe], np.float32),
    )


# Backends ------------------------------------------------------------------------------------------
@dataclass
class Backend:
    name: str
    build: Callable[[np.ndarray, np.ndarray], VectorIndex]  # a new index holding these (ids, vectors)
    reopen: Callable[[VectorIndex], VectorIndex]  # a new object on the same file or server collection

    @property
    def exact(self) -> bool:
        return self.name in EXACT_KINDS


_collection_ids = itertools.count(1)


def _faiss_backend(kind: str, folder: Path, dim: int) -> Backend:
    def build(ids: np.ndarray, vecs: np.ndarray) -> VectorIndex:
        path = folder / f"collection-{next(_collection_ids)}.faiss"
        if kind == "flat":
            index = FaissIndex(path, dim)
            index.add(ids, vecs)
            return index
        built = build_faiss(path, dim, kind, [(ids, vecs)], count=len(ids))
        built.swap_into(path)
        return built

    def reopen(index: VectorIndex) -> VectorIndex:
        assert isinstance(index, FaissIndex)
        return FaissIndex(index.path, dim)

    return Backend(f"faiss-{kind}", build, reopen)


def _milvus_backend(uri: str, dim: int, opened: list[VectorIndex]) -> Backend:
    from facesearch.index.milvus_index import MilvusIndex

    where = f"{uri}/contract"

    def build(ids: np.ndarray, vecs: np.ndarray) -> VectorIndex:
        index = MilvusIndex.open(where, next(_collection_ids), dim)
        opened.append(index)
        index.add(ids, vecs)
        return index

    def reopen(index: VectorIndex) -> VectorIndex:
        assert isinstance(index, MilvusIndex)
        again = MilvusIndex.open(where, int(index.name.rsplit("_c", 1)[1]), dim)
        opened.append(again)
        return again

    return Backend("milvus", build, reopen)


@pytest.fixture(params=[f"faiss-{k}" for k in FAISS_KINDS] + ["milvus"])
def backend(request: pytest.FixtureRequest, faces: Faces, tmp_path: Path) -> Iterator[Backend]:
    name: str = request.param
    if name.startswith("faiss-"):
        yield _faiss_backend(name.removeprefix("faiss-"), tmp_path, faces.dim)
        return
    uri = request.getfixturevalue("milvus_uri")
    opened: list[VectorIndex] = []
    yield _milvus_backend(uri, faces.dim, opened)
    for index in opened:  # keep the session's server small
        index.drop()  # type: ignore[attr-defined]
        index.close()  # type: ignore[attr-defined]


# Helpers -------------------------------------------------------------------------------------------
def exact_top_k(ids: np.ndarray, vecs: np.ndarray, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    sims = queries @ vecs.T
    order = np.argsort(-sims, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(sims, order, axis=1), ids[order]


def recall_per_query(got: np.ndarray, want: np.ndarray) -> np.ndarray:
    return np.array(
        [
            len(set(g[g >= 0].tolist()) & set(w[w >= 0].tolist())) / max(1, int((w >= 0).sum()))
            for g, w in zip(got, want, strict=True)
        ]
    )


def recall(got: np.ndarray, want: np.ndarray) -> float:
    return float(np.mean(recall_per_query(got, want)))


def assert_keeps_recall_promise(name: str, got: np.ndarray, want: np.ndarray, target: float = 0.95) -> None:
    """An approximate index promises recall@10 >= target on probes like its tuning probes, at 95% confidence.
    These few probes measure it with sampling error of their own (and FAISS's kernels differ by host), so the
    promise is broken only when even the upper 95% bound of what they measured is below the target."""
    per_query = recall_per_query(got, want)
    mean = float(per_query.mean())
    upper = mean + 1.645 * float(per_query.std(ddof=1)) / np.sqrt(len(per_query))
    assert upper >= target, f"{name}: recall@{K} {mean:.3f} (upper bound {upper:.3f}) < {target} against exact search"


def assert_matches_exact(
    backend: Backend, got: tuple[np.ndarray, np.ndarray], want: tuple[np.ndarray, np.ndarray]
) -> None:
    (scores, ids), (w_scores, w_ids) = got, want
    assert ids.shape == w_ids.shape and ids.dtype == np.int64 and scores.dtype == np.float32
    r = recall(ids, w_ids)
    if backend.exact:
        assert r == 1.0, f"{backend.name}: exact backend missed true neighbours (recall@{K} {r:.3f})"
        np.testing.assert_allclose(scores, w_scores, atol=1e-4)
    else:
        assert_keeps_recall_promise(backend.name, ids, w_ids)


# The contract --------------------------------------------------------------------------------------
@needs_lfw
@needs_yunet
def test_search_finds_itself_and_agrees_with_exact_search(backend: Backend, faces: Faces) -> None:
    index = backend.build(faces.ids, faces.vecs)
    assert len(index) == len(faces.ids)
    assert np.array_equal(np.sort(index.ids()), faces.ids)
    scores, ids = index.search(faces.vecs, K)
    assert ids.shape == (len(faces.ids), K) and (ids >= 0).all()
    assert (ids[:, 0] == faces.ids).mean() >= 0.99, "a gallery face is its own best match"
    assert np.allclose(scores[:, 0], 1.0, atol=1e-2)
    assert (np.diff(scores, axis=1) <= 1e-6).all(), "scores come best first"
    assert_matches_exact(backend, (scores, ids), exact_top_k(faces.ids, faces.vecs, faces.vecs, K))
    # Probes: held-out photos of enrolled people.
    got = index.search(faces.probes, K)
    assert_matches_exact(backend, got, exact_top_k(faces.ids, faces.vecs, faces.probes, K))
    # More than the gallery holds: distinct faces first, then -1 padding (exact backends: every face).
    scores, ids = index.search(faces.probes[:2], len(faces.ids) + 5)
    for row in ids:
        found = row[row >= 0]
        assert (row[: len(found)] >= 0).all() and len(np.unique(found)) == len(found)
        assert len(found) == len(faces.ids) or not backend.exact


@needs_lfw
@needs_yunet
def test_removed_faces_vanish_from_the_next_search(backend: Backend, faces: Faces) -> None:
    index = backend.build(faces.ids, faces.vecs)
    gone = faces.ids[faces.person == 3]  # one person erased
    absent = np.array([ID_BASE - 1, ID_BASE + 10**9], np.int64)
    assert index.remove(np.concatenate([gone, absent, gone[:1]])) == len(gone)
    assert index.remove(gone) == 0, "removing again finds nothing"
    assert len(index) == len(faces.ids) - len(gone)
    assert not np.isin(index.ids(), gone).any()
    _, ids = index.search(np.concatenate([faces.vecs[faces.person == 3], faces.probes]), K)
    assert not np.isin(ids, gone).any(), f"{backend.name}: a removed face came back"
    assert (ids >= 0).all(), "still k results"
    keep = ~np.isin(faces.ids, gone)
    assert_matches_exact(
        backend, index.search(faces.probes, K), exact_top_k(faces.ids[keep], faces.vecs[keep], faces.probes, K)
    )
    # Added again (a rolled-back erasure): found again.
    index.add(gone, faces.vecs[faces.person == 3])
    assert len(index) == len(faces.ids)
    _, ids = index.search(faces.vecs[faces.person == 3], 1)
    assert np.array_equal(ids[:, 0], gone)


@needs_lfw
@needs_yunet
def test_allow_and_deny_apply_inside_the_search(backend: Backend, faces: Faces) -> None:
    index = backend.build(faces.ids, faces.vecs)
    subset = faces.ids[faces.person % 2 == 0]  # a part of the collection (e.g. one source's photos)
    optouts = faces.ids[np.isin(faces.person, [0, 2, 5])]  # everyone's photos of three people who opted out
    eligible = np.setdiff1d(subset, optouts)
    queries = faces.probes

    def want(ok: np.ndarray, k: int = K) -> tuple[np.ndarray, np.ndarray]:
        mask = np.isin(faces.ids, ok)
        return exact_top_k(faces.ids[mask], faces.vecs[mask], queries, k)

    got = index.search(queries, K, allow=subset)
    assert np.isin(got[1], subset).all() and (got[1] >= 0).all()
    assert_matches_exact(backend, got, want(subset))
    got = index.search(queries, K, deny=optouts)
    assert not np.isin(got[1], optouts).any() and (got[1] >= 0).all()
    assert_matches_exact(backend, got, want(np.setdiff1d(faces.ids, optouts)))
    got = index.search(queries, K, allow=subset, deny=optouts)
    assert np.isin(got[1], eligible).all() and (got[1] >= 0).all()
    assert_matches_exact(backend, got, want(eligible))
    # Exactly k eligible, and fewer than k: all of them, then -1 (never a face outside the list).
    few = eligible[:K]
    scores, ids = index.search(queries, K, allow=few)
    assert all(set(row.tolist()) == set(few.tolist()) for row in ids)
    scores, ids = index.search(queries, K, allow=few[:4], deny=few[:1])
    assert all(set(row[:3].tolist()) == set(few[1:4].tolist()) for row in ids) and (ids[:, 3:] == -1).all()
    assert np.isneginf(scores[:, 3:]).all()
    scores, ids = index.search(queries, K, allow=np.array([ID_BASE - 1], np.int64))  # not in the index
    assert (ids == -1).all()


@needs_lfw
@needs_yunet
def test_save_and_reopen_keep_everything(backend: Backend, faces: Faces) -> None:
    index = backend.build(faces.ids, faces.vecs)
    gone = faces.ids[:5]
    index.remove(gone)
    index.save()
    before = index.search(faces.probes, K)
    again = backend.reopen(index)
    assert again is not index and again.dim == faces.dim
    assert len(again) == len(faces.ids) - 5
    assert np.array_equal(np.sort(again.ids()), faces.ids[5:])
    after = again.search(faces.probes, K)
    assert np.array_equal(after[1], before[1])
    np.testing.assert_allclose(after[0], before[0], atol=1e-5)
    assert not np.isin(again.search(faces.vecs[:5], K)[1], gone).any()


@needs_lfw
@needs_yunet
def test_rebuild_from_the_same_vectors_gives_the_same_top_k(backend: Backend, faces: Faces) -> None:
    first = backend.build(faces.ids, faces.vecs)
    order = np.random.default_rng(0).permutation(len(faces.ids))  # another insertion order
    second = backend.build(faces.ids[order], faces.vecs[order])
    assert second.kind == first.kind
    a, b = first.search(faces.probes, K), second.search(faces.probes, K)
    if backend.exact:
        assert recall(a[1], b[1]) == 1.0
        np.testing.assert_allclose(a[0], b[0], atol=1e-5)
    else:  # each build keeps the promise against exact search, so the two agree as closely
        assert_keeps_recall_promise(backend.name, a[1], b[1])


# Milvus specifics: the URI, and errors that say what is wrong without credentials -------------------------
def test_milvus_uri_options_and_no_credentials_in_messages() -> None:
    from facesearch.index.milvus_index import MilvusIndexError, parse_uri

    t = parse_uri("milvus://alice:s3cret@db.example:19531/prod?index=ivf_pq&nprobe=64&m=16&token=tok-9")
    assert t.address == "http://db.example:19531" and t.namespace == "prod" and t.index_type == "IVF_PQ"
    assert t.search_params == {"nprobe": 64} and t.build_params["m"] == 16 and t.consistency == "Strong"
    assert t.token == "tok-9" and t.collection_name(7) == "prod_c7"
    assert not any(secret in t.public_uri + repr(t) for secret in ("alice", "s3cret", "tok-9"))
    d = parse_uri("milvus://bob:pw@localhost?secure=true&consistency=bounded")
    assert d.address == "https://localhost:19530" and d.namespace == "facesearch" and d.index_type == "HNSW"
    assert d.token == "bob:pw" and d.consistency == "Bounded"
    for bad in (
        "milvus://bob:pw@h/a-b",
        "milvus://bob:pw@h?index=annoy",
        "milvus://bob:pw@h?colour=red&token=pw",
        "http://bob:pw@h:19530",
        "milvus://bob:pw@h?ef=many",
    ):
        with pytest.raises(MilvusIndexError) as err:
            parse_uri(bad)
        assert "pw" not in str(err.value) and "bob" not in str(err.value), str(err.value)


def test_milvus_unreachable_server_is_a_clear_error() -> None:
    pytest.importorskip("pymilvus")
    from facesearch.index.milvus_index import MilvusIndex, MilvusIndexError

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(MilvusIndexError) as err:
        MilvusIndex.open(f"milvus://ops:hunter2@127.0.0.1:{port}/x?timeout=5", 1, 8)
    assert f"127.0.0.1:{port}" in str(err.value) and "hunter2" not in str(err.value)


def test_milvus_dimension_mismatch_is_a_clear_error(milvus_uri: str) -> None:  # noqa: F811
    from facesearch.index.milvus_index import MilvusIndex, MilvusIndexError

    index = MilvusIndex.open(f"{milvus_uri}/dims", 1, 8)
    try:
        with pytest.raises(MilvusIndexError, match="holds 8-d vectors.*gives 16-d"):
            MilvusIndex.open(f"{milvus_uri}/dims", 1, 16)
    finally:
        index.drop()
        index.close()
    with pytest.raises(MilvusIndexError, match="bad_c1"):  # product codes of 3 dims cannot split 8
        MilvusIndex.open(f"{milvus_uri}/bad?index=IVF_PQ&m=3", 1, 8)
