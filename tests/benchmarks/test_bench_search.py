"""`facesearch bench search --size N`: the index benchmark on synthetic face-like embeddings, run small."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from facesearch.cli import app
from facesearch.cli.bench import _load_beside_harness

FIGURES = {
    "latency_ms",
    "batch_qps",
    "recall_at_10",
    "genuine_recall",
    "exact_genuine_recall",
    "exact_numpy",
    "speedup_p50",
    "speedup_p99",
}


def test_bench_search_size_json_has_every_figure(tmp_path: Path) -> None:
    out = tmp_path / "results"
    res = CliRunner().invoke(
        app,
        [
            "bench",
            "search",
            "--size",
            "2000",
            "--dim",
            "64",
            "--index",
            "ivfpq",
            "--filter",
            "0.1",
            "--queries",
            "50",
            "--out",
            str(out),
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout.strip().splitlines()[-1])
    assert report["benchmark"] == "search-index"
    assert report["machine"]["cores"] and "commit" in report["git"]
    s = report["settings"]
    assert (s["size"], s["dim"], s["kind"], s["filter"], s["queries"], s["backend"]) == (
        2000,
        64,
        "ivfpq",
        0.1,
        50,
        "faiss",
    )
    r = report["result"]
    assert set(r) >= FIGURES and set(r["filter"]) >= FIGURES
    assert {"build_s", "bytes_per_face_memory", "bytes_per_face_disk", "kind", "faces", "params"} <= set(r)
    assert r["faces"] == 2000 and r["kind"] == "ivfpq"
    assert r["latency_ms"]["n"] == 50 and r["latency_ms"]["p99"] >= r["latency_ms"]["p50"] > 0
    assert r["exact_numpy"]["latency_ms"]["p50"] > 0 and r["batch_qps"] > 0
    assert r["recall_at_10"] >= 0.9 and r["filter"]["recall_at_10"] >= 0.9
    assert r["genuine_recall"] >= 0.9 and r["exact_genuine_recall"] >= 0.95
    # Face-like: photos of one person ~0.6 apart in cosine, two people ~0.
    assert 0.5 <= r["genuine_cosine"]["mean"] <= 0.7 and abs(r["impostor_cosine"]["mean"]) < 0.05
    assert r["filter"]["allowed"] == pytest.approx(200, abs=60)
    assert len(list(out.glob("*.json"))) == 1 and len(list(out.glob("*.md"))) == 1


def test_synthetic_gallery_is_reproducible_and_chunked() -> None:
    bench = _load_beside_harness("search")
    bench.CHUNK = 1000
    try:
        gal = bench.Gallery(2500, 16, 5, seed=7)
        chunks = [gal.chunk_data(c) for c in range(gal.n_chunks())]
    finally:
        bench.CHUNK = 500_000
    ids = np.concatenate([c[0] for c in chunks])
    assert ids.tolist() == list(range(2500)) and gal.n_chunks() == 3
    vecs = np.concatenate([c[1] for c in chunks])
    assert np.allclose(np.linalg.norm(vecs, axis=1), 1, atol=1e-5)
    assert np.array_equal(gal.chunk_data(1)[1], chunks[1][1])  # regenerated identically
    probes, who = gal.probes(20)
    own = gal.own_ids(who)
    sims = np.array([float(np.max(vecs[o] @ p)) for o, p in zip(own, probes, strict=True)])
    assert (sims > 0.4).all()  # a probe is near its own person's samples


def test_bench_search_refuses_bad_options(tmp_path: Path) -> None:
    for args in (["--backend", "x"], ["--index", "ivf"], ["--filter", "1.5"]):
        res = CliRunner().invoke(app, ["bench", "search", "--size", "100", *args, "--out", str(tmp_path)])
        assert res.exit_code == 2, res.output
