"""What `bench search` measures: the exact top 10 of the probes over the gallery's chunks (the ground truth, and
NumPy brute force timed as a peer library does it), recall, genuine recall, the timed searches and their latency
percentiles, and the memory an index takes once read.

Loaded beside benchmarks/search.py (by path, like the harness).
"""

from __future__ import annotations

import math
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

K = 10
BLOCK = 32_768  # gallery rows scored against all probes at once (1000 probes: 128 MB of scores)


def allowed_mask(ids: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """A fixed pseudo-random `fraction` of ids (by hash, so any chunk can tell on its own)."""
    h = (ids.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15) + np.uint64(seed)) >> np.uint64(11)
    return (h.astype(np.float64) / float(2**53)) < fraction


class Exact:
    """Exact top-k of the probes over the chunks, and how long NumPy brute force takes for it."""

    def __init__(
        self, probes: np.ndarray, timed: int, fraction: float | None, seed: int, own: list[np.ndarray]
    ) -> None:
        self.probes, self.fraction, self.seed, self.own = probes, fraction, seed, own
        nq = len(probes)
        self.top = (np.full((nq, K), -np.inf, np.float32), np.full((nq, K), -1, np.int64))
        self.ftop = (np.full((nq, K), -np.inf, np.float32), np.full((nq, K), -1, np.int64))
        self.timed = min(timed, nq)
        self.single_s = np.zeros(self.timed)  # per timed probe, summed over chunks
        self.fsingle_s = np.zeros(self.timed)
        self.batch_s = 0.0
        self.genuine: list[float] = []
        self.impostor: list[float] = []
        self.allowed_count = 0

    def update(self, ids: np.ndarray, vecs: np.ndarray) -> None:
        for i in range(self.timed):  # one probe at a time over the whole chunk, as a peer library does
            t = time.perf_counter()
            s = vecs @ self.probes[i]
            part = np.argpartition(-s, K)[:K]
            part[np.argsort(-s[part])]
            self.single_s[i] += time.perf_counter() - t
        mask = allowed_mask(ids, self.fraction, self.seed) if self.fraction is not None else None
        for start in range(0, len(ids), BLOCK):  # blocks keep the probes x gallery scores small
            bids, bvecs = ids[start : start + BLOCK], vecs[start : start + BLOCK]
            t = time.perf_counter()
            sims = self.probes @ bvecs.T
            self.top = _merge(self.top, sims, bids)
            self.batch_s += time.perf_counter() - t
            for i in range(min(200, len(self.own))):  # cosine of a probe to its own person's samples
                mine = self.own[i][(self.own[i] >= bids[0]) & (self.own[i] <= bids[-1])]
                self.genuine.extend((sims[i, mine - bids[0]]).tolist())
            if len(self.impostor) < 20_000:
                self.impostor.extend(sims[: min(50, len(sims)), :: max(1, len(bids) // 100)].ravel().tolist())
            if mask is not None:
                bmask = mask[start : start + BLOCK]
                self.ftop = _merge(self.ftop, sims[:, bmask], bids[bmask])
            del sims
        if mask is not None:
            self.allowed_count += int(mask.sum())
            sub = np.ascontiguousarray(vecs[mask])
            for i in range(self.timed):
                t = time.perf_counter()
                s = sub @ self.probes[i]
                part = np.argpartition(-s, min(K, len(s) - 1))[:K]
                part[np.argsort(-s[part])]
                self.fsingle_s[i] += time.perf_counter() - t


def _merge(top: tuple[np.ndarray, np.ndarray], sims: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if sims.shape[1] == 0:
        return top
    take = min(K, sims.shape[1])
    part = (
        np.argpartition(-sims, take - 1, axis=1)[:, :take]
        if take < sims.shape[1]
        else np.tile(np.arange(sims.shape[1]), (len(sims), 1))
    )
    s = np.concatenate([top[0], np.take_along_axis(sims, part, axis=1)], axis=1)
    i = np.concatenate([top[1], ids[part]], axis=1)
    order = np.argsort(-s, axis=1, kind="stable")[:, :K]
    return np.take_along_axis(s, order, axis=1), np.take_along_axis(i, order, axis=1)


# Measures ----------------------------------------------------------------------------------------
def recall_at_k(got: np.ndarray, want: np.ndarray) -> float:
    hits = total = 0
    for g, w in zip(got.tolist(), want.tolist(), strict=True):
        w = [x for x in w if x >= 0]
        hits += len(set(g) & set(w))
        total += len(w)
    return hits / max(total, 1)


def genuine_recall(
    got: np.ndarray, own: list[np.ndarray], allowed: Callable[[np.ndarray], np.ndarray] | None
) -> float | None:
    """Share of each probe person's own (eligible) samples found in its top k, averaged over probes."""
    shares = []
    for g, mine in zip(got, own, strict=True):
        if allowed is not None:
            mine = mine[allowed(mine)]
        if len(mine) == 0:
            continue
        shares.append(len(set(g.tolist()) & set(mine.tolist())) / min(len(mine), K))
    return round(float(np.mean(shares)), 4) if shares else None


def latencies(values_s: list[float] | np.ndarray) -> dict[str, float]:
    ms = sorted(float(v) * 1000 for v in values_s)
    if not ms:
        return {}

    def pct(q: float) -> float:
        return ms[min(len(ms) - 1, max(0, math.ceil(q * len(ms)) - 1))]

    return {
        "n": len(ms),
        "p50": round(pct(0.5), 3),
        "p99": round(pct(0.99), 3),
        "mean": round(statistics.fmean(ms), 3),
        "max": round(ms[-1], 3),
    }


def median_latencies(passes: list[list[float]]) -> dict[str, Any]:
    """Latency figures of each pass, and their medians (the figures reported)."""
    each = [latencies(p) for p in passes]
    if not each or not each[0]:
        return {}
    out: dict[str, Any] = {key: round(statistics.median(e[key] for e in each), 3) for key in each[0] if key != "n"}
    out["n"] = each[0]["n"]
    out["passes"] = len(each)
    out["p99_each"] = [e["p99"] for e in each]
    return out


def loaded_bytes(path: Path, dim: int) -> int:
    """Resident memory an index takes when read whole, measured in a fresh process (in this one, freed
    build memory would be reused and hide it)."""
    import subprocess

    code = (
        "import os, sys; from pathlib import Path\n"
        "from facesearch.index.faiss_index import FaissIndex\n"
        "def rss():\n"
        "    return int(Path('/proc/self/statm').read_text().split()[1]) * os.sysconf('SC_PAGE_SIZE')\n"
        "before = rss()\n"
        "index = FaissIndex(Path(sys.argv[1]), int(sys.argv[2]), mmap=False)\n"
        "assert index.load_error is None, index.load_error\n"
        "print(rss() - before)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(path), str(dim)], capture_output=True, text=True, check=True, timeout=3600
    )
    return int(out.stdout.strip().splitlines()[-1])


def timed_searches(
    search: Callable[..., Any], probes: np.ndarray, repeat: int = 1, **kw: Any
) -> tuple[np.ndarray, list[list[float]], float]:
    """Each probe alone (latency), `repeat` passes over all of them, then all at once (throughput); returns
    the one-by-one ids of the first pass and each pass's times."""
    found = np.full((len(probes), K), -1, np.int64)
    passes: list[list[float]] = []
    for i in range(min(20, len(probes))):  # warm caches and pages
        search(probes[i : i + 1], K, **kw)
    for r in range(max(1, repeat)):
        times = []
        for i in range(len(probes)):
            t = time.perf_counter()
            _, ids = search(probes[i : i + 1], K, **kw)
            times.append(time.perf_counter() - t)
            if r == 0:
                found[i, : ids.shape[1]] = ids[0, :K]
        passes.append(times)
    t = time.perf_counter()
    search(probes, K, **kw)
    qps = len(probes) / (time.perf_counter() - t)
    return found, passes, qps
