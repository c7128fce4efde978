"""`facesearch index`: rebuild a collection's vector index as another structure."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from .actor import call
from .output import emit

if TYPE_CHECKING:
    from ..app import rebuild as rebuild_uc

index_app = typer.Typer(no_args_is_help=True, help="Vector indexes: rebuild as exact, HNSW or IVF.")
err = Console(stderr=True)


@index_app.command("rebuild")
def rebuild(
    kind: str = typer.Option(
        "auto",
        "--kind",
        help="auto (by the collection's size), flat (exact), hnsw or ivfpq (quantised codes with exact re-ranking).",
    ),
    recall: float | None = typer.Option(
        None, "--recall", help="Recall@10 against exact search to tune for (default FACESEARCH_INDEX_RECALL, 0.95)."
    ),
    collection: str | None = typer.Option(None, "--collection", "-c", help="Only this collection (default: all)."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Build each collection's index anew beside the old one, while searches go on, then swap it in.

    Deleted faces still held by the old index are reclaimed. Ingests into the collection wait meanwhile.
    """
    from ..app import rebuild as rebuild_uc

    show = not as_json and (sys.stderr.isatty() or os.environ.get("FACESEARCH_PROGRESS") == "1")
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        disable=not show,
    ) as bar:
        tasks: dict[str, TaskID] = {}

        def progress(name: str, done: int, total: int) -> None:
            if name not in tasks:
                tasks[name] = bar.add_task(f"rebuild {name}", total=total)
            bar.update(tasks[name], completed=done)

        res = call(rebuild_uc.rebuild, collection=collection, kind=kind, recall=recall, progress=progress)
    emit(res, as_json, _print_rebuilt)


def _print_rebuilt(res: rebuild_uc.RebuildResult) -> None:
    for c in res.collections:
        typer.echo(f"{c.collection}: {c.kind} index of {c.faces} faces in {c.seconds:.1f} s")
    if not res.collections:
        typer.echo("no collections")


def register(app: typer.Typer) -> None:
    app.add_typer(index_app, name="index")
