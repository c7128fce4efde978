"""The per-ingest cost of standing searches: `facesearch bench watches`.

What is measured: a 1,000-photo ingest (a fixed, seeded sample of LFW, yunet-reid) into a fresh home, then the
check that compares that ingest's new faces with the active watches (`facesearch.app.watches.check_new_faces`,
exactly what an ingest runs when it ends), with 1, 100 and 10,000 active watches. The check is timed on its own
(the ingest's faces put back behind the collection's mark, each watch older than them) and its median over
`repeat` runs reported, beside the ingest's own time, so the table says what share of an ingest the watches
cost. The check reads only the faces stored since the last one: it does not grow with the gallery.

One more case runs the whole ingest end to end with the most watches active before it starts, against the
same ingest without watches, interleaved `repeat` times (each in a fresh home), to show the check inside a
real run (the median of each is reported, every run kept in the JSON).

The watches' templates are real face embeddings: the largest face of LFW photos of people outside the ingested
sample (the first `templates` such photos, reused in turn up to the number of watches), so their scores against
the new faces are distributed as real ones are. They are written straight to the store (adding 10,000 watches
through the use case would time the probes' analysis, not the check); every hit they make is recorded, as in
production. Loaded by `facesearch.cli.bench` from the source checkout, like `benchmarks/harness.py`."""

from __future__ import annotations

import importlib.util
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np


@dataclass
class WatchBenchOptions:
    data: Path
    images: int = 1000
    watches: list[int] = field(default_factory=lambda: [1, 100, 10_000])
    templates: int = 200
    repeat: int = 3
    end_to_end: bool = True
    model: str = "yunet-reid"
    models_dir: Path | None = None
    seed: int = 1234
    out: Path = Path("bench-results")
    log: Callable[[str], None] = print


def _harness() -> Any:
    name = "facesearch_benchmarks_harness"
    path = Path(__file__).resolve().with_name("harness.py")
    loaded = sys.modules.get(name)
    if loaded is not None and getattr(loaded, "__file__", None) == str(path):
        return loaded
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _context(home: Path, opts: WatchBenchOptions) -> Any:
    from facesearch.app import collection, purposes
    from facesearch.app.context import Actor, Context
    from facesearch.config import Settings

    fields: dict[str, Any] = {"home": home, "model": opts.model, "database_url": None}
    if opts.models_dir is not None:
        fields["models_dir"] = opts.models_dir
    ctx = Context.open(Settings(**fields))
    admin, operator = Actor("bench", "admin", via="system"), Actor("bench", "operator", via="system")
    purposes.add_purpose(ctx, admin, "BENCH", "benchmark")
    collection.create_collection(
        ctx, operator, "bench", source="LFW sample", legal_basis="consent", retention_days=None, keep=True, owner="b"
    )
    return ctx


def _ingest(ctx: Any, photos: list[Path]) -> tuple[float, int]:
    from facesearch.app.context import Actor
    from facesearch.app.ingest import Item, ingest

    started = time.perf_counter()
    done = ingest(ctx, Actor("bench", "operator", via="system"), [Item(p) for p in photos], "bench")
    return time.perf_counter() - started, done.faces


def _templates(ctx: Any, photos: list[Path]) -> np.ndarray:
    """The largest face of each photo, embedded with the pack (photos without a face are skipped)."""
    from facesearch.pipeline.imaging import decode_image

    out = []
    for p in photos:
        image = decode_image(p.read_bytes(), ctx.settings.max_pixels)
        fs = ctx.engine.analyze_probe(ctx.settings.model, image)
        if len(fs):
            out.append(fs.embeddings[0])
    return np.asarray(out, np.float32)


def _set_watches(ctx: Any, n: int, vectors: np.ndarray, from_face_id: int) -> None:
    """Exactly `n` active watches, their templates taken from `vectors` in turn, each older than `from_face_id`
    (written in one transaction: the setup is not what is measured)."""
    from sqlalchemy import delete

    from facesearch.models import get_entry
    from facesearch.store.watch_tables import Watch, WatchHit, WatchTemplate

    info = get_entry(ctx.settings.model).info
    until = datetime.now(timezone.utc) + timedelta(days=30)
    with ctx.store.session.begin() as s:
        s.execute(delete(WatchHit))
        s.execute(delete(WatchTemplate))
        s.execute(delete(Watch))
        watches = [
            Watch(
                case_ref=f"BENCH-{i}",
                purpose="BENCH",
                owner="bench",
                until=until,
                probe_sha256=f"{i:064x}",
                from_face_id=from_face_id,
                status="active",
            )
            for i in range(n)
        ]
        s.add_all(watches)
        s.flush()
        s.add_all(
            WatchTemplate(
                watch_id=w.id,
                model=info.name,
                model_version=info.version,
                dim=info.dim,
                embedding=np.asarray(vectors[i % len(vectors)], np.float32).tobytes(),
            )
            for i, w in enumerate(watches)
        )


def _forget_hits(ctx: Any) -> None:
    from sqlalchemy import delete

    from facesearch.store.watch_tables import WatchHit

    with ctx.store.session.begin() as s:
        s.execute(delete(WatchHit))


def _hit_count(ctx: Any) -> int:
    from sqlalchemy import func, select

    from facesearch.store.watch_tables import WatchHit

    with ctx.store.session() as s:
        return int(s.scalar(select(func.count(WatchHit.id))) or 0)


def _rewind(ctx: Any, collection_id: int, to: int) -> None:
    from facesearch.store.watch_tables import WatchMark

    with ctx.store.session.begin() as s:
        row = s.get(WatchMark, collection_id)
        if row is not None:
            row.last_face_id = to


def bench_watches(opts: WatchBenchOptions) -> dict[str, Any]:
    from facesearch.app.watches import check_new_faces
    from facesearch.store import watches as rows

    harness = _harness()
    pool = harness.pick_images(opts.data, opts.images + opts.templates * 2, seed=opts.seed)
    photos = pool[: opts.images]
    ingested_people = {p.parent.name for p in photos}
    outsiders = [p for p in pool[opts.images :] if p.parent.name not in ingested_people][: opts.templates]
    rows_out: list[dict[str, Any]] = []
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="fs-bench-watches-") as tmp:
        ctx = _context(Path(tmp) / "home", opts)
        opts.log(f"embedding {len(outsiders)} template photos of people outside the sample")  # kept for all cases
        vectors = _templates(ctx, outsiders)
        before = rows.max_face_id(ctx.store)
        opts.log(f"ingesting {len(photos)} photos (no watches)")
        ingest_seconds, faces = _ingest(ctx, photos)
        col = ctx.store.get_collection("bench")
        for n in opts.watches:
            opts.log(f"{n} active watches: setting them up")
            _set_watches(ctx, n, vectors, before)
            times, hits, compared = [], 0, 0
            for _ in range(opts.repeat):
                _forget_hits(ctx)  # each run finds (and records) its hits afresh
                _rewind(ctx, col.id, before)
                result = check_new_faces(ctx, col)
                times.append(result.seconds)
                hits, compared = len(result.hits), result.faces
                runs.append({"case": f"check, {n} watches", "seconds": result.seconds, "hits": hits})
            median = statistics.median(times)
            rows_out.append(
                {
                    "case": f"check, {n:,} watches",
                    "watches": n,
                    "new_faces": compared,
                    "check_s": round(median, 4),
                    "min_s": round(min(times), 4),
                    "ns_per_face_watch": round(1e9 * median / max(1, compared * n), 2),
                    "hits": hits,
                    "ingest_s": round(ingest_seconds, 2),
                    "share_of_ingest": round(median / ingest_seconds, 4),
                }
            )
            opts.log(f"  {median:.4f} s median ({hits} hits) against an ingest of {ingest_seconds:.1f} s")
        ctx.store.close()
    if opts.end_to_end and opts.watches:
        most = max(opts.watches)
        seconds_of: dict[int, list[float]] = {0: [], most: []}
        hits_of: dict[int, int] = {0: 0, most: 0}
        faces = 0
        for _ in range(opts.repeat):
            for n in (0, most):  # interleaved, so a change of load on the machine falls on both alike
                with tempfile.TemporaryDirectory(prefix="fs-bench-watches-") as tmp:
                    ctx = _context(Path(tmp) / "home", opts)
                    if n:
                        _set_watches(ctx, n, vectors, rows.max_face_id(ctx.store))
                    opts.log(f"end to end: ingest of {len(photos)} photos with {n} active watches")
                    seconds, faces = _ingest(ctx, photos)
                    seconds_of[n].append(seconds)
                    hits_of[n] = _hit_count(ctx)
                    runs.append({"case": f"ingest, {n} watches", "seconds": seconds, "hits": hits_of[n]})
                    ctx.store.close()
        for n in (0, most):
            rows_out.append(
                {
                    "case": f"ingest, {n:,} watches",
                    "watches": n,
                    "new_faces": faces,
                    "check_s": None,
                    "min_s": None,
                    "ns_per_face_watch": None,
                    "hits": hits_of[n],
                    "ingest_s": round(statistics.median(seconds_of[n]), 2),
                    "share_of_ingest": None,
                    "runs_s": [round(x, 2) for x in seconds_of[n]],
                }
            )
    settings = {"images": len(photos), "model": opts.model, "repeat": opts.repeat, "templates": len(outsiders)}
    report = {"benchmark": "watches", **harness.environment(settings), "rows": rows_out, "runs": runs}
    report["goals"] = []
    return report


def _fmt(v: Any) -> str:
    return "-" if v is None else (f"{v:,}" if isinstance(v, int) else str(v))


def table_rows(report: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    head = ["case", "new faces", "check s (median)", "ns per face x watch", "hits", "ingest s", "check / ingest"]
    rows = [
        [
            r["case"],
            _fmt(r["new_faces"]),
            _fmt(r["check_s"]),
            _fmt(r["ns_per_face_watch"]),
            _fmt(r["hits"]),
            _fmt(r["ingest_s"]),
            "-" if r["share_of_ingest"] is None else f"{100 * r['share_of_ingest']:.2f}%",
        ]
        for r in report["rows"]
    ]
    return head, rows


def context_line(report: dict[str, Any]) -> str:
    return str(_harness().context_line(report))


def write_report(report: dict[str, Any], out_dir: Path) -> tuple[Path, Path]:
    head, rows = table_rows(report)
    lines = ["# facesearch bench watches", "", context_line(report), "", "| " + " | ".join(head) + " |"]
    lines.append("|" + "---|" * len(head))
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return _harness().save_report(report, out_dir, "watches", "\n".join(lines) + "\n")
