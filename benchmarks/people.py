"""How long `people cluster --full` takes at a million faces: the kNN graph and the grouping, timed apart.

    .venv/bin/python benchmarks/people.py --size 1000000            # the issue's goal: <= 10 minutes
    .venv/bin/python benchmarks/people.py --size 100000 --reference 100000

The faces are `bench search`'s synthetic gallery (unit vectors of 256 dimensions drawn around one centre per
person, `--per-identity` photos each, each face its own photo), so the person of every face is known. Timed:
the graph (`index.knn_graph`, approximate above 50,000 faces, both cores) and the grouping (`services.clustering
.cluster` given that graph, at `--threshold`), which are what `people cluster --full` runs between reading the
embeddings and writing the people. Quality, in the same run: of `--check` faces drawn at random, the share of
their same-person links and of their links at or above the threshold (from an exact search of the whole
gallery) that the graph found; and BCubed precision, recall and F1 of the people against the true persons.

Baseline in the same run (`--reference N`, default 50,000, 0 to skip): the first N faces' exact graph against
the approximate graph of the same faces, time and links, since the exact graph of a million faces takes hours.
Writes bench-results/<UTC time>-people.json and .md (machine, commit, packages, settings, load average).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402  (benchmarks/harness.py)
from search import Gallery  # noqa: E402  (benchmarks/search.py: the synthetic gallery of bench search)


def gallery(size: int, dim: int, per_identity: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(embeddings, person of each face) of the synthetic gallery, in id order."""
    gal = Gallery(size, dim, per_identity, seed)
    emb = np.empty((size, dim), np.float32)
    for c in range(gal.n_chunks()):
        ids, vecs = gal.chunk_data(c)
        emb[ids] = vecs
    return emb, np.arange(size, dtype=np.int64) // per_identity


def exact_links(emb: np.ndarray, rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The exact k nearest neighbours of `rows` among all faces (self left out), by blocks of the gallery."""
    q = emb[rows]
    best_s = np.full((len(rows), k), -np.inf, np.float32)
    best_i = np.full((len(rows), k), -1, np.int64)
    for start in range(0, len(emb), 65_536):
        s = q @ emb[start : start + 65_536].T
        cols = np.arange(start, start + s.shape[1])
        s[rows[:, None] == cols[None, :]] = -np.inf
        s_all = np.concatenate([best_s, s], axis=1)
        i_all = np.concatenate([best_i, np.broadcast_to(cols, s.shape)], axis=1)
        top = np.argpartition(-s_all, k - 1, axis=1)[:, :k]
        best_s = np.take_along_axis(s_all, top, 1)
        best_i = np.take_along_axis(i_all, top, 1)
    return best_s, best_i


def found_share(graph_i: np.ndarray, want_i: np.ndarray, want: np.ndarray) -> float:
    """Of the wanted links (want_i where want), the share the graph's rows also hold."""
    hit = total = 0
    for got, row, keep in zip(graph_i, want_i, want):
        targets = row[keep]
        total += len(targets)
        hit += int(np.isin(targets, got).sum())
    return hit / total if total else 1.0


def bcubed(labels: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """BCubed precision, recall and F1 of predicted labels against true classes."""
    pair = labels.astype(np.int64) * (int(truth.max()) + 1) + truth
    _, pair_inv, pair_n = np.unique(pair, return_inverse=True, return_counts=True)
    _, lab_inv, lab_n = np.unique(labels, return_inverse=True, return_counts=True)
    _, tru_inv, tru_n = np.unique(truth, return_inverse=True, return_counts=True)
    both = pair_n[pair_inv].astype(np.float64)
    p = float(np.mean(both / lab_n[lab_inv]))
    r = float(np.mean(both / tru_n[tru_inv]))
    return {"precision": round(p, 5), "recall": round(r, 5), "f1": round(2 * p * r / (p + r), 5)}


def timed_graph(emb: np.ndarray, k: int, approx_from: int) -> tuple[tuple[np.ndarray, np.ndarray], float]:
    from facesearch.index.knn_graph import knn_graph

    t = time.perf_counter()
    graph = knn_graph(emb, k, approx_from=approx_from)
    return graph, time.perf_counter() - t


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--size", type=int, default=1_000_000)
    ap.add_argument("--dim", type=int, default=256)
    ap.add_argument("--per-identity", type=int, default=5)
    ap.add_argument("--k", type=int, default=20, help="Neighbours per face (the product's clustering.DEFAULT_K).")
    ap.add_argument("--threshold", type=float, default=0.5, help="Link threshold for the grouping.")
    ap.add_argument("--check", type=int, default=2000, help="Faces whose links are checked against exact search.")
    ap.add_argument("--reference", type=int, default=50_000, help="Faces for the exact-graph baseline (0: none).")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--out", type=Path, default=Path("bench-results"))
    args = ap.parse_args()
    from facesearch.index.knn_graph import APPROX_FROM
    from facesearch.services.clustering import cluster

    settings = {k: getattr(args, k) for k in ("size", "dim", "per_identity", "k", "threshold", "check", "seed")}
    report: dict[str, Any] = {"benchmark": "people", **harness.environment({**settings, "approx_from": APPROX_FROM})}
    report["loadavg_before"] = list(os.getloadavg())
    log = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731

    t = time.perf_counter()
    emb, truth = gallery(args.size, args.dim, args.per_identity, args.seed)
    log(f"gallery: {args.size:,} faces in {time.perf_counter() - t:.1f} s")
    graph, graph_s = timed_graph(emb, args.k, APPROX_FROM)
    log(f"graph: {graph_s:.1f} s")
    t = time.perf_counter()
    labels = cluster(emb, np.arange(args.size), args.threshold, k=args.k, graph=graph)
    group_s = time.perf_counter() - t
    log(f"grouping: {group_s:.1f} s, {int(labels.max()) + 1:,} people")

    rows = np.sort(np.random.default_rng(args.seed).choice(args.size, min(args.check, args.size), replace=False))
    want_s, want_i = exact_links(emb, rows, args.k)
    same = truth[np.maximum(want_i, 0)] == truth[rows][:, None]
    main_row: dict[str, Any] = {
        "case": f"{args.size:,} faces",
        "faces": args.size,
        "graph": "approximate" if args.size >= APPROX_FROM else "exact",
        "graph_s": round(graph_s, 1),
        "grouping_s": round(group_s, 1),
        "total_min": round((graph_s + group_s) / 60, 2),
        "people": int(labels.max()) + 1,
        "same_person_links_found": round(found_share(graph[1][rows], want_i, same), 4),
        "links_over_threshold_found": round(found_share(graph[1][rows], want_i, want_s >= args.threshold), 4),
        **{f"bcubed_{k}": v for k, v in bcubed(labels, truth).items()},
    }
    table = [main_row]
    if args.reference:
        n = min(args.reference, args.size)
        sub = np.ascontiguousarray(emb[:n])
        exact, exact_s = timed_graph(sub, args.k, n + 1)
        approx, approx_s = timed_graph(sub, args.k, 0)
        keep = exact[0] >= args.threshold
        for name, (g, secs) in (("exact", (exact, exact_s)), ("approximate", (approx, approx_s))):
            table.append(
                {
                    "case": f"first {n:,} faces, {name} graph (same run)",
                    "faces": n,
                    "graph": name,
                    "graph_s": round(secs, 1),
                    "links_over_threshold_found": round(found_share(g[1], exact[1], keep), 4),
                }
            )
        log(f"reference at {n:,}: exact {exact_s:.1f} s, approximate {approx_s:.1f} s")
    report["rows"] = table
    report["goal"] = {"goal": "people cluster --full at 1M faces <= 10 minutes", "measured_min": main_row["total_min"]}
    report["goal"]["met"] = args.size >= 1_000_000 and main_row["total_min"] <= 10
    report["loadavg_after"] = list(os.getloadavg())
    report["peak_rss_mb"] = round(harness._rusage_mb()["self_max_rss_mb"], 1)
    cols = ["case", "graph", "graph_s", "grouping_s", "total_min", "people", "same_person_links_found"]
    cols += ["links_over_threshold_found", "bcubed_f1"]
    md = "| " + " | ".join(cols) + " |\n|" + "---|" * len(cols) + "\n"
    md += "".join("| " + " | ".join(str(r.get(c, "")) for c in cols) + " |\n" for r in table)
    md += f"\n{harness.context_line(report)}; peak RSS {report['peak_rss_mb']} MB\n"
    print(md)
    paths = harness.save_report(report, args.out, "people", md)
    log(f"results: {paths[0]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
