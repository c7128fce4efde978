"""End-to-end search latency at scale: the engine's per-query work (counters, index search, the database read
of the candidates' provenance, calibrated false-match rates) against the index's own search, in one run.

A home is filled with N synthetic face rows (no photos: the model is not what is measured here), its index is
built by the `rebuild` use case, and the same embedded probes are searched both ways. The goal is an
end-to-end p99 within 10 ms of the index's p99 at 1M faces.

    python benchmarks/engine_search.py --size 1000000 --index auto --json
    facesearch bench engine --size 1000000
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402

from facesearch.app import rebuild as rebuild_uc  # noqa: E402
from facesearch.app.context import Actor, Context  # noqa: E402
from facesearch.calibration.tables import load_table, search_point  # noqa: E402
from facesearch.config import Settings  # noqa: E402
from facesearch.records import NewFace, NewImage  # noqa: E402

PACK = "yunet-reid"
PER_IDENTITY = 4


def synthetic(n: int, dim: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Face-like unit vectors: identities as random unit centres, PER_IDENTITY noisy samples each (a genuine
    pair scores about 0.6, an impostor pair about 0). Returns (vectors, identity of each)."""
    rng = np.random.default_rng(seed)
    ident = np.arange(n) // PER_IDENTITY
    out = np.empty((n, dim), np.float32)
    step = 200_000
    for a in range(0, n, step):
        b = min(n, a + step)
        centres = (
            np.random.default_rng(seed + 1 + a // PER_IDENTITY)
            .standard_normal(((b - a) // PER_IDENTITY + 2, dim))
            .astype(np.float32)
        )
        centres /= np.linalg.norm(centres, axis=1, keepdims=True)
        local = ident[a:b] - ident[a]
        v = centres[local] + 0.8 * rng.standard_normal((b - a, dim)).astype(np.float32) / np.sqrt(dim)
        out[a:b] = v / np.linalg.norm(v, axis=1, keepdims=True)
    return out, ident


def fill(ctx: Context, vectors: np.ndarray, progress: bool) -> float:
    store = ctx.store
    col = store.create_collection(
        "bench", PACK, "bench", vectors.shape[1], owner="bench", legal_basis="legitimate_interests"
    )
    started = time.perf_counter()
    batch = 5000
    for a in range(0, len(vectors), batch):
        images = [
            NewImage(
                sha256=hashlib.sha256(f"{i}".encode()).hexdigest(),
                path=f"/bench/{i}.jpg",
                source_url=None,
                meta=None,
                width=112,
                height=112,
                manifest_row=None,
                faces=[NewFace(0, (0, 0, 112, 112), [[0.0, 0.0]] * 5, 0.99, 0.9, [], vectors[i], f"bench/{i}.jpg")],
            )
            for i in range(a, min(len(vectors), a + batch))
        ]
        store.add_images(col.id, None, images)
        if progress and (a // batch) % 20 == 0:
            print(f"  rows {a + len(images):,}/{len(vectors):,}", file=sys.stderr, flush=True)
    return time.perf_counter() - started


def run(size: int, dim: int, kind: str, queries: int, seed: int, home: Path, progress: bool) -> dict[str, Any]:
    settings = Settings(home=home, index_kind=kind)
    ctx = Context.open(settings)
    vectors, ident = synthetic(size + queries, dim, seed)
    # Probes: held-out samples of enrolled identities (the last sample of the first `queries` identities).
    probe_rows = np.arange(queries) * PER_IDENTITY + PER_IDENTITY - 1
    keep = np.ones(len(vectors), bool)
    keep[probe_rows] = False
    probes = vectors[probe_rows]
    gallery = vectors[keep][:size]
    del vectors
    fill_s = fill(ctx, gallery, progress)
    del gallery
    admin = Actor("bench", "admin", None, "cli")
    t = time.perf_counter()
    built = rebuild_uc.rebuild(ctx, admin, kind=kind)
    build_s = time.perf_counter() - t
    engine = ctx.engine
    col = ctx.store.require_collection("bench")
    table = load_table(PACK, settings.home / "calibration")
    index = engine.index(col)
    index_ms: list[float] = []
    e2e_ms: list[float] = []
    for q in probes[:, None, :]:
        t0 = time.perf_counter()
        index.search(q, 10)
        t1 = time.perf_counter()
        size_now = engine.gallery_size([col])
        point = search_point(table, settings.search_fpir, size_now, None)
        engine.matches([col], q, 10, table, point.threshold, size_now, target_fmr=settings.search_fpir / size_now)
        t2 = time.perf_counter()
        index_ms.append((t1 - t0) * 1000)
        e2e_ms.append((t2 - t1) * 1000)
    idx, e2e = _percentiles(index_ms), _percentiles(e2e_ms)
    ctx.store.close()
    return {
        "benchmark": "engine",
        "size": size,
        "dim": dim,
        "index": built["collections"][0]["kind"],
        "requested_index": kind,
        "queries": queries,
        "fill_s": round(fill_s, 1),
        "build_s": round(build_s, 1),
        "index_p50_ms": idx["p50_ms"],
        "index_p99_ms": idx["p99_ms"],
        "engine_p50_ms": e2e["p50_ms"],
        "engine_p99_ms": e2e["p99_ms"],
        "p99_gap_ms": round(e2e["p99_ms"] - idx["p99_ms"], 3),
        "goal_p99_gap_ms": 10.0,
        "environment": harness.environment(
            {"size": size, "dim": dim, "index": kind, "queries": queries, "seed": seed, "database": "sqlite"}
        ),
    }


def _percentiles(ms: list[float]) -> dict[str, float]:
    return {"p50_ms": round(float(np.percentile(ms, 50)), 3), "p99_ms": round(float(np.percentile(ms, 99)), 3)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", type=int, default=100_000)
    ap.add_argument("--dim", type=int, default=256)
    ap.add_argument("--index", default="auto", choices=["auto", "flat", "hnsw", "ivfpq"])
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--home", type=Path, default=None, help="Keep the home here (default: a temporary folder).")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    if args.home is not None:
        args.home.mkdir(parents=True, exist_ok=True)
        report = run(args.size, args.dim, args.index, args.queries, args.seed, args.home, not args.json)
    else:
        with tempfile.TemporaryDirectory(prefix="fs-bench-engine-") as tmp:
            report = run(args.size, args.dim, args.index, args.queries, args.seed, Path(tmp), not args.json)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        keys = [
            "size",
            "index",
            "fill_s",
            "build_s",
            "index_p50_ms",
            "index_p99_ms",
            "engine_p50_ms",
            "engine_p99_ms",
            "p99_gap_ms",
        ]
        print(" | ".join(keys))
        print(" | ".join(str(report[k]) for k in keys))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
