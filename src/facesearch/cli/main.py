"""The `facesearch` command line."""

from __future__ import annotations

import json
import os
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from rich.text import Text

from .. import __version__
from ..app.wording import fmr_text, threshold_text
from ..config import Settings
from .actor import WHO, actor_for, open_context, run
from .actor import fail as _fail

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Self-hosted face search: ingest photo collections, search them by face, verify two photos.")
models_app = typer.Typer(no_args_is_help=True, help="Face model packs: which exist, which are installed.")
app.add_typer(models_app, name="models")

console = Console()
err = Console(stderr=True)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"facesearch {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True,
                                 help="Print the version and exit."),
    as_: str | None = typer.Option(None, "--as", envvar="FACESEARCH_ACTOR", metavar="NAME",
                                   help="Act as this user (a registered account acts with its own role)."),
    role: str | None = typer.Option(None, "--role", envvar="FACESEARCH_ROLE",
                                    help="Role of a name that is not an account (default: the role the "
                                         "command is made for)."),
) -> None:
    """Every command acts as a user with a role, and obeys the same rules as the API."""
    WHO.name, WHO.role = as_, role


def _settings() -> Settings:
    return Settings()


# Ingest -----------------------------------------------------------------------------------------
@app.command()
def ingest(
    folder: Path | None = typer.Argument(None, help="Folder (searched recursively) or a single file."),
    collection: str = typer.Option(..., "--collection", "-c",
                                   help="Collection to add to (create it first: `collections create`)."),
    manifest: Path | None = typer.Option(None, "--manifest", help="CSV: path,source_url[,metadata columns]."),
    model: str | None = typer.Option(None, "--model", help="Must match the collection's model pack."),
    report: Path | None = typer.Option(None, "--report", help="Write every failure with its reason to this CSV."),
    workers: int | None = typer.Option(None, "--workers", help="Worker processes (default: CPU count)."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Add photos to a collection: detect every face, embed, index, keep a thumbnail and the provenance."""
    from ..app.ingest import ingest as run_ingest
    from ..app.ingest import items_from_folder, items_from_manifest, write_report

    if (folder is None) == (manifest is None):
        _fail("give either a FOLDER or --manifest FILE")
    ctx = open_context()
    actor = actor_for(ctx, "operator")
    items = run(lambda: items_from_manifest(manifest) if manifest else items_from_folder(folder),  # type: ignore[arg-type]
                as_json)
    if not items:  # said before anything starts: no job, no audit entry, nothing to report
        _fail(f"no images listed in {manifest}" if manifest else f"no images found in {folder}", 2, as_json)

    def go() -> Any:
        with _ingest_progress(disable=as_json or not err.is_terminal and not _force_progress()) as bar:
            task = bar.add_task(f"ingest -> {collection}", total=len(items), faces=0)

            def update(res: Any, total: int) -> None:
                bar.update(task, completed=res.processed, total=total, faces=res.faces)

            return run_ingest(ctx, actor, items, collection, model=model, workers=workers, progress=update,
                              source=str(manifest or folder))

    result = run(go, as_json)
    if report:
        write_report(report, result.failures)
    summary = {"collection": result.collection, "model": result.model, "job": result.job_id, **result.counts(),
               "seconds": round(result.seconds, 2),
               "images_per_second": round(result.processed / result.seconds, 2) if result.seconds else None}
    if as_json:
        print(json.dumps(summary))
    else:
        t = Table(title=f"Ingest into '{result.collection}' ({result.model})", show_header=False)
        for key in ("ingested", "duplicates", "no_face", "failed", "faces"):
            t.add_row(key.replace("_", "-"), str(summary[key]))
        if result.faces_below_quality:
            t.add_row("faces below quality floor", str(result.faces_below_quality))
        t.add_row("time", f"{result.seconds:.1f} s ({summary['images_per_second']} images/s)")
        console.print(t)
        shown = result.failures[:10]
        for path, reason, detail in shown:
            err.print(f"  [yellow]{escape(reason)}[/yellow] {escape(path)} {escape(detail)}")
        if len(result.failures) > len(shown):
            err.print(f"  ... and {len(result.failures) - len(shown)} more" +
                      ("" if report else " (use --report FILE for the full list)"))
    if report:  # on stderr, so that --json stays one JSON document on stdout
        if result.failures:
            n = len(result.failures)
            err.print(f"{n} failure{'' if n == 1 else 's'} written to {escape(str(report))}")
        else:
            err.print(f"no failures; {escape(str(report))} holds only the header row")


class _Rate(ProgressColumn):
    """Images per second over the run so far: shown from the first update, and recomputed at every refresh,
    so it moves smoothly even when updates come a batch at a time."""

    def render(self, task: Task) -> Text:
        elapsed = task.elapsed or 0.0
        if not task.completed or elapsed <= 0:
            return Text("- images/s", style="progress.data.speed")
        return Text(f"{task.completed / elapsed:.1f} images/s", style="progress.data.speed")


class _Eta(ProgressColumn):
    """Time left at the run's average rate (rich's own estimate needs several updates inside its window)."""

    def render(self, task: Task) -> Text:
        elapsed = task.elapsed or 0.0
        if task.finished:
            return Text("done", style="progress.remaining")
        if not task.completed or elapsed <= 0 or task.total is None:
            return Text("ETA -:--:--", style="progress.remaining")
        left = (task.total - task.completed) * elapsed / task.completed
        return Text(f"ETA {timedelta(seconds=round(left))}", style="progress.remaining")


def _ingest_progress(disable: bool) -> Progress:
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), _Rate(),
                    TextColumn("{task.fields[faces]} faces"), TimeElapsedColumn(), _Eta(),
                    console=err, disable=disable, refresh_per_second=4)


def _force_progress() -> bool:
    import os

    return os.environ.get("FACESEARCH_PROGRESS") == "1"


# Search -----------------------------------------------------------------------------------------
@app.command()
def search(
    probe: Path = typer.Argument(..., help="Probe photo."),
    top: int = typer.Option(10, "--top", "-k", min=1, max=1000, help="Matches per probe face."),
    collection: list[str] = typer.Option([], "--collection", "-c", help="Search only these (repeatable)."),
    face: int | None = typer.Option(None, "--face", help="Search the N-th face of the probe (0 = largest)."),
    all_faces: bool = typer.Option(False, "--all-faces", help="Search every face of the probe."),
    threshold: float | None = typer.Option(None, "--threshold", help="Override the decision threshold."),
    force: bool = typer.Option(False, "--force", help="Search even a face below the quality gate."),
    case: str | None = typer.Option(None, "--case", help="Case reference (required, as for the API)."),
    purpose: str | None = typer.Option(None, "--purpose", help="Purpose: an allowed purpose code, optionally "
                                       "followed by ': note' (required, as for the API)."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
    by_people: bool = typer.Option(False, "--people", help="Also rank people: each person once, at their best "
                                   "face's score, with that face and their photos."),
) -> None:
    """Find the probe's face in the gallery: top matches with score and false-match rate (audit-logged)."""
    from ..app import searching
    from ..app.uploads import Photo

    ctx = open_context()
    actor = actor_for(ctx, "examiner")

    def go() -> tuple[dict[str, Any], dict[str, str]]:
        photo = Photo.from_path(probe, ctx.settings)
        req = searching.SearchRequest(case_ref=case, purpose=purpose, top_k=top, collections=collection or None,
                                      face=face, all_faces=all_faces, threshold=threshold, force=force)
        if by_people:
            from ..app.people import search_people

            res = search_people(ctx, actor, photo, req)
        else:
            res = searching.search(ctx, actor, photo, req)
        res["probe"]["path"] = str(probe)
        return res, ({} if as_json else _collection_sources(ctx, actor))

    res, sources = run(go, as_json)
    if as_json:
        print(json.dumps(res, indent=1))
        return
    out = _out()
    for f in res["faces"]:
        th = f["threshold"]
        out.print(f"[bold]Probe face {f['face']}[/bold] box {f['box']} quality {f['quality']:.2f} "
                  f"{escape(' '.join(f['quality_reasons']))}  model {escape(f['model'])}")
        out.print(f"  threshold {th['score']:.3f} ({th.get('fmr_text') or fmr_text(th['fmr'])}): "
                  f"{escape(th['reason'])}")
        if f.get("skipped"):
            out.print(f"  [yellow]skipped:[/yellow] {escape(f['skipped'])}")
            continue
        if not f["matches"]:
            out.print("  no faces in the searched collections")
            continue
        out.print(_matches_table(f["matches"], th["score"], sources))
    for p in res.get("people", []):
        out.print(f"person {p['person']} {escape(p['name'] or '(unnamed)')}: score {p['score']:.3f} (best face "
                  f"{p['best_face']['face_id']}), {len(p['images'])} photos")
    out.print(f"gallery: {res['gallery_size']} faces in {escape(', '.join(res['collections']))}; a score at or "
              "above the threshold reads 'above threshold' (green)")
    out.print(f"search {res['search_id']} (case {escape(str(res['case_ref']))}); each candidate: "
              f"{escape(res['stamp'])}")


SEARCH_COLUMNS = ("#", "score", "decision", "how rare is this score", "expected false", "collection",
                  "collection source", "image", "source URL")


def _matches_table(matches: list[dict[str, Any]], threshold: float, sources: dict[str, str]) -> Table:
    """One row per candidate: the score and what it means in words (the decision does not rest on colour),
    then where it came from: collection, the collection's declared source, the image's path and URL."""
    t = Table()
    for col in SEARCH_COLUMNS:
        # Never cut short: in a narrow terminal cells wrap (words) or fold (paths, URLs) onto more lines.
        t.add_column(col, overflow="fold", no_wrap=col in ("#", "score"), justify="right" if col == "#" else "left")
    for m in matches:
        # The answer's own words when it carries them (its decision is the unrounded `above_threshold`).
        decision = m.get("decision") or threshold_text(m["score"], threshold)
        style = "green" if m["above_threshold"] else "dim"
        image = m["image"]
        t.add_row(str(m["rank"]), Text(f"{m['score']:.3f}", style=style), Text(decision, style=style),
                  m.get("fmr_text") or fmr_text(m["fmr"]), f"{m['expected_false_matches']:.2g}", Text(m["collection"]),
                  Text(sources.get(m["collection"], "")), Text(short_path(image.get("path"))),
                  Text(image.get("source_url") or ""))
    return t


def short_path(path: str | None, limit: int = 60) -> str:
    """An image's path as a table shows it: relative to the current directory when that is shorter, else the
    whole path when it is short enough, else its last two parts after an ellipsis (`--json` has it whole)."""
    if not path:
        return ""
    try:
        rel = os.path.relpath(path)
    except ValueError:  # another drive
        rel = path
    best = rel if len(rel) < len(path) else path
    if len(best) <= limit:
        return best
    parts = Path(path).parts
    return str(Path("…", *parts[-2:])) if len(parts) > 2 else best


def _out() -> Console:
    """Standard output; when it is not a terminal (a pipe, a log) as wide as the lines are, so that no path,
    URL or decision is wrapped or cut. Colour follows rich's rules (none in a pipe, none with NO_COLOR)."""
    return console if console.is_terminal else Console(width=1000)


def _collection_sources(ctx: Any, actor: Any) -> dict[str, str]:
    """Each collection's declared source, for the table; empty when the actor may not list collections."""
    from ..app.collections import list_collections
    from ..app.errors import Refused

    try:
        return {c["name"]: c["source"] or "" for c in list_collections(ctx, actor)}
    except Refused:
        return {}


@app.command()
def verify(
    first: Path = typer.Argument(..., help="First photo."),
    second: Path = typer.Argument(..., help="Second photo."),
    model: str | None = typer.Option(None, "--model", help="Model pack (default FACESEARCH_MODEL)."),
    threshold: float | None = typer.Option(None, "--threshold", help="Override the decision threshold."),
    force: bool = typer.Option(False, "--force", help="Compare even faces below the quality gate."),
    case: str | None = typer.Option(None, "--case", help="Case reference (required, as for the API)."),
    purpose: str | None = typer.Option(None, "--purpose", help="Purpose: an allowed purpose code (required)."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Are two photos of the same person? The largest face of each is compared (audit-logged). Exit status:
    0 same person, 1 different people; 2 bad input, 3 no usable face, 4 refused by the rules."""
    res = _verify(first, second, model=model, threshold=threshold, force=force, case=case, purpose=purpose,
                  as_json=as_json)
    raise typer.Exit(0 if res["same_person"] else 1)


def _verify(first: Path, second: Path, *, model: str | None, threshold: float | None, force: bool,
            case: str | None, purpose: str | None, as_json: bool) -> dict[str, Any]:
    """`verify` without its exit status: compare, print, return the answer (the demo calls this)."""
    from ..app import searching
    from ..app.uploads import Photo

    ctx = open_context()
    actor = actor_for(ctx, "examiner")

    def go() -> dict[str, Any]:
        a, b = Photo.from_path(first, ctx.settings), Photo.from_path(second, ctx.settings)
        return searching.verify(ctx, actor, a, b, case_ref=case, purpose=purpose, model=model,
                                threshold=threshold, force=force)

    res = run(go, as_json)
    if as_json:
        print(json.dumps(res, indent=1))
        return res
    out = _out()
    verdict = "[green]same person[/green]" if res["same_person"] else "[red]different people[/red]"
    decision = res.get("decision") or threshold_text(res["score"], res["threshold"])
    out.print(f"{verdict}: score {res['score']:.3f}, {decision} {res['threshold']:.3f}; "
              f"{res.get('fmr_text') or fmr_text(res['fmr'])}")
    out.print(f"threshold {res['threshold']:.3f} ({escape(str(res['threshold_reason']))}), "
              f"model {escape(res['model'])}")
    return res


# Models -----------------------------------------------------------------------------------------
@models_app.command("list")
def models_list(as_json: bool = typer.Option(False, "--json")) -> None:
    """Which model packs exist, which are installed, and where their weights come from."""
    from ..models import PACKS, is_installed
    from ..models.registry import SHIPPED_WEIGHTS, weight_files

    settings = _settings()

    def where(name: str) -> str:
        if not PACKS[name].info.files:
            return "pip" if name == "dlib" else "none needed"
        found = set(weight_files(name, settings).values())
        if None in found:
            return "missing"
        roots = {"package" if SHIPPED_WEIGHTS in p.parents else "models_dir" for p in found if p is not None}
        return "+".join(sorted(roots))

    rows: list[dict[str, Any]] = [{"name": n, "installed": is_installed(n, settings), "default": n == settings.model,
             "weights": where(n), "dim": e.info.dim, "version": e.info.version, "description": e.info.description,
             "licence": e.info.licence} for n, e in PACKS.items()]
    if as_json:
        print(json.dumps(rows, indent=1))
        return
    t = Table(title=f"Model packs (weights from FACESEARCH_MODELS_DIR {settings.resolved_models_dir}, "
                    "else shipped with the package)")
    for c in ("name", "installed", "default", "weights", "dim", "description", "licence"):
        t.add_column(c)
    for r in rows:
        t.add_row(r["name"], "yes" if r["installed"] else "[red]no[/red]", "*" if r["default"] else "",
                  r["weights"], str(r["dim"]), r["description"], r["licence"])
    console.print(t)


@models_app.command("pull")
def models_pull(
    name: str = typer.Argument(..., help="Pack name, e.g. yunet-reid."),
    force: bool = typer.Option(False, "--force", help="Download even when the package ships the weights."),
) -> None:
    """Download a pack's weights from their official locations into FACESEARCH_MODELS_DIR and check the pinned
    sha256. A copy there is used before the one shipped with the package."""
    from ..models.registry import SHIPPED_WEIGHTS, get_entry, pull, weight_files

    settings = _settings()
    found = run(lambda: weight_files(name, settings) if get_entry(name).info.files else {})
    if found and not force and all(p is not None and SHIPPED_WEIGHTS in p.parents for p in found.values()):
        console.print(f"{name}: its weights ship with facesearch ({SHIPPED_WEIGHTS}); nothing to download. "
                      f"`--force` downloads a copy into {settings.resolved_models_dir} (FACESEARCH_MODELS_DIR).")
        return
    paths = run(lambda: pull(name, settings))
    for p in paths:
        console.print(f"ok {p}")


# Stats ------------------------------------------------------------------------------------------
@app.command()
def stats(as_json: bool = typer.Option(False, "--json")) -> None:
    """Images, faces, collections, models and index sizes."""
    from ..app.gallery import stats as run_stats

    ctx = open_context()
    data = run(lambda: run_stats(ctx, actor_for(ctx, "operator")))
    index_bytes = data["index_bytes"]
    if as_json:
        print(json.dumps(data, indent=1))
        return
    console.print(f"home {data['home']}: {data['images']} images, {data['faces']} faces "
                  f"({data['images_without_faces']} images without a face), index {index_bytes / 1e6:.1f} MB")
    t = Table()
    for c in ("collection", "model", "images", "faces", "created"):
        t.add_column(c)
    for c in data["collections"]:
        t.add_row(c["name"], c["model"], str(c["images"]), str(c["faces"]), c["created_at"] or "")
    console.print(t)


# Calibration ------------------------------------------------------------------------------------
# Demo -------------------------------------------------------------------------------------------
@app.command()
def demo(
    model: str | None = typer.Option(None, "--model", help="Model pack (default FACESEARCH_MODEL, i.e. yunet-reid)."),
) -> None:
    """Ingest the bundled public-domain photos into collection 'demo-PACK' ('demo' for dlib), then search and
    verify with them."""
    import csv
    import tempfile
    from importlib import resources

    settings = _settings()
    pack = model or settings.model
    collection_name = "demo" if pack == "dlib" else f"demo-{pack}"
    _demo_setup(collection_name, pack)
    folder = Path(str(resources.files("facesearch") / "demo"))
    probe = folder / "obama-east-room.jpg"
    sources = {
        "obama-official-portrait.jpg": "White House official portrait (public domain)",
        "biden-official-portrait.jpg": "White House photograph (public domain)",
        "eileen-collins-nasa.jpg": "NASA portrait (public domain)",
    }
    with tempfile.TemporaryDirectory() as tmp:
        manifest = Path(tmp) / "demo.csv"
        with manifest.open("w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["path", "source_url", "credit"])
            for name, credit in sources.items():
                writer.writerow([folder / name, (folder / "SOURCES.md").as_uri(), credit])
        console.print(f"[bold]1. ingest[/bold] {len(sources)} photos into '{collection_name}' "
                      f"(FACESEARCH_HOME={settings.home}, model {pack})")
        ingest(folder=None, collection=collection_name, manifest=manifest, model=pack, report=None, workers=1,
               as_json=False)
    console.print(f"\n[bold]2. search[/bold] {probe.name} (a different photo of one gallery person)")
    search(probe=probe, top=3, collection=[collection_name], face=None, all_faces=False, threshold=None,
           force=False, case="demo", purpose=DEMO_PURPOSE, as_json=False)
    console.print("\n[bold]3. verify[/bold] probe vs each portrait")
    for other in ("obama-official-portrait.jpg", "biden-official-portrait.jpg"):
        console.print(f"{probe.name} vs {other}:")
        _verify(probe, folder / other, model=pack, threshold=None, force=False, case="demo",
                purpose=DEMO_PURPOSE, as_json=False)
    console.print("\nphoto sources and licences: " + str(folder / "SOURCES.md"))


DEMO_PURPOSE = "DEMO"


def _demo_setup(name: str, pack: str) -> None:
    """Ingest takes only documented collections and searches need an allowed purpose: record the demo
    photos' provenance (as an operator) and a demonstration purpose (as an admin) first, both logged."""
    from ..app import collections, purposes

    ctx = open_context()
    if ctx.store.get_collection(name) is None:
        run(lambda: collections.create_collection(
            ctx, actor_for(ctx, "operator"), name,
            source="public-domain portraits bundled with facesearch (demo/SOURCES.md)",
            legal_basis="legitimate_interests", legal_basis_note="demonstration on public-domain photos",
            owner="facesearch demo", retention_days=None, keep=True, model=pack))
    if not any(p["code"] == DEMO_PURPOSE for p in purposes.active_purposes(ctx.store)):
        run(lambda: purposes.add_purpose(ctx, actor_for(ctx, "admin"), DEMO_PURPOSE,
                                         "demonstration of facesearch on its bundled public-domain photos"))


def _register_areas() -> None:
    from . import accounts, backup, bench, db, eval, governance, index, people, review

    for area in (eval, accounts, governance, review, bench, db, backup, index, people):
        area.register(app)


_register_areas()


def main() -> None:  # pragma: no cover
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
