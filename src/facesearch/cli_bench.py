"""CLI commands of the bench area, registered on the main app by cli.py."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

bench_app = typer.Typer(no_args_is_help=True, help="Benchmarks: ingest throughput, search latency, large photos.")
console = Console()
err = Console(stderr=True)

DATA_HELP = "Folder of photos (default: ../shared/datasets/lfw/deepfunneled beside the repository, if present)."
OUT_HELP = "Folder for the JSON and Markdown results."


def register(app: typer.Typer) -> None:
    """Add this area's commands to the main `facesearch` app."""
    app.add_typer(bench_app, name="bench")


def _data(data: Path | None) -> Path:
    from .bench import default_data_dir

    chosen = data or default_data_dir()
    if chosen is None or not chosen.is_dir():
        err.print("[red]error:[/red] no photo folder: pass --data DIR (LFW deep-funneled works: "
                  "../shared/datasets/lfw/deepfunneled)")
        raise typer.Exit(2)
    return chosen


def _models_dir(models_dir: Path | None) -> Path | None:
    from .bench import default_models_dir

    return models_dir or default_models_dir()


def _show(report: dict[str, Any], out: Path, as_json: bool) -> None:
    from .bench import context_line, table_rows, write_report

    json_path, md_path = write_report(report, out)
    if as_json:
        print(json.dumps(report, default=str))
        return
    head, rows = table_rows(report)
    out_console = console if console.is_terminal else Console(width=200)
    table = Table(title=f"facesearch bench {report['benchmark']}", caption=context_line(report))
    for h in head:
        table.add_column(h, justify="left" if h in ("case", "stage", "size") else "right")
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
    workers: int | None = typer.Option(None, "--workers",
                                         help="Worker processes (default: FACESEARCH_WORKERS or CPU count)."),
    baseline: str = typer.Option("face_recognition", "--baseline", help="face_recognition, or none."),
    repeat: int = typer.Option(1, "--repeat", min=1, help="Run every case this many times (interleaved)."),
    batch: int | None = typer.Option(None, "--batch", help="Images per batch (default: FACESEARCH_BATCH_IMAGES)."),
    threads: int | None = typer.Option(None, "--threads",
                                         help="Threads per worker (default: FACESEARCH_THREADS_PER_WORKER)."),
    data: Path | None = typer.Option(None, "--data", help=DATA_HELP),
    models_dir: Path | None = typer.Option(None, "--models-dir",
                                              help="Weights (default: FACESEARCH_MODELS_DIR or ../shared/models)."),
    seed: int = typer.Option(1234, "--seed", help="Seed of the photo sample."),
    keep_home: Path | None = typer.Option(None, "--keep-home",
                                             help="Keep the first pack's gallery here, for `bench search`."),
    out: Path = typer.Option(Path("bench-results"), "--out", help=OUT_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print the whole report as JSON."),
) -> None:
    """Ingest throughput of each model pack over the same photos, against face_recognition in the same run."""
    from .bench import BenchOptions, bench_ingest

    models = ["yunet-reid", "dlib"] if model == "all" else [m.strip() for m in model.split(",") if m.strip()]
    opts = BenchOptions(
        data=_data(data), images=images, models=models,
        baseline=None if baseline.lower() in ("none", "") else baseline, workers=workers, batch_images=batch,
        threads_per_worker=threads, repeat=repeat, seed=seed, models_dir=_models_dir(models_dir),
        keep_home=keep_home.resolve() if keep_home else None, log=_log(as_json),
    )
    if opts.baseline not in (None, "face_recognition"):
        err.print("[red]error:[/red] --baseline is face_recognition or none")
        raise typer.Exit(2)
    _show(bench_ingest(opts), out, as_json)


@bench_app.command("search")
def search_cmd(
    home: Path | None = typer.Option(None, "--home",
                                        help="Gallery to search (default: build one with the ingest bench)."),
    gallery: int = typer.Option(1000, "--gallery", help="Photos in the gallery built when --home is not given."),
    model: str = typer.Option("yunet-reid", "--model",
                               help="Model pack of the gallery built when --home is not given."),
    probes: int = typer.Option(200, "--probes", help="Probe photos (not in the built gallery)."),
    top_k: int = typer.Option(10, "--top", help="Matches per probe."),
    workers: int | None = typer.Option(None, "--workers", help="Workers for building the gallery."),
    data: Path | None = typer.Option(None, "--data", help=DATA_HELP),
    models_dir: Path | None = typer.Option(None, "--models-dir", help="Model weights."),
    seed: int = typer.Option(1234, "--seed"),
    out: Path = typer.Option(Path("bench-results"), "--out", help=OUT_HELP),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Search latency (p50/p95/mean): probe decode, probe analysis, index query, whole search."""
    import tempfile

    from .bench import BenchOptions, bench_ingest, bench_search, pick_images

    src = _data(data)
    mdir = _models_dir(models_dir)
    exclude: list[Path] = []
    tmp = None
    if home is None:
        tmp = tempfile.TemporaryDirectory(prefix="facesearch-bench-search-")
        home = Path(tmp.name) / "home"
        opts = BenchOptions(data=src, images=gallery, models=[model], baseline=None, workers=workers, seed=seed,
                            models_dir=mdir, keep_home=home, log=_log(as_json))
        built = bench_ingest(opts)
        row = built["rows"][0]
        err.print(f"gallery: {row['images']} photos, {row['faces']} faces ({model}), {row['images_per_s']} images/s")
        exclude = pick_images(src, gallery, seed)
    elif not (home / "facesearch.db").is_file():
        err.print(f"[red]error:[/red] {home} holds no facesearch database")
        raise typer.Exit(2)
    try:
        report = bench_search(home, src, probes=probes, top_k=top_k, seed=seed, models_dir=mdir, exclude=exclude)
    finally:
        if tmp is not None:
            tmp.cleanup()
    _show(report, out, as_json)


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
    from .bench import bench_large

    try:
        mps = [float(s) for s in sizes.split(",") if s.strip()]
    except ValueError:
        err.print("[red]error:[/red] --sizes takes numbers, e.g. 1,3,6,12")
        raise typer.Exit(2) from None
    report = bench_large(_data(data), mps, count, model, workers, grid, repeat,
                         models_dir=_models_dir(models_dir), detect_max_side=detect_max_side, log=_log(as_json))
    _show(report, out, as_json)
