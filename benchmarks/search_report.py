"""`bench search`'s report: the issue's goals checked against the figures, the table, and the JSON and Markdown
files. Loaded beside benchmarks/search.py (by path, like the harness).
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

GOALS = {"p99_ms_1m": 5.0, "p99_ms_10m": 20.0, "recall_at_10": 0.95, "bytes_per_face": 300.0}


def goals(report: dict[str, Any]) -> list[dict[str, Any]]:
    r, n = report["result"], report["settings"]["size"]
    out: list[dict[str, Any]] = []
    lat, rec = r["latency_ms"].get("p99"), r["recall_at_10"]
    base = r.get("baseline")
    than = f" (0.3.0 structure, same run: p99 {base['latency_ms'].get('p99')} ms, recall@10 {base['recall_at_10']})"
    if n >= 1_000_000:
        limit = GOALS["p99_ms_10m"] if n >= 10_000_000 else GOALS["p99_ms_1m"]
        out.append(
            {
                "goal": f"p99 <= {limit:g} ms at recall@10 >= {GOALS['recall_at_10']}",
                "measured": f"p99 {lat} ms, recall@10 {rec}" + (than if base else ""),
                "met": bool(lat is not None and lat <= limit and rec >= GOALS["recall_at_10"]),
            }
        )
        bpf = r.get("bytes_per_face_memory")
        if bpf is not None:
            out.append(
                {
                    "goal": f"<= {GOALS['bytes_per_face']:g} bytes/face in the index at recall@10 >= 0.95",
                    "measured": f"{bpf} bytes/face in memory, {r.get('bytes_per_face_disk')} on disk, recall@10 {rec}",
                    "met": bool(bpf <= GOALS["bytes_per_face"] and rec >= GOALS["recall_at_10"]),
                }
            )
    f = r.get("filter")
    if f:
        out.append(
            {
                "goal": f"recall@10 >= {GOALS['recall_at_10']} with a {f['fraction']:g} filter",
                "measured": f"recall@10 {f['recall_at_10']}",
                "met": bool(f["recall_at_10"] >= GOALS["recall_at_10"]),
            }
        )
    return out


# Reporting ---------------------------------------------------------------------------------------
def table_rows(report: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    r = report["result"]
    head = [
        "case",
        "kind",
        "faces",
        "build s",
        "B/face mem",
        "B/face disk",
        "p50 ms",
        "p99 ms",
        "batch q/s",
        "recall@10",
        "genuine",
        "exact p50 ms",
        "exact p99 ms",
        "x p50",
        "x p99",
    ]

    def row(name: str, x: dict[str, Any], b: dict[str, Any] = r) -> list[str]:
        e = x["exact_numpy"]["latency_ms"]
        return [
            name,
            str(b["kind"]),
            _fmt(b["faces"]),
            _fmt(b.get("build_s")),
            _fmt(b.get("bytes_per_face_memory")),
            _fmt(b.get("bytes_per_face_disk")),
            _fmt(x["latency_ms"].get("p50")),
            _fmt(x["latency_ms"].get("p99")),
            _fmt(x["batch_qps"]),
            _fmt(x["recall_at_10"]),
            _fmt(x["genuine_recall"]),
            _fmt(e.get("p50")),
            _fmt(e.get("p99")),
            _fmt(x["speedup_p50"]),
            _fmt(x["speedup_p99"]),
        ]

    rows = [row("all", r)]
    if r.get("filter"):
        rows.append(row(f"filter {r['filter']['fraction']:g}", r["filter"]))
    base = r.get("baseline")
    if base:
        rows.append(row("0.3.0 all", base, base))
        if base.get("filter"):
            rows.append(row(f"0.3.0 filter {base['filter']['fraction']:g}", base["filter"], base))
    return head, rows


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:,.3f}".rstrip("0").rstrip(".") if abs(v) < 100 else f"{v:,.0f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def write_report(report: dict[str, Any], out_dir: Path, context: str) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    s = report["settings"]
    base = out_dir / f"{stamp}-search-{s['backend']}-{s['kind']}-{s['size']}"
    json_path, md_path = base.with_suffix(".json"), base.with_suffix(".md")
    json_path.write_text(json.dumps(report, indent=2, default=str) + "\n")
    head, rows = table_rows(report)
    lines = [
        "# facesearch bench search (index)",
        "",
        context,
        "",
        "settings: " + ", ".join(f"{k}={v}" for k, v in s.items()),
        "",
        "| " + " | ".join(head) + " |",
        "|" + "|".join("---" for _ in head) + "|",
    ]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    if report.get("goals"):
        lines += ["", "| goal | measured | met |", "|---|---|---|"]
        lines += [f"| {g['goal']} | {g['measured']} | {'yes' if g['met'] else 'no'} |" for g in report["goals"]]
    md_path.write_text("\n".join(lines) + "\n")
    return json_path, md_path
