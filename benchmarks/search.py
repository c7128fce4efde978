"""Index search at scale on synthetic face-like embeddings: `facesearch bench search --size N ...`.

The gallery: identities are unit-norm centres (drawn with a decaying per-dimension spread, as real face
embeddings have), each enrolled as several samples = centre + isotropic noise, renormalised. The noise is
chosen so that two photos of one person score a cosine of about 0.6 and two people about 0 (with a spread
of about 0.08), like real face embeddings. Genuine probes are further held-out samples of enrolled people.

Everything is generated in chunks from (seed, chunk) so that 10M x 256 never sits in memory: each chunk
is made, scored exactly against the probes (the ground truth and the brute-force baseline, NumPy's
matrix product plus argpartition: what DeepFace or face_recognition do), and handed to the index build.
For ivfpq the chunks are made again for a second build, the 0.3.0 structure (sqrt(n) lists, one thread per
query), searched with the same probes in the same run: the baseline of every figure. Latencies are the
medians of `repeat` timed passes over the probes.

Loaded by `facesearch.cli.bench` from the source checkout, like `benchmarks/harness.py`; what it measures is
`search_measures.py` beside it, its report and goals `search_report.py`.
"""

from __future__ import annotations

import gc
import importlib.util
import json
import math
import os
import resource
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np


def _load(name: str, path: Path) -> Any:
    """A module of this checkout loaded by path (benchmarks/ is not a package), once per process."""
    loaded = sys.modules.get(name)
    if loaded is not None and getattr(loaded, "__file__", None) == str(path):
        return loaded
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the file runs
    spec.loader.exec_module(module)
    return module


def _beside(name: str) -> Any:
    """benchmarks/<name>.py, under the module name `facesearch bench` gives it."""
    return _load(f"facesearch_benchmarks_{name}", Path(__file__).resolve().with_name(f"{name}.py"))


def _harness() -> Any:
    """benchmarks/harness.py (machine, commit and package records), loaded by path like the CLI does."""
    return _beside("harness")


def _milvus_server() -> Any:
    """The embedded Milvus server the tests use (tests/support/milvus_server.py of this checkout): the runtime
    package never starts a server, so the benchmark borrows the tests' launcher."""
    return _load(
        "facesearch_benchmarks_milvus_server",
        Path(__file__).resolve().parent.parent / "tests" / "support" / "milvus_server.py",
    )


_measures = _beside("search_measures")
_report = _beside("search_report")
K = _measures.K
Exact = _measures.Exact
allowed_mask = _measures.allowed_mask
recall_at_k = _measures.recall_at_k
genuine_recall = _measures.genuine_recall
latencies = _measures.latencies
median_latencies = _measures.median_latencies
GOALS = _report.GOALS
goals = _report.goals
table_rows = _report.table_rows

CHUNK = 500_000
NOISE = 0.8  # norm of the per-photo noise: cosine between photos of one person ~ 1 / (1 + NOISE^2)
# Per-dimension spread of identity centres ~ (j + 1) ** -power. 0.5 gives the centres an effective
# dimension of about 20 and impostor cosines a spread of about 0.12, as measured for real face embeddings
# (their intrinsic dimension is ~10-20 even in 512-d); 0 makes them isotropic, the hardest case for any
# approximate index (every impostor equally far).
SPECTRUM_POWER = 0.5


@dataclass
class SearchBenchOptions:
    size: int
    dim: int = 256
    backend: str = "faiss"
    index: str = "auto"
    filter: float | None = None
    queries: int = 1000
    seed: int = 1234
    per_identity: int = 5
    spectrum: float = SPECTRUM_POWER
    recall: float = 0.95
    flat_max: int | None = None
    hnsw_max: int | None = None
    milvus_uri: str | None = None
    workdir: Path | None = None
    # Also build and search the 0.3.0 structure of the same kind in the same run (ivfpq: sqrt(n) lists, one
    # thread per query), the baseline every figure is compared with.
    baseline: bool = True
    # Timed passes over the probes; latency figures are the medians of the passes' percentiles.
    repeat: int = 3
    log: Callable[[str], None] = field(default=lambda _m: None)


# The synthetic gallery ---------------------------------------------------------------------------
class Gallery:
    """Identities and their samples, regenerated chunk by chunk from (seed, chunk)."""

    def __init__(self, size: int, dim: int, per_identity: int, seed: int, spectrum: float = SPECTRUM_POWER) -> None:
        self.size, self.dim, self.per, self.seed = size, dim, per_identity, seed
        self.chunk = max(per_identity, CHUNK - CHUNK % per_identity)
        self.identities = math.ceil(size / per_identity)
        scale = (np.arange(dim, dtype=np.float32) + 1) ** -np.float32(spectrum)
        self.scale = (scale / np.sqrt(np.mean(scale**2))).astype(np.float32)
        self.sigma = np.float32(NOISE / math.sqrt(dim))

    def n_chunks(self) -> int:
        return math.ceil(self.size / self.chunk)

    def _centres(self, c: int) -> tuple[np.random.Generator, np.ndarray]:
        rng = np.random.default_rng([self.seed, c])
        first = c * self.chunk // self.per
        count = math.ceil(min(self.size, (c + 1) * self.chunk) / self.per) - first
        centres = rng.standard_normal((count, self.dim), dtype=np.float32) * self.scale
        centres /= np.linalg.norm(centres, axis=1, keepdims=True)
        return rng, centres

    def chunk_data(self, c: int) -> tuple[np.ndarray, np.ndarray]:
        """(ids, vectors) of chunk c; id = identity * per_identity + sample."""
        rng, centres = self._centres(c)
        start, stop = c * self.chunk, min(self.size, (c + 1) * self.chunk)
        ids = np.arange(start, stop, dtype=np.int64)
        vecs = centres[(ids - start) // self.per]
        vecs += rng.standard_normal(vecs.shape, dtype=np.float32) * self.sigma
        vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
        return ids, vecs

    def probes(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """n held-out photos of n enrolled people: (vectors, identity)."""
        rng = np.random.default_rng([self.seed, 2**31])
        who = np.sort(rng.choice(self.identities, min(n, self.identities), replace=False))
        out = np.empty((len(who), self.dim), np.float32)
        per_chunk = self.chunk // self.per
        for c in np.unique(who // per_chunk):
            _, centres = self._centres(int(c))
            sel = np.nonzero(who // per_chunk == c)[0]
            out[sel] = centres[who[sel] - c * per_chunk]
        out += rng.standard_normal(out.shape, dtype=np.float32) * self.sigma
        out /= np.linalg.norm(out, axis=1, keepdims=True)
        return out, who

    def own_ids(self, who: np.ndarray) -> list[np.ndarray]:
        return [np.arange(i * self.per, min(self.size, (i + 1) * self.per), dtype=np.int64) for i in who]


def baseline_nlist(n: int) -> int:
    """The lists 0.3.0 gave an IVF index of n vectors: ~sqrt(n) as a power of two, at least 39 per list."""
    nlist = 2 ** max(0, round(math.log2(max(math.sqrt(max(n, 1)), 1))))
    while nlist > 1 and nlist * 39 > n:
        nlist //= 2
    return int(max(1, nlist))


class _Stream:
    """The gallery's chunks, made again on each pass (the first also scored exactly); `seconds` is the time
    spent making and scoring them, which is not the index's."""

    def __init__(self, gal: Gallery, exact: Exact | None, log: Callable[[str], None]) -> None:
        self.gal, self.exact, self.log, self.seconds = gal, exact, log, 0.0

    def __call__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        self.seconds = 0.0
        for c in range(self.gal.n_chunks()):
            t = time.perf_counter()
            ids, vecs = self.gal.chunk_data(c)
            if self.exact is not None:
                self.exact.update(ids, vecs)
            self.seconds += time.perf_counter() - t
            self.log(f"chunk {c + 1}/{self.gal.n_chunks()}: {ids[-1] + 1} faces")
            yield ids, vecs


# The benchmark -----------------------------------------------------------------------------------
def bench_index_search(opts: SearchBenchOptions) -> dict[str, Any]:
    from facesearch.index.kinds import choose_kind

    harness = _harness()
    gal = Gallery(opts.size, opts.dim, opts.per_identity, opts.seed, opts.spectrum)
    probes, who = gal.probes(opts.queries)
    own = gal.own_ids(who)
    flat_max = opts.flat_max if opts.flat_max is not None else _setting("index_flat_max", 200_000)
    hnsw_max = opts.hnsw_max if opts.hnsw_max is not None else _setting("index_hnsw_max", 2_000_000)
    kind = choose_kind(opts.size, flat_max, hnsw_max) if opts.index == "auto" else opts.index
    exact = Exact(probes, timed=min(50, len(probes)), fraction=opts.filter, seed=opts.seed, own=own)
    log = opts.log
    peak0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    stream = _Stream(gal, exact, log)
    load_before = os.getloadavg()
    tmp = tempfile.TemporaryDirectory(prefix="facesearch-bench-index-", dir=opts.workdir)
    try:
        if opts.backend == "milvus":
            result = _run_milvus(opts, Path(tmp.name), stream, exact, probes, own, log)
        else:
            result = _run_faiss(opts, kind, Path(tmp.name) / "new", stream, exact, probes, own, log)
            if opts.baseline and kind == "ivfpq":
                log("the 0.3.0 structure, same data")
                base = _run_faiss(
                    opts,
                    kind,
                    Path(tmp.name) / "0.3.0",
                    _Stream(gal, None, log),
                    exact,
                    probes,
                    own,
                    log,
                    nlist=baseline_nlist(opts.size),
                    threads=1,
                )
                result["baseline"] = {"structure": "0.3.0: sqrt(n) lists, one thread per query", **base}
    finally:
        tmp.cleanup()
    result["load_before"] = [round(x, 2) for x in load_before]
    result["load_after"] = [round(x, 2) for x in os.getloadavg()]
    result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    result["peak_rss_mb_before"] = round(peak0 / 1024, 1)
    result["impostor_cosine"] = {
        "mean": round(float(np.mean(exact.impostor)), 4),
        "sd": round(float(np.std(exact.impostor)), 4),
    }
    result["genuine_cosine"] = {
        "mean": round(float(np.mean(exact.genuine)), 4),
        "sd": round(float(np.std(exact.genuine)), 4),
    }
    settings = {
        "size": opts.size,
        "dim": opts.dim,
        "backend": opts.backend,
        "index": opts.index,
        "kind": kind,
        "filter": opts.filter,
        "queries": len(probes),
        "seed": opts.seed,
        "k": K,
        "per_identity": opts.per_identity,
        "noise": NOISE,
        "spectrum_power": opts.spectrum,
        "chunk": gal.chunk,
        "recall_target": opts.recall,
        "flat_max": flat_max,
        "hnsw_max": hnsw_max,
        "threads": _threads(),
        "baseline": bool(opts.baseline and opts.backend == "faiss" and kind == "ivfpq"),
        "repeat": opts.repeat,
    }
    report = {"benchmark": "search-index", **harness.environment(settings), "result": result}
    report["goals"] = goals(report)
    return report


def _run_faiss(
    opts: SearchBenchOptions,
    kind: str,
    work: Path,
    stream: _Stream,
    exact: Exact,
    probes: np.ndarray,
    own: list[np.ndarray],
    log: Callable[[str], None],
    *,
    nlist: int | None = None,
    threads: int | None = None,
) -> dict[str, Any]:
    from facesearch.index.faiss_build import build_faiss
    from facesearch.index.faiss_files import meta_path
    from facesearch.index.faiss_index import FaissIndex

    work.mkdir(parents=True, exist_ok=True)
    path = work / "collection-1.faiss"
    t = time.perf_counter()
    built = build_faiss(path, opts.dim, kind, stream(), count=opts.size, recall=opts.recall, nlist=nlist)
    built.swap_into(path)
    build_s = time.perf_counter() - t - stream.seconds
    params = built.params
    del built
    gc.collect()
    disk = path.stat().st_size + (meta_path(path).stat().st_size if meta_path(path).is_file() else 0)
    log(f"built {kind} in {build_s:.1f} s; {disk / opts.size:.0f} bytes/face on disk")
    # Opening as a server does (memory-mapped when big), then the memory the index takes when read whole.
    t = time.perf_counter()
    mapped = FaissIndex(path, opts.dim)
    open_s = time.perf_counter() - t
    del mapped
    gc.collect()
    mem = _measures.loaded_bytes(path, opts.dim)
    index = FaissIndex(path, opts.dim, mmap=False)
    assert index.load_error is None, index.load_error
    if threads is not None:
        index.threads = threads
    return {
        "kind": index.kind,
        "faces": len(index),
        "params": params,
        "threads": index.threads,
        "build_s": round(build_s, 2),
        "open_s": round(open_s, 3),
        "bytes_per_face_memory": round(mem / opts.size, 1),
        "bytes_per_face_disk": round(disk / opts.size, 1),
        **_searched(index.search, opts, exact, probes, own),
    }


def _searched(
    search: Callable[..., Any], opts: SearchBenchOptions, exact: Exact, probes: np.ndarray, own: list[np.ndarray]
) -> dict[str, Any]:
    """The figures of one index's searches, and with --filter the same with only that fraction allowed."""
    found, times, qps = _measures.timed_searches(search, probes, opts.repeat)
    out = _figures(found, times, qps, exact.top[1], own, None, exact.single_s, exact.batch_s, len(probes))
    if opts.filter is not None:
        ids_all = np.arange(opts.size, dtype=np.int64)
        allow = ids_all[allowed_mask(ids_all, opts.filter, opts.seed)]
        ffound, ftimes, fqps = _measures.timed_searches(search, probes, opts.repeat, allow=allow)
        frac, seed = opts.filter, opts.seed
        out["filter"] = {
            "fraction": frac,
            "allowed": len(allow),
            **_figures(
                ffound,
                ftimes,
                fqps,
                exact.ftop[1],
                own,
                lambda x: allowed_mask(x, frac, seed),
                exact.fsingle_s,
                None,
                len(probes),
            ),
        }
    return out


def _figures(
    found: np.ndarray,
    times: list[list[float]],
    qps: float,
    truth: np.ndarray,
    own: list[np.ndarray],
    allowed: Callable[[np.ndarray], np.ndarray] | None,
    exact_single: np.ndarray,
    exact_batch_s: float | None,
    nq: int,
) -> dict[str, Any]:
    lat = median_latencies(times)
    ex = latencies(exact_single)
    return {
        "latency_ms": lat,
        "batch_qps": round(qps, 1),
        "recall_at_10": round(recall_at_k(found, truth), 4),
        "genuine_recall": genuine_recall(found, own, allowed),
        "exact_genuine_recall": genuine_recall(truth, own, allowed),
        "exact_numpy": {"latency_ms": ex, "batch_qps": round(nq / exact_batch_s, 1) if exact_batch_s else None},
        "speedup_p50": round(ex["p50"] / lat["p50"], 1) if ex and lat.get("p50") else None,
        "speedup_p99": round(ex["p99"] / lat["p99"], 1) if ex and lat.get("p99") else None,
    }


def _run_milvus(
    opts: SearchBenchOptions,
    work: Path,
    stream: _Stream,
    exact: Exact,
    probes: np.ndarray,
    own: list[np.ndarray],
    log: Callable[[str], None],
) -> dict[str, Any]:
    import contextlib

    from facesearch.index import milvus_index

    with contextlib.ExitStack() as stack:
        uri = opts.milvus_uri
        if uri is None:  # an embedded Milvus standalone for the run (PyPI `milvus`), data in the temp folder
            uri = stack.enter_context(_milvus_server().embedded_server(work / "milvus"))
            log(f"embedded Milvus at {uri}")
        index = milvus_index.MilvusIndex.open(_bench_namespace(uri), 1, opts.dim)
        stack.callback(index.close)
        stack.callback(index.drop)
        t = time.perf_counter()
        for ids, vecs in stream():
            index.add(ids, vecs)
        index.wait_indexed(timeout=3600)
        build_s = time.perf_counter() - t - stream.seconds
        log(f"loaded and indexed {opts.size} faces in Milvus in {build_s:.1f} s")
        return {
            "kind": index.kind,
            "faces": len(index),
            "build_s": round(build_s, 2),
            "bytes_per_face_memory": None,
            "bytes_per_face_disk": None,
            **_searched(index.search, opts, exact, probes, own),
        }


def _bench_namespace(uri: str) -> str:
    """The URI with a namespace of the benchmark's own: its collection is dropped at the end, so it must never
    be one of a facesearch home on the same server (the default namespace's `facesearch_c1`)."""
    base, _, query = uri.partition("?")
    host = "/".join(base.split("/", 3)[:3])  # milvus://[user:pw@]host:port
    return f"{host}/facesearch_bench" + (f"?{query}" if query else "")


def context_line(report: dict[str, Any]) -> str:
    return str(_harness().context_line(report))


def write_report(report: dict[str, Any], out_dir: Path) -> tuple[Path, Path]:
    """The report as JSON and Markdown in out_dir (`search_report`), the harness's context line on top."""
    paths: tuple[Path, Path] = _report.write_report(report, out_dir, context_line(report))
    return paths


# Plumbing ----------------------------------------------------------------------------------------
def _setting(name: str, default: int) -> int:
    try:
        from facesearch.config import Settings

        return int(getattr(Settings(), name))
    except Exception:  # noqa: BLE001 - a broken environment should not stop a synthetic benchmark
        return default


def _threads() -> int:
    """The threads a search may use (read at import: FAISS's current setting is whatever the last search set)."""
    from facesearch.index.faiss_index import MAX_THREADS

    return int(MAX_THREADS)


def main(argv: list[str] | None = None) -> int:
    import argparse

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--size", type=int, required=True)
    p.add_argument("--dim", type=int, default=256)
    p.add_argument("--backend", default="faiss", choices=("faiss", "milvus"))
    p.add_argument("--index", default="auto", choices=("auto", "flat", "hnsw", "ivfpq"))
    p.add_argument("--filter", type=float, default=None)
    p.add_argument("--queries", type=int, default=1000)
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--spectrum", type=float, default=SPECTRUM_POWER)
    p.add_argument("--per-identity", type=int, default=5)
    p.add_argument("--repeat", type=int, default=3, help="timed passes over the probes (medians reported)")
    p.add_argument("--no-baseline", action="store_true", help="skip the 0.3.0 structure (ivfpq)")
    p.add_argument("--out", type=Path, default=Path("bench-results"))
    a = p.parse_args(argv)
    report = bench_index_search(
        SearchBenchOptions(
            size=a.size,
            dim=a.dim,
            backend=a.backend,
            index=a.index,
            filter=a.filter,
            queries=a.queries,
            seed=a.seed,
            spectrum=a.spectrum,
            per_identity=a.per_identity,
            repeat=a.repeat,
            baseline=not a.no_baseline,
            log=lambda m: print(m, file=sys.stderr),
        )
    )
    write_report(report, a.out)
    print(json.dumps(report, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
