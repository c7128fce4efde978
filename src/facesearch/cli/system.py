"""`facesearch stats` and `facesearch demo`."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.table import Table

from .actor import call, load_settings, open_context
from .ingest import ingest
from .output import emit, plural
from .search import _verify, search

if TYPE_CHECKING:
    from ..app import gallery
    from ..config import Settings

console = Console()
err = Console(stderr=True)


def _settings() -> Settings:

    return load_settings()


def stats(as_json: bool = typer.Option(False, "--json")) -> None:
    """Images, faces, collections, models and index sizes."""
    from ..app import gallery

    emit(call(gallery.stats), as_json, _print_stats)


def _print_stats(data: gallery.GalleryStats) -> None:
    # One line, never wrapped inside a figure ("0.0 / MB"): echoed, not laid out by rich.
    typer.echo(
        f"home {data.home}: {plural(data.images, 'image')}, {plural(data.faces, 'face')} "
        f"({plural(data.images_without_faces, 'image')} without a face); indexes {data.index_bytes / 1e6:.1f} MB"
    )
    t = Table()
    for c in ("collection", "model", "images", "faces", "created"):
        t.add_column(c)
    for col in data.collections:
        t.add_row(col.name, col.model, str(col.images), str(col.faces), col.created_at or "")
    console.print(t)


def demo(
    model: str | None = typer.Option(None, "--model", help="Model pack (default FACESEARCH_MODEL, i.e. yunet-reid)."),
    home: Path | None = typer.Option(
        None,
        "--home",
        help="Run the demo in this home and keep it (e.g. to look at it with `FACESEARCH_HOME=DIR facesearch "
        "serve`); it must not exist yet. Default: a temporary home, removed when the demo ends.",
    ),
) -> None:
    """Ingest the bundled public-domain photos into collection 'demo-PACK' ('demo' for dlib), then search and
    verify with them, all in a home of the demo's own: your FACESEARCH_HOME (and any database or Milvus it
    uses) is never touched."""
    settings = _settings()
    pack = model or settings.model
    if home is not None and home.exists():
        err.print(f"[red]error:[/red] {home} exists: the demo makes a home of its own (give a new folder)")
        raise typer.Exit(2)
    with _own_home(settings, home) as where:
        _run_demo(pack, where)
    if home is None:
        typer.echo(f"\nthe demo ran in a temporary home ({where}), now removed; your home was not touched")
    else:
        typer.echo(f"\nthe demo's home is kept in {where}: FACESEARCH_HOME={where} facesearch serve shows it")


@contextmanager
def _own_home(settings: Settings, home: Path | None) -> Iterator[Path]:
    """FACESEARCH_HOME set to a home of the demo's own for as long as the block runs (a new temporary folder,
    removed at the end, unless `home` is given), with SQLite and FAISS files in it whatever the deployment
    uses, and the deployment's model folder (weights pulled there stay usable)."""
    names = ("FACESEARCH_HOME", "FACESEARCH_DATABASE_URL", "FACESEARCH_INDEX_URI", "FACESEARCH_MODELS_DIR")
    saved = {k: os.environ.get(k) for k in names}
    where = home.resolve() if home is not None else Path(tempfile.mkdtemp(prefix="facesearch-demo-"))
    try:
        os.environ["FACESEARCH_HOME"] = str(where)
        os.environ["FACESEARCH_MODELS_DIR"] = str(settings.resolved_models_dir)
        os.environ.pop("FACESEARCH_DATABASE_URL", None)
        os.environ.pop("FACESEARCH_INDEX_URI", None)
        yield where
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        if home is None:
            shutil.rmtree(where, ignore_errors=True)


def _run_demo(pack: str, where: Path) -> None:
    import csv
    from importlib import resources

    collection_name = "demo" if pack == "dlib" else f"demo-{pack}"
    _demo_setup(collection_name, pack)
    folder = Path(str(resources.files("facesearch") / "demo"))
    probe = folder / "obama-east-room.jpg"
    sources = {
        "obama-official-portrait.jpg": "White House official portrait (public domain)",
        "biden-official-portrait.jpg": "White House photograph (public domain)",
        "eileen-collins-nasa.jpg": "NASA portrait (public domain)",
    }
    manifest = where / "demo.csv"
    with manifest.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["path", "source_url", "credit"])
        for name, credit in sources.items():
            writer.writerow([folder / name, (folder / "SOURCES.md").as_uri(), credit])
    console.print(
        f"[bold]1. ingest[/bold] {len(sources)} photos into '{collection_name}' "
        f"(the demo's own home {where}, model {pack})"
    )
    ingest(
        folder=None,
        collection=collection_name,
        manifest=manifest,
        model=pack,
        report=None,
        workers=1,
        cluster="local",  # three photos: on this machine, whatever FACESEARCH_CLUSTER says
        cluster_workers=None,
        as_json=False,
    )
    console.print(f"\n[bold]2. search[/bold] {probe.name} (a different photo of one gallery person)")
    search(
        probe=probe,
        top=3,
        collection=[collection_name],
        face=None,
        all_faces=False,
        threshold=None,
        force=False,
        case="demo",
        purpose=DEMO_PURPOSE,
        as_json=False,
    )
    console.print("\n[bold]3. verify[/bold] probe vs each portrait")
    for other in ("obama-official-portrait.jpg", "biden-official-portrait.jpg"):
        console.print(f"{probe.name} vs {other}:")
        _verify(
            probe,
            folder / other,
            model=pack,
            threshold=None,
            force=False,
            case="demo",
            purpose=DEMO_PURPOSE,
            as_json=False,
        )
    console.print("\nphoto sources and licences: " + str(folder / "SOURCES.md"))


DEMO_PURPOSE = "DEMO"


def _demo_setup(name: str, pack: str) -> None:
    """Ingest takes only documented collections and searches need an allowed purpose: record the demo
    photos' provenance (as an operator) and a demonstration purpose (as an admin) first, both logged."""
    from ..app import collection as collections
    from ..app import purposes

    ctx = open_context()
    if not any(c.name == name for c in call(collections.list_collections, ctx=ctx)):
        call(
            collections.create_collection,
            name,
            source="public-domain portraits bundled with facesearch (demo/SOURCES.md)",
            legal_basis="legitimate_interests",
            legal_basis_note="demonstration on public-domain photos",
            owner="facesearch demo",
            retention_days=None,
            keep=True,
            model=pack,
            ctx=ctx,
        )
    if not any(p.code == DEMO_PURPOSE for p in call(purposes.active_purposes, ctx=ctx)):
        call(
            purposes.add_purpose,
            DEMO_PURPOSE,
            "demonstration of facesearch on its bundled public-domain photos",
            ctx=ctx,
        )


def register(app: typer.Typer) -> None:
    """Add this area's commands to the main `facesearch` app."""
    app.command()(stats)
    app.command()(demo)
