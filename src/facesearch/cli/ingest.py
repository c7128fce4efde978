"""`facesearch ingest`: photos and videos into a collection, with a progress bar (files, and the video being
scanned in video seconds) and a failure report."""

from __future__ import annotations

import csv
import os
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from rich.text import Text

from .actor import call, open_context, run
from .actor import fail as _fail
from .output import emit

if TYPE_CHECKING:
    from ..app.ingest import IngestResult, IngestSummary
    from ..pipeline.sources import Failure

console = Console()
err = Console(stderr=True)


def ingest(
    folder: Path | None = typer.Argument(None, help="Folder (searched recursively) or a single file."),
    collection: str = typer.Option(
        ..., "--collection", "-c", help="Collection to add to (create it first: `collections create`)."
    ),
    manifest: Path | None = typer.Option(None, "--manifest", help="CSV: path,source_url[,metadata columns]."),
    model: str | None = typer.Option(None, "--model", help="Must match the collection's model pack."),
    report: Path | None = typer.Option(None, "--report", help="Write every failure with its reason to this CSV."),
    workers: int | None = typer.Option(None, "--workers", help="Worker processes (default: CPU count)."),
    cluster: str | None = typer.Option(
        None,
        "--cluster",
        help="Analyse on a Ray cluster: ray://HOST:PORT (its client server), auto (RAY_ADDRESS), or local "
        "(this machine; the default unless FACESEARCH_CLUSTER says otherwise). Needs "
        "pip install 'facesearch[cluster]'; docs/scaling.md.",
    ),
    cluster_workers: int | None = typer.Option(
        None, "--cluster-workers", min=1, help="Actors per cluster node (default: from each node's CPUs)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
    # Annotated, so that a direct call (the demo's) that leaves it out gets None, not Typer's option object.
    video_fps: Annotated[
        float | None,
        typer.Option(
            "--video-fps",
            help="Frames analysed per second of video, and one after each scene cut (default FACESEARCH_VIDEO_FPS, 2).",
        ),
    ] = None,
) -> None:
    """Add photos and videos to a collection: detect every face, embed, index, keep a thumbnail and the
    provenance. Video files (MP4, MOV, MKV, WebM, AVI, MPEG-TS, told by their content) are sampled, their
    faces linked into tracks, and each track's best faces kept with their time."""
    from ..app.ingest import ingest as ingest_uc
    from ..app.ingest import items_from_folder, items_from_manifest

    if (folder is None) == (manifest is None):
        _fail("give either a FOLDER or --manifest FILE")
    ctx = open_context()
    items = run(
        lambda: items_from_manifest(manifest) if manifest else items_from_folder(folder),  # type: ignore[arg-type]
        as_json,
    )
    if not items:  # said before anything starts: no job, no audit entry, nothing to report
        _fail(f"no images listed in {manifest}" if manifest else f"no images found in {folder}", 2, as_json)

    with _ingest_progress(disable=as_json or not err.is_terminal and not _force_progress()) as bar:
        task = bar.add_task(f"ingest -> {collection}", total=len(items), faces=0)

        video_task: list[TaskID] = []

        def update(res: IngestResult, total: int) -> None:
            bar.update(task, completed=res.processed, total=total, faces=res.faces)
            now = res.video.now
            if now is None:
                return
            # The video being scanned, in video seconds (a long one takes minutes: the files bar would stand).
            label = f"  video {Path(now.path).name}"
            if not video_task:
                video_task.append(bar.add_task(label, total=now.duration, faces=0, unit="s"))
            bar.update(video_task[0], description=label, completed=now.seconds, total=now.duration, faces=res.faces)

        result = call(
            ingest_uc,
            items,
            collection,
            model=model,
            workers=workers,
            cluster=cluster,
            cluster_workers=cluster_workers,
            progress=update,
            source=str(manifest or folder),
            video_fps=video_fps,
            as_json=as_json,
            ctx=ctx,
        )
    if report:
        write_report(report, result.failures)

    def show(summary: IngestSummary) -> None:
        t = Table(title=f"Ingest into '{summary.collection}' ({summary.model})", show_header=False)
        for key in ("ingested", "duplicates", "no_face", "failed", "faces"):
            t.add_row(key.replace("_", "-"), str(getattr(summary, key)))
        if summary.faces_below_quality:
            t.add_row("faces below quality floor", str(summary.faces_below_quality))
        if summary.videos is not None:
            t.add_row("videos (of ingested)", str(summary.videos))
            t.add_row("video tracks", str(summary.video_tracks))
            t.add_row("video analysed", f"{summary.video_seconds or 0:.1f} s ({summary.video_speed or 0:g}x real time)")
        t.add_row("time", f"{result.seconds:.1f} s ({summary.images_per_second} images/s)")
        console.print(t)
        shown = result.failures[:10]
        for path, reason, detail in shown:
            err.print(f"  [yellow]{escape(reason)}[/yellow] {escape(path)} {escape(detail)}")
        if len(result.failures) > len(shown):
            err.print(
                f"  ... and {len(result.failures) - len(shown)} more"
                + ("" if report else " (use --report FILE for the full list)")
            )

    emit(result.summary(), as_json, show, indent=None)
    if report:  # on stderr, so that --json stays one JSON document on stdout
        if result.failures:
            n = len(result.failures)
            err.print(f"{n} failure{'' if n == 1 else 's'} written to {escape(str(report))}")
        else:
            err.print(f"no failures; {escape(str(report))} holds only the header row")


def write_report(path: Path, failures: list[Failure]) -> None:
    """Every failure of a run, with its reason, as CSV (`--report`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["path", "reason", "detail"])
        writer.writerows(failures)


class _Rate(ProgressColumn):
    """Images per second over the run so far: shown from the first update, and recomputed at every refresh,
    so it moves smoothly even when updates come a batch at a time. A video's bar counts video seconds, and
    its rate is video seconds per second (times real time)."""

    def render(self, task: Task) -> Text:
        elapsed = task.elapsed or 0.0
        video = task.fields.get("unit") == "s"
        if not task.completed or elapsed <= 0:
            return Text("- x real time" if video else "- images/s", style="progress.data.speed")
        if video:
            return Text(f"{task.completed / elapsed:.1f}x real time", style="progress.data.speed")
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
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        _Rate(),
        TextColumn("{task.fields[faces]} faces"),
        TimeElapsedColumn(),
        _Eta(),
        console=err,
        disable=disable,
        refresh_per_second=4,
    )


def _force_progress() -> bool:
    return os.environ.get("FACESEARCH_PROGRESS") == "1"


def register(app: typer.Typer) -> None:
    """Add this area's commands to the main `facesearch` app."""
    app.command()(ingest)
