"""`facesearch models`: which face model packs exist, which are installed, and pulling their weights."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .actor import load_settings, run
from .output import emit

if TYPE_CHECKING:
    from ..config import Settings

models_app = typer.Typer(no_args_is_help=True, help="Face model packs: which exist, which are installed.")
console = Console()
err = Console(stderr=True)


def _settings() -> Settings:

    return load_settings()


@dataclass(frozen=True)
class PackRow:
    """A model pack as `models list` shows it."""

    name: str
    installed: bool
    default: bool
    weights: str  # package, models_dir, package+models_dir, pip, none needed or missing
    dim: int
    version: str
    description: str
    licence: str


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

    rows = [
        PackRow(
            name=n,
            installed=is_installed(n, settings),
            default=n == settings.model,
            weights=where(n),
            dim=e.info.dim,
            version=e.info.version,
            description=e.info.description,
            licence=e.info.licence,
        )
        for n, e in PACKS.items()
    ]

    def show(rows: list[PackRow]) -> None:
        t = Table(
            title=f"Model packs (weights from FACESEARCH_MODELS_DIR {settings.resolved_models_dir}, "
            "else shipped with the package)"
        )
        for c in ("name", "installed", "default", "weights", "dim", "description", "licence"):
            t.add_column(c)
        for r in rows:
            t.add_row(
                r.name,
                "yes" if r.installed else "[red]no[/red]",
                "*" if r.default else "",
                r.weights,
                str(r.dim),
                r.description,
                r.licence,
            )
        console.print(t)
        if any(r.name == "dlib" and not r.installed for r in rows):
            console.print(escape("dlib: an optional extra, `pip install 'facesearch[dlib]'`"))

    emit(rows, as_json, show)


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
        console.print(
            f"{name}: its weights ship with facesearch ({SHIPPED_WEIGHTS}); nothing to download. "
            f"`--force` downloads a copy into {settings.resolved_models_dir} (FACESEARCH_MODELS_DIR)."
        )
        return
    paths = run(lambda: pull(name, settings))
    for p in paths:
        console.print(f"ok {p}")


def register(app: typer.Typer) -> None:
    """Add this area's commands to the main `facesearch` app."""
    app.add_typer(models_app, name="models")
