"""CLI commands of the eval area, registered on the main app by cli.py: `facesearch eval lfw|folder|docs`.

The evaluation code is not part of the installed package: it is `evaluation/` of the source checkout, put on
the import path by `checkout.use_evaluation` when an eval command runs. These commands are its entry point."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from .actor import load_settings
from .checkout import CheckoutNotFound, use_evaluation

eval_app = typer.Typer(
    no_args_is_help=True,
    help="Measure accuracy on labelled photos: verification, open-set "
    "search, groups, quality gate, robustness; writes Markdown + JSON + PNG plots.",
)
console = Console()
err = Console(stderr=True)


@eval_app.callback()
def _need_evaluation() -> None:
    """The evaluation code lives in the source checkout (`evaluation/` beside `src/`), not in the package."""
    try:
        use_evaluation()
    except CheckoutNotFound as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None


MODEL = typer.Option(None, "--model", help="Model pack (default FACESEARCH_MODEL).")
GROUPS = typer.Option(None, "--groups", help="CSV with header identity,group or image,group.")
EXCLUDE = typer.Option(
    None,
    "--exclude",
    help="Exclusion list: one image (file name or relative path) or "
    "identity a line; figures are reported with and without it.",
)
SEED = typer.Option(0, "--seed", help="Seed of every random choice (gallery photo, splits, probe subsets).")
ROBUST = typer.Option(True, "--robustness/--no-robustness", help="Run the degraded-probe 1:N runs.")
ROBUST_N = typer.Option(600, "--robustness-probes", help="Mated probes in the robustness runs (2/3 as many non-mated).")
CACHE = typer.Option(None, "--cache", help="Embedding cache folder (default $FACESEARCH_HOME/cache).")
THUMBS = typer.Option(True, "--thumbnails/--no-thumbnails", help="Plot the hardest pairs with face thumbnails.")


def _progress() -> tuple[Progress, Any]:
    bar = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err,
    )
    tasks: dict[str, Any] = {}

    def update(stage: str, done: int, total: int) -> None:
        if stage not in tasks:
            tasks[stage] = bar.add_task(stage, total=total)
        bar.update(tasks[stage], completed=done, total=total)

    return bar, update


def _opts(
    pack: str,
    out: Path,
    cache: Path | None,
    seed: int,
    exclude: Path | None,
    robustness: bool,
    robust_n: int,
    thumbnails: bool,
) -> Any:
    from evaluation.datasets import read_exclusions
    from evaluation.runner import EvalOptions

    settings = load_settings()
    return settings, EvalOptions(
        pack=pack,
        out=out,
        cache_dir=cache or settings.home / "cache",
        seed=seed,
        exclusions=read_exclusions(exclude) if exclude else set(),
        exclusion_source=str(exclude or ""),
        robustness=robustness,
        robust_mated=robust_n,
        robust_nonmated=max(1, robust_n * 2 // 3),
        thumbnails=thumbnails,
    )


def _summary(r: dict[str, Any], out: Path) -> None:
    from evaluation.report import _pct

    v, i = r["verification"], r["identification"]
    console.print(
        f"[bold]{r['pack']}[/bold] on {r['dataset']}: accuracy {_pct(v['accuracy']['mean'])} ± "
        f"{_pct(v['accuracy']['std'])}; rank-1 {_pct(i['rank1'])} (gallery {i['gallery_size']}); "
        f"TPIR@FPIR 1e-2 {_pct(i['tpir_at_fpir']['0.01']['tpir'])}"
        + (f"; FMR ratio {r['fmr_ratio']:.2f}" if r.get("fmr_ratio") else "")
    )
    console.print(f"report: {out / 'report.md'}")


def _fail(message: str) -> None:
    err.print(f"[red]error:[/red] {message}")
    raise typer.Exit(2)


def run_lfw(data: Path, pack: str, out: Path, groups: Path | None, settings: Any, opts: Any) -> dict[str, Any]:
    from evaluation.datasets import lfw_all, lfw_pairs_in
    from evaluation.groups import lfw_demographics, read_groups_csv
    from evaluation.runner import run_eval

    if not (data / "deepfunneled").is_dir() or not (data / "pairs.txt").is_file():
        _fail(f"{data} is not an LFW folder (deepfunneled/ and pairs.txt)")
    ds = lfw_all(data)
    opts.pairs = lfw_pairs_in(ds, data, "pairs.txt")
    opts.pairs_label = "LFW View 2 pairs.txt (10 folds x 300 genuine + 300 impostor)"
    if groups:
        opts.groups = read_groups_csv(groups, ds)
    elif (data / "demographics").is_dir():
        opts.groups = lfw_demographics(data / "demographics", ds)
    return run_eval(ds, opts, settings, "LFW (deep-funneled)")


def run_folder(path: Path, pack: str, groups: Path | None, settings: Any, opts: Any) -> dict[str, Any]:
    from evaluation.datasets import folder_dataset
    from evaluation.groups import read_groups_csv
    from evaluation.runner import run_eval

    ds = folder_dataset(path)
    if len(set(ds.labels)) < 4:
        _fail(f"{path}: need at least 4 identity folders with images")
    if groups:
        opts.groups = read_groups_csv(groups, ds)
    return run_eval(ds, opts, settings, f"folder {path.name}")


def register(app: typer.Typer) -> None:
    """Add this area's commands to the main `facesearch` app."""
    app.add_typer(eval_app, name="eval")
    app.command("calibrate")(calibrate)


def calibrate(
    data: Path = typer.Option(..., "--data", help="LFW root (with pairsDevTrain.txt) or a <identity>/<image> folder."),
    model: str | None = MODEL,
    out: Path | None = typer.Option(
        None,
        "--out",
        help="Where to write the table (default: "
        "$FACESEARCH_HOME/calibration/PACK.json, which search and verify then use).",
    ),
    groups: Path | None = typer.Option(
        None,
        "--groups",
        help="CSV identity,group or image,group: thresholds are "
        "then chosen so the group with the highest FMR meets the target (LFW: "
        "its demographics folder is used by default).",
    ),
    cache: Path | None = CACHE,
    fair: bool = typer.Option(
        True,
        "--fair/--no-fair",
        help="Also fit the label-free fair calibration "
        "(k-means clusters of faces, a score -> FMR curve per cluster) and write it beside "
        "the table as PACK.faircal.json.",
    ),
    clusters: int | None = typer.Option(
        None, "--clusters", help="Clusters of the fair calibration (default: one per 50 faces, at most 100)."
    ),
    fair_seed: int = typer.Option(0, "--fair-seed", help="Seed of the fair calibration's k-means."),
) -> None:
    """Measure the score -> false-match-rate table of a pack on labelled photos."""
    from evaluation.calibrate import calibrate_data, fair_data

    from ..errors import FacesearchError
    from ..models import get_entry

    settings = load_settings()
    pack = model or settings.model
    try:
        entry = get_entry(pack)
        bar, update = _progress()
        with bar:
            table = calibrate_data(
                data, pack, entry.info.version, settings, cache or settings.home / "cache", groups, update
            )
    except (FacesearchError, FileNotFoundError, ValueError) as exc:
        _fail(str(exc))
    target = out or settings.home / "calibration" / f"{pack}.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(table.to_json())
    console.print(f"{target}: {table.n_genuine} genuine, {table.n_impostor} impostor pairs; policy: {table.policy}")
    if fair:
        try:
            fc = fair_data(
                data, pack, entry.info.version, settings, cache or settings.home / "cache", clusters, fair_seed
            )
        except (FacesearchError, FileNotFoundError, ValueError) as exc:
            _fail(str(exc))
        fair_target = target.with_name(f"{pack}.faircal.json")
        fair_target.write_text(fc.to_json())
        console.print(
            f"{fair_target}: fair calibration, {fc.clusters} clusters over {sum(fc.cluster_sizes)} faces ({fc.dataset})"
        )
    for fmr in (1e-2, 1e-3, 1e-4, 1e-5):
        if fmr >= table.fmr_floor:
            t = table.threshold_for_fmr(fmr)
            console.print(
                f"  FMR {fmr:g}: threshold {t:.4f}, FNMR {table.fnmr_at(t):.4f}, FMR all pairs "
                f"{float(table.fmr_at(t)):.2e}, worst group {table.worst_group_fmr_at(t) or 0:.2e}"
            )


@eval_app.command("lfw")
def eval_lfw(
    data: Path = typer.Option(..., "--data", help="LFW root: deepfunneled/, pairs.txt, optional demographics/."),
    model: str | None = MODEL,
    groups: Path | None = GROUPS,
    out: Path = typer.Option(Path("eval-out/lfw"), "--out", help="Report folder."),
    exclude: Path | None = EXCLUDE,
    seed: int = SEED,
    robustness: bool = ROBUST,
    robust_n: int = ROBUST_N,
    cache: Path | None = CACHE,
    thumbnails: bool = THUMBS,
) -> None:
    """LFW: View 2 10-fold verification, all-pairs ROC, open-set 1:N, groups, quality gate, robustness."""
    settings, opts = _opts(model or _default_model(), out, cache, seed, exclude, robustness, robust_n, thumbnails)
    bar, opts.progress = _progress()
    with bar:
        r = run_lfw(data, opts.pack, out, groups, settings, opts)
    _summary(r, out)


@eval_app.command("folder")
def eval_folder(
    path: Path = typer.Argument(..., help="<identity>/<image> folder."),
    model: str | None = MODEL,
    groups: Path | None = GROUPS,
    out: Path | None = typer.Option(None, "--out", help="Report folder (default eval-out/<folder name>)."),
    exclude: Path | None = EXCLUDE,
    seed: int = SEED,
    robustness: bool = ROBUST,
    robust_n: int = ROBUST_N,
    cache: Path | None = CACHE,
    thumbnails: bool = THUMBS,
) -> None:
    """Any labelled folder: generated 10-fold pairs, all pairs, open-set 1:N, groups, gate, robustness."""
    if not path.is_dir():
        _fail(f"{path} is not a folder")
    out = out or Path("eval-out") / path.name
    settings, opts = _opts(model or _default_model(), out, cache, seed, exclude, robustness, robust_n, thumbnails)
    bar, opts.progress = _progress()
    with bar:
        r = run_folder(path, opts.pack, groups, settings, opts)
    _summary(r, out)


@eval_app.command("docs")
def eval_docs(
    lfw: Path = typer.Option(..., "--lfw", help="LFW root."),
    att: Path | None = typer.Option(None, "--att", help="AT&T/ORL root (s1..s40)."),
    models: str = typer.Option("yunet-reid,dlib", "--models", help="Comma-separated packs."),
    out: Path = typer.Option(Path("docs"), "--out", help="Where accuracy.md and accuracy/ go."),
    cache: Path | None = CACHE,
    seed: int = SEED,
    robust_n: int = ROBUST_N,
    robustness_models: str = typer.Option(
        "yunet-reid,dlib",
        "--robustness-models",
        help="Packs that get the robustness runs (slow packs may be left out).",
    ),
    slow_n: int = typer.Option(
        60,
        "--robustness-probes-slow",
        help="Mated robustness probes for packs other than yunet-reid (dlib embeds ~5x slower).",
    ),
    lfw_exclude: Path | None = typer.Option(
        Path("docs/lfw-exclusions.txt"),
        "--lfw-exclude",
        help="Exclusion list for the LFW runs (figures with and without it).",
    ),
) -> None:
    """Regenerate docs/accuracy.md: every pack on LFW (and AT&T), tables and plots, no dataset thumbnails."""
    from evaluation.docs import write_accuracy_md

    results = []
    rob = {m.strip() for m in robustness_models.split(",") if m.strip()}
    for pack in [m.strip() for m in models.split(",") if m.strip()]:
        for name, root in (("lfw", lfw), ("att", att)):
            if root is None:
                continue
            sub = out / "accuracy" / f"{name}-{pack}"
            # Thumbnails stay out of docs/: the benchmark photos are for measuring, not redistributing.
            excl = lfw_exclude if name == "lfw" and lfw_exclude and lfw_exclude.is_file() else None
            n = robust_n if pack == "yunet-reid" else slow_n
            settings, opts = _opts(pack, sub, cache, seed, excl, pack in rob, n, False)
            opts.list_files = False  # report.json keeps the count and a hash of the file list
            bar, opts.progress = _progress()
            with bar:
                r = (
                    run_lfw(root, pack, sub, None, settings, opts)
                    if name == "lfw"
                    else run_folder(root, pack, None, settings, opts)
                )
            _summary(r, sub)
            results.append((name, pack, sub, r))
    target = out / "accuracy.md"
    target.write_text(write_accuracy_md(results, out))
    console.print(f"wrote {target}")


def _default_model() -> str:

    return load_settings().model


@eval_app.command("clusters")
def eval_clusters(
    kind: str = typer.Argument(..., help="lfw or folder"),
    path: Path = typer.Option(..., "--data", help="LFW root, or an <identity>/<image> folder."),
    model: str | None = MODEL,
    cache: Path | None = CACHE,
    out: Path | None = typer.Option(None, "--out", help="Write the figures as JSON here."),
) -> None:
    """People clustering quality: pairwise and BCubed precision/recall, people found, same-image merges, and
    person templates against single faces in open-set 1:N (identities with 2 or more photos; every face of
    every photo is clustered, the labelled face of each photo is scored)."""
    import json
    import time

    from evaluation.clusters import at_least, embed_all_faces, evaluate_clusters
    from evaluation.datasets import folder_dataset, lfw_all

    from ..calibration.tables import load_table
    from ..services import clustering

    if kind not in ("lfw", "folder"):
        _fail("KIND is lfw or folder")
    settings = load_settings()
    pack = model or settings.model
    if kind == "lfw" and not (path / "deepfunneled").is_dir():
        _fail(f"{path} is not an LFW folder (deepfunneled/)")
    ds = at_least(lfw_all(path) if kind == "lfw" else folder_dataset(path), 2)
    bar, update = _progress()
    with bar:
        ft = embed_all_faces(
            ds, pack, settings, cache or settings.home / "cache", progress=lambda d, n: update("embed", d, n)
        )
    started = time.perf_counter()
    threshold, reason = clustering.link_threshold(
        load_table(pack, settings.home / "calibration"), len(ft), verify_fmr=settings.verify_fmr
    )
    pred = clustering.cluster(ft.emb, ft.image, threshold)
    seconds = time.perf_counter() - started
    r = {
        **evaluate_clusters(ft, ds.labels, pred, clustering.templates),
        "threshold": threshold,
        "threshold_reason": reason,
        "cluster_seconds": round(seconds, 2),
    }
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(r, indent=1))
    console.print_json(json.dumps(r))


@eval_app.command("gate")
def eval_gate(
    lfw: Path = typer.Option(..., "--lfw", help="LFW root (deepfunneled/): the gallery, and the lfw and mixed sets."),
    att: Path | None = typer.Option(None, "--att", help="AT&T/ORL root (s1..s40): head turns."),
    peers: Path | None = typer.Option(
        None, "--peers", help="../shared/datasets/peers/face_recognition: the real photos of the wild set."
    ),
    model: str | None = MODEL,
    out: Path = typer.Option(Path("docs/accuracy/gate"), "--out", help="Where report.json and report.md go."),
    cache: Path | None = CACHE,
    seed: int = SEED,
    mixed: int = typer.Option(600, "--mixed", help="Mixed-size photos to make (benchmarks/mixed_sizes.py)."),
    mixed_seed: int = typer.Option(1234, "--mixed-seed", help="Seed of the mixed-size photos."),
    degraded: int = typer.Option(600, "--degraded", help="LFW mated probes degraded in each way."),
) -> None:
    """The probe quality gate reason by reason (share refused, rank-1 of the refused probes searched anyway,
    beside the accepted ones; which reasons refuse and which warn), and the ingest quality floor."""
    import json
    from importlib import resources

    from evaluation.gate import markdown, run_gate

    if not (lfw / "deepfunneled").is_dir():
        _fail(f"{lfw} is not an LFW folder (deepfunneled/)")
    settings = load_settings()
    demo = Path(str(resources.files("facesearch") / "demo"))
    bar, update = _progress()
    with bar:
        r = run_gate(
            lfw,
            att,
            peers,
            demo,
            model or settings.model,
            settings,
            cache or settings.home / "cache",
            seed=seed,
            mixed_count=mixed,
            mixed_seed=mixed_seed,
            degraded=degraded,
            progress=update,
        )
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(r, indent=1) + "\n")
    (out / "report.md").write_text(markdown(r))
    refused = [code for code, d in r["decision"].items() if d["refuse"]]
    console.print(
        f"refuse: {', '.join(refused) or 'none'}; warn: "
        f"{', '.join(c for c in r['decision'] if c not in refused)}; ingest floor {r['floor_chosen']:g}"
    )
    console.print(f"report: {out / 'report.md'}")
