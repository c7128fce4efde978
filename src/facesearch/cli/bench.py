"""CLI commands of the bench area, registered on the main app by cli/main.py.

The benchmark harness is not part of the installed package: it is `benchmarks/harness.py` of the source
checkout, loaded by file path (`checkout.load_harness`). From a wheel install the commands exit 2 and say so.
This loader is the only way facesearch reaches the harness; the harness imports facesearch freely.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from .checkout import CheckoutNotFound, harness_path, load_harness

bench_app = typer.Typer(
    no_args_is_help=True, help="Benchmarks: ingest throughput, search latency, large photos, video."
)
console = Console()
err = Console(stderr=True)

DATA_HELP = "Folder of photos (default: ../shared/datasets/lfw/deepfunneled beside the repository, if present)."
OUT_HELP = "Folder for the JSON and Markdown results."


def _harness() -> Any:
    """The harness for a command, or exit 2 with the reason."""
    try:
        return load_harness()
    except CheckoutNotFound as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None


def register(app: typer.Typer) -> None:
    """Add this area's commands to the main `facesearch` app."""
    app.add_typer(bench_app, name="bench")


def _data(data: Path | None) -> Path:
    chosen = data or _harness().default_data_dir()
    if chosen is None or not chosen.is_dir():
        err.print(
            "[red]error:[/red] no photo folder: pass --data DIR (LFW deep-funneled works: "
            "../shared/datasets/lfw/deepfunneled)"
        )
        raise typer.Exit(2)
    return chosen


def _models_dir(models_dir: Path | None) -> Path | None:
    return models_dir or _harness().default_models_dir()


def _show(
    report: dict[str, Any], out: Path, as_json: bool, module: ModuleType | None = None, title: str | None = None
) -> None:
    """Write the report's JSON and Markdown, then print it: JSON, or a table and its goals. `module` is the
    benchmark that made it (its write_report, table_rows, context_line), the harness by default."""
    harness = module or _harness()
    json_path, md_path = harness.write_report(report, out)
    if as_json:
        print(json.dumps(report, default=str))
        return
    head, rows = harness.table_rows(report)
    out_console = console if console.is_terminal else Console(width=220)
    table = Table(title=title or f"facesearch bench {report['benchmark']}", caption=harness.context_line(report))
    for h in head:
        table.add_column(h, justify="left" if h in ("case", "stage", "size", "kind") else "right")
    for r in rows:
        table.add_row(*r)
    out_console.print(table)
    for g in report.get("goals", []):
        mark = "[green]met[/green]" if g["met"] else "[red]not met[/red]"
        console.print(f"  goal: {g['goal']}: measured {g['measured']} -> {mark}")
    err.print(f"results: {json_path} and {md_path}")


def _log(as_json: bool) -> Any:
    return (lambda _m: None) if as_json else (lambda m: err.print(f"[dim]{m}[/dim]"))


@bench_app.command("ingest")
def ingest_cmd(
    images: int = typer.Option(1000, "--images", "-n", help="How many photos (a fixed, seeded sample)."),
    model: str = typer.Option("all", "--model", help="yunet-reid, dlib or all."),
    workers: int | None = typer.Option(
        None, "--workers", help="Worker processes (default: FACESEARCH_WORKERS or CPU count)."
    ),
    baseline: str = typer.Option("face_recognition", "--baseline", help="face_recognition, or none."),
    repeat: int = typer.Option(1, "--repeat", min=1, help="Run every case this many times (interleaved)."),
    batch: int | None = typer.Option(None, "--batch", help="Images per batch (default: FACESEARCH_BATCH_IMAGES)."),
    threads: int | None = typer.Option(
        None, "--threads", help="Threads per worker (default: FACESEARCH_THREADS_PER_WORKER)."
    ),
    data: Path | None = typer.Option(None, "--data", help=DATA_HELP),
    models_dir: Path | None = typer.Option(
        None, "--models-dir", help="Weights (default: FACESEARCH_MODELS_DIR or ../shared/models)."
    ),
    seed: int = typer.Option(1234, "--seed", help="Seed of the photo sample."),
    keep_home: Path | None = typer.Option(
        None, "--keep-home", help="Keep the first pack's gallery here, for `bench search`."
    ),
    cluster: str | None = typer.Option(
        None,
        "--cluster",
        help="Also ingest on this Ray cluster (ray://HOST:PORT): each pack on the local pool and on the "
        "cluster in the same run, with the cluster's wall time against the pool's.",
    ),
    cluster_workers: int | None = typer.Option(None, "--cluster-workers", min=1, help="Actors per cluster node."),
    out: Path = typer.Option(Path("bench-results"), "--out", help=OUT_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print the whole report as JSON."),
) -> None:
    """Ingest throughput of each model pack over the same photos, against face_recognition in the same run
    (and, with --cluster, on a Ray cluster against the local pool)."""
    harness = _harness()
    models = ["yunet-reid", "dlib"] if model == "all" else [m.strip() for m in model.split(",") if m.strip()]
    opts = harness.BenchOptions(
        data=_data(data),
        images=images,
        models=models,
        baseline=None if baseline.lower() in ("none", "") else baseline,
        workers=workers,
        batch_images=batch,
        threads_per_worker=threads,
        repeat=repeat,
        seed=seed,
        models_dir=_models_dir(models_dir),
        keep_home=keep_home.resolve() if keep_home else None,
        cluster=cluster,
        cluster_workers=cluster_workers,
        log=_log(as_json),
    )
    if opts.baseline not in (None, "face_recognition"):
        err.print("[red]error:[/red] --baseline is face_recognition or none")
        raise typer.Exit(2)
    _show(harness.bench_ingest(opts), out, as_json)


@bench_app.command("search")
def search_cmd(
    home: Path | None = typer.Option(
        None, "--home", help="Gallery to search (default: build one with the ingest bench)."
    ),
    gallery: int = typer.Option(1000, "--gallery", help="Photos in the gallery built when --home is not given."),
    model: str = typer.Option(
        "yunet-reid", "--model", help="Model pack of the gallery built when --home is not given."
    ),
    probes: int = typer.Option(200, "--probes", help="Probe photos (not in the built gallery)."),
    top_k: int = typer.Option(10, "--top", help="Matches per probe."),
    workers: int | None = typer.Option(None, "--workers", help="Workers for building the gallery."),
    data: Path | None = typer.Option(None, "--data", help=DATA_HELP),
    models_dir: Path | None = typer.Option(None, "--models-dir", help="Model weights."),
    seed: int = typer.Option(1234, "--seed"),
    out: Path = typer.Option(Path("bench-results"), "--out", help=OUT_HELP),
    as_json: bool = typer.Option(False, "--json"),
    size: int | None = typer.Option(
        None,
        "--size",
        min=1,
        help="Index benchmark: this many synthetic face-like "
        "embeddings (no photos, no models); the options below apply to it.",
    ),
    dim: int = typer.Option(256, "--dim", min=2, help="Index benchmark: embedding dimension."),
    backend: str = typer.Option("faiss", "--backend", help="Index benchmark: faiss or milvus."),
    index_kind: str = typer.Option("auto", "--index", help="Index benchmark: auto, flat, hnsw or ivfpq."),
    filter_fraction: float | None = typer.Option(
        None, "--filter", help="Index benchmark: also search with only this fraction of the gallery allowed (e.g. 0.1)."
    ),
    queries: int = typer.Option(1000, "--queries", min=1, help="Index benchmark: genuine probes."),
    recall: float = typer.Option(0.95, "--recall", help="Index benchmark: recall@10 the index is tuned for."),
    milvus_uri: str | None = typer.Option(
        None,
        "--milvus-uri",
        help="Index benchmark with --backend milvus: a running server (default: start an embedded one).",
    ),
) -> None:
    """Search latency (p50/p95/mean): probe decode, probe analysis, index query, whole search.

    With --size N: the index alone at scale on synthetic embeddings (build time, bytes/face, p50/p99 at k=10,
    batch queries/s, recall@10 against exact search, genuine recall, NumPy brute force in the same run)."""
    import tempfile

    if size is not None:
        _index_search(size, dim, backend, index_kind, filter_fraction, queries, seed, recall, milvus_uri, out, as_json)
        return
    harness = _harness()
    src = _data(data)
    mdir = _models_dir(models_dir)
    exclude: list[Path] = []
    tmp = None
    if home is None:
        tmp = tempfile.TemporaryDirectory(prefix="facesearch-bench-search-")
        home = Path(tmp.name) / "home"
        opts = harness.BenchOptions(
            data=src,
            images=gallery,
            models=[model],
            baseline=None,
            workers=workers,
            seed=seed,
            models_dir=mdir,
            keep_home=home,
            log=_log(as_json),
        )
        built = harness.bench_ingest(opts)
        row = built["rows"][0]
        err.print(f"gallery: {row['images']} photos, {row['faces']} faces ({model}), {row['images_per_s']} images/s")
        exclude = harness.pick_images(src, gallery, seed)
    elif not (home / "facesearch.db").is_file():
        err.print(f"[red]error:[/red] {home} holds no facesearch database")
        raise typer.Exit(2)
    try:
        report = harness.bench_search(
            home, src, probes=probes, top_k=top_k, seed=seed, models_dir=mdir, exclude=exclude
        )
    finally:
        if tmp is not None:
            tmp.cleanup()
    _show(report, out, as_json)


def _index_search(
    size: int,
    dim: int,
    backend: str,
    index_kind: str,
    filter_fraction: float | None,
    queries: int,
    seed: int,
    recall: float,
    milvus_uri: str | None,
    out: Path,
    as_json: bool,
) -> None:
    """`bench search --size N`: benchmarks/search.py, loaded from the checkout like the harness."""
    if backend not in ("faiss", "milvus"):
        err.print("[red]error:[/red] --backend is faiss or milvus")
        raise typer.Exit(2)
    if index_kind not in ("auto", "flat", "hnsw", "ivfpq"):
        err.print("[red]error:[/red] --index is auto, flat, hnsw or ivfpq")
        raise typer.Exit(2)
    if filter_fraction is not None and not 0 < filter_fraction <= 1:
        err.print("[red]error:[/red] --filter is a fraction in (0, 1]")
        raise typer.Exit(2)
    _harness()  # exits 2 with the reason outside a source checkout
    bench = _load_beside_harness("search")
    opts = bench.SearchBenchOptions(
        size=size,
        dim=dim,
        backend=backend,
        index=index_kind,
        filter=filter_fraction,
        queries=queries,
        seed=seed,
        recall=recall,
        milvus_uri=milvus_uri,
        log=_log(as_json),
    )
    report = bench.bench_index_search(opts)
    _show(report, out, as_json, bench, f"facesearch bench search --size {size}")


@bench_app.command("engine")
def engine_cmd(
    size: int = typer.Option(100_000, "--size", min=1, help="Synthetic face rows in a fresh home."),
    dim: int = typer.Option(256, "--dim", min=2),
    index_kind: str = typer.Option("auto", "--index", help="auto, flat, hnsw or ivfpq (built by `index rebuild`)."),
    queries: int = typer.Option(300, "--queries", min=1),
    seed: int = typer.Option(7, "--seed"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """End to end at scale: the engine's per-query work (counters, index search, the database read of the
    candidates) against the index's own search, on N synthetic faces in SQLite (p50/p99 of both)."""
    if index_kind not in ("auto", "flat", "hnsw", "ivfpq"):
        err.print("[red]error:[/red] --index is auto, flat, hnsw or ivfpq")
        raise typer.Exit(2)
    _harness()
    bench = _load_beside_harness("engine_search")
    argv = [
        "--size",
        str(size),
        "--dim",
        str(dim),
        "--index",
        index_kind,
        "--queries",
        str(queries),
        "--seed",
        str(seed),
    ] + (["--json"] if as_json else [])
    raise typer.Exit(bench.main(argv))


def _load_beside_harness(name: str) -> ModuleType:
    """benchmarks/<name>.py from the folder the harness is loaded from."""
    path = harness_path().resolve().with_name(f"{name}.py")
    module_name = f"facesearch_benchmarks_{name}"
    loaded = sys.modules.get(module_name)
    if loaded is not None and getattr(loaded, "__file__", None) == str(path):
        return loaded
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None or not path.is_file():
        err.print(f"[red]error:[/red] no benchmark at {path}")
        raise typer.Exit(2)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # dataclasses look their module up while the file runs
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(module_name, None)
        raise
    return module


@bench_app.command("video")
def video_cmd(
    sizes: str = typer.Option("360,720,1080", "--sizes", help="Clip heights, comma-separated: 360, 720, 1080."),
    encodings: str = typer.Option(
        "b,p",
        "--encodings",
        help="b: x264's defaults (B-frames, as web video); p: P-frames only (as phones and CCTV), at the largest "
        "size only.",
    ),
    seconds: float = typer.Option(20.0, "--seconds", min=1.0, help="Length of each clip."),
    fps: float | None = typer.Option(None, "--fps", help="Frames sampled per second (default: facesearch's)."),
    baseline: str = typer.Option("face_recognition", "--baseline", help="face_recognition, or none."),
    baseline_seconds: float = typer.Option(
        6.0, "--baseline-seconds", min=0.5, help="Video seconds the baseline analyses (seconds per frame at 1080p)."
    ),
    repeat: int = typer.Option(1, "--repeat", min=1, help="Run every case this many times (interleaved)."),
    threads: int | None = typer.Option(
        None, "--threads", help="The pack's threads (default: FACESEARCH_THREADS_PER_WORKER)."
    ),
    data: Path | None = typer.Option(None, "--data", help=DATA_HELP),
    seed: int = typer.Option(1234, "--seed", help="Seed of the clips (who walks across, when)."),
    out: Path = typer.Option(Path("bench-results"), "--out", help=OUT_HELP + " Clips are cached below it."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Video: frames analysed per second and seconds of video per second (x real time) for 360p, 720p and 1080p
    H.264 clips made from LFW, at the default sampling, against face_recognition's way (its
    facerec_from_video_file.py example at the same sampling) in the same run."""
    if baseline.lower() not in ("face_recognition", "none", ""):
        err.print("[red]error:[/red] --baseline is face_recognition or none")
        raise typer.Exit(2)
    try:
        size_list = sorted({int(s) for s in sizes.split(",") if s.strip()})
    except ValueError:
        size_list = []
    if not size_list or any(s not in (360, 720, 1080) for s in size_list):
        err.print("[red]error:[/red] --sizes takes 360, 720 and/or 1080, comma-separated")
        raise typer.Exit(2)
    encoding_list = [e.strip() for e in encodings.split(",") if e.strip()]
    if not encoding_list or any(e not in ("b", "p") for e in encoding_list):
        err.print("[red]error:[/red] --encodings takes b and/or p")
        raise typer.Exit(2)
    _harness()
    bench = _load_beside_harness("video")
    opts = bench.VideoBenchOptions(
        data=_data(data),
        sizes=size_list,
        encodings=encoding_list,
        seconds=seconds,
        fps=fps,
        baseline=None if baseline.lower() in ("none", "") else baseline,
        baseline_seconds=baseline_seconds,
        repeat=repeat,
        threads=threads,
        seed=seed,
        out=out,
        log=_log(as_json),
    )
    _show(bench.bench_video(opts), out, as_json, bench, "facesearch bench video")


@bench_app.command("watches")
def watches_cmd(
    images: int = typer.Option(1000, "--images", "-n", help="Photos in the ingest (a fixed, seeded sample)."),
    watches: str = typer.Option("1,100,10000", "--watches", help="Active watches per case, comma-separated."),
    templates: int = typer.Option(200, "--templates", help="Photos of other people the watches' templates come from."),
    repeat: int = typer.Option(3, "--repeat", min=1, help="Checks per case (the median is reported)."),
    end_to_end: bool = typer.Option(True, "--end-to-end/--check-only", help="Also ingest with the most watches on."),
    model: str = typer.Option("yunet-reid", "--model", help="Model pack."),
    models_dir: Path | None = typer.Option(None, "--models-dir", help="Model weights (default: ../shared/models)."),
    data: Path | None = typer.Option(None, "--data", help=DATA_HELP),
    seed: int = typer.Option(1234, "--seed", help="Seed of the photo sample."),
    out: Path = typer.Option(Path("bench-results"), "--out", help=OUT_HELP),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Standing searches: what comparing a 1,000-photo ingest's new faces with 1, 100 and 10,000 active watches
    costs, against the ingest itself (same run, same machine)."""
    try:
        counts = [int(x) for x in watches.split(",") if x.strip()]
    except ValueError:
        counts = []
    if not counts or any(n < 1 for n in counts):
        err.print("[red]error:[/red] --watches takes positive counts, comma-separated")
        raise typer.Exit(2)
    _harness()
    bench = _load_beside_harness("watches")
    opts = bench.WatchBenchOptions(
        data=_data(data),
        images=images,
        watches=counts,
        templates=templates,
        repeat=repeat,
        end_to_end=end_to_end,
        model=model,
        models_dir=_models_dir(models_dir),
        seed=seed,
        out=out,
        log=_log(as_json),
    )
    _show(bench.bench_watches(opts), out, as_json, bench, "facesearch bench watches")


@bench_app.command("large")
def large_cmd(
    sizes: str = typer.Option("1,3,6,12", "--sizes", help="Megapixels, comma-separated."),
    count: int = typer.Option(64, "--count", help="Photos per size (more than one batch, so workers share them)."),
    model: str = typer.Option("yunet-reid", "--model"),
    workers: int | None = typer.Option(None, "--workers"),
    grid: int = typer.Option(2, "--grid", help="Each photo is a grid x grid mosaic of upscaled LFW photos."),
    repeat: int = typer.Option(1, "--repeat", min=1),
    detect_max_side: int | None = typer.Option(None, "--detect-max-side", help="Override FACESEARCH_DETECT_MAX_SIDE."),
    data: Path | None = typer.Option(None, "--data", help=DATA_HELP),
    models_dir: Path | None = typer.Option(None, "--models-dir", help="Model weights."),
    out: Path = typer.Option(Path("bench-results"), "--out", help=OUT_HELP),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Images/s for large photos (1 to 12 MP) made by upscaling real LFW photos; detection runs downscaled."""
    harness = _harness()
    try:
        mps = [float(s) for s in sizes.split(",") if s.strip()]
    except ValueError:
        err.print("[red]error:[/red] --sizes takes numbers, e.g. 1,3,6,12")
        raise typer.Exit(2) from None
    report = harness.bench_large(
        _data(data),
        mps,
        count,
        model,
        workers,
        grid,
        repeat,
        models_dir=_models_dir(models_dir),
        detect_max_side=detect_max_side,
        log=_log(as_json),
    )
    _show(report, out, as_json)


@bench_app.command("serve")
def serve_cmd(
    clients: int = typer.Option(4, "--clients", min=1, help="Concurrent searching clients."),
    seconds: float = typer.Option(60.0, "--seconds", help="How long the clients search (ignored with --minutes)."),
    minutes: float | None = typer.Option(
        None,
        "--minutes",
        help="Soak: run this many minutes, sampling the server's memory and open files, and report their growth.",
    ),
    people: int = typer.Option(100, "--people", help="People in the gallery (folders of --data)."),
    per_person: int = typer.Option(3, "--per-person", help="Gallery photos per person; the next one is a probe."),
    model: str = typer.Option("yunet-reid", "--model"),
    ingest_batch: int = typer.Option(
        20, "--ingest-batch", help="Photos per upload of the ingest that runs during the load."
    ),
    sample_seconds: float | None = typer.Option(
        None,
        "--sample-seconds",
        help="Sampling interval of the server's RSS and open files (default 5 s; 30 s with --minutes).",
    ),
    data: Path | None = typer.Option(None, "--data", help=DATA_HELP),
    models_dir: Path | None = typer.Option(None, "--models-dir", help="Model weights."),
    out: Path = typer.Option(Path("bench-results"), "--out", help=OUT_HELP),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """The web service under load on loopback: concurrent searches while an ingest runs (requests/s, p50/p99,
    errors), with the server's memory and open files sampled; --minutes N makes it a soak."""
    harness = _harness()
    duration = minutes * 60 if minutes else seconds
    interval = sample_seconds or (30.0 if minutes else 5.0)
    report = harness.bench_serve(
        _data(data),
        clients=clients,
        seconds=duration,
        people=people,
        per_person=per_person,
        model=model,
        ingest_batch=ingest_batch,
        sample_seconds=interval,
        models_dir=_models_dir(models_dir),
        log=_log(as_json),
    )
    _show(report, out, as_json)
